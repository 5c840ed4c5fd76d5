"""bench/served_floor.py, the floor bench's `served` variant: the bare call behind a minimal app, run as the
gateway runs (its uvicorn options and its collector settings), so that what it costs above the bare call is
what serving over HTTP costs."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from gateway import gc_tuning
from gateway.config import Settings

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_the_minimal_app_is_served_with_the_gateway_options_and_collector_settings(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    import served_floor
    from floor_variants import Keys

    seen: dict[str, Any] = {}

    def run(app: Any, **options: Any) -> None:  # instead of serving: what the server would start with
        seen.update(options, app=app, threshold=gc.get_threshold()[0], frozen=gc.get_freeze_count())

    monkeypatch.setattr(served_floor.uvicorn, "run", run)
    keys = Keys.create(tmp_path, ("openai",))
    for name, value in (("FLOOR_PROVIDER", "openai"), ("FLOOR_MOCK_URL", "http://127.0.0.1:9"),
                        ("FLOOR_KEYS_FILE", str(keys.path)), ("FLOOR_PORT", "18999")):
        monkeypatch.setenv(name, value)
    before = gc.get_threshold()
    try:
        served_floor.main()
    finally:
        gc_tuning.untune()
        gc.set_threshold(*before)
    assert callable(seen["app"])
    # As the gateway's lifespan sets them: start-up objects frozen, the young generation's threshold raised.
    assert seen["threshold"] == Settings(provider="openai").gc_gen0_threshold and seen["frozen"] > 0
    assert seen["loop"] == "gateway.eventloop:new_event_loop" and (seen["host"], seen["port"]) == ("127.0.0.1", 18999)
