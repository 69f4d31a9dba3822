"""Wait, without queuing, until no other session holds a lock that conflicts with what a migration needs.

The classic outage: an `ALTER TABLE` waits behind a long transaction, and every query of the
application queues behind the ALTER (PostgreSQL grants locks in queue order). A short
`lock_timeout` alone only shortens each stall, and every blind retry re-queues the application.

So before each attempt, oncall reads `pg_locks` from the migration's own connection, outside any
transaction (holding nothing, queued behind nothing), until no other session holds, or waits for,
a lock on the file's tables that conflicts with the lock each statement needs (a lock held by a
transaction younger than YOUNG_SECONDS is not waited for: the application's own short queries).
Only then is the statement sent, with a short `lock_timeout` as the backstop for the race between
the last look and the attempt. The wait is bounded by the target's `table_lock_wait` seconds per
migration; past it, Refused (exit 4) names the session, its query and how long its transaction has
been open.

The lock a statement needs is read from its parse tree (PostgreSQL's documentation, "Table-Level
Locks"); where a command takes different locks for different subcommands the strongest is assumed,
so the wait can be longer than needed, never shorter. A DO block's body is opaque: only the
`lock_timeout` backstop guards it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oncall import retry
from oncall.errors import BadInput, Refused
from oncall.migrations.statements import Statement
from oncall.redact import redact

if TYPE_CHECKING:
    import psycopg

POLL_SECONDS = 0.025
# A conflicting lock held by a transaction younger than this is not waited for: on a busy table
# some application query holds ACCESS SHARE at almost every instant, and such a query ends within
# milliseconds. If it does not, the attempt's short lock_timeout ends the attempt (the backstop),
# and by the next look the transaction is old enough to be waited for.
YOUNG_SECONDS = 0.05
FIRST_PROGRESS_SECONDS = 1.0
PROGRESS_EVERY_SECONDS = 5.0
RETRY_PAUSE_CAP_SECONDS = 0.1
_RETRY_PAUSE = retry.Backoff(initial=RETRY_PAUSE_CAP_SECONDS, cap=RETRY_PAUSE_CAP_SECONDS)
QUERY_WIDTH = 120

ACCESS_SHARE = "AccessShareLock"
ROW_SHARE = "RowShareLock"
ROW_EXCLUSIVE = "RowExclusiveLock"
SHARE_UPDATE_EXCLUSIVE = "ShareUpdateExclusiveLock"
SHARE = "ShareLock"
SHARE_ROW_EXCLUSIVE = "ShareRowExclusiveLock"
EXCLUSIVE = "ExclusiveLock"
ACCESS_EXCLUSIVE = "AccessExclusiveLock"
MODES = (
    ACCESS_SHARE,
    ROW_SHARE,
    ROW_EXCLUSIVE,
    SHARE_UPDATE_EXCLUSIVE,
    SHARE,
    SHARE_ROW_EXCLUSIVE,
    EXCLUSIVE,
    ACCESS_EXCLUSIVE,
)

# The conflict table of PostgreSQL's documentation: requested mode -> held modes it waits for.
CONFLICTS: dict[str, frozenset[str]] = {
    ACCESS_SHARE: frozenset({ACCESS_EXCLUSIVE}),
    ROW_SHARE: frozenset({EXCLUSIVE, ACCESS_EXCLUSIVE}),
    ROW_EXCLUSIVE: frozenset({SHARE, SHARE_ROW_EXCLUSIVE, EXCLUSIVE, ACCESS_EXCLUSIVE}),
    SHARE_UPDATE_EXCLUSIVE: frozenset(
        {SHARE_UPDATE_EXCLUSIVE, SHARE, SHARE_ROW_EXCLUSIVE, EXCLUSIVE, ACCESS_EXCLUSIVE}
    ),
    SHARE: frozenset(
        {ROW_EXCLUSIVE, SHARE_UPDATE_EXCLUSIVE, SHARE_ROW_EXCLUSIVE, EXCLUSIVE, ACCESS_EXCLUSIVE}
    ),
    SHARE_ROW_EXCLUSIVE: frozenset(set(MODES) - {ACCESS_SHARE, ROW_SHARE}),
    EXCLUSIVE: frozenset(set(MODES) - {ACCESS_SHARE}),
    ACCESS_EXCLUSIVE: frozenset(MODES),
}

# LOCK TABLE's mode number in the parse tree (lockdefs.h) -> pg_locks' name.
_LOCK_STMT_MODES = dict(enumerate(MODES, start=1))

# The lock taken on the statement's own table, by parse node; other tables it names (a foreign
# key's referenced table, a SELECT's sources) get the mode of _OTHER_MODE, else ACCESS SHARE.
_TARGET_MODE = {
    "AlterTableStmt": ACCESS_EXCLUSIVE,  # ADD COLUMN, SET NOT NULL, ...; a few subcommands need less
    "RenameStmt": ACCESS_EXCLUSIVE,
    "TruncateStmt": ACCESS_EXCLUSIVE,
    "ClusterStmt": ACCESS_EXCLUSIVE,
    "ReindexStmt": ACCESS_EXCLUSIVE,
    "VacuumStmt": ACCESS_EXCLUSIVE,  # VACUUM FULL; plain VACUUM/ANALYZE need less
    "CreateTrigStmt": SHARE_ROW_EXCLUSIVE,
    "InsertStmt": ROW_EXCLUSIVE,
    "UpdateStmt": ROW_EXCLUSIVE,
    "DeleteStmt": ROW_EXCLUSIVE,
    "MergeStmt": ROW_EXCLUSIVE,
    "ViewStmt": ACCESS_EXCLUSIVE,  # CREATE OR REPLACE VIEW on an existing view
}
_OTHER_MODE = {
    "AlterTableStmt": SHARE_ROW_EXCLUSIVE,  # ADD FOREIGN KEY ... REFERENCES other
    "CreateStmt": SHARE_ROW_EXCLUSIVE,  # REFERENCES other; PARTITION OF / INHERITS: see below
}
_DROPPABLE = {
    "OBJECT_TABLE",
    "OBJECT_INDEX",
    "OBJECT_VIEW",
    "OBJECT_MATVIEW",
    "OBJECT_SEQUENCE",
    "OBJECT_FOREIGN_TABLE",
}


@dataclass(frozen=True)
class LockNeed:
    """A lock a statement will request: on which relation (schema may be None) and in which mode."""

    schema: str | None
    name: str
    mode: str


def _rangevars(value: Any) -> Iterable[dict[str, Any]]:
    """Every RangeVar (a table reference) in a parse tree, depth first."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("@") == "RangeVar":
                yield item
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))


def _need(rangevar: dict[str, Any], mode: str) -> LockNeed:
    return LockNeed(rangevar.get("schemaname") or None, str(rangevar.get("relname", "")), mode)


def _dropped(node: dict[str, Any]) -> list[LockNeed]:
    """DROP TABLE/INDEX/VIEW ... names its objects as lists of strings, not RangeVars."""
    if node.get("removeType") not in _DROPPABLE:
        return []
    # DROP INDEX CONCURRENTLY takes SHARE UPDATE EXCLUSIVE on the table, ACCESS EXCLUSIVE otherwise.
    mode = SHARE_UPDATE_EXCLUSIVE if node.get("concurrent") else ACCESS_EXCLUSIVE
    needs = []
    for obj in node.get("objects") or ():
        parts = [str(i.get("sval", "")) for i in obj.get("items") or () if isinstance(i, dict)]
        if parts and parts[-1]:
            needs.append(LockNeed(parts[-2] if len(parts) > 1 else None, parts[-1], mode))
    return needs


def _own_mode(statement: Statement) -> str | None:
    """The mode taken on the statement's own table, or None for a table it creates."""
    node, kind = statement.node, statement.kind
    if kind == "IndexStmt":
        return SHARE_UPDATE_EXCLUSIVE if node.get("concurrent") else SHARE
    if kind == "LockStmt":
        return _LOCK_STMT_MODES.get(int(node.get("mode") or 8), ACCESS_EXCLUSIVE)
    if kind in ("CreateStmt", "CreateTableAsStmt", "CreateSeqStmt"):
        return None
    return _TARGET_MODE.get(kind, ACCESS_SHARE)


def required_locks(statement: Statement) -> list[LockNeed]:
    """The table locks a statement will request, by relation, from its parse tree."""
    node, kind = statement.node, statement.kind
    if kind == "DropStmt":
        return _dropped(node)
    own = _own_mode(statement)
    targets = [node.get("relation"), node.get("view")]
    if kind in ("TruncateStmt", "LockStmt"):
        targets.extend(node.get("relations") or ())
    other = _OTHER_MODE.get(kind, ACCESS_SHARE)
    if kind == "CreateStmt" and (node.get("inhRelations") or node.get("partbound")):
        other = ACCESS_EXCLUSIVE  # attaching a child locks the parent
    needs = []
    for rangevar in _rangevars(node):
        is_target = any(rangevar is t for t in targets)
        mode = own if is_target else other
        if mode is not None and rangevar.get("relname"):
            needs.append(_need(rangevar, mode))
    return needs


@dataclass(frozen=True)
class Blocker:
    """Another session's lock that conflicts with what we need: held (granted) or waited for."""

    pid: int | None
    table: str
    mode: str
    granted: bool
    application_name: str | None
    state: str | None
    query: str | None
    age_s: float | None

    @property
    def worth_waiting_for(self) -> bool:
        """A queued request, or a lock held by a transaction that is not young (or of unknown age)."""
        return not self.granted or self.age_s is None or self.age_s >= YOUNG_SECONDS

    def describe(self) -> str:
        """`pid 1234 holding AccessShareLock on cases (report job, idle in transaction, ...: 'SELECT')`."""
        if self.pid is None:
            return f"a prepared transaction holding {self.mode} on {self.table} (see pg_prepared_xacts)"
        verb = "holding" if self.granted else "waiting for"
        return f"pid {self.pid} {verb} {self.mode} on {self.table} ({self.activity()})"

    def activity(self) -> str:
        app = self.application_name or "no application_name"
        if self.state is None:
            # pg_stat_activity hides other roles' sessions from roles without pg_read_all_stats.
            return f"{app}, its query is hidden from this role (grant pg_read_all_stats to see it)"
        age = f"transaction open {self.age_s:.1f} s" if self.age_s is not None else "no transaction"
        # Redact before cutting, so that a cut cannot leave part of a secret behind.
        query = " ".join(redact(self.query or "").split())
        if len(query) > QUERY_WIDTH:
            query = query[: QUERY_WIDTH - 1] + "…"
        return f"{app}, {self.state}, {age}: {query!r}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "table": self.table,
            "mode": self.mode,
            "granted": self.granted,
            "application_name": self.application_name,
            "state": self.state,
            "query": redact(self.query or "") if self.query is not None else None,
            "age_s": round(self.age_s, 3) if self.age_s is not None else None,
        }


# Every relation lock of this database on the wanted relations (an index's table counts too: DROP
# INDEX locks both), with its session; which of them conflict is decided in Python by CONFLICTS.
_LOCKS_SQL = """
WITH wanted AS (
  SELECT to_regclass(CASE WHEN w.nsp = '' THEN quote_ident(w.rel)
                          ELSE quote_ident(w.nsp) || '.' || quote_ident(w.rel) END) AS oid, w.need
  FROM unnest(%s::text[], %s::text[], %s::text[]) AS w(nsp, rel, need)
), rels AS (
  SELECT oid, need FROM wanted WHERE oid IS NOT NULL
  UNION
  SELECT i.indrelid, w.need FROM wanted w JOIN pg_index i ON i.indexrelid = w.oid
)
SELECT l.pid, c.relname, l.mode, l.granted, r.need, a.application_name, a.state, a.query,
       extract(epoch FROM clock_timestamp() - a.xact_start)::float8
FROM pg_locks l
JOIN rels r ON r.oid = l.relation
JOIN pg_class c ON c.oid = l.relation
LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.pid IS DISTINCT FROM pg_backend_pid()
"""


def conflicting_sessions(conn: psycopg.Connection[Any], needs: Sequence[LockNeed]) -> list[Blocker]:
    """Other sessions' locks (held or requested) that conflict with `needs`; longest-open first."""
    if not needs:
        return []
    rows = conn.execute(
        _LOCKS_SQL,
        ([n.schema or "" for n in needs], [n.name for n in needs], [n.mode for n in needs]),
    ).fetchall()
    found: dict[tuple[Any, ...], Blocker] = {}
    for pid, table, mode, granted, need, app, state, query, age in rows:
        if mode in CONFLICTS.get(need, frozenset(MODES)):
            found[(pid, table, mode, granted)] = Blocker(pid, table, mode, granted, app, state, query, age)
    # Name first the session that holds a lock and has been open longest: the one to ask about.
    return sorted(found.values(), key=lambda b: (not b.granted, -(b.age_s or 0.0)))


def check_budget(seconds: float) -> float:
    """`table_lock_wait` as a number of seconds; BadInput for negative, NaN or infinite values."""
    if not math.isfinite(seconds) or seconds < 0:
        raise BadInput(
            f"table_lock_wait {seconds!r} is not a number of seconds >= 0",
            "set oncall.table_lock_wait (INVOKE_ONCALL_TABLE_LOCK_WAIT) to e.g. 60; 0 turns the wait off",
        )
    return seconds


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


@dataclass
class LockWaiter:
    """One migration's waiting for table locks: the budget, the time spent, and whom it waited for.

    `budget` 0 turns the wait off (blind attempts with lock_timeout and backoff, as before).
    """

    conn: psycopg.Connection[Any]
    budget: float
    report: Callable[[str], None]
    waited_s: float = 0.0
    pids: list[int] = field(default_factory=list)
    last: Blocker | None = None

    @property
    def enabled(self) -> bool:
        return self.budget > 0

    def wait_until_clear(self, statements: Sequence[Statement], where: str) -> None:
        """Return once no other session holds or waits for a conflicting lock; Refused past the budget."""
        if not self.enabled:
            return
        needs = [need for statement in statements for need in required_locks(statement)]
        if not needs:
            return
        started = time.monotonic()
        next_progress = FIRST_PROGRESS_SECONDS
        while True:
            blockers = [b for b in self._look(needs) if b.worth_waiting_for]
            waited = time.monotonic() - started
            if not blockers:
                self.waited_s += waited
                return
            self._remember(blockers[0])
            if self.waited_s + waited >= self.budget:
                self.waited_s += waited
                raise self.refusal(where)
            if waited >= next_progress:
                left = self.budget - self.waited_s - waited
                self.report(
                    f"  {where}: waiting, without queuing, for {blockers[0].describe()}; "
                    f"giving up in {left:.0f} s"
                )
                next_progress = waited + PROGRESS_EVERY_SECONDS
            time.sleep(POLL_SECONDS)

    def _look(self, needs: Sequence[LockNeed]) -> list[Blocker]:
        import psycopg

        try:
            return conflicting_sessions(self.conn, needs)
        except psycopg.Error as exc:
            # Without pg_locks the attempt still has lock_timeout as its guard; say so and go on.
            self.report(f"  could not read pg_locks ({exc.sqlstate}); attempting with lock_timeout only")
            return []

    def _remember(self, blocker: Blocker) -> None:
        self.last = blocker
        if blocker.pid is not None and blocker.pid not in self.pids:
            self.pids.append(blocker.pid)

    def lost_attempt(self, seconds: float) -> None:
        """Time an attempt spent queued until lock_timeout ended it counts as waiting, not DDL."""
        self.waited_s += seconds

    def retry_pause(self) -> float:
        """After a lock_timeout: a short jittered pause, then the wait above (not a long backoff)."""
        return _RETRY_PAUSE.pause(0)

    def blocked_by(self, statements: Sequence[Statement]) -> str:
        """`; blocked by pid 1234 holding ...` for a retry line, or '' when nobody holds a lock now."""
        needs = [need for statement in statements for need in required_locks(statement)]
        blockers = self._look(needs) if needs else []
        if not blockers:
            return ""
        self._remember(blockers[0])
        return f"; blocked by {blockers[0].describe()}"

    def summary(self) -> str:
        """` (waited 9.8 s for locks held by pid 1234)` for the applied line, or '' without waiting."""
        if not self.pids or self.waited_s <= 0:
            return ""
        who = ", ".join(str(p) for p in self.pids[:3]) + (", ..." if len(self.pids) > 3 else "")
        pids = "pids" if len(self.pids) > 1 else "pid"
        return f" (waited {_seconds(self.waited_s)} for locks held by {pids} {who})"

    def refusal(self, where: str) -> Refused:
        blocker = self.last
        who = blocker.describe() if blocker else "another session"
        end = (
            f"SELECT pg_terminate_backend({blocker.pid})"
            if blocker and blocker.pid
            else "COMMIT PREPARED or ROLLBACK PREPARED it"
        )
        return Refused(
            f"{where}: gave up after waiting {_seconds(self.waited_s)} (table_lock_wait "
            f"{self.budget:g} s) for {who}; it was not sent",
            f"wait for that session to finish, or end it: {end}; then rerun migrate "
            f"(INVOKE_ONCALL_TABLE_LOCK_WAIT=300 waits longer)",
            blockers=[blocker.as_dict()] if blocker else [],
        )


__all__ = [
    "CONFLICTS",
    "Blocker",
    "LockNeed",
    "LockWaiter",
    "check_budget",
    "conflicting_sessions",
    "required_locks",
]
