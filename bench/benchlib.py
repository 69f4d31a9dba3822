"""Shared bench helpers: medians and the one-line report every figure prints.

Each figure is one line:
    <figure>: ours <median> <unit> | baseline (<name>) <median> <unit> | ratio <r> | target <op> <t> | PASS
Baselines are real tools run side by side in the same process run, never remembered numbers.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_of(fn: Callable[[], object], runs: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    return statistics.median(timed(fn) for _ in range(runs))


def interleaved_medians(a: Callable[[], object], b: Callable[[], object], runs: int) -> tuple[float, float]:
    """Medians of a and b, run alternately so that machine noise hits both alike."""
    a(), b()
    times_a, times_b = [], []
    for _ in range(runs):
        times_a.append(timed(a))
        times_b.append(timed(b))
    return statistics.median(times_a), statistics.median(times_b)


def report(
    figure: str,
    ours: float,
    baseline: float,
    baseline_name: str,
    *,
    target: float,
    unit: str = "s",
    higher_is_better: bool = False,
) -> bool:
    """Print the figure's line and return whether it meets its target ratio."""
    ratio = ours / baseline if baseline else float("inf")
    ok = ratio >= target if higher_is_better else ratio <= target
    op = ">=" if higher_is_better else "<="
    print(
        f"{figure}: ours {ours:.4f} {unit} | baseline ({baseline_name}) {baseline:.4f} {unit} | "
        f"ratio {ratio:.2f} | target {op} {target} | {'PASS' if ok else 'MISS'}",
        flush=True,
    )
    return ok


def figure(
    name: str, value: float, *, unit: str, target: float | None = None, higher_is_better: bool = False
) -> bool:
    """Print a figure that has no baseline (a count, a delay); return whether it meets its target."""
    ok = True
    suffix = ""
    if target is not None:
        ok = value >= target if higher_is_better else value <= target
        suffix = f" | target {'>=' if higher_is_better else '<='} {target} | {'PASS' if ok else 'MISS'}"
    print(f"{name}: {value:.4f} {unit}{suffix}", flush=True)
    return ok
