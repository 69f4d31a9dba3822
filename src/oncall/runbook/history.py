"""The run history the whole team shares: run records in the target's own database, besides the file.

The local run log (`.oncall/runs.jsonl`) is one engineer's; the second engineer on call cannot see
that the first one restarted the service five minutes ago. So every run record of a target is
also written to `oncall_runs` in that target's database (oncall.db.shared), and `invoke runs
--target T` and the incident report read both, merged.

Sharing never fails a run: when the database cannot be reached, or the role may not create or
write the table, one warning says so (once per process and target) and the local file remains.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oncall.config import Target
from oncall.db.connect import connect, database_url_for
from oncall.db.shared import RUNS_TABLE, insert_run, select_runs
from oncall.errors import OncallError

if TYPE_CHECKING:
    import psycopg

# A run record is shared after the run: a dead database must cost seconds, not the connect timeout.
SHARE_CONNECT_TIMEOUT = 3.0
Warn = Callable[[str], None]


def _connect(target: Target, environ: Mapping[str, str]) -> psycopg.Connection[Any]:
    url = database_url_for(target, environ=environ)
    return connect(url, connect_timeout=min(target.connect_timeout, SHARE_CONNECT_TIMEOUT))


def _cause(exc: Exception) -> str:
    if isinstance(exc, OncallError):
        return exc.cause
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None)
    sqlstate = getattr(exc, "sqlstate", None)
    return f"{primary or type(exc).__name__}" + (f" (SQLSTATE {sqlstate})" if sqlstate else "")


def _has_url(target: Target, environ: Mapping[str, str]) -> bool:
    return bool((environ.get(target.database_url_env) or "").strip())


@dataclass
class SharedHistory:
    """A run log sink (oncall.runlog.add_sink) writing this target's records to its database."""

    target: Target
    warn: Warn
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    given_up: bool = False

    def __call__(self, record: dict[str, Any]) -> None:
        import psycopg

        if self.given_up or record.get("target") != self.target.name:
            return
        if not _has_url(self.target, self.environ):
            return  # a task that needs no database (restart with only a Render key): nothing to share
        try:
            with _connect(self.target, self.environ) as conn:
                insert_run(conn, self.target.schema, record)
        except (psycopg.Error, OncallError) as exc:
            # One warning per process: a chain of tasks must not repeat it for every record.
            self.given_up = True
            self.warn(
                f"warning: run record not shared in {self.target.schema}.{RUNS_TABLE} of {self.target.name}: "
                f"{_cause(exc)}\n  hint: the local run log has it; GRANT CREATE on the schema (first use) "
                f"or INSERT, SELECT on {RUNS_TABLE} to this role to share it with the team"
            )


def shared_runs(
    target: Target,
    *,
    environ: Mapping[str, str] | None = None,
    task: str | None = None,
    last: int = 10,
    since: _dt.datetime | None = None,
    until: _dt.datetime | None = None,
    warn: Warn | None = None,
) -> list[dict[str, Any]]:
    """The target's shared records, newest first; [] with a warning when they cannot be read."""
    import psycopg

    env = os.environ if environ is None else environ
    if not _has_url(target, env):
        return []
    try:
        with _connect(target, env) as conn:
            return select_runs(
                conn,
                target.schema,
                target=target.name,
                task=task,
                last=last,
                since=since.isoformat() if since else None,
                until=until.isoformat() if until else None,
            )
    except (psycopg.Error, OncallError) as exc:
        if warn is not None:
            warn(f"warning: shared run history of {target.name} not read: {_cause(exc)}")
        return []


def _identity(record: Mapping[str, Any]) -> tuple[Any, ...]:
    return (record.get("time"), record.get("host"), record.get("pid"), record.get("task"))


def _when(record: Mapping[str, Any]) -> _dt.datetime:
    try:
        moment = _dt.datetime.fromisoformat(str(record.get("time")))
    except ValueError:
        return _dt.datetime.min.replace(tzinfo=_dt.UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.UTC)


def merge_runs(*sources: Iterable[dict[str, Any]], last: int = 0) -> list[dict[str, Any]]:
    """Records from the local log and the database as one list, each run once, oldest first.

    The same run appears in both when it was written here: the start time, host, pid and task
    name it.
    """
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for source in sources:
        for record in source:
            seen.setdefault(_identity(record), record)
    ordered = sorted(seen.values(), key=_when)
    return ordered[-last:] if last > 0 else ordered
