"""`python -m gateway.validate`: offline settings checks, target resolution, and the remote probes
against an in-process gateway whose upstream does not exist (so any probe reaching the LLM would fail)."""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import httpx
import pytest
from starlette.testclient import TestClient

import catalogue
from gateway import validate
from gateway.app import create_app
from gateway.auth import keys
from gateway.config import load_settings
from gateway.validation import Report, Target, check_settings, check_target, looks_like_placeholder

TOOLS = ("chat", "calculator", "current_time")
GOOD = {"GATEWAY_PROVIDER": "openai", "OPENAI_API_KEY": "sk-proj-3f9a8b7c6d5e4f3a2b1c",
        "GATEWAY_CLIENT_KEYS": f"abcdefghijkl:{'a' * 64}:openai"}


def _by_name(checks: list) -> dict[str, list]:
    out: dict[str, list] = {}
    for check in checks:
        out.setdefault(check.name, []).append(check)
    return out


def _status(checks: list, name: str) -> str:
    return _by_name(checks)[name][0].status


# -- placeholders --------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["", "  ", "<openai-api-key>", "changeme", "CHANGE-ME-please", "xxxxxxxx",
                                   "your-key-here", "replace_me", "todo", "sk-example-0000"])
def test_placeholders_are_recognised(value: str) -> None:
    assert looks_like_placeholder(value)


@pytest.mark.parametrize("value", ["sk-proj-3f9a8b7c6d5e4f3a2b1c", "lgw_abcdefghijkl_Zx9", "mock-openai-1f2e3d"])
def test_real_looking_values_are_not_placeholders(value: str) -> None:
    assert not looks_like_placeholder(value)


# -- --settings-only -----------------------------------------------------------------------------

@pytest.mark.parametrize("provider", ["openai", "anthropic", "cohere"])
def test_settings_only_passes_for_a_complete_environment(provider: str) -> None:
    env = {"GATEWAY_PROVIDER": provider, f"{provider.upper()}_API_KEY": "k-3f9a8b7c6d5e4f3a",
           "GATEWAY_CLIENT_KEYS": f"abcdefghijkl:{'a' * 64}:{provider}"}
    checks = check_settings(env)
    assert {c.status for c in checks} == {"PASS"}, checks
    assert {"settings", "provider key", "client keys", "models", "upstream", "chat model", "timeouts",
            "agent"} == set(_by_name(checks))
    agent = _by_name(checks)["agent"][0].detail
    assert "chat, calculator, current_time" in agent


def test_settings_only_names_a_bad_variable() -> None:
    checks = check_settings({**GOOD, "GATEWAY_MAX_RETRIES": "many"})
    assert [(c.name, c.status) for c in checks] == [("settings", "FAIL")]
    assert checks[0].detail.startswith("GATEWAY_MAX_RETRIES:")


def test_settings_only_refuses_a_missing_or_placeholder_provider_key() -> None:
    missing = check_settings({k: v for k, v in GOOD.items() if k != "OPENAI_API_KEY"})
    assert _status(missing, "provider key") == "FAIL"
    assert "OPENAI_API_KEY is not set" in _by_name(missing)["provider key"][0].detail
    placeholder = check_settings({**GOOD, "OPENAI_API_KEY": "<openai-api-key>"})
    assert _by_name(placeholder)["provider key"][0].detail == "OPENAI_API_KEY holds a placeholder, not a key"


def test_settings_only_reads_timeout_and_retries_back_from_the_langchain_model() -> None:
    checks = check_settings({**GOOD, "GATEWAY_UPSTREAM_TIMEOUT_S": "12.5", "GATEWAY_MAX_RETRIES": "4",
                             "GATEWAY_MODELS": "gpt-4o,gpt-4o-mini"})
    assert _by_name(checks)["chat model"][0].detail == "ChatOpenAI constructs; timeout 12.5 s, max_retries 4"
    assert _by_name(checks)["models"][0].detail == "2 allowed (GATEWAY_MODELS), default gpt-4o"


@pytest.mark.parametrize(("provider", "kind"), [("cohere", "ChatCohere"), ("mistral", "ChatMistralAI")])
def test_settings_only_reads_retries_back_from_the_gateways_transport(provider: str, kind: str) -> None:
    # Their integrations retry no 429/5xx: the gateway's retrying transport under their client does, as many times.
    row = catalogue.provider(provider)
    env = {"GATEWAY_PROVIDER": provider, row.key_env: "sk-" + secrets.token_hex(12), "GATEWAY_MAX_RETRIES": "3",
           "GATEWAY_CLIENT_KEYS": f"abcdefghijkl:{'a' * 64}:{provider}"}
    assert _by_name(check_settings(env))["chat model"][0].detail == (
        f"{kind} constructs; timeout 60 s, max_retries 3 (the gateway's retrying transport)")


def test_settings_only_fails_when_the_adapter_ignores_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    from gateway.providers.openai import OpenAIAdapter

    def careless(self: OpenAIAdapter, model: str, api_key: str) -> ChatOpenAI:
        return ChatOpenAI(model=model, api_key=SecretStr(api_key), base_url=self.base_url, timeout=600, max_retries=0)

    monkeypatch.setattr(OpenAIAdapter, "build_model", careless)
    detail = _by_name(check_settings(GOOD))["chat model"][0]
    assert detail.status == "FAIL"
    assert "timeout 600.0 != GATEWAY_UPSTREAM_TIMEOUT_S 60" in detail.detail
    assert "max_retries 0 != GATEWAY_MAX_RETRIES 2" in detail.detail


def test_settings_only_warns_about_a_timeout_budget_beyond_the_edge() -> None:
    checks = check_settings({**GOOD, "GATEWAY_UPSTREAM_TIMEOUT_S": "200", "GATEWAY_AGENT_TIMEOUT_S": "60"})
    timeouts = _by_name(checks)["timeouts"][0]
    assert timeouts.status == "WARN"
    assert "600 s" in timeouts.detail and "proxy_read_timeout 300 s" in timeouts.detail
    assert Report(checks).ok, "warnings do not fail validation"


def test_settings_only_checks_vault_credential_files(tmp_path: Path) -> None:
    role = tmp_path / "role_id"
    role.write_text("r-1")
    env = {"GATEWAY_PROVIDER": "cohere", "GATEWAY_SECRETS_BACKEND": "vault", "GATEWAY_VAULT_ADDR": "http://v:8200",
           "GATEWAY_VAULT_ROLE_ID_FILE": str(role), "GATEWAY_VAULT_SECRET_ID_FILE": str(tmp_path / "missing")}
    checks = check_settings(env)
    files = {c.detail.split(":")[0]: c.status for c in _by_name(checks)["files"]}
    assert files == {"GATEWAY_VAULT_ROLE_ID_FILE": "PASS", "GATEWAY_VAULT_SECRET_ID_FILE": "FAIL"}
    assert _status(checks, "provider key") == "SKIP"
    assert _status(checks, "chat model") == "PASS", "the model constructs with a stand-in key"


def test_settings_only_checks_the_audit_directory(tmp_path: Path) -> None:
    checks = check_settings({**GOOD, "GATEWAY_AUDIT_LOG": str(tmp_path / "nope" / "audit.log")})
    assert _status(checks, "audit log") == "FAIL"


def test_settings_only_warns_about_plain_http_to_a_public_upstream() -> None:
    checks = check_settings({**GOOD, "GATEWAY_UPSTREAM_BASE_URL": "http://api.openai.com/v1"})
    assert _status(checks, "upstream") == "WARN"
    internal = check_settings({**GOOD, "GATEWAY_UPSTREAM_BASE_URL": "http://mock:8199/v1"})
    assert _status(internal, "upstream") == "PASS"


# -- target resolution -----------------------------------------------------------------------------

def _resolve(argv: list[str], env: dict[str, str] | None = None) -> tuple[list[Target], str | None]:
    return validate.resolve_targets(validate.build_parser().parse_args(argv), env or {})


def test_targets_from_arguments_with_keys_from_the_environment() -> None:
    targets, cacert = _resolve(["--target", "cohere=http://h:3/", "--target", "openai=http://h:1",
                                "--expect-models", "openai=a,b"],
                               {"VALIDATE_CLIENT_KEY": "all", "VALIDATE_CLIENT_KEY_COHERE": "only-cohere"})
    assert targets == [Target("openai", "http://h:1", "all", ("a", "b")),
                       Target("cohere", "http://h:3/", "only-cohere")]
    assert cacert is None


def test_targets_from_the_environment_and_the_edge() -> None:
    targets, _ = _resolve([], {"VALIDATE_TARGETS": "openai=http://a:1, anthropic=http://b:2"})
    assert [(t.provider, t.url) for t in targets] == [("openai", "http://a:1"), ("anthropic", "http://b:2")]
    edge, cacert = _resolve(["--edge", "https://llm.example.com/", "--providers", "cohere", "--cacert", "/ca.pem"])
    assert [(t.provider, t.url) for t in edge] == [("cohere", "https://llm.example.com/cohere")]
    assert cacert == "/ca.pem"


def test_targets_from_the_stack_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("export STACK_GATEWAY_URL_OPENAI='http://127.0.0.1:8101'\nexport STACK_KEY_OPENAI='lgw_x'\n"
                        "export STACK_CA='/s/ca.pem'\n")
    targets, cacert = _resolve(["--stack-env", str(env_file)])
    assert targets == [Target("openai", "http://127.0.0.1:8101", "lgw_x")]
    assert cacert == "/s/ca.pem"


@pytest.mark.parametrize(("argv", "message"), [
    ([], "nothing to validate"),
    (["--target", "openai"], "is not PROVIDER=VALUE"),
    (["--target", "gemini=http://x"], "unknown provider 'gemini'"),
    (["--target", "openai=localhost:8101"], "must start with http://"),
    (["--stack-env", "/nonexistent/env"], "run `make up` first"),
])
def test_usage_errors_exit_2_with_a_clear_message(argv: list[str], message: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert validate.run(argv, env={}) == 2
    assert message in capsys.readouterr().err


# -- remote probes against an in-process gateway ---------------------------------------------------

def as_httpx(client: TestClient) -> httpx.Client:
    """Starlette's TestClient where check_target takes an httpx.Client: it is an httpx2.Client, the same API."""
    return cast(httpx.Client, client)


@pytest.fixture
def gateway_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[httpx.Client, str]]:
    full, key_id, digest = keys.generate()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unit-test-key")
    # Nothing listens on port 9: a probe that reached the upstream would answer 502 and fail its check.
    settings = load_settings(provider="openai", client_keys=f"{key_id}:{digest}:openai",
                             upstream_base_url="http://127.0.0.1:9/v1", max_retries=0, models="gpt-4o-mini,gpt-4o")
    app = create_app(settings)
    with TestClient(app, base_url="http://gateway") as client:
        yield as_httpx(client), full


def test_remote_checks_pass_without_reaching_the_upstream(gateway_client: tuple[httpx.Client, str]) -> None:
    client, key = gateway_client
    checks = check_target(Target("openai", "http://gateway", key, ("gpt-4o-mini", "gpt-4o")), client, TOOLS)
    assert [(c.name, c.status) for c in checks] == [
        ("reachable", "PASS"), ("readyz", "PASS"), ("models", "PASS"), ("allowlist", "PASS"),
        ("max_tokens", "PASS"), ("agent tools", "PASS")]
    details = {c.name: c.detail for c in checks}
    assert details["max_tokens"] == "requests above 32768 max_tokens are refused (400)"
    assert details["agent tools"] == "create_agent tools: chat, calculator, current_time"
    metrics = client.get("/metrics").text
    assert "llm_gateway_upstream_errors_total{" not in metrics, "no probe may call the upstream"


def test_remote_checks_report_wrong_expectations(gateway_client: tuple[httpx.Client, str]) -> None:
    client, key = gateway_client
    checks = check_target(Target("openai", "http://gateway", key, ("gpt-4o",)), client, (*TOOLS, "web_search"))
    by_name = {c.name: c for c in checks}
    assert by_name["models"].status == "FAIL"
    assert by_name["models"].detail == "allowlist is gpt-4o-mini, gpt-4o; expected gpt-4o"
    assert by_name["agent tools"].detail == "tools chat, calculator, current_time; missing web_search"


def test_remote_checks_catch_a_misrouted_target(gateway_client: tuple[httpx.Client, str]) -> None:
    client, key = gateway_client
    checks = check_target(Target("cohere", "http://gateway", key), client, TOOLS)
    assert checks[-1].name == "readyz" and checks[-1].status == "FAIL"
    assert "is the 'openai' gateway, not 'cohere'" in checks[-1].detail


def test_remote_checks_skip_credentialed_probes_without_a_key(gateway_client: tuple[httpx.Client, str]) -> None:
    client, _ = gateway_client
    checks = check_target(Target("openai", "http://gateway"), client, TOOLS)
    assert [c.status for c in checks] == ["PASS", "PASS", "SKIP", "SKIP", "SKIP", "SKIP"]
    assert "VALIDATE_CLIENT_KEY_OPENAI" in checks[-1].detail


def test_remote_checks_name_a_rejected_client_key(gateway_client: tuple[httpx.Client, str]) -> None:
    client, _ = gateway_client
    checks = check_target(Target("openai", "http://gateway", "lgw_aaaaaaaaaaaa_" + "b" * 32), client, TOOLS)
    assert checks[-1].name == "models" and checks[-1].status == "FAIL"
    assert "client key was rejected (401" in checks[-1].detail


def test_readiness_failure_names_the_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    app = create_app(load_settings(provider="openai"))
    with TestClient(app, base_url="http://gateway") as client:
        checks = check_target(Target("openai", "http://gateway"), as_httpx(client), TOOLS)
    assert checks[-1].status == "FAIL"
    assert checks[-1].detail == ("http://gateway/readyz answered 503: provider key missing "
                                 "(secrets backend env: OPENAI_API_KEY is not set)")


def test_report_text_and_json_rendering() -> None:
    report = Report()
    report.add("openai", "readyz", "PASS", "ready")
    report.add("openai", "models", "WARN", "duplicates")
    text, doc = io.StringIO(), io.StringIO()
    report.write_text(text)
    report.write_json(doc)
    assert text.getvalue().splitlines() == ["[openai]", "  PASS  readyz  ready", "  WARN  models  duplicates",
                                            "validation PASS: 2 checks, 0 failed, 1 warning, 0 skipped"]
    assert json.loads(doc.getvalue())["ok"] is True
    assert not Report().ok, "an empty report validates nothing"


def test_the_seed_api_is_gone_and_its_replacements_exist() -> None:
    """docs/langchain.md: the seed's imports fail on LangChain 1.x; the mapped ones are what the gateway uses."""
    import importlib

    with pytest.raises(ImportError):
        exec("from langchain.chat_models import ChatOpenAI")  # noqa: S102 — the seed's import, verbatim
    with pytest.raises(ImportError):
        exec("from langchain.agents import initialize_agent")  # noqa: S102
    assert importlib.import_module("langchain_openai").ChatOpenAI
    assert importlib.import_module("langchain.agents").create_agent
    assert "from langchain.agents import create_agent" in (
        Path(__file__).resolve().parents[2] / "services" / "gateway" / "agent" / "runner.py").read_text()
