"""Secrets in the module: only ever `dagger.Secret`s, never plain variables, never cached exec output."""

import inspect
import json
import re
import subprocess

import dagger
from dagger import dag

import catalogue
from tests.unit.dagger.chain import (
    ROOT,
    SECRET_SINKS,
    SENTINEL,
    chain,
    consts,
    deploy_inputs,
    env,
    is_ignored,
    main,
    pipelines,
    registered,
    release,
    walk,
)


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
        f"ghcr.io/acme/llm-gateway-{c}:v1" for c in (*catalogue.names(), "nginx", "mock")
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
        "/etc/llm-gateway/vault-tls/server.pem": inputs.vault_tls_cert,
        "/etc/llm-gateway/vault-tls/server.key": inputs.vault_tls_key,
        "/etc/llm-gateway/vault-tls/ca.pem": inputs.vault_ca,
    }
    variables = env(ctr)
    # Every file deploy.sh refuses to start without (its readable-files check) is set and mounted.
    required = re.search(r"for f in ([A-Z_ ]+); do\n\s+\[\[ -n .*is not a readable file",
                         (ROOT / "deploy" / "deploy.sh").read_text())
    assert required is not None
    for name in required.group(1).split():
        assert variables[name] in mounted, name
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
    used = set(re.findall(r"\$\{LLMGW_IMAGE_PREFIX:-llmgw\}/([a-z0-9-]+):", compose))
    assert used == set(consts.COMPONENTS)
    script = (ROOT / "deploy" / "deploy.sh").read_text() + (ROOT / "deploy" / "deploy-steps.sh").read_text()
    # The script's own list, as bash expands it (PROVIDERS is a generated region, COMPONENTS builds on it).
    lists = "\n".join(line for line in script.splitlines()
                      if re.match(r"^(readonly )?(PROVIDERS|PROVIDER_KEY_VARS|PROVIDER_EXTRAS|COMPONENTS)[=\s]", line))
    shown = subprocess.run(["bash", "-c", lists + '\nprintf "%s\\n" "${COMPONENTS[@]}"'], capture_output=True,
                           text=True, timeout=10, check=True).stdout.split()
    assert tuple(shown) == consts.COMPONENTS
    assert all(consts.image_name(c) == f"llm-gateway-{c}" for c in consts.COMPONENTS)
    assert '"${registry}/llm-gateway-${c}:${tag}"' in script
