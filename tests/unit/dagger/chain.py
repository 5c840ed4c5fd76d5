"""The Dagger module (ci/), inspected without an engine: lazy objects expose their query chain.

Each dagger object keeps the GraphQL selections that would be sent to the engine; arguments that
are objects themselves (a Service bound into a Container, a Secret) keep their own chains, so a
walk over them sees the whole pipeline a function would run. These helpers read those chains.
"""

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagger
from dagger import dag
from dagger.client.base import Type

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "ci" / "src"))

from llm_stack import consts, main, release, stack, suites  # noqa: E402
from llm_stack.source import SOURCE_IGNORE, filter_paths, is_ignored  # noqa: E402

# The module's own packages are re-exported: ci/src is on sys.path only once this module ran.
__all__ = ["ROOT", "RUN", "SECRET_SINKS", "SENTINEL", "SOURCE_IGNORE", "Call", "bindings", "calls", "chain", "consts",
           "deploy_inputs", "env", "filter_paths", "is_ignored", "main", "pipelines", "ports", "registered", "release",
           "stack", "suites", "walk"]

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


def deploy_inputs(images: dagger.File, service_env: dagger.Directory | None = None,
                  pull: bool = False) -> release.DeployInputs:  # fmt: skip
    """Every deploy secret holds a sentinel, so a plaintext leak anywhere in the chain is found."""
    names = ("env-file", "ssh", "known", "cert", "key", "vault-cert", "vault-key", "vault-ca", "pull")
    secret = {n: dag.set_secret(n, f"{SENTINEL}-{n}") for n in names}
    return release.DeployInputs(
        env_file=secret["env-file"], ssh_key=secret["ssh"], known_hosts=secret["known"],
        tls_cert=secret["cert"], tls_key=secret["key"], vault_tls_cert=secret["vault-cert"],
        vault_tls_key=secret["vault-key"], vault_ca=secret["vault-ca"], images=images,
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


def registered() -> dict[str, Any]:
    """The module's functions as the SDK registered them."""
    from dagger.mod import default_module

    return default_module()._objects["LlmStack"].functions
