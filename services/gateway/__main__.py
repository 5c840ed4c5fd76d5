"""`python -m gateway`: run one provider's gateway under uvicorn (GATEWAY_WORKERS processes)."""

from __future__ import annotations

from typing import Any

import uvicorn

from gateway import logs, multiproc
from gateway.app import create_app
from gateway.config import ConfigError, Settings, exit_on_config_error, load_settings


def main() -> None:
    """Load settings from the environment and serve until SIGTERM/SIGINT."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        exit_on_config_error(exc)
        return
    logs.configure(settings.log_level)
    options = server_options(settings)
    if multiproc.enabled():  # the operator set PROMETHEUS_MULTIPROC_DIR: it must exist before any metric does
        multiproc.prepare()
    if settings.workers > 1:
        # Each worker builds its own app from the environment (uvicorn spawns them); metrics are
        # shared through the multiprocess directory, set before any worker imports prometheus_client.
        multiproc.prepare()
        uvicorn.run("gateway.app:app_from_env", factory=True, workers=settings.workers, **options)
        return
    uvicorn.run(create_app(settings), **options)


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for the gateway (the floor bench serves its minimal app with the same)."""
    return {"host": settings.host, "port": settings.port, "log_config": None, "access_log": False,
            "loop": "gateway.eventloop:new_event_loop",  # uvloop that drains a burst of connections
            "proxy_headers": False, "server_header": False, "date_header": False,
            "timeout_graceful_shutdown": int(settings.shutdown_grace_s) or None, "timeout_keep_alive": 75}


if __name__ == "__main__":
    main()
