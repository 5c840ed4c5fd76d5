"""The edge's address follower: which names it follows, when it reloads nginx, and when it must not.

"nginx" here is a real process whose pid is in the pid file; the signals the follower sends are recorded
(and passed on to os.kill) so that every one is counted — standard signals sent in a burst can merge in
the kernel. The resolver is a table the test changes. tests/integration/test_edge_follow.py reloads a
real nginx, and tests/containers/test_compose_stack.py recreates a gateway at another address in the
compose stack.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge import follow
from edge.render import RenderError


class Nginx:
    """A stand-in master: a live process named by the pid file, and the signals sent to it."""

    def __init__(self, prefix: Path) -> None:
        # SIGHUP ignored: the stand-in survives the reloads it is sent, as nginx's master does.
        self.proc = subprocess.Popen([sys.executable, "-c", "import signal, time\n"
                                      "signal.signal(signal.SIGHUP, signal.SIG_IGN)\nprint('ready', flush=True)\n"
                                      "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline() == "ready\n"
        self.pid_file = prefix / "nginx.pid"
        self.pid_file.write_text(f"{self.proc.pid}\n")
        self.sent: list[tuple[int, int]] = []

    def kill(self, pid: int, sig: int) -> None:
        """What the follower calls instead of os.kill: record, then deliver."""
        self.sent.append((pid, sig))
        os.kill(pid, sig)

    def hups(self) -> int:
        """SIGHUPs sent to this process so far (the process still runs: it ignores them)."""
        assert self.proc.poll() is None or not self.sent
        return self.sent.count((self.proc.pid, signal.SIGHUP))


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    master = Nginx(tmp_path)
    yield master
    master.proc.kill()
    master.proc.wait(timeout=10)


class Table:
    """A resolver whose answers the test sets; a missing name raises as getaddrinfo does."""

    def __init__(self, **names: str) -> None:
        self.names = {host.replace("_", "-"): frozenset(a.split(",")) for host, a in names.items()}

    def __call__(self, host: str, port: int) -> frozenset[str]:
        if host not in self.names:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return self.names[host]


def _follower(nginx: Nginx, table: Table, said: list[str]) -> follow.Follower:
    follower = follow.Follower([("gateway-openai", 8000), ("gateway-cohere", 8000)], nginx.pid_file,
                               resolver=table, say=said.append, kill=nginx.kill)
    follower.baseline()
    return follower


def test_targets_are_the_upstream_names_of_every_provider() -> None:
    names = follow.targets({"NGINX_UPSTREAM_PATTERN": "gateway-{provider}:8000"})
    assert names == [("gateway-openai", 8000), ("gateway-anthropic", 8000), ("gateway-cohere", 8000),
                     ("gateway-mistral", 8000), ("gateway-local-llama", 8000)]


def test_addresses_are_not_followed_and_replicas_are_named_once() -> None:
    values = {"NGINX_PROVIDERS": "openai,cohere", "NGINX_UPSTREAM_OPENAI": "gw-a:8000,gw-b:8000,10.0.0.9:8000",
              "NGINX_UPSTREAM_COHERE": "[::1]:8102,gw-a:8000"}
    assert follow.targets(values) == [("gw-a", 8000), ("gw-b", 8000)]
    assert follow.targets({}) == []  # the local defaults are 127.0.0.1:<port>: nothing to follow


def test_a_moved_gateway_reloads_nginx_once(nginx: Nginx) -> None:
    table, said = Table(gateway_openai="172.20.0.3", gateway_cohere="172.21.0.3"), []
    follower = _follower(nginx, table, said)
    assert follower.tick() and said == []  # nothing moved
    table.names["gateway-openai"] = frozenset({"172.20.0.5"})
    assert follower.tick()
    assert follower.tick()  # the new address is applied: no second reload
    assert nginx.hups() == 1
    assert said == [f"gateway-openai 172.20.0.3 -> 172.20.0.5; nginx reloaded (SIGHUP to {nginx.proc.pid})"]


def test_replicas_listed_in_another_order_are_no_move(nginx: Nginx) -> None:
    table, said = Table(gateway_openai="10.0.0.1,10.0.0.2", gateway_cohere="10.0.1.1"), []
    follower = _follower(nginx, table, said)
    table.names["gateway-openai"] = frozenset(["10.0.0.2", "10.0.0.1"])
    assert follower.tick()
    table.names["gateway-openai"] = frozenset(["10.0.0.2", "10.0.0.1", "10.0.0.7"])  # scaled up
    assert follower.tick()
    assert nginx.hups() == 1
    assert said == [f"gateway-openai 10.0.0.1,10.0.0.2 -> 10.0.0.1,10.0.0.2,10.0.0.7; nginx reloaded "
                    f"(SIGHUP to {nginx.proc.pid})"]


def test_no_reload_while_a_name_does_not_resolve(nginx: Nginx) -> None:
    """nginx refuses a config with an unknown host and keeps the old one: wait until it resolves."""
    table, said = Table(gateway_openai="172.20.0.3", gateway_cohere="172.21.0.3"), []
    follower = _follower(nginx, table, said)
    del table.names["gateway-openai"]  # its container is being recreated
    for _ in range(3):
        assert follower.tick()
    assert said == ["gateway-openai does not resolve; nginx keeps its current addresses until every upstream "
                    "name resolves"]  # said once, not every round
    table.names["gateway-openai"] = frozenset({"172.20.0.6"})
    assert follower.tick()
    assert nginx.hups() == 1
    assert said[-1].startswith("gateway-openai 172.20.0.3 -> 172.20.0.6; nginx reloaded")


def test_a_gateway_back_at_its_old_address_needs_no_reload(nginx: Nginx) -> None:
    table, said = Table(gateway_openai="172.20.0.3", gateway_cohere="172.21.0.3"), []
    follower = _follower(nginx, table, said)
    del table.names["gateway-cohere"]
    assert follower.tick()
    table.names["gateway-cohere"] = frozenset({"172.21.0.3"})
    assert follower.tick()
    assert nginx.hups() == 0
    assert len(said) == 1


def test_before_nginx_wrote_its_pid_the_move_waits_for_the_next_round(nginx: Nginx) -> None:
    table, said = Table(gateway_openai="172.20.0.3", gateway_cohere="172.21.0.3"), []
    follower = _follower(nginx, table, said)
    pid = nginx.pid_file.read_text()
    nginx.pid_file.unlink()
    table.names["gateway-openai"] = frozenset({"172.20.0.9"})
    assert follower.tick() and said == []
    nginx.pid_file.write_text(pid)
    assert follower.tick()
    assert nginx.hups() == 1


def test_the_follower_stops_when_nginx_is_gone(nginx: Nginx) -> None:
    table, said = Table(gateway_openai="172.20.0.3", gateway_cohere="172.21.0.3"), []
    follower = _follower(nginx, table, said)
    nginx.proc.kill()
    nginx.proc.wait(timeout=10)
    table.names["gateway-openai"] = frozenset({"172.20.0.4"})
    assert follower.tick() is False
    assert said == [f"nginx (pid {nginx.proc.pid}) is gone; stopping"]


def test_a_failed_round_is_reported_and_following_goes_on(nginx: Nginx) -> None:
    rounds: list[int] = []
    said: list[str] = []

    def flaky(host: str, port: int) -> frozenset[str]:
        rounds.append(port)
        if len(rounds) == 3:  # the first round of run(): the baseline took two lookups
            raise RuntimeError("resolver broke")
        if len(rounds) >= 7:
            nginx.proc.kill()
            nginx.proc.wait(timeout=10)
            return frozenset({"10.9.9.9"})  # moved, and nginx is gone: run() returns
        return frozenset({"10.0.0.1"})

    follower = follow.Follower([("gateway-openai", 8000), ("gateway-cohere", 8000)], nginx.pid_file,
                               resolver=flaky, say=said.append, kill=nginx.kill)
    follower.baseline()
    started = time.monotonic()
    follow.run(follower, 0.01)
    assert time.monotonic() - started < 5
    assert said[0] == "round failed: RuntimeError: resolver broke"
    assert said[-1].endswith("is gone; stopping")


def test_the_real_resolver_answers_as_getaddrinfo() -> None:
    assert follow.resolve("localhost", 8000) <= {"127.0.0.1", "::1"}
    assert "127.0.0.1" in follow.resolve("127.0.0.1", 8000)
    with pytest.raises(OSError):
        follow.resolve("no-such-gateway.invalid", 8000)


@pytest.mark.parametrize("value", ["abc", "-1", "3601", "nan"])
def test_a_bad_interval_is_refused_with_its_name(value: str, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setenv("NGINX_FOLLOW_INTERVAL_S", value)
    assert follow.main(["--prefix", str(tmp_path)]) == 2
    assert f"NGINX_FOLLOW_INTERVAL_S: {value!r} is not a number of seconds" in capsys.readouterr().err


def test_interval_zero_turns_following_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NGINX_FOLLOW_INTERVAL_S", "0")
    monkeypatch.setenv("NGINX_UPSTREAM_PATTERN", "gateway-{provider}:8000")
    assert follow.main(["--prefix", str(tmp_path)]) == 0  # returns at once, nothing forked


def test_an_upstream_the_renderer_refuses_is_refused_here_too(monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str],
                                                              tmp_path: Path) -> None:
    monkeypatch.setenv("NGINX_UPSTREAM_OPENAI", "gateway openai")
    assert follow.main(["--prefix", str(tmp_path), "--interval", "1"]) == 2
    assert "NGINX_UPSTREAM_OPENAI: 'gateway openai' is not a host:port" in capsys.readouterr().err
    with pytest.raises(RenderError):
        follow.targets({"NGINX_UPSTREAM_OPENAI": "gateway openai"})


def _secret_volume(root: Path, version: str, cert: str, key: str) -> None:
    """Write a Secret's files as the kubelet does: a new timestamped directory, then `..data` swapped to it."""
    target = root / f"..{version}"
    target.mkdir()
    (target / "tls.crt").write_text(cert)
    (target / "tls.key").write_text(key)
    (root / "..data_tmp").symlink_to(target.name)
    os.replace(root / "..data_tmp", root / "..data")
    for name in ("tls.crt", "tls.key"):
        if not (root / name).is_symlink():
            (root / name).symlink_to(f"..data/{name}")


def test_a_renewed_certificate_reloads_nginx_once_and_an_unreadable_one_waits(nginx: Nginx, tmp_path: Path) -> None:
    volume = tmp_path / "tls"
    volume.mkdir()
    _secret_volume(volume, "2026_01", "cert one", "key one")
    files = follow.certificates({"NGINX_TLS_CERT": str(volume / "tls.crt"), "NGINX_TLS_KEY": str(volume / "tls.key")})
    said: list[str] = []
    follower = follow.Follower([], nginx.pid_file, say=said.append, kill=nginx.kill, files=files)
    follower.baseline()
    assert follower.tick() and nginx.hups() == 0
    _secret_volume(volume, "2026_02", "cert two", "key two")  # cert-manager renewed it
    assert follower.tick() and follower.tick()
    assert nginx.hups() == 1
    assert said == [f"{volume / 'tls.crt'} changed; {volume / 'tls.key'} changed; nginx reloaded (SIGHUP to "
                    f"{nginx.proc.pid})"]
    (volume / "..data").unlink()  # mid-update: nginx would refuse a config whose certificate it cannot read
    for _ in range(3):
        assert follower.tick()
    assert nginx.hups() == 1 and said[-1].endswith("cannot be read; nginx keeps its current certificate until it can")
    assert len(said) == 2  # said once
    _secret_volume(volume, "2026_03", "cert three", "key three")
    assert follower.tick() and nginx.hups() == 2
