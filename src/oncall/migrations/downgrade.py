"""rollback-migration: run the down SQL of the last applied migrations, newest first.

Only formats that keep down SQL beside the up SQL can roll back (diesel `down.sql`,
golang-migrate `.down.sql`, dbmate's `-- migrate:down` section); the others say so (exit 2)
before connecting. Each down runs in its own transaction, sent as one round trip with the same
`SET LOCAL lock_timeout / statement_timeout` as migrate, together with the removal of the
migration's rows from both ledgers (oncall_migrations and the tool's own table, which is moved
back exactly as the tool's own rollback moves it). The same migration lock and production guard
as migrate apply; `--dry-run` prints exactly that SQL and changes nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oncall import retry
from oncall.config import Target
from oncall.db.connect import DatabaseURL, connect, database_url_for
from oncall.db.errors import Kind, kind_of
from oncall.errors import BadInput, OncallError, Refused
from oncall.migrations.alembic_heads import Op, RevisionGraph, apply_ops, moves_sql
from oncall.migrations.common import (
    database_error,
    read_only_state,
    rollback,
    say,
    touched,
)
from oncall.migrations.files import LedgerState, Migration, discover, down_sql_of, find, revision_graph
from oncall.migrations.ledger import delete_row_sql, set_sql
from oncall.migrations.lock import LockHolder, migration_lock
from oncall.migrations.sources.ledgers import Recordable, ToolLedger, ledger_for
from oncall.output import Output
from oncall.runlog import record_run
from oncall.safety import guard_production, refuse_unattended
from oncall.status import Status

if TYPE_CHECKING:
    import psycopg

WORK_APPLICATION_NAME = "oncall rollback-migration"


@dataclass
class RollbackStep:
    """One applied migration to undo, and the single transaction that undoes it."""

    migration: Migration
    sql: str

    def as_dict(self, *, with_sql: bool) -> dict[str, Any]:
        doc: dict[str, Any] = {"version": self.migration.version, "down": str(self.migration.path)}
        if with_sql:
            doc["sql"] = self.sql
        return doc


@dataclass
class RollbackResult:
    ok: bool
    code: int
    target: str
    where: str
    dry_run: bool
    steps: list[RollbackStep] = field(default_factory=list)
    rolled_back: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "code": self.code,
            "target": self.target,
            "where": self.where,
            "dry_run": self.dry_run,
            "planned": [s.migration.version for s in self.steps],
            "steps": [s.as_dict(with_sql=self.dry_run) for s in self.steps],
            "rolled_back": self.rolled_back,
            "duration_s": round(self.duration_s, 3),
        }


class AlembicVersionBack(ToolLedger):
    """format: alembic: the down SQL comes from `alembic downgrade A:B --sql`, and alembic_version
    moves back to the parent revision as `alembic downgrade` moves it."""

    format = "alembic"
    table_name = "alembic_version"
    has_downs = True

    def forget_sql(self, migration: Recordable, previous: Recordable | None) -> str:
        assert isinstance(migration, Migration)
        revision = migration.revision or migration.version
        to = migration.down_revision
        ops = [Op("delete", revision)] if to is None else [Op("update", revision, to)]
        return moves_sql(self.schema, [revision], ops, expect=None)


def tool_ledger_with_downs(target: Target, migrations: list[Migration]) -> ToolLedger:
    """The format's ledger adapter; BadInput (exit 2) when the format keeps no down SQL."""
    fmt = migrations[0].tool.format if migrations and migrations[0].tool else "oncall"
    adapter = AlembicVersionBack(target.schema) if fmt == "alembic" else ledger_for(fmt, target.schema)
    if adapter is None or not adapter.has_downs:
        raise BadInput(
            f"format {fmt} has no down migrations ({target.migrations_dir}): nothing to roll back with",
            "undo the change with a new forward migration; down SQL is read only from diesel down.sql, "
            "golang-migrate .down.sql, dbmate -- migrate:down and Alembic's downgrade()",
        )
    return adapter


def to_undo(state: LedgerState, migrations: list[Migration], to: str | None) -> list[Migration]:
    """Applied migrations after `to` (default: only the last applied one), newest first."""
    applied = [m for m in migrations if m in state.applied]
    if to is None:
        return applied[-1:]
    keep = find(migrations, to)
    if keep not in state.applied:
        raise BadInput(
            f"--to {to}: {keep.version} is not applied, so nothing can be rolled back to it",
            "pass the last migration to keep (invoke status lists the applied ones)",
        )
    limit = migrations.index(keep)
    return [m for m in reversed(applied) if migrations.index(m) > limit]


def _steps(
    target: Target, adapter: ToolLedger, state: LedgerState, migrations: list[Migration], to: str | None
) -> list[RollbackStep]:
    if state.problems:
        raise state.problems[0]
    steps = []
    # Alembic: alembic_version moves as `alembic downgrade` moves it, from the rows there are now.
    graph = revision_graph(migrations) if isinstance(adapter, AlembicVersionBack) else None
    heads = list(state.alembic_versions or [])
    undo = to_undo(state, migrations, to)
    if graph is not None and to is not None:  # as `alembic downgrade REV`: only what stands on REV
        keep = find(migrations, to).revision or ""
        undo = [m for m in undo if keep in graph.below(m.revision or "")]
    for migration in undo:
        if graph is not None:
            _refuse_merge(graph, migration)
        down_sql = down_sql_of(target, migration)
        if not (down_sql or "").strip():
            raise BadInput(
                f"{migration.version} has no down SQL ({migration.path.name}); nothing was rolled back",
                f"write its down migration, or roll back only the ones after it: --to {migration.version}",
            )
        index = migrations.index(migration)
        previous = migrations[index - 1] if index else None
        ledger_sql = (
            [delete_row_sql(target.schema, migration.version)] if migration.version in state.rows else []
        )
        if graph is not None and migration.revision:
            ops = graph.downgrade_move(heads, migration.revision)
            heads = apply_ops(heads, ops)
            ledger_sql.append(moves_sql(target.schema, heads, ops, expect=None))
        else:
            ledger_sql.append(adapter.forget_sql(migration, previous))
        body = (
            "BEGIN;\n"
            f"{set_sql('lock_timeout', target.lock_timeout, local=True)};\n"
            f"{set_sql('statement_timeout', target.statement_timeout, local=True)};\n"
            f"{(down_sql or '').strip()}\n;\n" + ";\n".join(ledger_sql) + ";\nCOMMIT;"
        )
        steps.append(RollbackStep(migration=migration, sql=body))
    return steps


def _refuse_merge(graph: RevisionGraph, migration: Migration) -> None:
    """A merge (or depends_on) revision is undone by Alembic itself: which of its parents get a row
    back depends on the whole history, and its downgrade() is usually empty."""
    revision = migration.revision or migration.version
    if graph.is_merge(revision):
        raise BadInput(
            f"{migration.path.name} ({revision}) joins {', '.join(graph.parents(revision))}: "
            "rollback-migration does not undo merge revisions; nothing was rolled back",
            f"undo it with Alembic itself: `alembic downgrade {graph.parents(revision)[0]}` (it undoes only "
            f"the merge), then invoke resolve {revision} --rolled-back to forget oncall's row",
        )


def rollback_migration(
    target: Target,
    url: DatabaseURL | str | None,
    out: Output,
    *,
    to: str | None = None,
    dry_run: bool = False,
    yes: bool = False,
    lock_wait: float | None = None,
) -> RollbackResult:
    """Run down SQL newest first (see the module docstring); raises our errors for refusals."""
    started = time.monotonic()
    db = database_url_for(target, url)
    where = f"{db.host}/{db.dbname}"
    result = RollbackResult(ok=False, code=1, target=target.name, where=where, dry_run=dry_run)
    refuse_unattended(
        target, action="roll back migrations", where=where, yes=yes, dry_run=dry_run, database=touched(db)
    )
    try:
        migrations = discover(target)
        adapter = tool_ledger_with_downs(target, migrations)
        state, _ = read_only_state(db, target, migrations)
        result.steps = _steps(target, adapter, state, migrations, to)
        if dry_run or not result.steps:
            for step in result.steps:
                say(out, f"\n== roll back {step.migration.version}\n{step.sql}")
            if not result.steps:
                say(out, f"{target.name}: nothing applied on {where}, nothing to roll back")
            result.ok, result.code = True, 0
            return result
        guard_production(
            target,
            action=f"roll back {len(result.steps)} migration(s)",
            where=where,
            yes=yes,
            dry_run=dry_run,
            database=touched(db),
        )

        def waiting(holder: LockHolder | None, left: float) -> None:
            who = holder.describe() if holder else "another session"
            say(out, f"waiting for the migration lock held by {who}; giving up in {left:.0f} s")

        with migration_lock(
            db,
            schema=target.schema,
            wait=target.lock_wait if lock_wait is None else lock_wait,
            connect_timeout=target.connect_timeout,
            on_wait=waiting,
        ):
            # Read again under the lock: another run may have moved the ledger meanwhile.
            state, _ = read_only_state(db, target, migrations)
            result.steps = _steps(target, adapter, state, migrations, to)
            _run(target, db, out, result)
        result.ok, result.code = True, 0
        return result
    except OncallError as exc:
        result.code = int(exc.code)
        raise
    finally:
        result.duration_s = time.monotonic() - started
        if not dry_run:
            record_run(
                target,
                out.stderr,
                task="rollback-migration",
                args={"to": to, "yes": yes},
                outcome=Status.OK if result.ok else Status.FAILED,
                code=result.code,
                durations={"total_s": result.duration_s},
                details={"rolled_back": [r["version"] for r in result.rolled_back], "where": where},
            )


def _send_with_retries(
    conn: psycopg.Connection[Any], target: Target, db: DatabaseURL, out: Output, step: RollbackStep
) -> None:
    """Send the step's transaction; on lock_timeout (55P03) retry with jittered backoff, as migrate does."""
    import psycopg

    retries = tries = 0

    def on_lock_timeout(exc: Exception) -> bool | float:
        nonlocal retries
        if kind_of(exc) is not Kind.LOCK or retries >= target.lock_retries:
            return False
        pause = retry.LOCK_TIMEOUT_BACKOFF.pause(retries)
        retries += 1
        say(out, f"  lock_timeout ({target.lock_timeout}) hit; retry {retries} in {pause:.1f} s")
        return pause

    try:
        for attempt in retry.attempts(on_lock_timeout, attempts=target.lock_retries + 1, timeout=None):
            with attempt:
                tries += 1
                try:
                    conn.execute(step.sql.encode())
                except psycopg.Error:
                    rollback(conn)
                    raise
    except psycopg.Error as exc:
        if kind_of(exc) is not Kind.LOCK:
            raise database_error(exc, db, f"rolling back {step.migration.version} (rolled back)") from exc
        raise Refused(
            f"rolling back {step.migration.version}: lock_timeout ({target.lock_timeout}) hit "
            f"{tries} times on {db.host}/{db.dbname}; nothing of it was committed",
            "a session holds locks on the tables its down SQL touches (see pg_locks and "
            "pg_stat_activity): wait for it to finish or end it, then rerun",
            attempts=tries,
        ) from exc


def _run(target: Target, db: DatabaseURL, out: Output, result: RollbackResult) -> None:

    conn: psycopg.Connection[Any] = connect(
        db, connect_timeout=target.connect_timeout, application_name=WORK_APPLICATION_NAME
    )
    try:
        for step in result.steps:
            say(out, f"rolling back {step.migration.version} ...")
            begun = time.monotonic()
            _send_with_retries(conn, target, db, out, step)
            ms = round((time.monotonic() - begun) * 1000)
            say(out, f"rolled back {step.migration.version} in {ms} ms")
            result.rolled_back.append({"version": step.migration.version, "duration_ms": ms})
    finally:
        conn.close()
