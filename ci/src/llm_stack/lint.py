"""Linters over the repository, each one exec of the steps script so the report can name what failed."""

import dagger
from dagger import ReturnType

from . import consts as c
from .toolbox import npm_cache, toolbox


def lint_steps(source: dagger.Directory) -> dict[str, dagger.Container]:
    """One container per linter, its exec allowed to fail so every finding is reported."""
    base = toolbox(source).with_(npm_cache)
    return {name: base.with_exec(["bash", c.STEPS_SCRIPT, name], expect=ReturnType.ANY) for name in c.LINT_STEPS}
