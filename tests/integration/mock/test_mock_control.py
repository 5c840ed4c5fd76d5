"""The mock's control endpoints (stats, reset) and its seeded fault mix."""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest

from tests.integration.mock.common import KEY, ROTATED, user
from tests.support.mockproc import MockServer, run_mock

pytestmark = pytest.mark.integration


def test_stats_track_last_key_and_reset(mock: MockServer) -> None:
    assert httpx.post(f"{mock.url}/_mock/reset").status_code == 200
    stats = httpx.get(f"{mock.url}/_mock/stats").json()
    assert stats["openai"]["requests"] == 0 and stats["cohere"]["last_key"] is None
    openai.OpenAI(base_url=f"{mock.url}/v1", api_key=ROTATED, max_retries=0).chat.completions.create(
        model="m", messages=user("x")
    )
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=mock.url, api_key="sk-bad", max_retries=0).messages.create(
            model="m", max_tokens=5, messages=user("x")
        )
    stats = httpx.get(f"{mock.url}/_mock/stats").json()
    assert stats["openai"] == {"requests": 1, "models": 0, "last_key": ROTATED, "unauthorized": 0, "faults": 0,
                               "last_params": {"model": "m"}, "last_messages": [{"role": "user", "content": "x"}],
                               "last_embedding_params": {}}
    assert stats["anthropic"]["last_key"] == "sk-bad" and stats["anthropic"]["unauthorized"] == 1
    assert stats["cohere"]["requests"] == 0


def test_fault_mix_is_seeded() -> None:
    env = {"MOCK_FAULTS": "429,500", "MOCK_FAULT_RATE": "0.7", "MOCK_SEED": "11"}
    with run_mock(env) as server:

        def statuses() -> list[int]:
            with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {KEY}"}) as client:
                body = {"model": "m", "messages": user("x")}
                return [client.post("/v1/chat/completions", json=body).status_code for _ in range(30)]

        first = statuses()
        assert set(first) == {200, 429, 500}
        httpx.post(f"{server.url}/_mock/reset")
        assert statuses() == first
