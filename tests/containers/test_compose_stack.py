"""The running compose stack: healthy, segmented networks, per-provider credentials and volumes."""

from __future__ import annotations

import json
import ssl
import urllib.request

import pytest

from tests.containers.conftest import PROVIDERS, ComposeStack, docker

pytestmark = pytest.mark.containers

CONNECT = ("import socket, sys\n"
           "try:\n"
           "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()\n"
           "except OSError as exc:\n"
           "    print(type(exc).__name__, exc); sys.exit(1)\n")


def can_connect(stack: ComposeStack, service: str, host: str, port: int) -> bool:
    result = docker("exec", stack.container(service), "python", "-c", CONNECT, host, str(port),
                    check=False, timeout=60)
    return result.returncode == 0


def test_edge_answers_over_https(compose_stack: ComposeStack) -> None:
    env = compose_stack.env
    context = ssl.create_default_context(cafile=env["STACK_CA"])
    for provider in PROVIDERS:
        url = f"{env['STACK_URL']}/{provider}/readyz"
        assert url.startswith("https://")
        with urllib.request.urlopen(url, context=context, timeout=10) as r:  # noqa: S310 (https only)
            assert json.load(r)["provider"] == provider


@pytest.mark.parametrize("provider", PROVIDERS)
def test_gateway_cannot_reach_another_gateway(compose_stack: ComposeStack, provider: str) -> None:
    me = f"gateway-{provider}"
    assert can_connect(compose_stack, me, "vault", 8200)
    assert can_connect(compose_stack, "nginx", me, 8000)
    for other in PROVIDERS:
        if other != provider:
            assert not can_connect(compose_stack, me, f"gateway-{other}", 8000), f"{me} reaches gateway-{other}"
    assert not can_connect(compose_stack, me, "vault-bootstrap", 8199)


def test_only_nginx_is_published_from_the_gateways(compose_stack: ComposeStack) -> None:
    for provider in PROVIDERS:
        ports = json.loads(docker("inspect", "-f", "{{json .HostConfig.PortBindings}}",
                                  compose_stack.container(f"gateway-{provider}")).stdout)
        assert not ports


@pytest.mark.parametrize("provider", PROVIDERS)
def test_gateway_holds_only_its_own_credentials(compose_stack: ComposeStack, provider: str) -> None:
    cid = compose_stack.container(f"gateway-{provider}")
    info = json.loads(docker("inspect", cid).stdout)[0]
    env = dict(item.split("=", 1) for item in info["Config"]["Env"])
    assert env["GATEWAY_PROVIDER"] == provider
    leaked = [k for k in env if k.endswith(("_API_KEY", "_TOKEN")) or "SECRET_ID=" in k]
    assert not leaked, f"credential variables in gateway-{provider}: {leaked}"
    root_token = (compose_stack.env.get("STACK_STATE_DIR", "") and
                  open(f"{compose_stack.env['STACK_STATE_DIR']}/vault-root-token").read().strip())
    assert root_token and root_token not in json.dumps(info), "root token visible in the gateway config"
    mounts = {m["Destination"]: m.get("Name", m["Source"]) for m in info["Mounts"]}
    assert set(mounts) == {"/etc/llm-gateway/approle", "/var/lib/llm-gateway"}
    assert mounts["/etc/llm-gateway/approle"].endswith(f"approle-{provider}")
    assert mounts["/var/lib/llm-gateway"].endswith(f"data-{provider}")
    listing = docker("exec", cid, "python", "-c",
                     "import os; print(sorted(os.listdir('/etc/llm-gateway/approle'))); "
                     "print(os.path.exists('/run/secrets'))").stdout.split("\n")
    assert listing[0] == "['role_id', 'secret_id']"
    assert listing[1] == "False"


@pytest.mark.parametrize("service", ["gateway-openai", "nginx", "vault", "mock"])
def test_running_containers_are_hardened(compose_stack: ComposeStack, service: str) -> None:
    host = json.loads(docker("inspect", compose_stack.container(service)).stdout)[0]["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["Memory"] > 0 and host["NanoCpus"] > 0


def test_gateway_root_filesystem_is_read_only(compose_stack: ComposeStack) -> None:
    result = compose_stack.exec_python("gateway-openai", "open('/opt/venv/probe', 'w')")
    assert result.returncode != 0 and "Read-only file system" in result.stderr
    result = compose_stack.exec_python("gateway-openai", "open('/var/lib/llm-gateway/probe', 'w').write('ok')")
    assert result.returncode == 0, result.stderr
