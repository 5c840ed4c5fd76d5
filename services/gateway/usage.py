"""`python -m gateway.usage`: summarise usage per day, client and provider (table or JSON).

Reads JSON-lines audit logs (files or directories) or, with `--postgres DSN`, the `llm_usage` table.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

Row = dict[str, object]


def audit_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories into their audit files (current and rotated: `*.log`, `*.log.N`)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.log*") if p.is_file()))
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such audit log: {path}")
    return files


def records(files: Iterable[Path]) -> Iterator[tuple[dict, Path, int]]:
    """Yield each JSON record with its origin; bad lines are reported by the caller."""
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        yield json.loads(line), path, lineno
                    except json.JSONDecodeError:
                        yield {}, path, lineno


def summarise(files: Iterable[Path]) -> tuple[list[Row], int]:
    """Aggregate requests, errors and tokens per (day, client, provider); return rows and bad-line count."""
    totals: dict[tuple[str, str, str], dict[str, int]] = defaultdict(
        lambda: {"requests": 0, "errors": 0, "streamed": 0, "prompt_tokens": 0, "completion_tokens": 0})
    bad = 0
    for rec, _path, _line in records(files):
        if "time" not in rec or "provider" not in rec:
            bad += 1
            continue
        key = (str(rec["time"])[:10], str(rec.get("client_id") or "-"), str(rec["provider"]))
        row = totals[key]
        row["requests"] += 1
        row["errors"] += int(int(rec.get("status") or 0) >= 400)
        row["streamed"] += int(bool(rec.get("streamed")))
        row["prompt_tokens"] += int(rec.get("prompt_tokens") or 0)
        row["completion_tokens"] += int(rec.get("completion_tokens") or 0)
    rows: list[Row] = [{"day": d, "client": c, "provider": p, **v} for (d, c, p), v in sorted(totals.items())]
    return rows, bad


PG_SUMMARY = """
SELECT to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, coalesce(client_id, '-') AS client, provider,
       count(*) AS requests, count(*) FILTER (WHERE status >= 400) AS errors,
       count(*) FILTER (WHERE streamed) AS streamed, coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
       coalesce(sum(completion_tokens), 0) AS completion_tokens
FROM llm_usage GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""


def summarise_postgres(dsn: str) -> list[Row]:
    """The same rows as `summarise`, computed by PostgreSQL."""
    import psycopg

    with psycopg.connect(dsn, connect_timeout=5) as conn:
        cur = conn.execute(PG_SUMMARY)
        names = [col.name for col in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def table(rows: list[Row]) -> str:
    """Render rows as an aligned text table."""
    cols = ["day", "client", "provider", "requests", "errors", "streamed", "prompt_tokens", "completion_tokens"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) if rows else len(c) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) for c in cols), "  ".join("-" * widths[c] for c in cols)]
    lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in cols) for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI."""
    parser = argparse.ArgumentParser(prog="python -m gateway.usage", description=__doc__)
    parser.add_argument("paths", nargs="*", type=Path, help="audit log files or directories holding them")
    parser.add_argument("--postgres", metavar="DSN", help="read the llm_usage table instead of files")
    parser.add_argument("--format", choices=["table", "json"], default="table")
    args = parser.parse_args(argv)
    if bool(args.paths) == bool(args.postgres):
        parser.error("give audit log paths or --postgres DSN (one of them)")
    try:
        rows, bad = (summarise_postgres(args.postgres), 0) if args.postgres else summarise(audit_files(args.paths))
    except (FileNotFoundError, PermissionError) as exc:
        print(f"usage: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 — psycopg errors: report the class, never the DSN (it may hold a password)
        print(f"usage: cannot read PostgreSQL: {type(exc).__name__}", file=sys.stderr)
        return 2
    print(json.dumps({"rows": rows, "skipped_lines": bad}, indent=2) if args.format == "json" else table(rows))
    if bad and args.format == "table":
        print(f"({bad} unreadable line(s) skipped)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
