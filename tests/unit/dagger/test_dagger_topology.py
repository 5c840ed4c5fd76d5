"""The stack the module wires: which settings, volumes and services each gateway gets."""

import os
from pathlib import Path
from urllib.parse import urlparse

import dagger
import pytest
from dagger import dag
from dagger.client.base import Type

import catalogue
from tests.unit.dagger.chain import (
    RUN,
    bindings,
    chain,
    consts,
    env,
    main,
    ports,
    suites,
    walk,
)


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
        assert set(bound) == {"proxy", "vault", "mock", *(f"gateway-{p}" for p in catalogue.names())}
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


def test_the_proxy_routes_every_provider_to_its_gateway_as_the_edge_renderer_reads_it(module: main.LlmStack) -> None:
    """The edge's own renderer, given the proxy's environment: each provider's upstream is its bound gateway (an
    environment name it does not read, NGINX_UPSTREAM_LOCAL-LLAMA, left local-llama on the renderer's default)."""
    from edge import render

    proxy = module.proxy()
    merged = render.settings(env(proxy))
    for provider in catalogue.names():
        assert render.upstream_servers(merged, provider) == [f"gateway-{provider}:{consts.GATEWAY_PORT}"], provider
        assert f"gateway-{provider}" in bindings(proxy)


def test_the_suites_stack_env_file_is_what_the_tests_read(tmp_path: Path) -> None:
    """The script each integration suite runs before pytest writes STACK_ENV_FILE: the tests' own loader reads a
    client key and a gateway URL for every provider from it."""
    import json
    import subprocess
    import sys

    from tests.support.stack import external_stack

    keys = tmp_path / "clients.json"
    keys.write_text(json.dumps({consts.CI_CLIENT: "llmgw-test-key"}))
    out = tmp_path / "env"
    subprocess.run([sys.executable, "-c", suites.WRITE_STACK_ENV, str(keys), consts.CI_CLIENT, "true"], check=True,
                   env={**os.environ, "STACK_ENV_FILE": str(out)}, timeout=30)
    running = external_stack(out)
    assert running.keys == dict.fromkeys(catalogue.names(), "llmgw-test-key")
    assert running.gateway_urls == {p: f"http://gateway-{p}:{consts.GATEWAY_PORT}" for p in catalogue.names()}


def test_a_service_run_from_an_image_that_checks_its_health_serves_that_check_or_drops_it(
    module: main.LlmStack,
) -> None:
    """The engine takes an image's HEALTHCHECK as a service's readiness check (Dagger 0.20.1 and later). The
    refresher runs from the mock image but never opens the mock's port: it drops the check; the mock, the gateways
    and the proxy serve theirs (the port their image probes is the one they expose)."""
    proxy = module.proxy()
    gateways = bindings(proxy)
    refresher = bindings(gateways["gateway-openai"])["refresher"]
    assert "withoutDockerHealthcheck" in [c.name for c in chain(refresher)]
    assert consts.MOCK_PORT in ports(bindings(gateways["gateway-openai"])["mock"])
    assert all(consts.GATEWAY_PORT in ports(g) for g in gateways.values())
    assert consts.HTTPS_PORT in ports(proxy)
