"""`python -m gateway`: run one provider's gateway under uvicorn."""

from __future__ import annotations

import uvicorn

from gateway import logs
from gateway.app import create_app
from gateway.config import ConfigError, exit_on_config_error, load_settings


def main() -> None:
    """Load settings from the environment and serve until SIGTERM/SIGINT."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        exit_on_config_error(exc)
        return
    logs.configure(settings.log_level)
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False,
                proxy_headers=False, server_header=False, date_header=False,
                timeout_graceful_shutdown=int(settings.shutdown_grace_s) or None,
                timeout_keep_alive=75)


if __name__ == "__main__":
    main()
