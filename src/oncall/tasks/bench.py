"""Tasks: bench: run the benchmarks in bench/ and relay their figures."""

from __future__ import annotations

from invoke import Context, task

from oncall.tasks._common import DEBUG_HELP, boundary, exit_with, output_for, project_root, seconds_flag


@task(
    help={
        "only": "run one benchmark, by name (startup) or file (bench/bench_startup.py)",
        "timeout": "how long each benchmark may run before it is stopped: 300s, 10m (default 300s)",
        "debug": DEBUG_HELP,
    }
)
def bench(ctx: Context, only: str | None = None, timeout: str = "300s", debug: bool = False) -> None:
    """Run the benchmarks (bench/bench_*.py); exit 1 if any figure misses its target.

    Each script runs with this interpreter and prints one line per figure: ours, the baseline run
    side by side, the ratio and the target. Their lines are relayed as they come.
    """
    out = output_for(False)
    with boundary(out, task="bench", debug=debug):
        from oncall.benchrun import discover, run_script

        seconds = seconds_flag(timeout, "--timeout", allow_zero=False, example="300s")
        root = project_root(ctx)
        runs = []
        for script in discover(root / "bench", only):
            out.print(f"== {script.relative_to(root)}", markup=False)
            runs.append(
                run_script(script, cwd=root, timeout=seconds, relay=lambda s: out.print(s, markup=False))
            )
        problems = []
        for run in runs:
            if run.code is None:
                problems.append(f"{run.name}: stopped after {seconds:g} s")
            elif run.code != 0 and not run.missed:
                problems.append(f"{run.name}: exited with {run.code}")
            problems.extend(f"{run.name}: {line.split(':', 1)[0]} missed its target" for line in run.missed)
        summary = ", ".join(f"{r.name} {'ok' if r.ok else 'MISS'} ({r.seconds:.0f} s)" for r in runs)
        out.print(f"== {summary}", markup=False)
    exit_with(1 if problems else 0, "; ".join(problems))
