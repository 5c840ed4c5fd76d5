"""Publish the images and deploy them with deploy/deploy.sh over SSH."""

import dataclasses
import enum
import secrets

import anyio
import dagger
from dagger import enum_type

from . import consts as c
from .build import edge_image, gateway_images, mock_image
from .toolbox import deployer

DEPLOY_DIR = "/run/deploy"
SSH_DIR = "/root/.ssh"
ENV_FILE = f"{DEPLOY_DIR}/env"  # deploy.sh --env-file: mounted as a Secret, never a layer
# Log the docker CLI in to the registry of the first published reference (host before the first /).
REGISTRY_LOGIN = (
    f'printf %s "$REGISTRY_PULL_PASSWORD" | docker login --username "$REGISTRY_PULL_USER" --password-stdin'
    f' "$(head -n 1 {DEPLOY_DIR}/images.txt | cut -d / -f 1)" >/dev/null'
)


@enum_type
class Env(enum.Enum):
    """Deployment target."""

    staging = "staging"
    """The staging server, deployed from main."""

    prod = "prod"
    """Production, deployed from a tag or a manual dispatch."""


@dataclasses.dataclass(frozen=True)
class Push:
    """One image and the reference it is pushed to."""

    ref: str
    container: dagger.Container


def publish_plan(
    source: dagger.Directory, registry: str, username: str, password: dagger.Secret, tag: str
) -> list[Push]:
    """Every image compose runs (gateways, nginx, mock), each with registry credentials attached as a Secret."""
    registry = registry.rstrip("/")
    host = registry.split("/", 1)[0]
    images = {**gateway_images(source), "nginx": edge_image(source), "mock": mock_image(source)}
    return [
        Push(
            ref=f"{registry}/{c.image_name(component)}:{tag}",
            container=image.with_registry_auth(host, username, password),
        )
        for component, image in images.items()
    ]


async def push_all(plan: list[Push]) -> list[str]:
    """Push every image concurrently; return the references with their digests, in plan order."""
    refs: dict[int, str] = {}

    async def push(i: int, item: Push) -> None:
        refs[i] = await item.container.publish(item.ref)

    async with anyio.create_task_group() as tg:
        for i, item in enumerate(plan):
            tg.start_soon(push, i, item)
    return [refs[i] for i in range(len(plan))]


def ssh_config(host: str, user: str, port: int) -> str:
    """Client config: the given key and known_hosts only, no agent, no trust on first use."""
    return (
        f"Host {host}\n  User {user}\n  Port {port}\n  IdentityFile {SSH_DIR}/id_deploy\n"
        f"  IdentitiesOnly yes\n  StrictHostKeyChecking yes\n  UserKnownHostsFile {SSH_DIR}/known_hosts\n"
    )


@dataclasses.dataclass(frozen=True)
class DeployTarget:
    """The server deploy.sh drives over SSH."""

    host: str
    user: str = "deploy"
    port: int = 22


@dataclasses.dataclass(frozen=True)
class DeployInputs:
    """What deploy.sh reads besides the repository: secrets only as Secrets, the rest as files."""

    env_file: dagger.Secret  # deploy/.env.<env>: holds VAULT_ROOT_TOKEN and the provider keys
    ssh_key: dagger.Secret
    known_hosts: dagger.Secret
    tls_cert: dagger.Secret
    tls_key: dagger.Secret
    vault_tls_cert: dagger.Secret  # Vault's listener certificate, key and CA: deploy.sh installs them on the server
    vault_tls_key: dagger.Secret
    vault_ca: dagger.Secret
    images: dagger.File
    service_env: dagger.Directory  # openai.env, anthropic.env, cohere.env (mock.env): deploy.sh needs them
    registry_username: str = ""  # with registry_password: the server pulls private images with these
    registry_password: dagger.Secret | None = None


def deploy_container(
    source: dagger.Directory, env: Env, target: DeployTarget, inputs: DeployInputs, nonce: str = ""
) -> dagger.Container:
    """Run deploy/deploy.sh against ssh://user@host with the published image references."""
    ctr = (
        deployer()
        .with_directory("/src/deploy", source.directory("deploy"))
        .with_workdir("/src")
        .with_new_file(f"{SSH_DIR}/config", ssh_config(target.host, target.user, target.port))
        .with_mounted_secret(f"{SSH_DIR}/id_deploy", inputs.ssh_key)
        .with_mounted_secret(f"{SSH_DIR}/known_hosts", inputs.known_hosts)
        .with_mounted_secret(ENV_FILE, inputs.env_file)
        .with_mounted_secret(c.DEPLOY_TLS_CERT, inputs.tls_cert)
        .with_mounted_secret(c.DEPLOY_TLS_KEY, inputs.tls_key)
        .with_mounted_secret(c.DEPLOY_VAULT_TLS_CERT, inputs.vault_tls_cert)
        .with_mounted_secret(c.DEPLOY_VAULT_TLS_KEY, inputs.vault_tls_key)
        .with_mounted_secret(c.DEPLOY_VAULT_CA, inputs.vault_ca)
        .with_mounted_file(f"{DEPLOY_DIR}/images.txt", inputs.images)
        # Read when the env file leaves them unset (it wins over the environment).
        .with_env_variable("LLMGW_TLS_CERT", c.DEPLOY_TLS_CERT)
        .with_env_variable("LLMGW_TLS_KEY", c.DEPLOY_TLS_KEY)
        .with_env_variable("LLMGW_VAULT_TLS_CERT", c.DEPLOY_VAULT_TLS_CERT)
        .with_env_variable("LLMGW_VAULT_TLS_KEY", c.DEPLOY_VAULT_TLS_KEY)
        .with_env_variable("LLMGW_VAULT_CA", c.DEPLOY_VAULT_CA)
        .with_env_variable("DOCKER_HOST", f"ssh://{target.user}@{target.host}:{target.port}")
    )
    ctr = ctr.with_mounted_directory(c.DEPLOY_SERVICE_ENV_DIR, inputs.service_env).with_env_variable(
        "LLMGW_ENV_DIR", c.DEPLOY_SERVICE_ENV_DIR
    )
    argv = ["bash", c.DEPLOY_SCRIPT, "--env", env.value, "--env-file", ENV_FILE]
    argv += ["--images-file", f"{DEPLOY_DIR}/images.txt"]
    if inputs.registry_password is not None:
        # The docker CLI here sends these credentials with each pull to the server's engine; the
        # password stays a Secret (stdin of docker login, never an argument or a layer).
        ctr = ctr.with_env_variable("REGISTRY_PULL_USER", inputs.registry_username).with_secret_variable(
            "REGISTRY_PULL_PASSWORD", inputs.registry_password
        )
        argv = ["sh", "-c", f'{REGISTRY_LOGIN} && exec "$@"', "deploy", *argv]
    # Every deploy runs: the engine would otherwise return a cached exec for the same inputs.
    return ctr.with_env_variable("DEPLOY_NONCE", nonce or secrets.token_hex(8)).with_exec(argv)


KUBECONFIG = "/run/secrets/kubeconfig"
VALUES_FILE = f"{DEPLOY_DIR}/values.yaml"


def helm_deployer(source: dagger.Directory) -> dagger.Container:
    """helm, the chart and deploy/helm/deploy.sh, built from deploy/helm/Dockerfile.deployer."""
    return source.docker_build(dockerfile=c.HELM_DEPLOYER_DOCKERFILE)


def kubernetes_deploy_container(
    source: dagger.Directory,
    env: Env,
    kubeconfig: dagger.Secret,
    values: dagger.File,
    namespace: str,
    release: str,
    nonce: str = "",
) -> dagger.Container:
    """Run deploy/helm/deploy.sh (helm upgrade --install --rollback-on-failure) on the kubeconfig's cluster."""
    return (
        helm_deployer(source)
        # Readable by the image's unprivileged user only; a Secret mount, never a layer.
        .with_mounted_secret(KUBECONFIG, kubeconfig, owner=c.HELM_DEPLOYER_USER, mode=0o400)
        .with_mounted_file(VALUES_FILE, values, owner=c.HELM_DEPLOYER_USER)
        .with_env_variable("KUBECONFIG", KUBECONFIG)
        .with_env_variable("NAMESPACE", namespace)
        .with_env_variable("RELEASE", release)
        # Every deploy runs: the engine would otherwise return a cached exec for the same inputs.
        .with_env_variable("DEPLOY_NONCE", nonce or secrets.token_hex(8))
        .with_exec(
            [c.HELM_DEPLOY_SCRIPT, "-f", VALUES_FILE, "--description", f"dagger deploy-kubernetes --env {env.value}"]
        )
    )
