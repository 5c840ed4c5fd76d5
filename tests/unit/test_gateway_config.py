"""Gateway settings: defaults, parsing, and one-line errors that name the GATEWAY_* variable."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, exit_on_config_error, load_settings


@pytest.fixture(autouse=True)
def _no_gateway_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("GATEWAY_")]:
        monkeypatch.delenv(name)


def test_defaults_match_the_documented_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PROVIDER", "openai")
    s = load_settings()
    assert (s.provider, s.host, s.port) == ("openai", "127.0.0.1", 8000)
    assert (s.upstream_timeout_s, s.max_retries, s.secrets_backend) == (60.0, 2, "env")
    assert s.models == () and s.upstream_base_url is None and s.vault_mount == "secret"


def test_models_are_split_and_urls_lose_trailing_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PROVIDER", "cohere")
    monkeypatch.setenv("GATEWAY_MODELS", " a , b,,c ")
    monkeypatch.setenv("GATEWAY_UPSTREAM_BASE_URL", "http://127.0.0.1:8199/")
    s = load_settings()
    assert s.models == ("a", "b", "c")
    assert s.upstream_base_url == "http://127.0.0.1:8199"


@pytest.mark.parametrize(("env", "variable"), [
    ({}, "GATEWAY_PROVIDER"),
    ({"GATEWAY_PROVIDER": "gemini"}, "GATEWAY_PROVIDER"),
    ({"GATEWAY_PROVIDER": "openai", "GATEWAY_PORT": "70000"}, "GATEWAY_PORT"),
    ({"GATEWAY_PROVIDER": "openai", "GATEWAY_PORT": "http"}, "GATEWAY_PORT"),
    ({"GATEWAY_PROVIDER": "openai", "GATEWAY_UPSTREAM_TIMEOUT_S": "0"}, "GATEWAY_UPSTREAM_TIMEOUT_S"),
    ({"GATEWAY_PROVIDER": "openai", "GATEWAY_UPSTREAM_TIMEOUT_S": "soon"}, "GATEWAY_UPSTREAM_TIMEOUT_S"),
    ({"GATEWAY_PROVIDER": "openai", "GATEWAY_MAX_RETRIES": "-1"}, "GATEWAY_MAX_RETRIES"),
    ({"GATEWAY_PROVIDER": "openai", "GATEWAY_UPSTREAM_BASE_URL": "ftp://x"}, "GATEWAY_UPSTREAM_BASE_URL"),
    ({"GATEWAY_PROVIDER": "openai", "GATEWAY_SECRETS_BACKEND": "file"}, "GATEWAY_SECRETS_BACKEND"),
    ({"GATEWAY_PROVIDER": "openai", "GATEWAY_LOG_LEVEL": "loud"}, "GATEWAY_LOG_LEVEL"),
    ({"GATEWAY_PROVIDER": "openai", "GATEWAY_MAX_BODY_BYTES": "10"}, "GATEWAY_MAX_BODY_BYTES"),
    ({"GATEWAY_PROVIDER": "openai", "GATEWAY_SECRETS_BACKEND": "vault"}, "GATEWAY_VAULT_ADDR"),
    ({"GATEWAY_PROVIDER": "openai", "GATEWAY_JWT_JWKS_URL": "https://idp/jwks"}, "GATEWAY_JWT_ISSUER"),
    # Security review finding 8: JWKS over plain HTTP (keys swappable in transit) only for a loopback issuer.
    ({"GATEWAY_PROVIDER": "openai", "GATEWAY_JWT_JWKS_URL": "http://idp.example/jwks",
      "GATEWAY_JWT_ISSUER": "i", "GATEWAY_JWT_AUDIENCE": "a"}, "GATEWAY_JWT_JWKS_URL"),
])
def test_bad_or_missing_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], variable: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert variable in message
    assert "\n" not in message


def test_settings_are_immutable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PROVIDER", "anthropic")
    s = load_settings()
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error type is private
        s.port = 1


def test_exit_on_config_error_prints_one_line_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        exit_on_config_error(ConfigError("GATEWAY_PORT: bad"))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "GATEWAY_PORT" in err


def test_workers_above_one_require_the_redis_limiter() -> None:
    from gateway.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="GATEWAY_WORKERS > 1 needs GATEWAY_LIMITS_BACKEND=redis"):
        load_settings(provider="openai", workers=2)
    ok = load_settings(provider="openai", workers=2, limits_backend="redis", redis_url="redis://127.0.0.1:6379/0")
    assert ok.workers == 2


@pytest.mark.parametrize("overrides", [
    {"provider": "local-llama"},  # the catalogue's default upstream, 127.0.0.1:8000, on the default port 8000
    {"provider": "openai", "upstream_base_url": "http://localhost:9000/v1", "port": 9000},
])
def test_an_upstream_that_is_the_gateway_itself_is_refused(overrides: dict) -> None:
    with pytest.raises(ConfigError, match="is this gateway itself") as refused:
        load_settings(**overrides)
    assert "GATEWAY_UPSTREAM_BASE_URL" in str(refused.value)
    assert load_settings(**{**overrides, "port": 8105}).port == 8105  # beside it, on another port: taken
