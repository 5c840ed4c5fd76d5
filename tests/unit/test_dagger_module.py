"""The Dagger module (ci/), inspected without an engine: lazy objects expose their query chain.

Each dagger object keeps the GraphQL selections that would be sent to the engine; arguments that
are objects themselves (a Service bound into a Container, a Secret) keep their own chains, so a
walk over them sees the whole pipeline a function would run.
"""

import inspect
import json
import os
import re
import shlex
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dagger
import pytest
from dagger import dag
from dagger.client.base import Type

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "ci" / "src"))

from llm_stack import consts, main, release, stack, suites  # noqa: E402
from llm_stack.source import SOURCE_IGNORE, filter_paths, is_ignored  # noqa: E402

RUN = "0123456789abcdef"
SENTINEL = "sentinel-plaintext-7f3a"
SECRET_SINKS = {"withSecretVariable", "withMountedSecret", "withRegistryAuth", "setSecret"}


@dataclass(frozen=True)
class Call:
    """One selection in a chain: `type.name(args)`."""

    type_name: str
    name: str
    args: dict[str, Any]


def chain(obj: Type) -> list[Call]:
    return [Call(f.type_name, f.name, dict(f.args)) for f in obj._ctx.selections]


def walk(obj: Type, seen: set[int] | None = None) -> Iterator[Call]:
    """Every selection reachable from obj, following object-valued arguments."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    for call in chain(obj):
        yield call
        for value in call.args.values():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, Type):
                    yield from walk(item, seen)


def calls(obj: Type, name: str) -> list[Call]:
    return [c for c in walk(obj) if c.name == name]


def bindings(obj: Type) -> dict[str, dagger.Service]:
    """Top-level service bindings of a container or a service built from one."""
    return {c.args["alias"]: c.args["service"] for c in chain(obj) if c.name == "withServiceBinding"}


def ports(service: Type) -> set[int]:
    return {c.args["port"] for c in chain(service) if c.name == "withExposedPort"}


def env(obj: Type) -> dict[str, str]:
    return {c.args["name"]: c.args["value"] for c in chain(obj) if c.name == "withEnvVariable"}


@pytest.fixture
def module() -> main.LlmStack:
    return main.LlmStack(source=dag.directory(), run_id=RUN)


@pytest.fixture
def keys() -> dict[str, dagger.Secret]:
    return {p: dag.set_secret(f"{p}-key", f"{SENTINEL}-{p}") for p in consts.PROVIDERS}


def deploy_inputs(images: dagger.File, service_env: dagger.Directory | None = None,
                  pull: bool = False) -> release.DeployInputs:  # fmt: skip
    """Every deploy secret holds a sentinel, so a plaintext leak anywhere in the chain is found."""
    names = ("env-file", "ssh", "known", "cert", "key", "pull")
    secret = {n: dag.set_secret(n, f"{SENTINEL}-{n}") for n in names}
    return release.DeployInputs(
        env_file=secret["env-file"], ssh_key=secret["ssh"], known_hosts=secret["known"],
        tls_cert=secret["cert"], tls_key=secret["key"], images=images,
        service_env=service_env or dag.directory(),
        registry_username="bot" if pull else "", registry_password=secret["pull"] if pull else None,
    )  # fmt: skip


def pipelines(module: main.LlmStack, keys: dict[str, dagger.Secret]) -> dict[str, Type]:
    """The lazy objects behind every function that does not need an engine to build."""
    suite = suites.TestSuite(source=module.source, run_id=RUN)
    password = dag.set_secret("registry", f"{SENTINEL}-registry")
    inputs = deploy_inputs(dag.file("i", "x"), service_env=dag.directory(), pull=True)
    objs: dict[str, Type] = {
        "stack": module.stack(openai_key=keys["openai"], anthropic_key=keys["anthropic"], cohere_key=keys["cohere"]),
        "proxy": module.proxy(),
        "bootstrap": module.bootstrap(),
        "vault": module.vault(),
        "mock": module.mock(),
        "edge": module.edge(),
        "unit": suite.unit_container(),
        "deploy": release.deploy_container(
            module.source, release.Env.prod, release.DeployTarget("example.org"), inputs, "n"
        ),
    }
    for provider in main.Provider:
        objs[f"build-{provider.value}"] = module.build(provider)
        objs[f"gateway-{provider.value}"] = module.gateway(provider, provider_key=keys[provider.value])
    for name in consts.SUITES:
        objs[f"suite-{name}"] = suite.integration_container(name)
    for name, ctr in suites.lint_steps(module.source).items():
        objs[f"lint-{name}"] = ctr
    for push in release.publish_plan(module.source, "ghcr.io/acme", "bot", password, "v1"):
        objs[f"publish-{push.ref}"] = push.container
    return objs


# --- topology -----------------------------------------------------------------------------------


def test_each_gateway_starts_with_settings_that_reach_its_bound_services(
    module: main.LlmStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway's own settings loader accepts the container's environment, and every URL in it names
    a service bound to that container on a port that service exposes (what the process would dial)."""
    from gateway.config import load_settings

    proxy = module.stack()
    gateways = bindings(proxy)
    assert set(gateways) == {f"gateway-{p}" for p in consts.PROVIDERS}
    for host, gateway in gateways.items():
        for name in [n for n in os.environ if n.startswith("GATEWAY_")]:
            monkeypatch.delenv(name)
        for name, value in env(gateway).items():
            monkeypatch.setenv(name, value)
        settings = load_settings()
        assert f"gateway-{settings.provider}" == host
        assert settings.port in ports(gateway) and settings.secrets_backend == "vault"
        bound = bindings(gateway)
        for url in (settings.vault_addr, settings.upstream_base_url):
            parsed = urlparse(str(url))
            assert parsed.hostname in bound and parsed.port in ports(bound[parsed.hostname]), url
        mounted = set(cache_keys(gateway))
        for path in (settings.vault_role_id_file, settings.vault_secret_id_file):
            assert str(Path(str(path)).parent) in mounted, path
    upstreams = {v.split(":")[0] for k, v in env(proxy).items() if k.startswith("NGINX_UPSTREAM_")}
    assert upstreams == set(gateways)


def cache_keys(obj: Type) -> dict[str, str]:
    """Cache volumes mounted on a container or service: path -> volume key."""
    mounts = [c for c in chain(obj) if c.name == "withMountedCache"]
    return {m.args["path"]: chain(m.args["cache"])[-1].args["key"] for m in mounts}


def test_each_gateway_shares_only_its_own_approle_volume_with_the_refresher(module: main.LlmStack) -> None:
    """The refresher writes fresh secret_ids into the volume the gateway reads; one volume per provider and run."""
    for host, gateway in bindings(module.proxy()).items():
        provider = host.removeprefix("gateway-")
        assert cache_keys(gateway) == {consts.APPROLE_DIR: f"llm-stack-approle-{RUN}-{provider}"}
        refresher = bindings(gateway)["refresher"]
        assert cache_keys(refresher)[f"{consts.REFRESHER_DIR}/{provider}"] == cache_keys(gateway)[consts.APPROLE_DIR]
        assert chain(refresher)[-1].args["args"][-1].endswith("exec " + " ".join(consts.REFRESHER_CMD))


def test_a_real_provider_key_replaces_the_mock(module: main.LlmStack, keys: dict[str, dagger.Secret]) -> None:
    gateway = module.gateway(main.Provider.anthropic, provider_key=keys["anthropic"])
    assert "GATEWAY_UPSTREAM_BASE_URL" not in env(gateway)
    bootstrap = [c for c in walk(gateway) if c.name == "withSecretVariable" and c.args["name"] == "ANTHROPIC_API_KEY"]
    assert bootstrap and all(c.args["secret"] is keys["anthropic"] for c in bootstrap)


def test_integration_suites_reach_the_stack_by_hostname(module: main.LlmStack) -> None:
    suite = suites.TestSuite(source=module.source, run_id=RUN)
    for name in consts.SUITES:
        ctr = suite.integration_container(name)
        bound = bindings(ctr)
        assert set(bound) == {"proxy", "vault", "mock", "gateway-openai", "gateway-anthropic", "gateway-cohere"}
        assert bound["gateway-openai"] == bindings(bound["proxy"])["gateway-openai"]  # the same service
        assert ports(bound["proxy"]) == {8443, 8080}
        assert env(ctr)["STACK_ENV_FILE"] == "/run/stack/env"
        # The steps script `make test-dagger-replay` runs in Docker, after writing STACK_ENV_FILE.
        argv = chain(ctr)[-1].args["args"]
        assert argv[-4:] == ["bash", consts.STEPS_SCRIPT, "integration", name]
        assert env(ctr)["REPORTS"] == suites.REPORTS


def test_one_run_shares_one_vault_and_a_new_run_gets_a_new_one(module: main.LlmStack) -> None:
    def vault_ids(service: Type) -> set[str]:
        found = walk(service)
        return {c.args["value"] for c in found if c.name == "withEnvVariable" and c.args["name"] == "STACK_RUN_ID"}

    assert vault_ids(module.stack()) == {RUN}
    fresh = main.LlmStack(source=dag.directory())
    first, second = vault_ids(fresh.stack()), vault_ids(fresh.stack())
    assert len(first) == len(second) == 1 and first != second


# --- secrets ------------------------------------------------------------------------------------


def test_secrets_reach_containers_only_as_secrets(module: main.LlmStack, keys: dict[str, dagger.Secret]) -> None:
    for name, obj in pipelines(module, keys).items():
        for call in walk(obj):
            for arg, value in call.args.items():
                if isinstance(value, dagger.Secret):
                    assert call.name in SECRET_SINKS, f"{name}: secret passed to {call.name}({arg})"
                if call.name != "setSecret":
                    assert SENTINEL not in json.dumps(value, default=str), f"{name}: plaintext in {call.name}"


def test_no_secret_looking_plain_variable(module: main.LlmStack, keys: dict[str, dagger.Secret]) -> None:
    secretish = re.compile(r"(TOKEN|TOKEN_ID|PASSWORD|API_KEY|SECRET|SECRET_ID|KEY)$")
    for name, obj in pipelines(module, keys).items():
        for call in walk(obj):
            if call.name == "withEnvVariable" and secretish.search(call.args["name"]):
                # Only a path to a file may sit in a secret-sounding variable (NGINX_TLS_KEY=/etc/...).
                assert call.args["value"].startswith("/"), f"{name}: plain {call.args['name']}"


def test_vault_root_token_and_registry_password_are_secret_variables(
    module: main.LlmStack, keys: dict[str, dagger.Secret]
) -> None:
    assert {c.args["name"] for c in chain(module.vault()) if c.name == "withSecretVariable"} == {
        "BAO_DEV_ROOT_TOKEN_ID",
        "VAULT_DEV_ROOT_TOKEN_ID",
    }
    assert "VAULT_TOKEN" in {c.args["name"] for c in chain(module.bootstrap()) if c.name == "withSecretVariable"}
    password = dag.set_secret("registry", "x")
    plan = release.publish_plan(module.source, "ghcr.io/acme/", "bot", password, "v1")
    assert [p.ref for p in plan] == [
        f"ghcr.io/acme/llm-gateway-{c}:v1" for c in ("openai", "anthropic", "cohere", "nginx", "mock")
    ]
    for push in plan:
        auth = chain(push.container)[-1]
        assert (auth.name, auth.args["address"], auth.args["secret"]) == ("withRegistryAuth", "ghcr.io", password)


def test_deploy_mounts_its_secrets_and_never_reuses_an_exec(module: main.LlmStack) -> None:
    images = dag.file("images.txt", "x")
    inputs = deploy_inputs(images)

    def deploy(nonce: str = "", given: release.DeployInputs = inputs) -> dagger.Container:
        return release.deploy_container(
            module.source, release.Env.staging, release.DeployTarget("h.example", "ops", 2222), given, nonce
        )

    ctr = deploy()
    mounted = {c.args["path"]: c.args["source"] for c in chain(ctr) if c.name == "withMountedSecret"}
    assert mounted == {
        "/root/.ssh/id_deploy": inputs.ssh_key,
        "/root/.ssh/known_hosts": inputs.known_hosts,
        "/run/deploy/env": inputs.env_file,
        "/etc/llm-gateway/tls/server.pem": inputs.tls_cert,
        "/etc/llm-gateway/tls/server.key": inputs.tls_key,
    }
    variables = env(ctr)
    assert variables["DOCKER_HOST"] == "ssh://ops@h.example:2222"
    assert (variables["LLMGW_TLS_CERT"], variables["LLMGW_TLS_KEY"]) == (consts.DEPLOY_TLS_CERT, consts.DEPLOY_TLS_KEY)
    assert chain(ctr)[-1].args["args"] == [
        "bash", "deploy/deploy.sh", "--env", "staging",
        "--env-file", "/run/deploy/env", "--images-file", "/run/deploy/images.txt",
    ]  # fmt: skip
    config = next(c.args["contents"] for c in chain(ctr) if c.name == "withNewFile")
    assert "StrictHostKeyChecking yes" in config
    assert env(deploy())["DEPLOY_NONCE"] != env(deploy())["DEPLOY_NONCE"]
    settings = dag.directory()
    with_settings = deploy(given=deploy_inputs(images, service_env=settings))
    dirs = {c.args["path"]: c.args["source"] for c in chain(with_settings) if c.name == "withMountedDirectory"}
    assert dirs == {"/etc/llm-gateway/env": settings}
    assert env(with_settings)["LLMGW_ENV_DIR"] == "/etc/llm-gateway/env"
    # Registry pull credentials: the password only as a secret variable, fed to docker login on stdin.
    pulling = deploy(given=deploy_inputs(images, pull=True))
    assert [c.args["name"] for c in chain(pulling) if c.name == "withSecretVariable"] == ["REGISTRY_PULL_PASSWORD"]
    argv = chain(pulling)[-1].args["args"]
    assert argv[:2] == ["sh", "-c"] and "--password-stdin" in argv[2] and argv[4:6] == ["bash", "deploy/deploy.sh"]


def test_deploy_kubernetes_runs_the_repos_deployer_with_the_kubeconfig_as_a_secret(module: main.LlmStack) -> None:
    kubeconfig, values = dag.set_secret("kubeconfig", "x"), dag.file("values.yaml", "x")

    def deploy() -> dagger.Container:
        return release.kubernetes_deploy_container(module.source, release.Env.prod, kubeconfig, values, "llm", "gw")

    ctr = deploy()
    [build] = [c for c in chain(ctr) if c.name == "dockerBuild"]
    assert build.args["dockerfile"] == consts.HELM_DEPLOYER_DOCKERFILE
    [mount] = [c for c in chain(ctr) if c.name == "withMountedSecret"]
    assert (mount.args["path"], mount.args["source"]) == (release.KUBECONFIG, kubeconfig)
    assert mount.args["owner"] == consts.HELM_DEPLOYER_USER and mount.args.get("mode", 0o400) == 0o400  # SDK default
    variables = env(ctr)
    assert (variables["KUBECONFIG"], variables["NAMESPACE"], variables["RELEASE"]) == (release.KUBECONFIG, "llm", "gw")
    argv = chain(ctr)[-1].args["args"]
    assert argv[:3] == [consts.HELM_DEPLOY_SCRIPT, "-f", release.VALUES_FILE] and "--env prod" in argv[-1]
    # The script the exec names is the one the image installs (its ENTRYPOINT), run as the image's user.
    dockerfile = (ROOT / consts.HELM_DEPLOYER_DOCKERFILE).read_text()
    assert f'ENTRYPOINT ["{consts.HELM_DEPLOY_SCRIPT}"]' in dockerfile
    assert f"USER {consts.HELM_DEPLOYER_USER}" in dockerfile
    assert env(deploy())["DEPLOY_NONCE"] != env(deploy())["DEPLOY_NONCE"]
    for rel in ("deploy/helm/deploy.sh", "deploy/helm/Dockerfile.deployer", "tools/k8s/extract-helm.mjs",
                "tools/k8s/package-lock.json", "deploy/monitoring/alerts.yml"):
        assert not is_ignored(rel), f"{rel} must reach the engine"


def test_deploy_reads_what_deploy_sh_reads() -> None:
    """The env file deploy.sh needs is a Secret (deploy/.env.* never reaches the source upload)."""
    script = (ROOT / "deploy" / "deploy.sh").read_text()
    assert "--env-file) " in script
    assert is_ignored("deploy/.env.prod") and not is_ignored("deploy/.env.production.example")
    example = (ROOT / "deploy" / ".env.production.example").read_text()
    assert f"LLMGW_TLS_CERT={consts.DEPLOY_TLS_CERT}" in example
    assert f"LLMGW_TLS_KEY={consts.DEPLOY_TLS_KEY}" in example
    assert f"LLMGW_ENV_DIR={consts.DEPLOY_SERVICE_ENV_DIR}" in example
    params = registered()["deploy"].parameters
    for name in ("env_file", "ssh_key", "known_hosts", "tls_cert", "tls_key", "registry_password"):
        assert "Secret" in str(params[name].resolved_type), name
    # What deploy.sh cannot run without has no default: `dagger call deploy` refuses to start without it.
    required = {n for n, p in params.items() if p.signature.default is inspect.Parameter.empty}
    assert {"env", "host", "env_file", "ssh_key", "known_hosts", "tls_cert", "tls_key", "images",
            "service_env"} <= required  # fmt: skip


def test_publish_pushes_every_image_compose_runs() -> None:
    """deploy.sh pulls one reference per component; compose runs each `${LLMGW_IMAGE_PREFIX}/<c>:<tag>`."""
    compose = (ROOT / "deploy" / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{LLMGW_IMAGE_PREFIX:-llmgw\}/([a-z]+):", compose))
    assert used == set(consts.COMPONENTS)
    script = (ROOT / "deploy" / "deploy.sh").read_text()
    components = re.search(r"^readonly COMPONENTS=\(([^)]*)\)", script, re.MULTILINE)
    assert components is not None and tuple(components.group(1).split()) == consts.COMPONENTS
    assert all(consts.image_name(c) == f"llm-gateway-{c}" for c in consts.COMPONENTS)
    assert '"${registry}/llm-gateway-${c}:${tag}"' in script


# --- caching, checks, registration ----------------------------------------------------------------


def registered() -> dict[str, Any]:
    from dagger.mod import default_module

    return default_module()._objects["LlmStack"].functions


def test_cache_policy_follows_what_a_result_depends_on() -> None:
    """Anything holding a run id (a live Vault) or acting outside is never cached; verdicts once per session."""
    policies = {name: fn.cache_policy for name, fn in registered().items()}
    never = {"vault", "bootstrap", "gateway", "proxy", "stack", "suite", "publish", "deploy", "deploy_kubernetes"}
    session = {"test", "test_report", "test_integration", "test_health", "test_auth", "test_perf", "test_langchain"}
    assert {n for n, p in policies.items() if p == "never"} == never
    assert {n for n, p in policies.items() if p == "session"} == session
    # Pure functions of the source keep the engine's default cache: lint, unit, builds, credentials of a run id.
    assert {n for n, p in policies.items() if p is None} == set(policies) - never - session


def test_stack_is_an_up_service_whose_log_holds_no_client_key(module: main.LlmStack) -> None:
    assert registered()["stack"].service  # `@up`: `dagger up` serves it
    proxy = module.stack()
    assert not [c for c in chain(proxy) if c.name in ("withMountedFile", "withFile")]
    script = chain(proxy)[-1].args["args"][-1]
    assert "clients.json" not in script.split("jq")[0] and f"--run-id {RUN} stack-credentials" in script
    files = [c.args["path"] for c in chain(module.stack_credentials()) if c.name == "withFile"]
    assert files == ["clients.json", "ca.pem"]


def test_suites_are_checks_and_every_function_is_documented() -> None:
    functions = registered()
    checks = {name for name, fn in functions.items() if fn.check}
    # `dagger check` runs checks concurrently: the integration suites are one check on one stack.
    assert checks == {"lint", "test_unit", "test_integration"}
    for name, fn in functions.items():
        assert fn.doc and "\n" not in fn.doc.strip(), f"{name}: one-line docstring"
        for param in fn.parameters.values():
            assert param.doc, f"{name}({param.name}) has no Doc()"


def test_source_argument_uses_the_one_ignore_list_the_replay_applies() -> None:
    """What the engine filters with is what tests/containers/test_module_replay.py replays."""
    from dagger.mod import default_module

    ctor = default_module()._objects["LlmStack"].get_constructor(default_module()._converter)
    source = ctor.parameters["source"]
    assert source.default_path == "/"
    assert source.ignore == SOURCE_IGNORE


# --- the repository has what the module runs -------------------------------------------------------


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
    assert {"services/mockllm", "services/gateway", "services/vaultctl", "services/devstack/nginx_render.py"} <= used
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
    assert "ci:openai+anthropic+cohere" in consts.BOOTSTRAP_CMD


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


# --- the source filter (llm_stack.source; tests/containers checks it against Docker's own matcher) ---


@pytest.mark.parametrize(
    "path",
    ["dagger.json", "ci/.gitignore", "ci/pyproject.toml", ".dockerignore", "ci/steps/run.sh",
     "services/gateway/app.py", "tests/unit/test_dagger_module.py", "deploy/.env.production.example",
     "tools/actionlint/run.mjs", ".github/workflows/ci.yml"],
)  # fmt: skip
def test_filter_uploads_what_tests_and_builds_read(path: str) -> None:
    assert not is_ignored(path)


@pytest.mark.parametrize(
    "path",
    ["services/x.pem", "nginx/tls/server.key", ".env", "deploy/.env.prod", "services/gateway/.env",
     ".venv/lib/python3.11/site-packages/x.py", "ci/sdk/pyproject.toml", "ci/.venv/bin/python",
     "services/gateway/__pycache__/app.cpython-311.pyc", "tools/actionlint/node_modules/a/index.js",
     ".stack/env", "bench/run.py", ".git/config"],
)  # fmt: skip
def test_filter_drops_secrets_state_and_droppings(path: str) -> None:
    assert is_ignored(path)


def test_filter_rules_are_dockerignore_rules() -> None:
    """Last match wins, `*` stays in a segment, a matched directory covers its tree, `**/` spans zero or more."""
    rules = ["*", "!keep/**", "keep/drop", "!keep/drop/back.txt", "**/x?.tmp"]
    paths = ["top.txt", "keep/a/b.txt", "keep/drop/c.txt", "keep/drop/back.txt", "keep/x1.tmp", "keep/a/x22.tmp"]
    assert filter_paths(paths, rules) == ["keep/a/b.txt", "keep/drop/back.txt", "keep/a/x22.tmp"]


# --- documented and automated deploy calls are calls the module accepts ---------------------------


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
