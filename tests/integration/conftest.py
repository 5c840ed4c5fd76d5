"""Integration suites by concern, as markers: `health`, `auth`, `perf`, `langchain`.

The Dagger module runs each suite alone (`pytest -m "auth and not local_stack"`); a module's
suite is declared here, once, by file name.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import TYPE_CHECKING

import anthropic
import httpx
import httpx2
import openai
import pytest

import catalogue
from tests.support.stack import RunningStack

if TYPE_CHECKING:
    from tests.support.pgproc import PostgresServer

# Not listed (no Dagger suite yet: its test container has no redis-server/postgres): test_limits_redis,
# test_limits_redis_failures, test_usage_postgres, test_usage_postgres_failures, test_usage_postgres_gateway.
# `make test` runs them.
SUITE_OF_MODULE = {
    "test_edge_routing": "health",
    "test_edge_failover": "health",
    "test_validate": "health",
    "test_monitoring": "health",
    "test_gateway_errors": "health",
    "test_auth_matrix": "auth",
    "test_audit": "auth",
    "test_vault_isolation": "auth",
    "test_vault_bootstrap": "auth",
    "test_vault_rotation": "auth",
    "test_vault_backend": "auth",
    "test_vault_outage": "auth",
    "test_vault_refresher": "auth",
    "test_vault_kubernetes": "auth",
    "test_vault_limits": "auth",
    "test_limits_replicas": "perf",
    "test_edge_limits": "perf",
    "test_perf_smoke": "perf",
    "test_reference_cycles": "perf",
    "test_bench_provenance": "perf",
    "test_gateway_local": "perf",
    "test_gateway_clients": "langchain",
    "test_chat_tools": "langchain",
    "test_chat_params": "langchain",
    "test_chat_wire_schema": "langchain",
    "test_gateway_embeddings": "langchain",
    "test_anthropic_messages": "langchain",
    "test_anthropic_request_id": "langchain",
    "test_gateway_agent": "langchain",
    "test_mock_openai": "langchain",
    "test_mock_anthropic": "langchain",
    "test_mock_cohere": "langchain",
    "test_mock_langchain": "langchain",
    "test_mock_control": "langchain",
    "test_edge_standalone": "health",
    "test_procs": "health",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tag each integration test with its module's suite marker."""
    for item in items:
        module = item.module if isinstance(item, pytest.Function) else None  # a test function's module
        suite = SUITE_OF_MODULE.get(module.__name__.rsplit(".", 1)[-1]) if module else None
        if suite:
            item.add_marker(getattr(pytest.mark, suite))


@pytest.fixture(params=catalogue.names())
def provider(request: pytest.FixtureRequest) -> str:
    """Each provider in turn (modules may override with their own)."""
    return request.param


@pytest.fixture
def http(stack: RunningStack) -> Iterator[httpx.Client]:
    """An HTTP client that trusts the stack's CA."""
    with httpx.Client(verify=str(stack.ca), timeout=60) as client:
        yield client


@pytest.fixture
def sdk(stack: RunningStack, provider: str, http: httpx.Client) -> openai.OpenAI:
    """The official openai SDK on the stack's route of `provider`, with that provider's client key, no retries."""
    return openai.OpenAI(base_url=f"{stack.url}/{provider}/v1", api_key=stack.keys[provider], max_retries=0,
                         http_client=http)  # pyright: ignore[reportArgumentType]  # httpx.Client accepted at runtime


@pytest.fixture
def anthropic_sdk(stack: RunningStack) -> Iterator[anthropic.Anthropic]:
    """The official anthropic SDK on the stack's anthropic route, with the gateway key, no retries."""
    http = httpx2.Client(verify=ssl.create_default_context(cafile=str(stack.ca)), timeout=60)
    with anthropic.Anthropic(base_url=f"{stack.url}/anthropic", http_client=http, max_retries=0,
                             api_key=stack.keys["anthropic"]) as client:
        yield client


@pytest.fixture
def pg() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL on loopback for one test (the usage sink's tests)."""
    from tests.support.pgproc import PostgresServer  # psycopg: only where the `shared` extra is installed

    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.remove()
