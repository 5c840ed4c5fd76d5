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
    )


if __name__ == "__main__":
    main()
