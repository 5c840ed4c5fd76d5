"""While Redis is down every worker process of every replica decides alone: each enforces its share of a rate
limit, so all of them together admit no more than the limit."""

from __future__ import annotations

import pytest

from gateway.auth import keys
from gateway.config import Settings
from gateway.limits import Limits
from gateway.limits.redis import RedisLimiter
from gateway.runtime import build_runtime
from gateway.secrets.env import EnvSecretsBackend

_, KEY_ID, KEY_HASH = keys.generate()
SPEC = f"{KEY_ID}:{KEY_HASH}:openai"


@pytest.mark.parametrize(("replicas", "workers", "share"), [(1, 1, 60), (3, 1, 20), (3, 4, 5), (1, 4, 15)])
def test_the_fallback_share_counts_every_worker_process(replicas: int, workers: int, share: int) -> None:
    settings = Settings(provider="openai", client_keys=SPEC, limits_backend="redis", redis_url="redis://127.0.0.1:9/0",
                        limits_replicas=replicas, workers=workers)
    runtime = build_runtime(settings, EnvSecretsBackend("openai", SPEC, environ={"OPENAI_API_KEY": "sk-up"}))
    assert isinstance(runtime.limiter, RedisLimiter)
    assert runtime.limiter.local.scaled(Limits(rpm=60)).rpm == share
