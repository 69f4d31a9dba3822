"""Startup: `invoke --list` of our collection against an Invoke collection with one empty task.

Both sides are the same `invoke` program of this interpreter, run as subprocesses, alternately
(so machine noise hits both alike), median of RUNS each. The baseline is a temporary directory
whose tasks.py holds one task that does nothing.

Invoke itself never writes bytecode for what it imports (it sets sys.dont_write_bytecode unless
given --write-pyc), so two conditions are measured, each with its own PYTHONPYCACHEPREFIX in a
temporary directory (the work tree's caches are neither used nor touched):

- cached: a first `invoke --write-pyc --list` left bytecode for everything, as for a pip-installed
  package or a checkout whose code ran once under plain Python (tests). Target ratio <= 1.25.
- source: bytecode only for the standard library and Invoke; our modules are compiled from source
  on every run, as Invoke does in a fresh editable checkout. Shown for reading, no target.

Run: /tmp/venv/bin/python bench/bench_startup.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from benchlib import figure, interleaved_medians, report

REPO = Path(__file__).resolve().parents[1]
INVOKE = str(Path(sys.executable).parent / "invoke")
RUNS = 15
TARGET = 1.25

EMPTY_TASKS = '''from invoke import task


@task
def noop(c):
    """Do nothing."""
'''


def _env(pycache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOKE_", "PYTHON"))}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def _lister(cwd: Path, env: dict[str, str], *extra: str) -> Callable[[], None]:
    def run() -> None:
        subprocess.run(
            [INVOKE, *extra, "--list"],
            cwd=cwd,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )

    return run


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="oncall-bench-startup-") as tmp:
        root = Path(tmp)
        baseline_dir = root / "one-empty-task"
        baseline_dir.mkdir()
        (baseline_dir / "tasks.py").write_text(EMPTY_TASKS)
        ok = True
        for condition, write_pyc in (("bytecode cached", True), ("project compiled from source", False)):
            env = _env(root / ("pyc-" + condition.split()[0]))
            # The warm-up fills this condition's cache: everything with --write-pyc, otherwise
            # only what Python imports before Invoke switches bytecode writing off.
            warm = ("--write-pyc",) if write_pyc else ()
            _lister(REPO, env, *warm)()
            _lister(baseline_dir, env, *warm)()
            ours, baseline = interleaved_medians(_lister(REPO, env), _lister(baseline_dir, env), RUNS)
            name = f"invoke --list wall time, {condition} (median of {RUNS})"
            if write_pyc:
                ok &= report(name, ours, baseline, "invoke --list, one empty task", target=TARGET)
            else:
                figure(name + ": ratio to one empty task", ours / baseline, unit="x")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
