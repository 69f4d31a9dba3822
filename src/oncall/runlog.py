"""Run records: one JSON line per run of a task that writes, and per health run.

The run log is append-only JSON Lines (time, user, host, target, task, arguments with secrets
removed, outcome, exit code, durations). One `write()` of one line with O_APPEND keeps concurrent
runs from interleaving; every value passes through `redact_obj`. `select_runs` is what
`invoke runs` shows: the last N records, optionally of one task or target.

Besides the file, each record goes to every registered sink (`add_sink`): the task layer adds one
that shares the record in the target's database (oncall.runbook.history), so the whole team sees
it. A sink never raises; it warns on its own.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import json
import os
import socket
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from oncall.config import Target
from oncall.output import json_default
from oncall.redact import redact_obj

RunSink = Callable[[dict[str, Any]], None]
_sinks: list[RunSink] = []


def add_sink(sink: RunSink) -> None:
    """Hand every record appended from now on to `sink` as well (once per sink)."""
    if sink not in _sinks:
        _sinks.append(sink)


def remove_sink(sink: RunSink) -> None:
    if sink in _sinks:
        _sinks.remove(sink)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def append_run(
    path: Path,
    *,
    task: str,
    target: str | None,
    args: Mapping[str, Any],
    outcome: str,
    code: int,
    durations: Mapping[str, float] | None = None,
    details: Mapping[str, Any] | None = None,
    started_at: _dt.datetime | None = None,
) -> dict[str, Any]:
    """Append one record to the run log at `path` and return it (already redacted)."""
    now = _dt.datetime.now(_dt.UTC)
    record: dict[str, Any] = {
        "time": (started_at or now).isoformat(timespec="milliseconds"),
        "finished": now.isoformat(timespec="milliseconds"),
        "user": _user(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "target": target,
        "task": task,
        "args": dict(args),
        "outcome": outcome,
        "code": int(code),
        "durations": {k: round(float(v), 4) for k, v in (durations or {}).items()},
    }
    if details:
        record["details"] = dict(details)
    record = redact_obj(record)
    line = json.dumps(record, default=json_default, sort_keys=False) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    finally:
        # Shared even when the local file cannot be written (a cron job without a writable disk).
        for sink in list(_sinks):
            sink(record)
    return record


def append_run_or_warn(path: Path, warn_to: IO[str], **fields: Any) -> dict[str, Any] | None:
    """`append_run`, except that a run log that cannot be written (read-only, full, not a directory)
    only prints a warning naming the path on `warn_to`: the run's own result decides its exit code."""
    try:
        return append_run(path, **fields)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        warn_to.write(f"warning: could not write the run record to {path}: {reason}\n")
        warn_to.flush()
        return None


def record_run(
    target: Target,
    warn_to: IO[str],
    *,
    task: str,
    args: Mapping[str, Any],
    outcome: str,
    code: int,
    durations: Mapping[str, float] | None = None,
    details: Mapping[str, Any] | None = None,
    started_at: _dt.datetime | None = None,
) -> dict[str, Any] | None:
    """The one way a task records its run: in `target`'s run log, never failing the run.

    A run log that cannot be written is a warning on `warn_to` (see append_run_or_warn).
    """
    return append_run_or_warn(
        target.run_log,
        warn_to,
        task=task,
        target=target.name,
        args=args,
        outcome=outcome,
        code=code,
        durations=durations,
        details=details,
        started_at=started_at,
    )


def _parse_line(raw: bytes) -> dict[str, Any] | None:
    """One line as a record; None for a torn, foreign or non-UTF-8 line."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _records(path: Path, skipped: list[int]) -> Iterator[dict[str, Any]]:
    """Every readable record, oldest first; each unreadable line adds one to skipped[0].

    Read as bytes, line by line: one bad byte (a crash mid-write, a foreign tool) must cost one
    line, not the whole history.
    """
    if not path.exists():
        return
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.strip():
                continue
            record = _parse_line(raw)
            if record is None:
                skipped[0] += 1
            else:
                yield record


def read_runs(path: Path) -> Iterator[dict[str, Any]]:
    """Every readable record in the run log, oldest first; a torn, foreign or non-UTF-8 line is skipped."""
    return _records(path, [0])


@dataclass(frozen=True)
class RunSelection:
    """What `invoke runs` shows: the chosen records and how many lines of the log could not be read."""

    records: list[dict[str, Any]]
    skipped_lines: int


def load_runs(
    path: Path, *, last: int = 10, task: str | None = None, target: str | None = None
) -> RunSelection:
    """The newest `last` records (oldest first) matching `task` and `target` (0 means all), and the
    number of unreadable lines skipped."""
    skipped = [0]
    matching = (
        record
        for record in _records(path, skipped)
        if (task is None or record.get("task") == task) and (target is None or record.get("target") == target)
    )
    records = list(matching) if last <= 0 else list(deque(matching, maxlen=last))
    return RunSelection(records, skipped[0])


def select_runs(
    path: Path, *, last: int = 10, task: str | None = None, target: str | None = None
) -> list[dict[str, Any]]:
    """The newest `last` records (oldest first) matching `task` and `target`; 0 means all."""
    return load_runs(path, last=last, task=task, target=target).records


def run_duration(record: Mapping[str, Any]) -> float | None:
    """Seconds a recorded run took: its `total` (or `total_s`) duration, else finished minus started."""
    durations = record.get("durations")
    if isinstance(durations, dict):
        for key in ("total", "total_s"):
            if isinstance(durations.get(key), int | float):
                return float(durations[key])
    try:
        started = _dt.datetime.fromisoformat(str(record["time"]))
        finished = _dt.datetime.fromisoformat(str(record["finished"]))
    except (KeyError, ValueError):
        return None
    return (finished - started).total_seconds()
