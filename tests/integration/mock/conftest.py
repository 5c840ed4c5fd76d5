"""The mock upstream as one real process for this package, and an official SDK client for each protocol."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import cohere
import openai
import pytest

from tests.integration.mock.common import KEY, ROTATED
from tests.support.mockproc import MockServer, run_mock


@pytest.fixture(scope="package")
def mock() -> Iterator[MockServer]:
    env = {"MOCK_API_KEYS": f"{KEY},{ROTATED}", "MOCK_TIMEOUT_S": "2", "MOCK_FAULT_RATE": "0"}
    with run_mock(env) as server:
        yield server
        print(server.log_text())  # shown by pytest only when a test fails


@pytest.fixture
def oai(mock: MockServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{mock.url}/v1", api_key=KEY, max_retries=0, timeout=5)


@pytest.fixture
def ant(mock: MockServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=mock.url, api_key=KEY, max_retries=0, timeout=5)


@pytest.fixture
def co(mock: MockServer) -> cohere.ClientV2:
    return cohere.ClientV2(api_key=KEY, base_url=mock.url, timeout=5)
