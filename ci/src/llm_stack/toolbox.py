"""Base containers, each built in small reusable `.with_(step)` steps with one cache volume per tool."""

from collections.abc import Callable

import dagger
from dagger import dag

from .consts import DEPLOYER_IMAGE, LINT_TOOLS, PYTHON_IMAGE

Step = Callable[[dagger.Container], dagger.Container]

SRC = "/src"


def apt_install(*packages: str) -> Step:
    """Install Debian packages with the apt lists and archives on cache volumes."""

    def step(ctr: dagger.Container) -> dagger.Container:
        return (
            ctr.with_mounted_cache("/var/cache/apt/archives", dag.cache_volume("llm-stack-apt-archives"))
            .with_mounted_cache("/var/lib/apt/lists", dag.cache_volume("llm-stack-apt-lists"))
            .with_exec(["rm", "-f", "/etc/apt/apt.conf.d/docker-clean"])
            .with_exec(["apt-get", "update", "-q"])
            .with_exec(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages])
        )

    return step


def pip_cache(ctr: dagger.Container) -> dagger.Container:
    """Share pip's download cache between runs."""
    return ctr.with_mounted_cache("/root/.cache/pip", dag.cache_volume("llm-stack-pip")).with_env_variable(
        "PIP_DISABLE_PIP_VERSION_CHECK", "1"
    )


def npm_cache(ctr: dagger.Container) -> dagger.Container:
    """Share npm's cache between runs."""
    return ctr.with_mounted_cache("/root/.npm", dag.cache_volume("llm-stack-npm"))


def python_deps(source: dagger.Directory) -> Step:
    """Install the project's [dev] dependencies from pyproject.toml alone, so code edits keep the layer."""

    def step(ctr: dagger.Container) -> dagger.Container:
        return (
            ctr.with_(pip_cache)
            .with_file("/deps/pyproject.toml", source.file("pyproject.toml"))
            .with_new_file("/deps/README.md", "dependency layer\n")
            .with_workdir("/deps")
            .with_exec(["pip", "install", "-q", ".[dev]", *LINT_TOOLS])
        )

    return step


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


def toolbox(source: dagger.Directory) -> dagger.Container:
    """Python with the project's dev dependencies, nginx, node and openssl: runs tests, lint and helpers."""
    return (
        dag.container()
        .from_(PYTHON_IMAGE)
        .with_(apt_install("nginx", "nodejs", "npm", "openssl", "make"))
        .with_(python_deps(source))
        .with_(with_source(source))
        # pyright's config names .venv: one that sees the system site-packages installed above.
        .with_exec(["python", "-m", "venv", "--system-site-packages", f"{SRC}/.venv"])
    )


def deployer() -> dagger.Container:
    """Docker CLI with compose, ssh and bash, to run deploy/deploy.sh against a remote engine."""
    return (
        dag.container().from_(DEPLOYER_IMAGE).with_exec(["apk", "add", "--no-cache", "bash", "openssh-client", "curl"])
    )
