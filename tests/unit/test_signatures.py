"""LangChain's signature inspection on the chat path, memoised per method (gateway/providers/signatures.py)."""

from __future__ import annotations

import functools
import inspect
from typing import Any

import langchain_core.language_models.chat_models as chat_models
import pytest
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from langchain_core.utils._signature import _signature_parameters as unwrapped

from gateway.config import Settings
from gateway.providers import create_adapter, signatures


def installed() -> Any:
    """What langchain_core's chat models call now."""
    return getattr(chat_models, "_signature_parameters")  # noqa: B009 - not exported


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, obj: Any) -> Any:
        self.calls += 1
        return unwrapped(obj)


class WithRunManager(FakeListChatModel):
    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return await super()._agenerate(messages, stop=stop, run_manager=run_manager, **kwargs)


class WithoutRunManager(FakeListChatModel):
    # No run_manager parameter, on purpose: the signature LangChain inspects for it.
    async def _agenerate(  # pyright: ignore[reportIncompatibleMethodOverride]
            self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any) -> ChatResult:
        return await super()._agenerate(messages, stop=stop, **kwargs)


def test_a_bound_method_is_inspected_once_per_function() -> None:
    counting = Counting()
    parameters = signatures.memoised(counting)
    a, b = WithRunManager(responses=["a"]), WithRunManager(responses=["b"])
    assert list(parameters(a._agenerate)) == ["messages", "stop", "run_manager", "kwargs"]
    assert parameters(b._agenerate) is parameters(a._agenerate)
    assert "run_manager" not in parameters(WithoutRunManager(responses=["c"])._agenerate)
    assert counting.calls == 2


def test_other_callables_are_inspected_every_time() -> None:
    counting = Counting()
    parameters = signatures.memoised(counting)

    def plain(x: int, run_manager: object = None) -> int:
        return x

    assert list(parameters(plain)) == list(parameters(plain)) == ["x", "run_manager"]
    assert list(parameters(functools.partial(plain, 1))) == ["run_manager"]
    assert counting.calls == 3


def test_the_mapping_shared_is_read_only() -> None:
    found = signatures.memoised(unwrapped)(WithRunManager(responses=["a"])._agenerate)
    with pytest.raises(TypeError):
        # A write to the read-only mapping, on purpose: the TypeError is what the test expects.
        found["extra"] = inspect.Parameter("extra", inspect.Parameter.KEYWORD_ONLY)  # pyright: ignore[reportIndexIssue]


async def test_langchain_passes_the_run_manager_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []

    class Recording(FakeListChatModel):
        async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                             run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
            seen.append(run_manager is not None)
            return await super()._agenerate(messages, stop=stop, run_manager=run_manager, **kwargs)

    class NoManager(FakeListChatModel):
        # No run_manager parameter, on purpose (as WithoutRunManager).
        async def _agenerate(  # pyright: ignore[reportIncompatibleMethodOverride]
                self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any) -> ChatResult:
            seen.append("run_manager" in kwargs)
            return await super()._agenerate(messages, stop=stop, **kwargs)

    monkeypatch.setattr(chat_models, "_signature_parameters", unwrapped)
    signatures.install()
    assert installed().__wrapped__ is unwrapped
    for _ in range(2):
        assert (await Recording(responses=["hi"]).ainvoke("x")).content == "hi"
        assert (await NoManager(responses=["yo"]).ainvoke("x")).content == "yo"
    assert seen == [True, False, True, False]


def test_install_is_idempotent_and_the_adapters_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat_models, "_signature_parameters", unwrapped)
    create_adapter(Settings(provider="cohere"))
    first = installed()
    assert first.__wrapped__ is unwrapped
    signatures.install()
    assert installed() is first
