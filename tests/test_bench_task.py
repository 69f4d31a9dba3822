"""`invoke bench`: runs bench/bench_*.py, relays their lines, exit 1 when a figure misses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from doctor_support import make_project, target_entry
from fix_invoke import RunInvoke

PASS_LINE = "alpha figure: ours 1.0000 s | baseline (x) 1.0000 s | ratio 1.00 | target <= 1.25 | PASS"
MISS_LINE = "beta figure: ours 2.0000 s | baseline (x) 1.0000 s | ratio 2.00 | target <= 1.25 | MISS"


def _bench_project(tmp_path: Path, scripts: dict[str, str]) -> Path:
    project = make_project(tmp_path / "proj", {"target": "t", "targets": {"t": target_entry()}})
    (project / "bench").mkdir()
    for name, body in scripts.items():
        (project / "bench" / f"bench_{name}.py").write_text(body)
    return project


def _printing(line: str, code: int = 0) -> str:
    return f"import sys\nprint({line!r})\nsys.exit({code})\n"


def test_all_benchmarks_run_and_lines_are_relayed(run_invoke: RunInvoke, tmp_path: Path) -> None:
    """Every bench_*.py runs in name order; its lines appear on stdout; all PASS: exit 0."""
    project = _bench_project(tmp_path, {"b": _printing(PASS_LINE), "a": "print('from a')\n"})
    result = run_invoke("bench", cwd=project)
    assert result.code == 0
    assert result.stdout.index("from a") < result.stdout.index(PASS_LINE)
    assert "== a ok" in result.stdout


def test_a_missed_figure_fails_the_run(run_invoke: RunInvoke, tmp_path: Path) -> None:
    """A line ending in '| MISS': exit 1, the figure named in the exit message."""
    project = _bench_project(tmp_path, {"a": _printing(PASS_LINE), "b": _printing(MISS_LINE, 1)})
    result = run_invoke("bench", cwd=project)
    assert result.code == 1
    assert MISS_LINE in result.stdout
    assert result.stderr.strip().splitlines()[-1] == "b: beta figure missed its target"


def test_only_runs_the_named_benchmark(run_invoke: RunInvoke, tmp_path: Path) -> None:
    """--only NAME (or its file name) runs that script alone."""
    project = _bench_project(tmp_path, {"a": _printing(PASS_LINE), "b": _printing(MISS_LINE, 1)})
    by_name = run_invoke("bench", "--only", "a", cwd=project)
    by_file = run_invoke("bench", "--only", "bench/bench_a.py", cwd=project)
    assert (by_name.code, by_file.code) == (0, 0)
    assert MISS_LINE not in by_name.stdout + by_file.stdout


def test_unknown_benchmark_is_bad_input(run_invoke: RunInvoke, tmp_path: Path) -> None:
    """--only with no such script: exit 2 listing the known ones."""
    project = _bench_project(tmp_path, {"a": _printing(PASS_LINE), "b": _printing(PASS_LINE)})
    result = run_invoke("bench", "--only", "zeta", cwd=project)
    lines = [line.strip() for line in result.stderr.strip().splitlines()]
    assert result.code == 2
    assert lines[-1] == "hint: known benchmarks: a, b"


def test_a_crashing_benchmark_fails_the_run(run_invoke: RunInvoke, tmp_path: Path) -> None:
    """A script that exits non-zero without a MISS line: exit 1 naming it and its code."""
    project = _bench_project(tmp_path, {"a": "raise SystemExit(3)\n"})
    result = run_invoke("bench", cwd=project)
    assert result.code == 1
    assert result.stderr.strip().splitlines()[-1] == "a: exited with 3"


def test_a_benchmark_over_its_time_limit_is_stopped(run_invoke: RunInvoke, tmp_path: Path) -> None:
    """--timeout stops a script that runs too long: exit 1, 'stopped after N s'."""
    project = _bench_project(
        tmp_path, {"slow": "import time\nprint('started', flush=True)\ntime.sleep(60)\n"}
    )
    result = run_invoke("bench", "--timeout", "1", cwd=project)
    assert result.code == 1
    assert "started" in result.stdout
    assert result.stderr.strip().splitlines()[-1] == "slow: stopped after 1 s"


def test_no_benchmarks_is_bad_input(run_invoke: RunInvoke, tmp_path: Path) -> None:
    """A project without bench/bench_*.py: exit 2."""
    project = _bench_project(tmp_path, {})
    result = run_invoke("bench", cwd=project)
    assert result.code == 2
    assert "no bench_*.py in" in result.stderr


def test_loading_the_task_collection_imports_no_heavy_library() -> None:
    """Importing oncall.tasks (what `invoke --list` does) loads none of rich, httpx, psycopg, pglast."""
    program = (
        "import sys, oncall.tasks\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'rich', 'httpx', 'psycopg', 'pglast'}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.strip() == "[]"
