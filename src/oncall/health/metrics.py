"""Health results as Prometheus text exposition, for node-exporter's textfile collector.

The names follow blackbox_exporter's `probe_success` / `probe_duration_seconds` vocabulary under
our own prefix, one series per (target, check). A skipped check has no success or duration sample
(it did not run) but a `..._skipped 1`, so "absent" is never confused with "failing"; the target's
`oncall_health_success` carries a `skipped` label naming the checks that did not run, so a target
whose Render check was skipped is never counted as fully checked. All samples of
one family are written together, as the format requires, even with several targets. The file is
replaced in one rename (`oncall.atomicfile`), so the collector never reads half a file.

Alert on it in Prometheus with a `for:` clause (the consecutive-failure threshold lives there, not
in a one-shot CLI), e.g. `oncall_health_check_success == 0` for 10m.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from oncall.atomicfile import write_atomic
from oncall.health.model import SKIP, TargetHealth

PREFIX = "oncall_health"

_FAMILIES: tuple[tuple[str, str], ...] = (
    ("check_success", "1 if the health check passed, 0 if it failed (absent when skipped)."),
    ("check_duration_seconds", "Seconds the health check took (absent when skipped)."),
    ("check_skipped", "1 if the health check could not run for this target and was skipped."),
    ("success", "1 if no health check of the target failed; label skipped names those that did not run."),
    ("exit_code", "Exit code of the health run for the target (0 healthy; see DESIGN.md)."),
    ("duration_seconds", "Seconds the whole health run for the target took."),
    ("last_run_timestamp_seconds", "Unix time at which the health run for the target finished."),
)


def escape_label(value: str) -> str:
    """Escape a label value as the exposition format requires: backslash, double quote, newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    inner = ",".join(f'{key}="{escape_label(value)}"' for key, value in labels.items())
    return "{" + inner + "}"


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def format_metrics(results: Sequence[TargetHealth]) -> str:
    """The text exposition of one health run over one or more targets."""
    samples: dict[str, list[str]] = {name: [] for name, _ in _FAMILIES}
    for health in results:
        for check in health.checks:
            labels = _labels(target=health.target, check=check.name)
            ran = check.status != SKIP
            if ran:
                samples["check_success"].append(f"{labels} {1 if check.status == 'pass' else 0}")
                samples["check_duration_seconds"].append(f"{labels} {_number(round(check.duration, 6))}")
            samples["check_skipped"].append(f"{labels} {0 if ran else 1}")
        target = _labels(target=health.target)
        # A skipped check is not a passing one: the series says which did not run (issue 17).
        skipped = ",".join(c.name for c in health.checks if c.status == SKIP)
        success = _labels(target=health.target, skipped=skipped)
        samples["success"].append(f"{success} {1 if health.ok else 0}")
        samples["exit_code"].append(f"{target} {int(health.code)}")
        samples["duration_seconds"].append(f"{target} {_number(round(health.duration, 6))}")
        samples["last_run_timestamp_seconds"].append(f"{target} {_number(round(health.finished_ts, 3))}")
    lines: list[str] = []
    for name, help_text in _FAMILIES:
        if not samples[name]:
            continue
        metric = f"{PREFIX}_{name}"
        lines.append(f"# HELP {metric} {help_text}")
        lines.append(f"# TYPE {metric} gauge")
        lines.extend(f"{metric}{sample}" for sample in samples[name])
    return "\n".join(lines) + "\n"


def write_textfile(path: Path, results: Sequence[TargetHealth]) -> None:
    """Write the metrics for `results` to `path`, replacing the previous file atomically."""
    write_atomic(path, format_metrics(results))
