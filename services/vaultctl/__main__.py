"""Entry point for `python -m vaultctl`."""

from vaultctl.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
