"""Performance smoke through the edge: bounded load, every request must succeed; figures are printed.

Not a benchmark (that is `make bench`) and never a timed assertion: it proves the full path
(TLS, rate limits, auth_request, gateway, upstream) holds a little concurrency without errors.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
import pytest

from tests.support.stack import RunningStack

PROVIDERS = ("openai", "anthropic", "cohere")
CONCURRENCY = 4
PER_PROVIDER = 40
RATE = 15.0  # requests/s started per key: under the edge's default per-key limit (20 r/s), so none is shed


async def _drive(stack: RunningStack, provider: str, stream: bool) -> tuple[list[float], list[str]]:
    url = f"{stack.url}/{provider}/v1/chat/completions"
    headers = {"Authorization": f"Bearer {stack.keys[provider]}"}
    body = {"model": stack.model(provider), "stream": stream,
            "messages": [{"role": "user", "content": "perf smoke, a few words back"}]}
    latencies: list[float] = []
    failures: list[str] = []
    queue = list(range(PER_PROVIDER))
    t0 = time.perf_counter()

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            slot = queue.pop(0)
            await asyncio.sleep(max(0.0, t0 + slot / RATE - time.perf_counter()))
            started = time.perf_counter()
            try:
                if stream:
                    async with client.stream("POST", url, json=body, headers=headers) as resp:
                        text = "".join([chunk async for chunk in resp.aiter_text()])
                        ok = resp.status_code == 200 and text.rstrip().endswith("data: [DONE]") \
                            and '"error"' not in text
                else:
                    resp = await client.post(url, json=body, headers=headers)
                    ok = resp.status_code == 200 and resp.json()["choices"][0]["message"]["content"]
            except httpx.HTTPError as exc:
                failures.append(type(exc).__name__)
                continue
            latencies.append(time.perf_counter() - started)
            if not ok:
                failures.append(f"status {resp.status_code}")

    async with httpx.AsyncClient(verify=str(stack.ca), timeout=30) as client:
        await asyncio.wait_for(asyncio.gather(*(worker(client) for _ in range(CONCURRENCY))), timeout=120)
    return latencies, failures


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_edge_holds_concurrent_load(stack: RunningStack, provider: str, stream: bool) -> None:
    latencies, failures = asyncio.run(_drive(stack, provider, stream))
    assert not failures, failures[:10]
    assert len(latencies) == PER_PROVIDER
    q = statistics.quantiles(latencies, n=20)
    print(f"\n{provider} {'stream' if stream else 'plain'}: {len(latencies)} requests at concurrency "
          f"{CONCURRENCY}: p50 {statistics.median(latencies) * 1000:.1f} ms, p95 {q[18] * 1000:.1f} ms")
