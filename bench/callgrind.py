"""Count the instructions a Python process executes for a piece of work, with valgrind's callgrind.

CPU time per request moves by tens of microseconds from one window to the next on a shared machine;
the number of instructions executed does not (repeatable within ~2 % here). The process runs under
`valgrind --tool=callgrind --instr-atstart=no`: start-up is not counted, and `Counted.measure()` switches
the counting on around exactly the work measured (`callgrind_control`, which reaches a process blocked
in a system call too), then reads the total from the dump callgrind writes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

_SUMMARY = re.compile(r"^(?:summary|totals):\s*(\d+)", re.MULTILINE)


def missing_tools() -> list[str]:
    """The valgrind commands this module needs and cannot find on PATH."""
    return [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]


def wrap(argv: list[str], out_dir: Path) -> list[str]:
    """`argv` run under callgrind, counting nothing until told to, dumps into `out_dir`."""
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--quiet",
            f"--callgrind-out-file={out_dir}/cg.%p", *argv]


def instructions_in(dump: Path) -> int:
    """Instructions executed (Ir) in one callgrind dump."""
    found = _SUMMARY.search(dump.read_text(errors="replace"))
    if found is None:
        raise ValueError(f"{dump}: not a callgrind dump (no summary line)")
    return int(found.group(1))


class Counted:
    """A process started under `wrap(...)`: count its instructions between `start()` and `stop()`."""

    def __init__(self, pid: int, out_dir: Path) -> None:
        self.pid = pid
        self.out_dir = out_dir
        self._dumps = 0

    def _control(self, *args: str) -> None:
        done = subprocess.run(["callgrind_control", *args, str(self.pid)], capture_output=True, text=True,
                              timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"callgrind_control {' '.join(args)} {self.pid}: {done.stdout}{done.stderr}")

    def start(self) -> None:
        """Count from now on (from zero)."""
        self._control("--instr=on")
        self._control("--zero")

    def stop(self) -> int:
        """Stop counting; the instructions executed since `start()`."""
        self._control("--dump")
        self._control("--instr=off")
        self._dumps += 1
        dump = self.out_dir / f"cg.{self.pid}.{self._dumps}"
        if not dump.exists():
            raise RuntimeError(f"callgrind wrote no dump {dump}")
        return instructions_in(dump)
