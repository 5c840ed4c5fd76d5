"""vaultctl helpers that need no server: key format, durations, record status, files, CLI parsing."""

from __future__ import annotations

import hashlib
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vaultctl.approle import is_plain_secret_id
from vaultctl.cli import build_parser
from vaultctl.clients import generate_key, record_status
from vaultctl.connection import VaultctlError, parse_duration, write_secret_file


def test_generated_key_format_and_hash() -> None:
    new = generate_key()
    match = re.fullmatch(r"lgw_([a-z2-7]{12})_([A-Za-z0-9_-]{32})", new.key)
    assert match is not None
    assert match.group(1) == new.key_id
    assert new.hash == hashlib.sha256(match.group(2).encode()).hexdigest()
    assert generate_key().key != new.key


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("5m", 300), ("1h", 3600), ("2d", 172800)])
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_parse_duration_rejects_garbage() -> None:
    with pytest.raises(VaultctlError):
        parse_duration("5 minutes")


def test_record_status() -> None:
    now = datetime.now(UTC)
    assert record_status({"disabled": True}) == "disabled"
    assert record_status({"expires_at": (now - timedelta(seconds=1)).isoformat()}) == "expired"
    assert record_status({"expires_at": (now + timedelta(hours=1)).isoformat()}).startswith("expires ")
    assert record_status({"expires_at": None}) == "active"


def test_secret_files_are_private(tmp_path: Path) -> None:
    target = tmp_path / "creds" / "openai" / "secret_id"
    write_secret_file(target, "value\n")
    write_secret_file(target, "other\n")
    assert target.read_text() == "other\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert [p.name for p in target.parent.iterdir()] == ["secret_id"]


def test_secret_id_vs_wrapping_token() -> None:
    assert is_plain_secret_id("c260116e-7e23-8f50-da60-8ac22029e7da")
    assert not is_plain_secret_id("s.ZcL0ZVhbxzVDnWtOwGeRiilK")


def test_cli_parses_clients_and_durations() -> None:
    args = build_parser().parse_args(
        ["bootstrap", "--client", "demo:openai+cohere", "--wrap-ttl", "60s", "--token-ttl", "4s"]
    )
    assert args.client == [("demo", ["openai", "cohere"])]
    assert (args.wrap_ttl, args.token_ttl, args.mount) == (60, 4, "secret")


def test_cli_rejects_unknown_provider() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["rotate-provider-key", "--provider", "gemini", "--from-env", "X"])
