"""`python -m devstack up|down|status`: the local stack on loopback, no Docker, no API keys."""

from __future__ import annotations

import argparse
import sys

from devstack.config import StackConfig
from devstack.procs import StackError
from devstack.stack import Stack, StackInfo


def curl_example(info: StackInfo) -> str:
    """A ready-to-paste request through the HTTPS edge."""
    return (
        "Try it:\n"
        "  source .stack/env\n"
        '  curl --cacert "$STACK_CA" "$STACK_URL/openai/v1/chat/completions" \\\n'
        '    -H "Authorization: Bearer $STACK_KEY_OPENAI" -H "Content-Type: application/json" \\\n'
        "    -d '{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello!\"}]}'\n"
        "  (same for /anthropic with $STACK_KEY_ANTHROPIC and /cohere with $STACK_KEY_COHERE; `make down` stops it)"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the CLI."""
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    try:
        stack = Stack(StackConfig.from_env())
        if args.command == "up":
            print("starting the local stack…")
            info = stack.up()
            print(curl_example(info))
        elif args.command == "down":
            n = stack.down()
            print(f"stack stopped ({n} process{'es' if n != 1 else ''})" if n else "stack was not running")
        else:
            running = stack.running()
            for rec in running:
                print(f"{rec['name']:<20} pid {rec['pid']}")
            if not running:
                print("stack is not running")
                return 3
    except (StackError, ValueError) as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
