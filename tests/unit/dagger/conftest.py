"""Fixtures of the Dagger-module tests: the module object of one run and provider keys holding sentinels."""

import dagger
import pytest
from dagger import dag

from tests.unit.dagger.chain import RUN, SENTINEL, consts, main


@pytest.fixture
def module() -> main.LlmStack:
    return main.LlmStack(source=dag.directory(), run_id=RUN)


@pytest.fixture
def keys() -> dict[str, dagger.Secret]:
    return {p: dag.set_secret(f"{p}-key", f"{SENTINEL}-{p}") for p in consts.PROVIDERS}
