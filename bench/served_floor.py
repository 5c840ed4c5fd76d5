"""The floor served over HTTP: the bare LangChain call behind a minimal ASGI app, under uvicorn as the gateway runs.

    python bench/served_floor.py   (FLOOR_PROVIDER, FLOOR_MOCK_URL, FLOOR_KEYS_FILE, FLOOR_PORT in the environment)

What any app served this way costs above the bare call (uvicorn, httptools, the uvloop transport, reading
the request, writing the response and each streamed chunk) with none of the gateway's own work: the floor
bench's `served` variant. POST: the model's answer as a small JSON document, or, with `"stream": true` in
the body, one SSE event per chunk and `[DONE]`; GET: 200 (readiness).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent / "services"), str(BENCH)]

import orjson  # noqa: E402
import uvicorn  # noqa: E402
from floor_variants import bare_call, settings_for  # noqa: E402
from starlette.types import ASGIApp, Receive, Scope, Send  # noqa: E402

from gateway import gc_tuning  # noqa: E402
from gateway.__main__ import server_options  # noqa: E402
from gateway.config import load_settings  # noqa: E402


def build_app(settings_kw: dict[str, Any]) -> ASGIApp:
    """The minimal app around the bare call of floor_variants.bare, for the provider of `settings_kw`."""
    model, messages, kwargs = bare_call(settings_kw)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if scope["method"] != "POST":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        if orjson.loads(body).get("stream"):
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream")]})
            async for chunk in model.astream(messages, **kwargs):
                event = b"data: " + orjson.dumps({"content": chunk.text}) + b"\n\n"
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})
            return
        answer = await model.ainvoke(messages, **kwargs)
        out = orjson.dumps({"content": answer.text})
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]})
        await send({"type": "http.response.body", "body": out})

    return app


def main() -> None:
    """Serve until SIGTERM, with the gateway's own uvicorn options (gateway/__main__.py) and collector settings."""
    env = os.environ
    kw = settings_for(env["FLOOR_PROVIDER"], env["FLOOR_MOCK_URL"], env["FLOOR_KEYS_FILE"])
    settings = load_settings(**kw, host="127.0.0.1", port=int(env["FLOOR_PORT"]))
    app = build_app(kw)
    # The gateway's collector settings too (its lifespan applies them): untuned, a process that imported LangChain
    # walks its ~200,000 start-up objects at every full collection, which is not what serving over HTTP costs.
    gc_tuning.tune(settings.gc_gen0_threshold)
    uvicorn.run(app, **server_options(settings))


if __name__ == "__main__":
    main()
