"""services/docker/extensions.py: the image builder's proof that stripping broke no extension module."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "services" / "docker" / "extensions.py"


def load():
    spec = importlib.util.spec_from_file_location("image_extensions", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_modules_names_extensions_and_skips_bundled_libraries(tmp_path: Path) -> None:
    for rel in ("pkg/_speed.cpython-311-x86_64-linux-gnu.so", "pkg/sub/core.abi3.so",
                "top.cpython-311-x86_64-linux-gnu.so", "pkg.libs/libssl-1a2b3c.so",
                "pkg-1.0.dist-info/odd.so", "pkg/readme.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    assert load().modules(tmp_path) == ["pkg._speed", "pkg.sub.core", "top"]


def test_verify_fails_naming_a_module_that_no_longer_imports(tmp_path: Path) -> None:
    listing = tmp_path / "ext.txt"
    listing.write_text("json\nno_such_extension_module\n")
    result = subprocess.run([sys.executable, str(SCRIPT), "verify", str(listing)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "no_such_extension_module no longer imports after stripping" in result.stderr
    assert "1/2 still import" in result.stdout


def test_record_then_verify_round_trip_in_this_venv(tmp_path: Path) -> None:
    listing = tmp_path / "ext.txt"
    record = subprocess.run([sys.executable, str(SCRIPT), "record", str(listing)], capture_output=True, text=True)
    assert record.returncode == 0, record.stderr
    names = listing.read_text().split()
    assert "pydantic_core._pydantic_core" in names and "psycopg_binary._psycopg" in names
    verify = subprocess.run([sys.executable, str(SCRIPT), "verify", str(listing)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr


def test_usage_error_is_exit_2() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), "check"], capture_output=True, text=True)
    assert result.returncode == 2 and "record" in result.stderr
