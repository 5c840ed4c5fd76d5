"""`vaultctl init` whose answer never comes: a clear warning that the keys may be lost, nothing written.

The server side is a loopback HTTP listener that answers `GET /v1/sys/init` like an uninitialised
OpenBao and holds the init `PUT` without answering — what a loaded host's raft bootstrap looks like
from the client.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from vaultctl.cli import build_parser
from vaultctl.cli import main as vaultctl


class _SlowInit(http.server.BaseHTTPRequestHandler):
    released = threading.Event()

    def do_GET(self) -> None:
        body = json.dumps({"initialized": False}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        self.released.wait(10)  # longer than the client's --timeout

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def slow_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowInit)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        _SlowInit.released.set()
        server.shutdown()
        server.server_close()


def test_init_without_an_answer_warns_that_the_keys_may_be_lost(slow_server: str, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "vault-init.json"
    code = vaultctl(["init", "--addr", slow_server, "--timeout", "1s", "--key-shares", "3", "--key-threshold", "2",
                     "--out", str(out)])
    err = capsys.readouterr().err
    assert code != 0
    assert "no answer to init (ReadTimeout)" in err and "may now be initialised" in err
    assert not out.exists()


def test_init_and_unseal_wait_long_by_default() -> None:
    for command in (["init"], ["unseal", "--keys-file", "k"]):
        assert build_parser().parse_args(command).timeout >= 60
