"""GC tuning of a gateway process: start-up objects frozen, young threshold raised, undone at shutdown."""

from __future__ import annotations

import gc

from gateway import gc_tuning
from gateway.app import create_app
from gateway.config import Settings
from gateway.secrets.env import EnvSecretsBackend


def test_tune_freezes_and_sets_threshold_then_untune_restores() -> None:
    before = gc.get_threshold()
    try:
        gc_tuning.tune(12_345)
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == 12_345
        gc_tuning.untune()
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold()[0] == gc_tuning.PYTHON_DEFAULT_GEN0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_zero_leaves_python_defaults() -> None:
    before = gc.get_threshold()
    gc_tuning.tune(0)
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before


async def test_app_lifespan_tunes_at_start_and_untunes_at_shutdown() -> None:
    before = gc.get_threshold()
    app = create_app(Settings(provider="openai", gc_gen0_threshold=30_000),
                     EnvSecretsBackend("openai", "", environ={"OPENAI_API_KEY": "sk-upstream"}))
    try:
        async with app.router.lifespan_context(app):
            assert gc.get_threshold()[0] == 30_000 and gc.get_freeze_count() > 0
        assert gc.get_freeze_count() == 0 and gc.get_threshold()[0] == gc_tuning.PYTHON_DEFAULT_GEN0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
