"""The OpenAI adapter's LangChain patch: building an adapter makes ChatOpenAI convert responses inline.

Without the patch every `ainvoke` hands the response conversion to the event loop's default thread
pool; the test swaps in a pool that records each job and answers the call from an in-memory transport.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx2
import langchain_core.runnables.config as lc_config
import langchain_openai.chat_models.base as lc_openai
import pytest
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from gateway.config import Settings
from gateway.providers.openai import OpenAIAdapter

COMPLETION = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


class RecordingPool(ThreadPoolExecutor):
    """A default executor that notes the name of every function it is asked to run."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.jobs: list[str] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.jobs.append(repr(fn))  # LangChain's jobs read `partial(<Context.run>, <function run_in_executor…>)`
        return super().submit(fn, *args, **kwargs)


def _model() -> ChatOpenAI:
    transport = httpx2.MockTransport(lambda _req: httpx2.Response(200, json=COMPLETION))
    return ChatOpenAI(model="gpt-4o-mini", api_key=SecretStr("sk-test"), base_url="http://upstream.invalid/v1",
                      http_async_client=httpx2.AsyncClient(transport=transport), max_retries=0)


async def _conversions_in_pool() -> list[str]:
    pool = RecordingPool()
    asyncio.get_running_loop().set_default_executor(pool)
    try:
        reply = await _model().ainvoke("hello")
    finally:
        pool.shutdown(wait=True)
    assert reply.content == "hi"
    return [job for job in pool.jobs if "run_in_executor" in job]  # not the SDK's own get_platform job


@pytest.fixture
def unpatched(monkeypatch: pytest.MonkeyPatch) -> None:
    """LangChain as shipped: langchain_openai's module reference back to langchain_core's helper."""
    monkeypatch.setattr(lc_openai, "run_in_executor", lc_config.run_in_executor)


async def test_langchain_as_shipped_converts_in_the_thread_pool(unpatched: None) -> None:
    assert await _conversions_in_pool()  # the control: what the patch exists to avoid


async def test_building_the_adapter_makes_conversion_inline(unpatched: None) -> None:
    OpenAIAdapter(Settings(provider="openai"))
    assert await _conversions_in_pool() == []
