"""Reload nginx when a gateway's address changes (the edge image starts this just before nginx).

nginx 1.22 resolves the host names of its `upstream` servers once, when it loads its config (the
`resolve` parameter that re-resolves them reached open-source nginx only in 1.27.3). In compose a
recreated gateway (a new release, a rollback, `up --force-recreate`) can come back at another address
on its network while its old address goes to a sibling there (the mock, say), and nginx would keep
sending that provider's traffic to the old one.

`python3 -m edge.follow --prefix DIR` resolves every upstream name once, before nginx starts (the
baseline nginx is about to load), then forks into the background. Every NGINX_FOLLOW_INTERVAL_S
(default 3; 0 turns following off) it resolves them again; when an address set changed and every name
resolves, it sends nginx's master SIGHUP: the graceful reload, whose new workers resolve the names again
while in-flight requests and streams finish on the old ones. While a name does not resolve (its
gateway is being recreated or is down) it waits, since nginx would refuse that config. Kubernetes
Services keep their address, so there it never fires. Names given as IP addresses are not followed.

nginx also reads its TLS certificate and key only when it loads its config, so the follower reloads it when
their content changes (a renewal: cert-manager rewrites the Secret and Kubernetes swaps the mounted files in one
step), once both are readable again.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edge import render

DEFAULT_INTERVAL_S = 3.0
MAX_INTERVAL_S = 3600.0

Target = tuple[str, int]
Addresses = dict[str, frozenset[str] | None]  # host → its addresses; None while it does not resolve
Contents = dict[Path, bytes | None]  # file → the digest of its content; None while it cannot be read
Resolver = Callable[[str, int], frozenset[str]]


def _say(line: str) -> None:
    print(f"edge.follow: {line}", file=sys.stderr, flush=True)


def targets(values: Mapping[str, str]) -> list[Target]:
    """The (host, port) of every upstream server named by a host name, in config order."""
    merged = render.settings(values)
    out: list[Target] = []
    for provider in render.providers(merged):
        for server in render.upstream_servers(merged, provider):
            host, _, port = server.rpartition(":")
            host = host.removeprefix("[").removesuffix("]")
            try:
                ipaddress.ip_address(host)
                continue  # an address never moves
            except ValueError:
                pass
            if (host, int(port)) not in out:
                out.append((host, int(port)))
    return out


def certificates(values: Mapping[str, str]) -> list[Path]:
    """The TLS certificate and key files nginx loads."""
    merged = render.settings(values)
    return [Path(merged[name]) for name in ("NGINX_TLS_CERT", "NGINX_TLS_KEY") if merged.get(name)]


def contents(files: list[Path]) -> Contents:
    """The digest of each file's content now (None for one that cannot be read)."""
    out: Contents = {}
    for path in files:
        try:
            out[path] = hashlib.sha256(path.read_bytes()).digest()
        except OSError:
            out[path] = None
    return out


def resolve(host: str, port: int) -> frozenset[str]:
    """The addresses `host` resolves to now, as nginx's own lookup (getaddrinfo) would find them."""
    return frozenset(str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))


def lookup(names: list[Target], resolver: Resolver) -> Addresses:
    """Resolve every target; a name that does not resolve maps to None."""
    out: Addresses = {}
    for host, port in names:
        try:
            out[host] = resolver(host, port)
        except OSError:  # socket.gaierror: no such name (yet)
            out[host] = None
    return out


def _shown(addresses: frozenset[str] | None) -> str:
    return ",".join(sorted(addresses)) if addresses else "-"


@dataclass
class Follower:
    """What nginx loaded (`applied`) against what the names resolve to now."""

    names: list[Target]
    pid_file: Path
    resolver: Resolver = resolve
    say: Callable[[str], None] = _say
    kill: Callable[[int, int], None] = os.kill
    applied: Addresses = field(default_factory=dict[str, frozenset[str] | None])
    unresolved: frozenset[str] = frozenset()  # reported once, until the set changes
    files: list[Path] = field(default_factory=list[Path])  # the TLS certificate and key
    loaded: Contents = field(default_factory=dict[Path, bytes | None])  # their content nginx loaded

    def baseline(self) -> None:
        """Resolve before nginx loads its config: the addresses (and certificate) it is about to use."""
        self.applied = lookup(self.names, self.resolver)
        self.loaded = contents(self.files)

    def tick(self) -> bool:
        """Resolve again and reload nginx if an address moved or the certificate changed; False once nginx is
        gone."""
        current = lookup(self.names, self.resolver)
        files = contents(self.files)
        if current == self.applied and files == self.loaded:
            self.unresolved = frozenset()
            return True
        hosts = sorted(host for host, addresses in current.items() if addresses is None)
        unread = sorted(str(path) for path, digest in files.items() if digest is None)
        missing = frozenset(hosts + unread)
        if missing:
            if missing != self.unresolved:
                why = [f"{', '.join(hosts)} does not resolve; nginx keeps its current addresses until every "
                       "upstream name resolves"] if hosts else []
                why += [f"{', '.join(unread)} cannot be read; nginx keeps its current certificate until it can"
                        ] if unread else []
                self.say("; ".join(why))
            self.unresolved = missing
            return True
        self.unresolved = frozenset()
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return True  # nginx is still starting (no pid file yet): the next round reloads
        try:
            self.kill(pid, signal.SIGHUP)
        except ProcessLookupError:
            self.say(f"nginx (pid {pid}) is gone; stopping")
            return False
        moved = [f"{host} {_shown(self.applied.get(host))} -> {_shown(addresses)}"
                 for host, addresses in current.items() if self.applied.get(host) != addresses]
        moved += [f"{path} changed" for path, digest in files.items() if self.loaded.get(path) != digest]
        self.say(f"{'; '.join(moved)}; nginx reloaded (SIGHUP to {pid})")
        self.applied, self.loaded = current, files
        return True


def run(follower: Follower, interval_s: float) -> None:
    """Follow until nginx is gone; a surprise in one round is reported, never fatal."""
    while True:
        time.sleep(interval_s)
        try:
            if not follower.tick():
                return
        except Exception as exc:  # noqa: BLE001 (the follower must outlive any single failed round)
            follower.say(f"round failed: {type(exc).__name__}: {exc}")


def interval(value: str) -> float:
    """NGINX_FOLLOW_INTERVAL_S: seconds between rounds, 0 (off) to MAX_INTERVAL_S."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_INTERVAL_S:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds from 0 (off) to {MAX_INTERVAL_S:g}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    """CLI: take the baseline, then follow in a forked child (or here, with --foreground)."""
    parser = argparse.ArgumentParser(description="Reload nginx when an upstream gateway's address or the TLS "
                                                 "certificate changes.")
    parser.add_argument("--prefix", type=Path, required=True, help="the nginx prefix edge.render wrote")
    parser.add_argument("--interval", type=interval, default=None,
                        help="seconds between rounds (default: NGINX_FOLLOW_INTERVAL_S, else 3; 0: do not follow)")
    parser.add_argument("--foreground", action="store_true", help="follow in this process instead of a child")
    args = parser.parse_args(argv)
    if args.interval is None:
        try:
            args.interval = interval(os.environ.get("NGINX_FOLLOW_INTERVAL_S", str(DEFAULT_INTERVAL_S)))
        except argparse.ArgumentTypeError as exc:
            print(f"edge.follow: NGINX_FOLLOW_INTERVAL_S: {exc}", file=sys.stderr)
            return 2
    values = {k: v for k, v in os.environ.items() if k.startswith("NGINX_")}
    try:
        names, files = targets(values), certificates(values)
    except render.RenderError as exc:
        print(f"edge.follow: {exc}", file=sys.stderr)
        return 2
    if args.interval == 0 or not (names or files):
        return 0
    follower = Follower(names, args.prefix.resolve() / "nginx.pid", files=files)
    follower.baseline()
    if not args.foreground:
        if os.fork() > 0:
            return 0  # the parent returns at once: nginx starts next
        devnull = os.open(os.devnull, os.O_RDWR)  # the child keeps stderr only: its lines go to the log
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
    run(follower, args.interval)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
