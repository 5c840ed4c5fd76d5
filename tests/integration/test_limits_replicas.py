"""Limits that hold across replicas: 3 gateways per provider behind the real nginx, on a real redis-server.

A client key gets its limits with `vaultctl client-key create --rpm/--daily-tokens` (OpenBao), every
replica counts into one Redis; requests go through the edge, which balances across the replicas.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import orjson
import psycopg
import pytest
import redis

from devstack.ports import free_ports
from devstack.shared import wait_redis
from tests.support.load import Load, chat_targets
from tests.support.stack import RunningStack, local_stack

pytestmark = [pytest.mark.integration, pytest.mark.local_stack]

EDGE_UNLIMITED = {"NGINX_RATE_IP": "100000r/s", "NGINX_BURST_IP": "100000", "NGINX_CONN_PER_IP": "10000"}
REPLICAS = 3


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    ports = free_ports(2)  # every replica's port comes from stack_config
    with local_stack(tmp_path_factory.mktemp("limits-replicas"), replicas=REPLICAS, shared="redis",
                     redis_port=ports[0], usage="postgres", postgres_port=ports[1], secrets_backend="vault",
                     gateway_env={"GATEWAY_VAULT_REFRESH_S": "1"}, nginx_env=EDGE_UNLIMITED) as running:
        yield running


def create_key(stack: RunningStack, name: str, *limits: str) -> str:
    """A new client key for openai with the given vaultctl limit flags, known to every replica."""
    out = stack.state_dir / f"{name}.key"
    argv = [sys.executable, "-m", "vaultctl", "client-key", "create", "--name", name, "--providers", "openai",
            *limits, "--key-out", str(out), "--addr", str(stack.vault_addr),
            "--token-file", str(stack.state_dir / "vault" / "root-token")]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    key = out.read_text().strip()
    assert stack.stack is not None
    stack.stack.generated.append(key)
    urls = [f"http://127.0.0.1:{port}" for _, port in stack.stack.config.gateways("openai")]
    deadline = time.monotonic() + 20
    while not all(httpx.get(f"{u}/v1/models", headers={"x-api-key": key}).status_code == 200 for u in urls):
        assert time.monotonic() < deadline, "the replicas did not load the new key"
        time.sleep(0.3)
    return key


def redis_client(stack: RunningStack) -> redis.Redis:
    return redis.Redis.from_url(stack.env["STACK_REDIS_URL"])


def away_from_minute_end(stack: RunningStack, need_s: float) -> None:
    """Fixed windows: start a burst early enough in Redis's minute that it cannot straddle two."""
    seconds, _ = redis_client(stack).time()
    if seconds % 60 > 60 - need_s:
        time.sleep(60 - seconds % 60 + 0.5)


def chat(model: str, **extra: object) -> bytes:
    return orjson.dumps({"model": model, "messages": [{"role": "user", "content": "count my tokens"}],
                         "max_tokens": 16, **extra})


async def burst(stack: RunningStack, key: str, n: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(verify=str(stack.ca), timeout=60, limits=limits) as client:
        body = chat(stack.model("openai"))
        calls = [client.post(f"{stack.url}/openai/v1/chat/completions", content=body,
                             headers={"authorization": f"Bearer {key}", "content-type": "application/json"})
                 for _ in range(n)]
        return await asyncio.gather(*calls)


def test_rpm_50_with_300_concurrent_through_the_edge_is_exactly_50(stack: RunningStack) -> None:
    key = create_key(stack, "exact-50", "--rpm", "50")
    away_from_minute_end(stack, 35)
    started = time.perf_counter()
    replies = asyncio.run(burst(stack, key, 300))
    elapsed = time.perf_counter() - started
    statuses = Counter(r.status_code for r in replies)
    print(f"\n3 replicas, --rpm 50, 300 concurrent via nginx: {dict(statuses)} in {elapsed:.1f} s")
    assert statuses == {200: 50, 429: 250}
    refused = next(r for r in replies if r.status_code == 429)
    assert refused.json()["error"]["code"] == "rate_limit_exceeded" and 1 <= int(refused.headers["retry-after"]) <= 60
    ok = [r for r in replies if r.status_code == 200]
    assert {r.headers["x-ratelimit-limit-requests"] for r in ok} == {"50"}
    assert sorted(int(r.headers["x-ratelimit-remaining-requests"]) for r in ok) == list(range(50))
    assert all(r.headers["x-ratelimit-reset-requests"].endswith("s") for r in ok)


def test_daily_budget_is_consumed_to_the_token_by_plain_and_streamed_requests(stack: RunningStack) -> None:
    budget = 400
    key = create_key(stack, "budget-400", "--daily-tokens", str(budget), "--tpm", "100000")
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    url, used, refused = f"{stack.url}/openai/v1/chat/completions", 0, None
    with httpx.Client(verify=str(stack.ca), timeout=60) as client:
        for i in range(60):
            if i % 2:
                resp = client.post(url, headers=headers, content=chat(stack.model("openai")))
                if resp.status_code != 200:
                    refused = resp
                    break
                used += resp.json()["usage"]["total_tokens"]
                continue
            body = chat(stack.model("openai"), stream=True, stream_options={"include_usage": True})
            with client.stream("POST", url, headers=headers, content=body) as stream:
                if stream.status_code != 200:
                    stream.read()
                    refused = stream
                    break
                frames = [orjson.loads(line[6:]) for line in stream.iter_lines()
                          if line.startswith("data: {")]
                used += next(f["usage"]["total_tokens"] for f in frames if f.get("usage"))
    assert refused is not None, "the budget never ran out"
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "insufficient_quota"
    assert int(refused.headers["retry-after"]) >= 1
    day = int(redis_client(stack).time()[0]) // 86400
    deadline = time.monotonic() + 5  # settles are applied off the response path, within milliseconds
    while (counted := int(redis_client(stack).get(f"llmgw:limits:budget-400:daily:{day}") or 0)) != used \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    print(f"daily budget {budget}: {used} tokens used by plain+streamed requests, counter {counted}")
    assert counted == used and budget - 60 < used <= budget  # refused only when the next estimate no longer fits


def gateway_status(stack: RunningStack) -> list[str]:
    assert stack.stack is not None
    urls = [f"http://127.0.0.1:{port}" for _, port in stack.stack.config.gateways("openai")]
    return [httpx.get(f"{u}/readyz", timeout=5).json()["status"] for u in urls]


def test_redis_killed_mid_load_no_5xx_fallback_then_recovery(stack: RunningStack) -> None:
    key = create_key(stack, "outage", "--rpm", "100000")
    assert stack.stack is not None
    [record] = [r for r in stack.stack.records() if r["name"] == "redis"][-1:]
    targets = chat_targets(f"{stack.url}/openai", "openai", key, stack.model("openai"))
    load = Load(targets, clients=12, duration_s=60, max_requests=20_000, ca=stack.ca)
    with load:
        time.sleep(2)
        os.kill(int(record["pid"]), signal.SIGKILL)
        killed = time.monotonic()
        time.sleep(4)
        degraded = gateway_status(stack)
        stack.stack.restart_service("redis")
        wait_redis("127.0.0.1", stack.stack.config.redis_port)
        back = time.monotonic()
        deadline = back + 10
        while (recovered := gateway_status(stack)) != ["ready"] * REPLICAS and time.monotonic() < deadline:
            time.sleep(0.2)
        recovered_s = time.monotonic() - back
        result = load.stop()
    during = [o for o in result.between(killed, back)]
    kinds = result.kinds()
    print(f"Redis killed under load: {result.summary()['requests']} requests, {dict(kinds)}; "
          f"{len(during)} during the outage; readiness {degraded} -> {recovered} "
          f"{recovered_s:.1f} s after Redis returned")
    assert not [o for o in result.outcomes if o.status is None or o.status >= 500], kinds
    assert during and all(o.ok for o in during)  # rpm fallback share (33334) is far above this load
    assert degraded == ["degraded"] * REPLICAS and recovered == ["ready"] * REPLICAS
    metrics = httpx.get(f"{stack.gateway_urls['openai']}/metrics", timeout=5).text
    fallbacks = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                    if line.startswith("llm_gateway_limiter_fallbacks_total{"))
    assert fallbacks > 0


def test_one_replica_sigkilled_costs_no_plain_request(stack: RunningStack) -> None:
    assert stack.stack is not None
    key = create_key(stack, "failover", "--rpm", "100000")
    victim = [r for r in stack.stack.records() if r["name"] == "gateway-openai-2"][-1]
    targets = chat_targets(f"{stack.url}/openai", "openai", key, stack.model("openai"), stream_too=False)
    load = Load(targets, clients=12, duration_s=60, max_requests=20_000, ca=stack.ca)
    try:
        with load:
            time.sleep(2)
            os.kill(int(victim["pid"]), signal.SIGKILL)
            time.sleep(5)
            result = load.stop()
    finally:  # the next tests poll every replica
        stack.stack.restart_service("gateway-openai-2")
    print(f"replica SIGKILLed under load: {result.summary()}")
    # nginx hands a request the victim never answered to a sibling. One whose response header had already
    # left the victim when it died cannot be replayed (the client has the status): its body is cut. Only
    # requests in flight at that instant can end so; any other failure (a 502, a refused connection) is a bug.
    cut = [o for o in result.failures() if o.status == 200 and o.error == "RemoteProtocolError"]
    assert result.count > 50 and len(cut) <= load.clients, result.kinds()
    assert [o for o in result.failures() if o not in cut] == [], result.kinds()


def test_usage_of_every_replica_lands_once_in_postgres(stack: RunningStack) -> None:
    key = create_key(stack, "usage-rows", "--rpm", "100000")
    assert stack.env["STACK_USAGE"] == "postgres"
    replies = asyncio.run(burst(stack, key, 60))
    assert {r.status_code for r in replies} == {200}
    ids = {r.headers["x-request-id"] for r in replies}
    query = "SELECT count(*), count(DISTINCT request_id) FROM llm_usage WHERE client_id = 'usage-rows'"
    deadline = time.monotonic() + 20
    with psycopg.connect(stack.env["STACK_POSTGRES_DSN"], autocommit=True) as conn:
        while (row := conn.execute(query).fetchone()) != (60, 60) and time.monotonic() < deadline:
            time.sleep(0.3)
        stored = {r[0] for r in conn.execute("SELECT request_id FROM llm_usage WHERE client_id = 'usage-rows'")}
    print(f"60 requests over {REPLICAS} replicas -> usage rows {row}")
    assert row == (60, 60) and stored == ids
