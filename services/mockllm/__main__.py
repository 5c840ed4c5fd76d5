"""``python -m mockllm --host 127.0.0.1 --port 8199``: run the mock under uvicorn."""

from __future__ import annotations

import argparse
import os

import uvicorn

from mockllm.app import create_app
from mockllm.config import MockConfig


def main(argv: list[str] | None = None) -> None:
    """Parse arguments (env ``MOCK_HOST``/``MOCK_PORT`` as defaults) and serve."""
    parser = argparse.ArgumentParser(prog="mockllm", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("MOCK_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("MOCK_PORT", "8199")))
    parser.add_argument("--log-level", default=os.environ.get("MOCK_LOG_LEVEL", "warning"))
    args = parser.parse_args(argv)
    config = MockConfig.from_env()
    uvicorn.run(
        create_app(config),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        lifespan="off",
        # Providers keep idle connections open for minutes. uvicorn's default (5 s) equals httpx's pool
        # expiry, so a gateway could reuse a connection at the instant the mock closes it: a spurious
        # "upstream unreachable" that no real provider would cause.
        timeout_keep_alive=75,
    )


if __name__ == "__main__":
    main()
