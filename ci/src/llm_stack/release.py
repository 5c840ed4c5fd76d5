"""Publish the images and deploy them with deploy/deploy.sh over SSH."""

import dataclasses
import enum
import secrets

import anyio
import dagger
from dagger import enum_type

from . import consts as c
from .build import edge_image, gateway_images
from .toolbox import deployer

DEPLOY_DIR = "/run/deploy"
SSH_DIR = "/root/.ssh"


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
    """The provider images and nginx, each with registry credentials attached as a Secret."""
    registry = registry.rstrip("/")
    host = registry.split("/", 1)[0]
    images = {**gateway_images(source), "nginx": edge_image(source)}
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


def deploy_container(
    source: dagger.Directory,
    env: Env,
    host: str,
    user: str,
    port: int,
    ssh_key: dagger.Secret,
    known_hosts: dagger.Secret,
    images: dagger.File,
    nonce: str = "",
) -> dagger.Container:
    """Run deploy/deploy.sh against ssh://user@host with the published image references."""
    return (
        deployer()
        .with_directory("/src/deploy", source.directory("deploy"))
        .with_workdir("/src")
        .with_new_file(f"{SSH_DIR}/config", ssh_config(host, user, port))
        .with_mounted_secret(f"{SSH_DIR}/id_deploy", ssh_key)
        .with_mounted_secret(f"{SSH_DIR}/known_hosts", known_hosts)
        .with_mounted_file(f"{DEPLOY_DIR}/images.txt", images)
        .with_env_variable("DOCKER_HOST", f"ssh://{user}@{host}:{port}")
        # Every deploy runs: the engine would otherwise return a cached exec for the same inputs.
        .with_env_variable("DEPLOY_NONCE", nonce or secrets.token_hex(8))
        .with_exec(["bash", c.DEPLOY_SCRIPT, "--env", env.value, "--images-file", f"{DEPLOY_DIR}/images.txt"])
    )
