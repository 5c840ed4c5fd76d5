"""Generated regions inside hand-written files: shell, compose, Prometheus, Helm values, Python.

A region is the lines between `# BEGIN catalogue:<block>` and `# END catalogue:<block>`; the
generator replaces them with what the block renders, indented like the BEGIN line. Everything
outside the markers stays hand-written, so a file keeps its comments and structure and only its
provider lists come from the catalogue.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

Block = Callable[[], list[str]]
_BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN catalogue:(?P<name>[a-z0-9-]+)\s*$")
_END = "# END catalogue:{name}"


class RegionError(ValueError):
    """A region is unterminated or names an unknown block."""


def render_regions(text: str, blocks: Mapping[str, Block], where: str) -> str:
    """Return `text` with every region re-rendered from its block."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        match = _BEGIN.match(line.rstrip("\n"))
        if not match:
            continue
        name, indent = match["name"], match["indent"]
        if name not in blocks:
            raise RegionError(f"{where}: unknown catalogue block {name!r}")
        end = _END.format(name=name)
        while i < len(lines) and lines[i].strip() != end:
            i += 1
        if i == len(lines):
            raise RegionError(f"{where}: region {name!r} has no '{end}' line")
        out.extend(f"{indent}{row}\n" if row else "\n" for row in blocks[name]())
        out.append(lines[i])
        i += 1
    return "".join(out)


def region_names(text: str) -> list[str]:
    """The block names of the regions in `text`."""
    return [m["name"] for line in text.splitlines() if (m := _BEGIN.match(line))]
