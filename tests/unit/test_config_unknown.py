"""A GATEWAY_* variable that names no setting stops start-up, naming the closest setting: ignored, a typo would
leave the operator believing a limit or a switch applies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_settings

SERVICES = Path(__file__).resolve().parents[2] / "services"


def test_a_typo_is_refused_naming_the_setting_meant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PROVIDER", "openai")
    monkeypatch.setenv("GATEWAY_MAX_TOKEN_LIMIT", "8192")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "GATEWAY_MAX_TOKEN_LIMIT: not a setting (did you mean GATEWAY_MAX_TOKENS_LIMIT?)" in str(info.value)


def test_a_name_like_no_setting_is_refused_too_and_every_unknown_one_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PROVIDER", "openai")
    monkeypatch.setenv("GATEWAY_ZZZ", "1")
    monkeypatch.setenv("gateway_log_levle", "debug")  # names are matched as the settings read them, any case
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value).startswith(
        "GATEWAY_ZZZ: not a setting; gateway_log_levle: not a setting (did you mean GATEWAY_LOG_LEVEL?)")


def test_known_settings_in_any_case_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PROVIDER", "openai")
    monkeypatch.setenv("gateway_max_tokens_limit", "8192")
    assert load_settings().max_tokens_limit == 8192


def test_the_process_stops_with_one_line() -> None:
    done = subprocess.run([sys.executable, "-m", "gateway"], capture_output=True, text=True, timeout=60, check=False,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(SERVICES), "GATEWAY_PROVIDER": "openai",
                               "GATEWAY_LIMITS_BACKEN": "redis"})
    assert done.returncode == 2
    assert done.stderr.strip() == ("llm-gateway: configuration error: GATEWAY_LIMITS_BACKEN: not a setting (did you "
                                   "mean GATEWAY_LIMITS_BACKEND?) (README.md, Configuration, lists the settings)")
