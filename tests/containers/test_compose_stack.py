"""The running compose stack: healthy, segmented networks, per-provider credentials and volumes."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import pytest

from tests.containers.conftest import PROJECT, PROVIDERS, STACK_SH, ComposeStack, docker, image

pytestmark = pytest.mark.containers

CONNECT = ("import socket, sys\n"
           "try:\n"
           "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()\n"
           "except OSError as exc:\n"
           "    print(type(exc).__name__, exc); sys.exit(1)\n")


def can_connect(stack: ComposeStack, service: str, host: str, port: int) -> bool:
    result = docker("exec", stack.container(service), "python3", "-c", CONNECT, host, str(port),
                    check=False, timeout=60)
    return result.returncode == 0


def test_edge_answers_over_https(compose_stack: ComposeStack) -> None:
    env = compose_stack.env
    context = ssl.create_default_context(cafile=env["STACK_CA"])
    for provider in PROVIDERS:
        url = f"{env['STACK_URL']}/{provider}/readyz"
        assert url.startswith("https://")
        with urllib.request.urlopen(url, context=context, timeout=10) as r:  # noqa: S310 (https only)
            assert json.load(r) == {"status": "ready"}  # public readiness: no internals


def test_edge_lets_the_configured_origin_call_from_a_browser(compose_stack: ComposeStack) -> None:
    env = compose_stack.env
    origins = env.get("STACK_CORS_ORIGINS", "")
    assert origins, "the stack allows no web origin: start it with LLMGW_CORS_ORIGINS (make test-containers does)"
    origin = origins.split(",")[0].strip()
    with httpx.Client(base_url=env["STACK_URL"], verify=env["STACK_CA"], timeout=10) as edge:
        # The preflight the openai JavaScript SDK's first request makes (the headers it sends from a browser).
        preflight = edge.options("/openai/v1/chat/completions", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-stainless-os,x-stainless-retry-count"})
        assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == origin
        asked = {"authorization", "content-type", "x-stainless-os", "x-stainless-retry-count"}
        assert asked <= {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
        reply = edge.get("/openai/v1/models", headers={"Origin": origin, "x-api-key": env["STACK_KEY_OPENAI"]})
        assert reply.status_code == 200 and reply.headers["access-control-allow-origin"] == origin
        exposed = {h.strip().lower() for h in reply.headers["access-control-expose-headers"].split(",")}
        assert {"x-request-id", "retry-after", "x-should-retry", "x-ratelimit-remaining-requests"} <= exposed
        # Any other origin gets nothing a browser would accept.
        other = edge.get("/openai/v1/models", headers={"Origin": "https://elsewhere.example",
                                                        "x-api-key": env["STACK_KEY_OPENAI"]})
        assert "access-control-allow-origin" not in other.headers


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
    admin_token = (Path(compose_stack.env["STACK_STATE_DIR"]) / "vault-admin-token").read_text().strip()
    assert admin_token and admin_token not in json.dumps(info), "admin token visible in the gateway config"
    mounts = {m["Destination"]: m.get("Name", m["Source"]) for m in info["Mounts"]}
    assert set(mounts) == {"/etc/llm-gateway/approle", "/var/lib/llm-gateway", "/etc/llm-gateway/vault-ca/ca.pem"}
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
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "5", "max-size": "20m"}}


def test_gateway_root_filesystem_is_read_only(compose_stack: ComposeStack) -> None:
    result = compose_stack.exec_python("gateway-openai", "open('/opt/venv/probe', 'w')")
    assert result.returncode != 0 and "Read-only file system" in result.stderr
    result = compose_stack.exec_python("gateway-openai", "open('/var/lib/llm-gateway/probe', 'w').write('ok')")
    assert result.returncode == 0, result.stderr


def _vault(stack: ComposeStack, path: str, token: str | None = None) -> tuple[int, dict]:
    context = ssl.create_default_context(cafile=stack.env["VAULT_CACERT"])
    request = urllib.request.Request(stack.env["VAULT_ADDR"] + path)  # noqa: S310 (https, loopback)
    if token:
        request.add_header("X-Vault-Token", token)
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as r:  # noqa: S310
            return r.status, json.load(r)
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def test_vault_runs_in_server_mode_with_tls_audit_and_no_root(compose_stack: ComposeStack) -> None:
    info = json.loads(docker("inspect", compose_stack.container("vault")).stdout)[0]
    command = " ".join(info["Config"]["Entrypoint"] + info["Config"]["Cmd"])
    assert "-dev" not in command and "-config=/openbao/config/openbao.hcl" in command
    assert compose_stack.env["VAULT_ADDR"].startswith("https://")
    status, seal = _vault(compose_stack, "/v1/sys/seal-status")
    assert status == 200 and seal["initialized"] and not seal["sealed"] and seal["storage_type"] == "raft"
    init = json.loads((Path(compose_stack.env["STACK_STATE_DIR"]) / "vault-init.json").read_text())
    assert _vault(compose_stack, "/v1/auth/token/lookup-self", init["root_token"])[0] == 403  # revoked
    admin = (Path(compose_stack.env["STACK_STATE_DIR"]) / "vault-admin-token").read_text().strip()
    status, me = _vault(compose_stack, "/v1/auth/token/lookup-self", admin)
    assert status == 200 and me["data"]["policies"] == ["default", "llm-admin"]
    assert docker("exec", compose_stack.container("vault"), "test", "-s", "/openbao/logs/audit.log",
                  check=False).returncode == 0


def _chat_ok(stack: ComposeStack) -> bool:
    body = json.dumps({"messages": [{"role": "user", "content": "after restart"}]}).encode()
    request = urllib.request.Request(f"{stack.env['STACK_URL']}/openai/v1/chat/completions", data=body,  # noqa: S310
                                     headers={"Authorization": f"Bearer {stack.env['STACK_KEY_OPENAI']}",
                                              "Content-Type": "application/json"})
    context = ssl.create_default_context(cafile=stack.env["STACK_CA"])
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as r:  # noqa: S310 (https only)
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def test_restart_of_vault_and_a_gateway_loses_nothing(compose_stack: ComposeStack) -> None:
    assert _chat_ok(compose_stack)
    docker("restart", compose_stack.container("vault"), timeout=120)
    # Server mode: the restarted Vault is sealed until the operator unseals it (stack.sh unseal).
    env = {**os.environ, "LLMGW_STATE_DIR": compose_stack.env["STACK_STATE_DIR"]}
    deadline = time.monotonic() + 60
    while True:
        unseal = subprocess.run([str(STACK_SH), "unseal"], env=env, capture_output=True, text=True, timeout=60,
                                check=False)
        if unseal.returncode == 0:
            break
        assert time.monotonic() < deadline, unseal.stdout + unseal.stderr
        time.sleep(1)
    docker("restart", compose_stack.container("gateway-openai"), timeout=120)
    _wait_for_chat(compose_stack)
    status, seal = _vault(compose_stack, "/v1/sys/seal-status")
    assert status == 200 and not seal["sealed"]


def test_gateway_started_with_a_consumed_secret_id_waits_for_the_refresher(compose_stack: ComposeStack) -> None:
    """A gateway that crashed right after a login restarts with a used secret_id: it keeps retrying."""
    refresher, gateway = compose_stack.container("secret-id-refresher"), compose_stack.container("gateway-openai")
    docker("stop", refresher, timeout=60)
    try:
        _consume_secret_id(compose_stack, "gateway-openai")
        before = len(_logs(compose_stack, "gateway-openai", lines=None).splitlines())
        docker("restart", gateway, timeout=120)
        deadline = time.monotonic() + 60
        while "login failed" not in (log := "\n".join(_logs(compose_stack, "gateway-openai",
                                                              lines=None).splitlines()[before:])):
            assert time.monotonic() < deadline, log
            time.sleep(1)
        assert not _chat_ok(compose_stack)  # not serving yet: no key, no client registry
    finally:
        docker("start", refresher, timeout=60)
    _wait_for_chat(compose_stack)  # the refresher's first round writes a fresh secret_id


def test_edge_follows_a_gateway_recreated_at_another_address(compose_stack: ComposeStack) -> None:
    """nginx resolves upstream names only when it loads its config; a gateway recreated while its old
    address went to another container (as a release or a rollback can do) would leave the edge proxying
    there. The edge image's follower (services/edge/follow.py) reloads nginx when the name moves."""
    network = f"{PROJECT}_net-openai"
    assert _chat_ok(compose_stack)
    old = _address(compose_stack, "gateway-openai", network)
    _stack_sh(compose_stack, "compose", "rm", "--stop", "--force", "gateway-openai")
    holders: list[str] = []  # containers that take free addresses until one holds the gateway's old one
    try:
        while len(holders) < 8 and (not holders or _address_of(holders[-1], network) != old):
            holders.append(docker("run", "-d", "--rm", "--network", network, "--entrypoint", "sleep",
                                  image("nginx"), "300").stdout.strip())
        _stack_sh(compose_stack, "compose", "up", "-d", "--no-deps", "gateway-openai")
        new = _address(compose_stack, "gateway-openai", network)
        assert new != old
        _wait_for_chat(compose_stack)
        assert f"gateway-openai {old} -> {new}; nginx reloaded" in _logs(compose_stack, "nginx", lines=None)
    finally:
        if holders:
            docker("rm", "-f", *holders, check=False)


def _stack_sh(stack: ComposeStack, *args: str) -> None:
    env = {**os.environ, "LLMGW_STATE_DIR": stack.env["STACK_STATE_DIR"]}
    result = subprocess.run([str(STACK_SH), *args], env=env, capture_output=True, text=True, timeout=180,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _address(stack: ComposeStack, service: str, network: str) -> str:
    return _address_of(stack.container(service), network)


def _address_of(container: str, network: str) -> str:
    networks = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", container).stdout)
    return networks[network]["IPAddress"]


def _wait_for_chat(stack: ComposeStack, within_s: float = 120) -> None:
    deadline = time.monotonic() + within_s
    while not _chat_ok(stack):  # the same client key, provider key and AppRole: nothing re-created
        assert time.monotonic() < deadline, "gateway-openai did not serve again:\n" + \
            _logs(stack, "gateway-openai") + _logs(stack, "secret-id-refresher")
        time.sleep(2)


def _consume_secret_id(stack: ComposeStack, service: str) -> None:
    """Unwrap the wrapped secret_id in the service's file, unless a login consumed it already."""
    wrapped = docker("exec", stack.container(service), "cat", "/etc/llm-gateway/approle/secret_id").stdout.strip()
    request = urllib.request.Request(stack.env["VAULT_ADDR"] + "/v1/sys/wrapping/unwrap", data=b"{}",  # noqa: S310
                                     headers={"X-Vault-Token": wrapped}, method="POST")
    context = ssl.create_default_context(cafile=stack.env["VAULT_CACERT"])
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as r:  # noqa: S310 (https, loopback)
            assert json.load(r)["data"]["secret_id"]
    except urllib.error.HTTPError as exc:
        assert exc.code == 400, exc  # unwrapped already: just as unusable


def _logs(stack: ComposeStack, service: str, lines: int | None = 25) -> str:
    """The service's log (both streams), its last `lines` lines or all of it."""
    result = subprocess.run(["docker", "logs", "--tail", "all" if lines is None else str(lines),
                             stack.container(service)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, check=False, timeout=30)
    return f"--- {service}\n{result.stdout}"
