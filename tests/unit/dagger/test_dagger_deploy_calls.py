"""Documented and automated deploy calls are calls the module accepts."""

import inspect
import shlex

import pytest

from tests.unit.dagger.chain import (
    ROOT,
    registered,
)


def deploy_calls(text: str) -> list[dict[str, str]]:
    """Each `dagger … call deploy …` command in text (backslash continuations joined), as {param: value}."""
    joined = text.replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        if not line.strip().startswith("dagger ") or " call deploy " not in line:
            continue
        words = shlex.split(line.split(" call deploy ", 1)[1].split("#")[0])
        flags = {w[2:].replace("-", "_"): v for w, v in zip(words, [*words[1:], ""], strict=True) if w.startswith("--")}
        found.append(flags)
    return found


@pytest.mark.parametrize("doc", ["README.md", ".github/workflows/release.yml"])
def test_documented_deploy_calls_pass_what_deploy_requires(doc: str) -> None:
    params = registered()["deploy"].parameters
    required = {n for n, p in params.items() if p.signature.default is inspect.Parameter.empty}
    calls = deploy_calls((ROOT / doc).read_text())
    assert calls, f"no `dagger call deploy` in {doc}"
    for flags in calls:
        assert set(flags) <= set(params), f"{doc}: unknown flags {set(flags) - set(params)}"
        assert required <= set(flags), f"{doc}: missing {required - set(flags)}"
        for name, value in flags.items():
            if "Secret" in str(params[name].resolved_type):
                assert value.startswith(("env://", "file://")), f"{doc}: --{name} {value}"
