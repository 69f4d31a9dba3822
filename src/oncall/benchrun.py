"""Run the benchmarks in bench/: each `bench_<area>.py` with this interpreter, its lines relayed live.

A benchmark prints one line per figure (bench/benchlib.py); a line ending in `| MISS` is a figure
that missed its target. A run misses when any figure missed, or when a script failed or outlived
its time limit. docs/bench.md describes the convention.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from oncall.errors import BadInput

MISS_MARK = "| MISS"


@dataclass
class BenchRun:
    """One script's outcome: its exit code, its figure lines and how many missed."""

    name: str
    code: int | None = None  # None: killed at the time limit
    lines: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def missed(self) -> list[str]:
        return [line for line in self.lines if line.rstrip().endswith(MISS_MARK)]

    @property
    def ok(self) -> bool:
        return self.code == 0 and not self.missed


def bench_name(path: Path) -> str:
    return path.stem.removeprefix("bench_")


def discover(bench_dir: Path, only: str | None = None) -> list[Path]:
    """bench_*.py in `bench_dir`, in name order; `only` picks one by name (startup) or file name."""
    scripts = sorted(bench_dir.glob("bench_*.py"))
    if not scripts:
        raise BadInput(f"no bench_*.py in {bench_dir}", "benchmarks live in bench/bench_<area>.py")
    if only is None:
        return scripts
    wanted = Path(only).name.removesuffix(".py").removeprefix("bench_")
    chosen = [s for s in scripts if bench_name(s) == wanted]
    if not chosen:
        known = ", ".join(bench_name(s) for s in scripts)
        raise BadInput(f"no benchmark named {only!r} in {bench_dir}", f"known benchmarks: {known}")
    return chosen


def run_script(script: Path, *, cwd: Path, timeout: float, relay: Callable[[str], None]) -> BenchRun:
    """Run one script, relaying each line as it comes; kill it at `timeout` seconds."""
    result = BenchRun(bench_name(script))
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None  # stdout=PIPE above
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            result.lines.append(line)
            relay(line)
        code = proc.wait()
    finally:
        timer.cancel()
    result.seconds = time.monotonic() - started
    result.code = None if code < 0 and result.seconds >= timeout else code
    return result
