"""Vault connection, durations, secure file writes and progress output."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TextIO

import hvac

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class VaultctlError(Exception):
    """A vaultctl command cannot proceed; the message is shown to the operator."""


def parse_duration(value: str | int) -> int:
    """Return seconds for `90`, `90s`, `5m`, `1h` or `7d`."""
    if isinstance(value, int):
        return value
    match = _DURATION.match(value)
    if not match:
        raise VaultctlError(f"invalid duration {value!r} (use e.g. 60s, 5m, 1h)")
    return int(match.group(1)) * _UNITS[match.group(2)]


def connect(
    addr: str | None = None,
    token: str | None = None,
    token_file: str | None = None,
    cacert: str | None = None,
    timeout_s: int = 10,
) -> hvac.Client:
    """Return an authenticated client from arguments or VAULT_ADDR/VAULT_TOKEN/VAULT_CACERT."""
    addr = addr or os.environ.get("VAULT_ADDR")
    if not addr:
        raise VaultctlError("VAULT_ADDR is not set (or pass --addr)")
    if token_file:
        token = Path(token_file).read_text().strip()
    token = token or os.environ.get("VAULT_TOKEN")
    if not token:
        raise VaultctlError("no token: set VAULT_TOKEN or pass --token-file")
    cacert = cacert or os.environ.get("VAULT_CACERT")
    verify: bool | str = cacert if cacert else True
    client = hvac.Client(url=addr, token=token, verify=verify, timeout=timeout_s)
    try:
        authenticated = client.is_authenticated()
    except Exception as exc:  # any transport error: the operator needs the address, not a trace
        raise VaultctlError(f"cannot reach Vault at {addr}: {type(exc).__name__}") from exc
    if not authenticated:
        raise VaultctlError(f"the token is not valid for {addr}")
    return client


def write_secret_file(path: Path, content: str) -> None:
    """Atomically write content to path with mode 0600 (parent directory 0700)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, content.encode())
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class Reporter:
    """Prints one progress line per step: `<step> <item>: <outcome>`."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.changes = 0

    def line(self, step: str, item: str, outcome: str, changed: bool = False) -> None:
        """Print a progress line; count it as a change when changed."""
        self.changes += int(changed)
        print(f"{step:<12} {item}: {outcome}", file=self.stream, flush=True)

    def changed(self, step: str, item: str, outcome: str) -> None:
        """Report a step that changed something."""
        self.line(step, item, outcome, changed=True)

    def unchanged(self, step: str, item: str, detail: str = "") -> None:
        """Report a step that found everything in place."""
        self.line(step, item, "no changes" + (f" ({detail})" if detail else ""))
