"""Every command, path and Dockerfile the module runs exists in the repository as it uses it."""

import json
import re
import tomllib
from importlib import metadata

import dagger
from dagger import dag

import catalogue
from tests.unit.dagger.chain import (
    ROOT,
    RUN,
    Call,
    chain,
    consts,
    main,
    pipelines,
    stack,
    walk,
)


def argv_of(call: Call) -> list[str]:
    if call.name == "withExec" or call.name == "asService" or call.name == "withDefaultArgs":
        return [str(a) for a in call.args.get("args", [])]
    return []


def repo_paths(argv: list[str]) -> set[str]:
    """Repository paths and `python -m` modules an argv runs."""
    found = set()
    for i, arg in enumerate(argv):
        if arg == "-m" and i > 0 and argv[i - 1] == "python" and argv[i + 1] not in ("pytest", "venv", "pip"):
            found.add("services/" + argv[i + 1].replace(".", "/"))
        elif re.match(r"^(services|deploy|tests|tools|nginx|ci)/", arg):
            found.add(arg)
        # Scripts run with sh -c name files by their path inside an image (/opt/llmgw/services/...),
        # and modules by `python -m`.
        found |= {"services/" + m.replace(".", "/") for m in re.findall(r"python3? -m ([\w.]+)", arg)}
        found |= set(re.findall(r"/opt/llmgw/(services/[\w/.]+\.py)", arg))
    return found


def exists(path: str) -> bool:
    target = ROOT / path
    return target.exists() or (ROOT / f"{path}.py").is_file() or (target / "__main__.py").is_file()


def test_every_command_and_dockerfile_the_module_uses_exists(
    module: main.LlmStack, keys: dict[str, dagger.Secret]
) -> None:
    used: set[str] = set()
    for obj in pipelines(module, keys).values():
        for call in walk(obj):
            used |= repo_paths(argv_of(call))
            if call.name == "dockerBuild":
                used.add(call.args["dockerfile"])
    assert {"services/mockllm", "services/gateway", "services/vaultctl", "services/edge/render",
            "services/edge/follow"} <= used
    assert {consts.STEPS_SCRIPT, consts.TOOLBOX_DOCKERFILE} <= used
    dockerfiles = {f"services/Dockerfile.{p}" for p in consts.PROVIDERS} | {
        "services/Dockerfile.mock",
        "nginx/Dockerfile",
    }
    assert dockerfiles <= used
    assert "deploy/deploy.sh" in used
    missing = sorted(p for p in used if not exists(p))
    assert not missing, f"the module runs what the repository lacks: {missing}"
    for module_path in ("services/mockllm", "services/gateway", "services/vaultctl"):
        assert (ROOT / module_path / "__main__.py").is_file(), f"python -m needs {module_path}/__main__.py"


def test_python_m_commands_match_the_contracts() -> None:
    assert consts.MOCK_CMD == ["python", "-m", "mockllm", "--host", "0.0.0.0", "--port", "8199"]
    assert consts.GATEWAY_CMD == ["python", "-m", "gateway"]
    assert consts.BOOTSTRAP_CMD[:4] == ["python", "-m", "vaultctl", "bootstrap"]
    assert f"ci:{'+'.join(catalogue.names())}" in consts.BOOTSTRAP_CMD


def test_announcing_proxy_starts_nginx_as_its_dockerfile_does() -> None:
    entry = re.search(r"^ENTRYPOINT (.+)$", (ROOT / "nginx" / "Dockerfile").read_text(), re.MULTILINE)
    assert entry is not None
    assert json.loads(entry.group(1)) == ["/bin/sh", "-c", consts.EDGE_ENTRY]
    assert stack.announce_script(RUN).rstrip().endswith(consts.EDGE_ENTRY)


def test_images_run_as_the_owners_the_module_mounts_for() -> None:
    for provider in consts.PROVIDERS:
        text = (ROOT / consts.dockerfile(provider)).read_text()
        assert f"USER {consts.APP_OWNER}" in text
        assert consts.APPROLE_DIR in text
    assert f"USER {consts.EDGE_OWNER}" in (ROOT / "nginx" / "Dockerfile").read_text()


def test_layout_is_what_dagger_init_writes_for_the_pinned_release() -> None:
    """The engine vendors its SDK into ci/sdk (version 0.0.0 in its source) and locks it editable, unpinned."""
    version = metadata.version("dagger-io")
    config = json.loads((ROOT / "dagger.json").read_text())
    assert config == {"name": "llm-stack", "engineVersion": f"v{version}", "sdk": {"source": "python"}, "source": "ci"}
    project = tomllib.loads((ROOT / "ci" / "pyproject.toml").read_text())
    assert project["project"]["dependencies"] == ["dagger-io"]  # a pin could never match the vendored 0.0.0
    assert project["tool"]["uv"]["sources"]["dagger-io"] == {"path": "sdk", "editable": True}
    python = (ROOT / "ci" / ".python-version").read_text().strip()
    assert project["project"]["requires-python"] == f">={python}"  # what init derives from .python-version
    # The engine writes ci/sdk and uv.lock on `dagger develop`; neither is committed (a uv lock records the
    # package index's host names, which this repository never carries).
    ignored = (ROOT / "ci" / ".gitignore").read_text().split()
    assert {"/sdk", "/uv.lock"} <= set(ignored)


def test_stack_plan_is_keyed_by_run() -> None:
    plan = stack.StackPlan(source=dag.directory(), run_id=RUN)
    assert [c.args["name"] for c in chain(plan.root_token())] == [f"vault-dev-root-token-{RUN}"]
