"""Against a real OpenBao: a gateway's AppRole token reaches only its own provider path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest
from hvac import exceptions as hvac_errors

from tests.support.openbao import OpenBaoServer, bootstrap_server
from vaultctl.approle import issue_secret_id, read_role_id

pytestmark = pytest.mark.integration
KEYS = {"openai": "sk-iso-openai-8c1f", "anthropic": "sk-iso-anthropic-77d2", "cohere": "sk-iso-cohere-1e0b"}


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    server = OpenBaoServer(tmp_path_factory.mktemp("bao-iso")).start()
    try:
        bootstrap_server(server, server.workdir / "creds", keys=KEYS, clients=[("demo", ["openai"])])
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def root(bao: OpenBaoServer) -> hvac.Client:
    return hvac.Client(url=bao.addr, token=bao.root_token)


def _login(bao: OpenBaoServer, root: hvac.Client, provider: str) -> hvac.Client:
    client = hvac.Client(url=bao.addr)
    client.auth.approle.login(role_id=read_role_id(root, provider), secret_id=issue_secret_id(root, provider))
    return client


def test_openai_token_reads_only_its_own_path(bao: OpenBaoServer, root: hvac.Client) -> None:
    kv = _login(bao, root, "openai").secrets.kv.v2
    own = kv.read_secret_version(path="llm/providers/openai", mount_point="secret", raise_on_deleted_version=True)
    assert own["data"]["data"] == {"api_key": KEYS["openai"]}
    kv.read_secret_version(path="llm/clients", mount_point="secret", raise_on_deleted_version=True)
    for other in ("anthropic", "cohere"):
        with pytest.raises(hvac_errors.Forbidden):
            kv.read_secret_version(path=f"llm/providers/{other}", mount_point="secret",
                                   raise_on_deleted_version=True)


def test_openai_token_cannot_write_list_or_read_metadata(bao: OpenBaoServer, root: hvac.Client) -> None:
    kv = _login(bao, root, "openai").secrets.kv.v2
    with pytest.raises(hvac_errors.Forbidden):
        kv.create_or_update_secret(path="llm/providers/openai", secret={"api_key": "x"}, mount_point="secret")
    with pytest.raises(hvac_errors.Forbidden):
        kv.create_or_update_secret(path="llm/clients", secret={"keys": {}}, mount_point="secret")
    with pytest.raises(hvac_errors.Forbidden):
        kv.list_secrets(path="llm/providers", mount_point="secret")
    with pytest.raises(hvac_errors.Forbidden):
        kv.read_secret_metadata(path="llm/providers/openai", mount_point="secret")


def test_each_role_is_confined_to_its_provider(bao: OpenBaoServer, root: hvac.Client) -> None:
    for provider in KEYS:
        kv = _login(bao, root, provider).secrets.kv.v2
        for other in set(KEYS) - {provider}:
            with pytest.raises(hvac_errors.Forbidden):
                kv.read_secret_version(path=f"llm/providers/{other}", mount_point="secret",
                                       raise_on_deleted_version=True)


def test_secret_id_works_once(bao: OpenBaoServer, root: hvac.Client) -> None:
    role_id, secret_id = read_role_id(root, "openai"), issue_secret_id(root, "openai")
    hvac.Client(url=bao.addr).auth.approle.login(role_id=role_id, secret_id=secret_id)
    with pytest.raises(hvac_errors.InvalidRequest):
        hvac.Client(url=bao.addr).auth.approle.login(role_id=role_id, secret_id=secret_id)


def test_wrapped_secret_id_unwraps_once(bao: OpenBaoServer, root: hvac.Client) -> None:
    wrapping_token = issue_secret_id(root, "openai", wrap_ttl=60)
    unwrapped = hvac.Client(url=bao.addr, token=wrapping_token).sys.unwrap()["data"]["secret_id"]
    with pytest.raises((hvac_errors.InvalidRequest, hvac_errors.Forbidden)):
        hvac.Client(url=bao.addr, token=wrapping_token).sys.unwrap()
    client = hvac.Client(url=bao.addr)
    client.auth.approle.login(role_id=read_role_id(root, "openai"), secret_id=unwrapped)
    assert client.is_authenticated()


def test_role_settings_are_short_lived(root: hvac.Client) -> None:
    role = root.auth.approle.read_role(role_name="llm-gateway-openai")["data"]
    assert role["token_policies"] == ["llm-gateway-openai"]
    assert (role["token_ttl"], role["token_max_ttl"], role["secret_id_num_uses"]) == (300, 3600, 1)
    assert 0 < role["secret_id_ttl"] <= 600


def test_audit_log_never_holds_a_provider_key(bao: OpenBaoServer) -> None:
    text = Path(bao.audit_log_path).read_text()
    assert text.count("\n") > 10
    for key in KEYS.values():
        assert key not in text
