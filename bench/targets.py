"""The benchmark's targets: the local stack (mock, every gateway, nginx), one gateway alone and the LiteLLM proxy.

`environment(args)` starts them on free loopback ports and yields an `Env` (each target's URL, auth header, and
the server pids whose CPU and memory count for it); everything started is stopped on exit. Used by bench/run.py.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "services") not in sys.path:
    sys.path.insert(0, str(REPO / "services"))

import catalogue  # noqa: E402
from devstack.config import StackConfig  # noqa: E402
from devstack.ports import free_ports  # noqa: E402
from devstack.procs import ProcessSpec, launch, stop, wait_ready  # noqa: E402
from devstack.procs import start_time as proc_start  # noqa: E402
from devstack.stack import Stack  # noqa: E402
from edge import render as nginx_render  # noqa: E402

BENCH_DIR = REPO / ".bench"
LITELLM_CONFIG = Path(__file__).resolve().parent / "litellm_config.yaml"

# Edge limits raised for the benchmark: a closed loop from one IP would otherwise measure 429s.
# Applied only to the names nginx_render knows (they land with the nginx issue); anything else that
# looks like a limit is reported so a new knob does not silently throttle the run.
NGINX_BENCH_OVERRIDES = {
    "NGINX_RATE_LIMIT_IP": "100000r/s", "NGINX_RATE_LIMIT_KEY": "100000r/s",
    "NGINX_RATE_IP": "100000r/s", "NGINX_RATE_KEY": "100000r/s",
    "NGINX_RATE_LIMIT_RPS": "100000", "NGINX_RATE_LIMIT_IP_RPS": "100000", "NGINX_RATE_LIMIT_KEY_RPS": "100000",
    "NGINX_RATE_LIMIT_BURST": "100000", "NGINX_RATE_LIMIT_IP_BURST": "100000",
    "NGINX_RATE_LIMIT_KEY_BURST": "100000", "NGINX_BURST_IP": "100000", "NGINX_BURST_KEY": "100000",
    "NGINX_LIMIT_CONN": "10000", "NGINX_LIMIT_CONN_IP": "10000", "NGINX_CONN_PER_IP": "10000",
    "NGINX_KEEPALIVE_REQUESTS": "100000",
    "NGINX_WORKER_PROCESSES": "1",
}


def say(msg: str) -> None:
    print(msg, flush=True)


# -- processes --------------------------------------------------------------------------------------------
@dataclass
class Proc:
    name: str
    pid: int
    record: dict


@dataclass
class Env:
    """Everything started for the run, and how to reach each target."""

    stack: Stack | None = None
    procs: list[Proc] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    headers: dict[str, list[str]] = field(default_factory=dict)
    groups: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    cafile: str | None = None
    notes: list[str] = field(default_factory=list)
    mem_pids: dict[str, dict[str, list[int]]] = field(default_factory=dict)


def _spawn(env: Env, spec: ProcessSpec, logs: Path, deadline_s: float = 60.0) -> int:
    proc = launch(spec, logs)
    rec = {"name": spec.name, "pid": proc.pid, "start": proc_start(proc.pid)}
    env.procs.append(Proc(spec.name, proc.pid, rec))
    waited = wait_ready(spec, proc, logs, deadline_s=deadline_s)
    say(f"  ✓ {spec.name:<16} ready in {waited:4.1f} s (pid {proc.pid})")
    return proc.pid


def _raise_edge_limits() -> None:
    applied, left = [], []
    for key in list(nginx_render.DEFAULTS):
        if key in NGINX_BENCH_OVERRIDES:
            nginx_render.DEFAULTS[key] = os.environ.get(key, NGINX_BENCH_OVERRIDES[key])
            applied.append(key)
        elif any(w in key for w in ("RATE", "BURST", "CONN_PER")):
            left.append(key)
    for key, value in os.environ.items():  # explicit NGINX_* from the caller win
        if key.startswith("NGINX_") and key in nginx_render.DEFAULTS:
            nginx_render.DEFAULTS[key] = value
    if applied:
        say(f"  edge limits raised for the bench: {', '.join(applied)}")
    if left:
        say(f"  ! nginx limit settings not overridden (set them as NGINX_* variables): {', '.join(left)}")


@contextlib.contextmanager
def environment(args: argparse.Namespace) -> Iterator[Env]:
    env = Env()
    state = BENCH_DIR / "state"
    if state.exists():
        shutil.rmtree(state)
    logs = state / "logs"
    logs.mkdir(parents=True)
    try:
        names = catalogue.names()
        say(f"• starting the local stack (mock, {len(names)} gateways, nginx) on free ports")
        _raise_edge_limits()
        ports = free_ports(4 + len(names))
        gw_port, ll_port = free_ports(2)  # the gateway alone and LiteLLM
        backend = args.secrets_backend
        cfg = StackConfig(state_dir=state / "stack", https_port=ports[0], http_port=ports[1], mock_port=ports[2],
                          bao_port=ports[3], gateway_ports=dict(zip(names, ports[4:], strict=True)),
                          secrets_backend=backend,
                          mock_env={"MOCK_API_KEYS": "", "MOCK_CHUNK_DELAY_MS": str(args.chunk_delay_ms)})
        if backend == "vault" and cfg.which(cfg.bao_bin) is None:
            say("  ! bao not found: the edge path uses the env secrets backend")
            cfg.secrets_backend = backend = "env"
        stack = Stack(cfg, say=lambda m: say("  " + m.strip()))
        env.stack = stack
        info = stack.up()
        recs = {r["name"]: r["pid"] for r in stack.records()}
        mock_pid, nginx_pid, gw_pid = recs["mock"], recs["nginx"], recs["gateway-openai"]
        env.urls["mock"] = f"{info.mock_url}/v1/chat/completions"
        env.headers["mock"] = ["Authorization: Bearer sk-bench-upstream"]
        env.groups["mock"] = {"server": [mock_pid]}
        env.mem_pids["mock"] = {"mock": [mock_pid]}
        env.urls["edge"] = f"{info.url}/openai/v1/chat/completions"
        env.headers["edge"] = [f"Authorization: Bearer {info.client_keys['openai']}"]
        env.groups["edge"] = {"server": [nginx_pid, gw_pid], "gateway": [gw_pid], "nginx": [nginx_pid],
                              "mock": [mock_pid]}
        env.mem_pids["edge"] = {"gateway": [gw_pid], "nginx": [nginx_pid]}
        env.cafile = str(info.ca)
        env.notes.append(f"edge secrets backend: {backend}")

        say("• starting one gateway alone (env secrets backend)")
        from gateway.auth import keys

        full, key_id, digest = keys.generate()
        gw = ProcessSpec("gateway-alone", [sys.executable, "-m", "gateway"], env={
            "PYTHONPATH": str(REPO / "services"),
            "GATEWAY_PROVIDER": "openai", "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(gw_port),
            "GATEWAY_UPSTREAM_BASE_URL": f"{info.mock_url}/v1", "GATEWAY_SECRETS_BACKEND": "env",
            "GATEWAY_CLIENT_KEYS": f"{key_id}:{digest}:openai", "OPENAI_API_KEY": "sk-bench-upstream",
            "GATEWAY_AUDIT_LOG": str(state / "audit" / "gateway-alone.log"),
        }, env_remove=("ANTHROPIC_API_KEY", "COHERE_API_KEY", "VAULT_TOKEN"),
            ready_url=f"http://127.0.0.1:{gw_port}/readyz")
        pid = _spawn(env, gw, logs)
        env.urls["gateway"] = f"http://127.0.0.1:{gw_port}/v1/chat/completions"
        env.headers["gateway"] = [f"Authorization: Bearer {full}"]
        env.groups["gateway"] = {"server": [pid], "mock": [mock_pid]}
        env.mem_pids["gateway"] = {"gateway": [pid]}

        if not args.skip_litellm:
            litellm = Path(args.litellm_bin)
            if not litellm.exists():
                raise SystemExit(f"{litellm} not found: run `make bench` (it creates .bench/venv) "
                                 "or pass --skip-litellm")
            say("• starting the LiteLLM proxy (one worker, no database) — it takes a while to import")
            master = "sk-bench-" + secrets.token_hex(8)
            spec = ProcessSpec("litellm", [str(litellm), "--config", str(LITELLM_CONFIG), "--host", "127.0.0.1",
                                           "--port", str(ll_port), "--num_workers", "1"],
                               env={"LITELLM_LOCAL_MODEL_COST_MAP": "True", "BENCH_MOCK_BASE": f"{info.mock_url}/v1",
                                    "BENCH_UPSTREAM_KEY": "sk-bench-upstream", "BENCH_LITELLM_MASTER_KEY": master,
                                    "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False",
                                    "DISABLE_SCHEMA_UPDATE": "True"},
                               env_remove=("DATABASE_URL", "OPENAI_API_KEY", "PYTHONPATH"),
                               ready_url=f"http://127.0.0.1:{ll_port}/health/liveliness", cwd=state)
            pid = _spawn(env, spec, logs, deadline_s=180)
            env.urls["litellm"] = f"http://127.0.0.1:{ll_port}/v1/chat/completions"
            env.headers["litellm"] = [f"Authorization: Bearer {master}"]
            env.groups["litellm"] = {"server": [pid], "mock": [mock_pid]}
            env.mem_pids["litellm"] = {"litellm": [pid]}
        yield env
    finally:
        for p in reversed(env.procs):
            stop(p.record)
        if env.stack is not None:
            env.stack.down(quiet=True, keep_logs=True)
