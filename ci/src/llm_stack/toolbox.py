"""Base containers: the toolbox from its Dockerfile, the deployer, and small reusable `.with_(step)` steps."""

from collections.abc import Callable

import dagger
from dagger import BuildArg, dag

from .consts import DEPLOYER_IMAGE, TOOLBOX_DOCKERFILE

Step = Callable[[dagger.Container], dagger.Container]

SRC = "/src"


def npm_cache(ctr: dagger.Container) -> dagger.Container:
    """Share npm's cache between runs."""
    return ctr.with_mounted_cache("/root/.npm", dag.cache_volume("llm-stack-npm"))


def with_source(source: dagger.Directory) -> Step:
    """Put the repository at /src; the service packages import from /src/services."""

    def step(ctr: dagger.Container) -> dagger.Container:
        return (
            ctr.with_directory(SRC, source)
            .with_workdir(SRC)
            .with_env_variable("PYTHONPATH", f"{SRC}/services")
            .with_env_variable("PYTHONUNBUFFERED", "1")
        )

    return step


def toolbox(source: dagger.Directory, base_image: str = "") -> dagger.Container:
    """ci/Dockerfile.toolbox (Python dev dependencies in /src/.venv, Node >= 20, nginx, openssl) over the source."""
    args = [BuildArg(name="BASE_IMAGE", value=base_image)] if base_image else []
    return source.docker_build(dockerfile=TOOLBOX_DOCKERFILE, build_args=args).with_(with_source(source))


def deployer() -> dagger.Container:
    """Docker CLI with compose, ssh and bash, to run deploy/deploy.sh against a remote engine."""
    return (
        dag.container().from_(DEPLOYER_IMAGE).with_exec(["apk", "add", "--no-cache", "bash", "openssh-client", "curl"])
    )
