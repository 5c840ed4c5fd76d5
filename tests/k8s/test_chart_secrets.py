"""Secrets stay out of what the chart renders in the clear: the gateways' ConfigMaps and the processes' command lines.

`env` maps become ConfigMap data, readable by anyone who may read ConfigMaps: the stores' URL/DSN (which carry their
password), other URLs and URLs with credentials in them are refused, and so is a key the chart already sets.
The in-chart Valkey reads its password from stdin, never from its argv (the node's process list shows argv).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.k8s.conftest import find, render, template

FULL = "llm-llm-gateway"


@pytest.mark.parametrize(("setting", "pointer"), [
    ("gateway.env.GATEWAY_REDIS_URL=redis://:pw@redis.data.svc:6379/0", "redis.external.urlSecret"),
    ("providers.openai.env.GATEWAY_POSTGRES_DSN=postgresql://llm:pw@10.30.0.5:5432/llm", "postgres.external.dsnSecret"),
])
def test_the_stores_credentials_never_go_into_a_configmap(setting: str, pointer: str) -> None:
    code, _, err = template(setting)
    assert code != 0 and "schema" in err, f"{setting} was accepted"
    assert pointer in err, err  # the refusal names the Secret-based value to use instead


@pytest.mark.parametrize("name", [
    "GATEWAY_ANALYTICS_DSN", "GATEWAY_CACHE_URL", "GATEWAY_SOMETHING_URL",  # any DSN, any URL not known to be public
    "GATEWAY_OPENAI_API_KEY", "GATEWAY_ADMIN_TOKEN", "GATEWAY_DB_PASSWORD",  # the names refused before
])
def test_secret_looking_names_are_refused(name: str) -> None:
    code, _, err = template(set_string=(f"gateway.env.{name}=x",))
    assert code != 0 and "schema" in err, f"{name} was accepted"


def test_public_urls_are_settings_but_not_with_credentials_in_them() -> None:
    ok = ("gateway.env.GATEWAY_JWT_JWKS_URL=https://idp.example.com/.well-known/jwks.json",
          "providers.openai.env.GATEWAY_UPSTREAM_BASE_URL=https://proxy.example.com/v1")
    code, docs, err = template(set_string=ok)
    assert code == 0, err
    data = (find(docs, "ConfigMap", f"{FULL}-openai") or {})["data"]
    assert data["GATEWAY_JWT_JWKS_URL"] == "https://idp.example.com/.well-known/jwks.json"
    assert data["GATEWAY_UPSTREAM_BASE_URL"] == "https://proxy.example.com/v1"
    for bad in ("gateway.env.GATEWAY_JWT_JWKS_URL=https://user:pw@idp.example.com/jwks",
                "providers.openai.upstreamBaseUrl=https://user:pw@proxy.example.com/v1"):
        code, _, err = template(set_string=(bad,))
        assert code != 0 and "schema" in err, f"{bad} was accepted"


@pytest.mark.parametrize(("setting", "key", "instead"), [
    ("gateway.env.GATEWAY_PORT=9000", "GATEWAY_PORT", "gateway.port"),
    ("providers.cohere.env.GATEWAY_VAULT_ADDR=https://other:8200", "GATEWAY_VAULT_ADDR", "vault.addr"),
    ("gateway.env.GATEWAY_LOG_LEVEL=debug", "GATEWAY_LOG_LEVEL", "gateway.logLevel"),
])
def test_a_key_the_chart_sets_itself_is_refused_naming_the_value_to_use(setting: str, key: str, instead: str) -> None:
    """Two equal keys in one ConfigMap: which wins is the YAML parser's choice, and a reader sees the wrong one."""
    code, _, err = template(set_string=(setting,))
    assert code != 0 and key in err and instead in err and "set by the chart" in err, err


def test_a_key_the_chart_sets_only_for_some_values_is_refused_only_then() -> None:
    setting = "providers.openai.env.GATEWAY_UPSTREAM_BASE_URL=https://proxy.example.com/v1"
    code, _, err = template("providers.openai.upstreamBaseUrl=https://api.openai.com/v1", set_string=(setting,))
    assert code != 0 and "providers.<name>.upstreamBaseUrl" in err, err
    limits = ("redis.mode=external", "redis.external.urlSecret.name=r", "redis.external.egress.cidrs={10.0.0.0/8}")
    code, _, err = template(*limits, set_string=("gateway.env.GATEWAY_LIMITS_BUDGETS_ON_OUTAGE=open",))
    assert code != 0 and "redis.budgetsOnOutage" in err, err


def _valkey_container() -> dict:
    return render("stores-in-chart").one("StatefulSet", f"{FULL}-valkey")["spec"]["template"]["spec"]["containers"][0]


def test_the_valkey_password_never_reaches_a_command_line(tmp_path: Path) -> None:
    """Run the container's command as the image would, with a stand-in valkey-server that records what it gets.

    The image (valkey/valkey, Debian) has /bin/sh; `valkey-server -` reads config from stdin before the options
    (valkey's documented `./valkey-server [/path/to/valkey.conf] [options] [-]`), so `requirepass` comes on stdin.
    """
    container = _valkey_container()
    command = container.get("command", []) + container["args"]
    password = "0123456789abcdef0123456789abcdef"  # a URL-safe hex password, as the README asks
    assert not any("VALKEY_PASSWORD)" in part for part in command)  # no kubelet $(VAR) expansion into argv
    fake = tmp_path / "bin" / "valkey-server"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >{tmp_path}/argv\ncat >{tmp_path}/stdin\n'
                    f'cat /proc/$$/cmdline | tr "\\000" " " >{tmp_path}/cmdline\n')
    fake.chmod(0o755)
    env = {"PATH": f"{fake.parent}:{os.environ['PATH']}", "VALKEY_PASSWORD": password}
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    argv = (tmp_path / "argv").read_text().splitlines()
    assert password not in " ".join(command) and password not in " ".join(argv)
    assert password not in (tmp_path / "cmdline").read_text()
    assert argv[0] == "-", argv  # config from stdin: first (or last) argument
    assert f'requirepass "{password}"' in (tmp_path / "stdin").read_text().splitlines()
    for option in ("--port 6379", "--dir /data", "--appendonly yes", "--appendfsync everysec", "--protected-mode no"):
        assert option in " ".join(argv), option
    assert argv[argv.index("--save") + 1] == ""  # no RDB snapshots: the append-only file only


def test_the_valkey_password_still_comes_from_the_operators_secret() -> None:
    container = _valkey_container()
    [password] = [e for e in container["env"] if e["name"] == "VALKEY_PASSWORD"]
    assert password["valueFrom"]["secretKeyRef"] == {"name": "llm-valkey", "key": "password"}
