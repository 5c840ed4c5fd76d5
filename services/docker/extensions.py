"""Prove that stripping the venv's shared objects broke none of them (run in the image builder stage).

The wheels' shared objects carry debug symbols, about a quarter of a gateway venv (uvloop alone
~12 MB); the builder strips them. `strip` on an ELF file that patchelf rewrote (auditwheel's
repaired wheels) can produce a library that no longer loads, so the build records which extension
modules import before stripping and fails unless exactly those still import afterwards:

    python extensions.py record /tmp/ext.txt   # before strip
    python extensions.py verify /tmp/ext.txt   # after strip: exit 1 naming any that broke

Some extensions cannot be imported on their own in any case (an optional dependency absent from the
lock, e.g. a cffi backend); `record` leaves those out, so only a change made by stripping fails.
Stdlib only: it runs with the venv's interpreter before the project is installed.
"""

from __future__ import annotations

import importlib
import sys
import sysconfig
from pathlib import Path


def modules(site: Path) -> list[str]:
    """Dotted names of the extension modules under `site` (site-packages)."""
    names = set()
    for path in site.rglob("*.so"):
        rel = path.relative_to(site)
        if any(part.endswith((".libs", ".dist-info", ".data")) or "-" in part for part in rel.parts[:-1]):
            continue  # auditwheel's bundled libraries and metadata are not modules
        names.add(".".join((*rel.parts[:-1], rel.name.split(".", 1)[0])))
    return sorted(names)


# Packages whose extensions refuse to load before another package (their own check, not a fault).
_IMPORT_FIRST = {"psycopg_binary": "psycopg"}


def importable(names: list[str]) -> tuple[list[str], dict[str, str]]:
    ok, failed = [], {}
    for name in names:
        try:
            first = _IMPORT_FIRST.get(name.split(".", 1)[0])
            if first:
                importlib.import_module(first)
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none is fatal here
            failed[name] = f"{type(exc).__name__}: {exc}"
        else:
            ok.append(name)
    return ok, failed


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("record", "verify"):
        print(__doc__, file=sys.stderr)
        return 2
    action, listing = argv[0], Path(argv[1])
    site = Path(sysconfig.get_paths()["purelib"])
    if action == "record":
        ok, failed = importable(modules(site))
        listing.write_text("".join(f"{name}\n" for name in ok))
        print(f"extensions: {len(ok)} import before stripping ({len(failed)} cannot on their own: "
              f"{', '.join(sorted(failed)) or 'none'})")
        return 0
    expected = listing.read_text().split()
    ok, failed = importable(expected)
    for name, error in failed.items():
        print(f"extensions: {name} no longer imports after stripping: {error}", file=sys.stderr)
    print(f"extensions: {len(ok)}/{len(expected)} still import after stripping")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
