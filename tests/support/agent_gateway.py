"""A gateway served by uvicorn on a loopback port for `/v1/agent` tests, in front of the real mock behind a recorder
of the usage each upstream call answered (tests/integration/test_agent_billing.py, test_agent_limits.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

import catalogue
from devstack.ports import free_port
from gateway.app import create_app
from gateway.auth import keys
from gateway.config import Settings
from gateway.limits import Limits
from gateway.secrets.env import EnvSecretsBackend
from mockllm.app import create_app as create_mock


class Recorder:
    """ASGI wrapper: the tokens each chat call's answer reported (None until it answered), then the mock."""

    def __init__(self) -> None:
        self.app = create_mock()
        self.calls: list[int | None] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        index, body = len(self.calls), bytearray()
        self.calls.append(None)

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if not message.get("more_body") and (usage := json.loads(body).get("usage")):
                    self.calls[index] = sum(usage.get(k, 0) for k in ("prompt_tokens", "completion_tokens",
                                                                      "input_tokens", "output_tokens"))
            await send(message)

        await self.app(scope, receive, capture)

    def spent(self, since: int = 0) -> int:
        return sum(c or 0 for c in self.calls[since:])


@dataclass
class Gateway:
    url: str
    key: str
    client_name: str
    app: FastAPI
    audit: Path

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {self.key}"})

    async def counted(self) -> dict[str, int]:
        """The client's counters (tokens this minute, today), once the settles are applied (off the request's path)."""
        await asyncio.sleep(0.2)
        res = await self.app.state.runtime.limiter.acquire(self.client_name, Limits(daily_tokens=10**9), 0)
        return {"tpm": res.used["tpm"], "daily_tokens": res.used["daily_tokens"]}  # the probe reserves no token

    async def charged(self) -> int:
        """The tokens charged to the client's daily budget so far."""
        return (await self.counted())["daily_tokens"]

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.audit.read_text().splitlines()]


@contextlib.asynccontextmanager
async def serve_gateway(provider: str, upstream_url: str, tmp: Path, client_name: str, limits: dict[str, int],
                        **settings: Any) -> AsyncIterator[Gateway]:
    """One client key with `limits`, a gateway for `provider` on the mock at `upstream_url`, until the block ends."""
    key, key_id, digest = keys.generate()
    key_file = tmp / f"keys-{provider}.json"
    key_file.write_text(json.dumps({"keys": {key_id: {"hash": digest, "providers": [provider], "name": client_name,
                                                      "limits": limits}}}))
    audit = tmp / f"audit-{provider}.log"
    cfg = Settings(**{"provider": provider, "client_keys_file": key_file, "max_retries": 0, "upstream_timeout_s": 10,
                      "audit_log": audit, "upstream_base_url": upstream_url + catalogue.provider(provider).mock_path,
                      **settings})
    backend = EnvSecretsBackend(provider, None, key_file,
                                environ={catalogue.provider(provider).key_env: f"mock-key-{provider}"})
    app = create_app(cfg, backend)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.ensure_future(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:
        assert not task.done() and time.monotonic() < deadline, "gateway did not start"
        await asyncio.sleep(0.05)
    try:
        yield Gateway(f"http://127.0.0.1:{port}", key, client_name, app, audit)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
