"""Plan and apply migrations: locked, timed, one transaction per migration, with its ledger row.

`migrate()` in order: read the state without the lock (cheap refusal and the production guard see
the same plan the user would), take the advisory lock (oncall.migrations.lock), read the state
again under it, then apply each pending file:

- transaction mode: ONE round trip per migration. `BEGIN; SET LOCAL statement_timeout; <apply
  lock + ledger re-check>; SET LOCAL lock_timeout; <the file>; <ledger row>; <alembic_version
  move>; COMMIT` goes to the server as one simple-protocol query, so the number of round trips
  does not grow with the file.
- exactly once: the session lock above only reports and refuses early. What makes a second apply
  impossible is the server: each migration's transaction takes `pg_advisory_xact_lock` on the
  schema's apply key and re-reads its ledger row before the file (ledger.apply_guard_sql), so a
  second runner (whose client or lock session died, or that raced) waits for the first one's
  COMMIT, sees the row and stops (OC002: skipped). The ledger row is a plain INSERT, never merged.
  PostgreSQL runs a multi-statement query with explicit BEGIN/COMMIT as that one transaction and
  stops at the first error. Before each attempt, oncall.migrations.lock_wait waits without queuing until no
  other session holds a conflicting lock on the file's tables (bounded by `table_lock_wait`).
  SQLSTATE 55P03 (lock_timeout, the backstop) rolls back and retries the whole file, `lock_retries`
  times, then Refused (exit 4) names the sessions holding locks on the tables the file touches.
- no-transaction mode (header, a statement that cannot run in a transaction, a DO block that
  COMMITs, an enum value used in the file that adds it): statement by statement, holding the
  apply lock at session level; the ledger row records progress (`partial`, statements_done) after
  each one, so a rerun resumes after the last statement that finished, even if a later statement
  was edited meanwhile (the committed statements' digest is recorded). Before (re)running a CREATE INDEX
  CONCURRENTLY, an INVALID index of that name (what a failed concurrent build leaves) is dropped.

Errors name the file and line: the server's error position maps back into the file; when the
server gives none, the statements are replayed one by one in a transaction that is rolled back.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psycopg import sql

from oncall import retry
from oncall.config import Target
from oncall.db.connect import DatabaseURL, connect, database_url_for
from oncall.db.errors import UNDEFINED_TABLE, UNIQUE_VIOLATION, Kind, kind_of, sqlstate_of
from oncall.errors import BadInput, CheckFailed, Drift, ExitCode, OncallError, Refused, Unreachable
from oncall.migrations.alembic_heads import RevisionGraph, apply_ops, moves_sql
from oncall.migrations.common import (
    WORK_APPLICATION_NAME,
    database_error,
    read_only_state,
    read_state_on,
    rollback,
    say,
    touched,
)
from oncall.migrations.files import (
    LedgerState,
    Migration,
    alembic_project,
    discover,
    find,
    layout_of,
    revision_graph,
)
from oncall.migrations.ledger import (
    ALEMBIC_VERSION_MOVED,
    APPLIED_ELSEWHERE,
    APPLIED_OUTCOMES,
    APPLY_LOCK_TIMEOUT,
    LEDGER_CONFLICT,
    LEDGER_TABLE,
    LedgerRow,
    Origin,
    apply_guard_sql,
    create_ledger_sql,
    delete_claim_sql,
    finish_sql,
    insert_row_sql,
    partial_checksum,
    progress_sql,
    qualified,
    replace_repeatable_sql,
    set_sql,
    sql_text,
    statements_digest,
)
from oncall.migrations.lint import LintFinding, lint, lint_lines, new_relations
from oncall.migrations.lock import (
    LockHolder,
    apply_key,
    discard,
    hold_apply_lock,
    lock_holder,
    migration_lock,
    open_lock_connection,
    release_apply_lock,
)
from oncall.migrations.lock_wait import LockWaiter, check_budget
from oncall.migrations.new_tables import TableKey, statements_to_watch, tables_after
from oncall.migrations.sources import Layout
from oncall.migrations.sources.alembic_offline import run_alembic
from oncall.migrations.sources.ledgers import ToolLedger, ledger_for
from oncall.migrations.squawk import squawk_findings
from oncall.migrations.statements import Statement, statement_at
from oncall.output import Output
from oncall.redact import redact
from oncall.runlog import record_run
from oncall.safety import guard_production, refuse_unattended
from oncall.status import Status

if TYPE_CHECKING:
    import psycopg

_DURATION = re.compile(r"^\s*\d+(\.\d+)?\s*(us|ms|s|min|h|d)?\s*$")
RETRY_BASE_SECONDS = retry.LOCK_TIMEOUT_BACKOFF.initial
# The mode of a revision that Alembic's offline mode cannot render (it reads the live database).
BY_ALEMBIC = "alembic"
REPLAY_LIMIT_SECONDS = 5.0


@dataclass
class Step:
    """One pending migration as it will run."""

    migration: Migration
    mode: str
    reasons: list[str]
    findings: list[LintFinding]
    alembic_sql: str | None = None
    resume_from: int = 0
    # The row of the format's own ledger (prisma, flyway, ...), written in the same transaction.
    tool_sql: str | None = None
    # Tables earlier steps surely created: the look at pg_locks skips them (new_tables).
    new_tables_before: frozenset[TableKey] = frozenset()

    def as_dict(self, *, with_sql: bool = False) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "version": self.migration.version,
            "revision": self.migration.revision,
            "down_revision": self.migration.down_revision,
            "transaction_mode": self.mode,
            "no_transaction_reasons": self.reasons,
            "statements": len(self.migration.statements),
            "resume_from": self.resume_from,
            "lint": [f.as_dict() for f in self.findings],
            "alembic_sql": self.alembic_sql,
            "tool_sql": self.tool_sql,
        }
        if with_sql:
            doc["sql"] = self.migration.sql
        return doc


@dataclass
class Plan:
    """What migrate would do: the steps, the timeouts, and where."""

    target: str
    schema: str
    where: str
    server_version: int
    lock_timeout: str
    statement_timeout: str
    lock_retries: int
    steps: list[Step]
    state: LedgerState
    create_ledger: bool = False
    table_lock_wait: float = 0.0
    # How long a run waits for another run's apply lock (the target's lock_wait, or --lock-wait).
    lock_wait: float = 30.0
    # The target's schema does not exist yet (a later migration may create it): the ledger's DDL
    # creates it first, so the ledger never fails because of where it lives.
    create_schema: bool = False
    # Who applies, from which machine: looked up once for the run's ledger rows.
    origin: Origin = field(default_factory=Origin)

    def as_dict(self, *, with_sql: bool = True) -> dict[str, Any]:
        return {
            "target": self.target,
            "where": self.where,
            "server_version": self.server_version,
            "lock_timeout": self.lock_timeout,
            "statement_timeout": self.statement_timeout,
            "lock_retries": self.lock_retries,
            "table_lock_wait": self.table_lock_wait,
            "steps": [s.as_dict(with_sql=with_sql) for s in self.steps],
        }


@dataclass
class MigrateResult:
    """The outcome of one migrate run."""

    ok: bool
    code: int
    target: str
    where: str
    dry_run: bool
    applied: list[dict[str, Any]] = field(default_factory=list)
    plan: Plan | None = None
    lock_wait_s: float = 0.0
    duration_s: float = 0.0
    delegated: dict[str, Any] | None = None
    # Versions another run applied while this one waited for the apply lock (found, not run).
    skipped: list[str] = field(default_factory=list)
    interrupted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "code": self.code,
            "target": self.target,
            "where": self.where,
            "dry_run": self.dry_run,
            "applied": self.applied,
            "skipped": self.skipped,
            "planned": [s.migration.version for s in self.plan.steps] if self.plan else [],
            "plan": self.plan.as_dict(with_sql=self.dry_run) if self.plan else None,
            "lock_wait_s": round(self.lock_wait_s, 3),
            "duration_s": round(self.duration_s, 3),
        }


@dataclass
class StatusResult:
    ok: bool
    code: int
    where: str
    state: LedgerState
    layout: Layout | None = None

    def as_dict(self) -> dict[str, Any]:
        doc = {"ok": self.ok, "code": self.code, "where": self.where, **self.state.as_dict()}
        if self.layout is not None:
            doc["layout"] = self.layout.as_dict()
        return doc


# --- helpers -----------------------------------------------------------------------------------


def _duration_setting(value: str, name: str) -> str:
    if not _DURATION.match(value):
        raise BadInput(f"{name} {value!r} is not a duration", "use a PostgreSQL duration such as 3s or 5min")
    return value.strip()


def _raise_problems(state: LedgerState) -> None:
    if state.problems:
        raise state.problems[0]


def _pending_until(state: LedgerState, migrations: list[Migration], to: str | None) -> list[Migration]:
    if to is None:
        return list(state.pending)
    last = find(migrations, to)
    if last.revision and last.tool and last.tool.format == "alembic":  # as `alembic upgrade REV`:
        # REV and what it stands on, on whichever branch, and nothing of the other branches
        below = revision_graph(migrations).ancestors([last.revision])
        return [m for m in state.pending if m.revision in below]
    limit = migrations.index(last)
    return [m for m in state.pending if migrations.index(m) <= limit]


def build_plan(
    target: Target,
    state: LedgerState,
    migrations: list[Migration],
    *,
    where: str,
    server_version: int,
    to: str | None = None,
    earlier: Plan | None = None,
) -> Plan:
    """Turn the state into steps; Drift for any problem in the ledger, BadInput for unrunnable files.

    `earlier`: a plan of the same run (migrate's preview, read before the lock). When the pending
    files are the same ones in the same order, what depends only on them and on the server version
    (lint findings, no-transaction reasons, tables created before each step) is taken from it
    instead of being derived again; everything read from the ledger is derived anew.
    """
    _raise_problems(state)
    lock_timeout = _duration_setting(target.lock_timeout, "lock_timeout")
    statement_timeout = _duration_setting(target.statement_timeout, "statement_timeout")
    table_lock_wait = check_budget(target.table_lock_wait)
    steps: list[Step] = []
    created: set[str] = set()
    new_tables: frozenset[TableKey] = frozenset()
    alembic_current = state.alembic_versions
    graph = revision_graph(migrations) if target.is_alembic else None
    tool_ledger = (
        ledger_for(migrations[0].tool.format, target.schema) if migrations and migrations[0].tool else None
    )
    create_tool_ledger = not state.tool_ledger_exists
    pending = _pending_until(state, migrations, to)
    same = _same_steps(earlier, pending, server_version)
    # The format's own ledger SQL depends on the files and on whether its table exists yet.
    same_tool = same if earlier and earlier.state.tool_ledger_exists == state.tool_ledger_exists else None
    for index, migration in enumerate(pending):
        if same is not None:
            reasons, findings = list(same[index].reasons), list(same[index].findings)
        else:
            reasons = migration.no_transaction_reasons(server_version)
            findings = lint(migration.statements, created_before=created)
            created = new_relations(migration.statements, created)
        blocking = [f for f in findings if f.severity == "error"]
        if blocking:
            raise BadInput(
                f"{migration.path.name}:{blocking[0].line}: {blocking[0].message}",
                "oncall wraps each file in its own transaction (or runs it statement by statement with "
                "-- oncall:no-transaction); files must not manage transactions themselves",
            )
        row = state.rows.get(migration.version)
        resume = 0
        if row is not None and row.outcome == "partial":
            resume = resume_point(row, migration, where)
            if resume and not reasons:
                raise Drift(
                    f"{migration.path.name} committed {resume} statement(s) on {where} as a no-transaction "
                    "file, but now runs in one transaction, which would run them again",
                    f"restore its no-transaction header, or after checking the database: invoke resolve "
                    f"{migration.version} --rolled-back",
                )
        alembic_sql = None
        if graph is not None and migration.revision:
            alembic_sql, alembic_current = _alembic_sql(target.schema, alembic_current, migration, graph)
        if migration.online_only:
            # Alembic runs it (and moves alembic_version itself) while oncall holds the lock.
            reasons, alembic_sql = [f"run by Alembic online: {migration.online_only}"], None
        steps.append(
            Step(
                migration=migration,
                mode=BY_ALEMBIC if migration.online_only else ("none" if reasons else "transaction"),
                reasons=reasons,
                findings=findings,
                alembic_sql=alembic_sql,
                resume_from=resume,
                tool_sql=_tool_sql(tool_ledger, migration, create_tool_ledger, same_tool, index),
                new_tables_before=same[index].new_tables_before if same is not None else new_tables,
            )
        )
        if same is None:
            new_tables = tables_after(migration.statements, new_tables)
        create_tool_ledger = False
    return Plan(
        target=target.name,
        schema=target.schema,
        where=where,
        server_version=server_version,
        lock_timeout=lock_timeout,
        statement_timeout=statement_timeout,
        lock_retries=target.lock_retries,
        steps=steps,
        state=state,
        table_lock_wait=table_lock_wait,
    )


def _same_steps(earlier: Plan | None, pending: list[Migration], server_version: int) -> list[Step] | None:
    """The earlier plan's steps if they are for exactly these migrations on this server, else None."""
    if earlier is None or earlier.server_version != server_version or len(earlier.steps) != len(pending):
        return None
    if any(step.migration is not migration for step, migration in zip(earlier.steps, pending, strict=True)):
        return None
    return earlier.steps


def _tool_sql(
    tool_ledger: ToolLedger | None,
    migration: Migration,
    create: bool,
    earlier: list[Step] | None,
    index: int,
) -> str | None:
    """The format's own ledger SQL of a step: the earlier plan's when it was made for the same case."""
    if tool_ledger is None:
        return None
    if earlier is not None:
        return earlier[index].tool_sql
    return tool_ledger.record_sql(migration, create=create)


def resume_point(row: LedgerRow, migration: Migration, where: str) -> int:
    """Where a partial apply resumes: after the statements that committed, if they are unchanged.

    The file may have been edited since (the usual fix of the statement that failed); that is
    fine as long as every statement that already committed is byte-identical. Drift otherwise.
    """
    done = row.statements_done
    recorded_file, _, recorded_done = row.checksum.partition("/")
    if recorded_file == migration.checksum:
        return done
    committed = [s.text for s in migration.statements[:done]]
    if recorded_done and len(committed) == done and statements_digest(committed) == recorded_done:
        return done
    raise Drift(
        f"{migration.path.name} was edited after a partial apply: of the {done} statement(s) that "
        f"committed on {where}, at least one changed",
        f"restore statements 1-{done} as they were (only later ones may change), or after checking "
        f"the database: invoke resolve {migration.version} --rolled-back",
    )


class _AppliedElsewhere(Exception):
    """The ledger, read under the apply lock, already records this migration: nothing to run."""


def _alembic_sql(
    schema: str, current: list[str] | None, migration: Migration, graph: RevisionGraph
) -> tuple[str, list[str]]:
    """The alembic_version move of one revision, as `alembic upgrade` makes it, and the rows after it."""
    assert migration.revision is not None
    rows = current or []
    missing = [p for p in graph.parents(migration.revision) if p not in graph.ancestors(rows)]
    if missing:
        raise Drift(
            f"alembic_version is at {', '.join(rows) or '(empty)'} but {migration.path.name} "
            f"follows {', '.join(missing)}",
            "apply or baseline the earlier revisions first (invoke status shows which)",
        )
    ops = graph.upgrade_move(rows, migration.revision)
    after = apply_ops(rows, ops)
    return moves_sql(schema, current, ops, expect=after), after


def print_plan(out: Output, plan: Plan, *, with_sql: bool = True, verbose: bool = False) -> None:
    """Human rendering of a plan: per step the mode, the timeouts, the lint findings and the SQL.

    Info-level findings are summed up in one line per rule and file unless `verbose`.
    """
    say(
        out,
        f"plan for {plan.target} ({plan.where}, PostgreSQL {plan.server_version // 10000}): "
        f"{len(plan.steps)} pending; lock_timeout {plan.lock_timeout}, statement_timeout "
        f"{plan.statement_timeout}, up to {plan.lock_retries} retries on lock timeout; "
        f"waits up to {plan.table_lock_wait:g} s, without queuing, for conflicting table locks",
    )
    for step in plan.steps:
        m = step.migration
        mode = (
            "transaction"
            if step.mode == "transaction"
            else (
                step.reasons[0]
                if step.mode == BY_ALEMBIC
                else "no transaction (" + "; ".join(step.reasons) + ")"
            )
        )
        say(out, f"\n== {m.version}  [{mode}]  {len(m.statements)} statements  sha256 {m.checksum[:12]}")
        if step.resume_from:
            say(out, f"   resumes after statement {step.resume_from} (a previous run stopped there)")
        if m.revision:
            say(out, f"   alembic: {', '.join(m.parents) or '(none)'} -> {m.revision}")
        for line in lint_lines(m.path.name, step.findings, verbose=verbose):
            say(out, f"   {line}")
        if with_sql:
            scope = "SET LOCAL" if step.mode == "transaction" else "SET"
            say(
                out,
                f"   -- {scope} lock_timeout = '{plan.lock_timeout}'; {scope} statement_timeout = "
                f"'{plan.statement_timeout}'",
            )
            say(out, m.sql.rstrip() if step.mode != BY_ALEMBIC else f"-- {_alembic_upgrade_words(plan, m)}")
            if step.alembic_sql:
                say(out, step.alembic_sql + ";")
            if step.tool_sql:
                say(out, step.tool_sql + ";")
    if not plan.steps:
        say(out, "nothing to apply: the database is up to date")


# --- plan / status ---------------------------------------------------------------------------


def plan(
    target: Target, url: DatabaseURL | str | None, *, to: str | None = None, squawk: bool = False
) -> Plan:
    """What migrate would do, read-only (in a READ ONLY transaction, without the lock).

    With `squawk`, each step's findings also hold squawk's (oncall.migrations.squawk).
    """
    db = database_url_for(target, url)
    migrations = discover(target)
    state, version = read_only_state(db, target, migrations)
    result = build_plan(
        target, state, migrations, where=f"{db.host}/{db.dbname}", server_version=version, to=to
    )
    if squawk:
        pending = [(step.migration, step.mode == "transaction") for step in result.steps]
        extra = squawk_findings(pending, server_version=version)
        for step in result.steps:
            step.findings = sorted(step.findings + extra[step.migration.version], key=lambda f: f.line)
    return result


def status(target: Target, url: DatabaseURL | str | None, *, check: bool = False) -> StatusResult:
    """The ledger state; with check, code 5 on drift and 1 on pending work."""
    db = database_url_for(target, url)
    migrations = discover(target, with_sql=False)  # an Alembic project's state needs only its files
    state, _ = read_only_state(db, target, migrations)
    code = 0
    if check:
        code = 5 if state.problems else (1 if state.pending else 0)
    layout = layout_of(target)
    return StatusResult(ok=code == 0, code=code, where=f"{db.host}/{db.dbname}", state=state, layout=layout)


# --- migrate ---------------------------------------------------------------------------------


class _Counter:
    """Counts round trips to the server per migration (the bench reads it)."""

    def __init__(self) -> None:
        self.count = 0

    def send(self, conn: psycopg.Connection[Any], sql: str) -> Any:
        self.count += 1
        # bytes without parameters: psycopg sends a simple-protocol query, which may hold many statements
        return conn.execute(sql.encode())


def migrate(
    target: Target,
    url: DatabaseURL | str | None,
    out: Output,
    *,
    dry_run: bool = False,
    yes: bool = False,
    to: str | None = None,
    lock_wait: float | None = None,
    retry_base: float = RETRY_BASE_SECONDS,
    write_run_log: bool = True,
) -> MigrateResult:
    """Apply the pending migrations (see the module docstring); raises our errors for refusals."""
    started = time.monotonic()
    db = database_url_for(target, url)
    where = f"{db.host}/{db.dbname}"
    result = MigrateResult(ok=False, code=1, target=target.name, where=where, dry_run=dry_run)
    args = {"dry_run": dry_run, "to": to, "lock_wait": lock_wait, "yes": yes}
    refuse_unattended(target, action="migrate", where=where, yes=yes, dry_run=dry_run, database=touched(db))
    conn: psycopg.Connection[Any] | None = None
    opened: Future[psycopg.Connection[Any]] | None = None
    try:
        migrations = discover(target)
        if not dry_run:
            opened = open_lock_connection(db, connect_timeout=target.connect_timeout)
        conn = connect(db, connect_timeout=target.connect_timeout, application_name=WORK_APPLICATION_NAME)
        state, version = read_state_on(conn, db, target, migrations)
        preview = build_plan(target, state, migrations, where=where, server_version=version, to=to)
        if dry_run or not preview.steps:
            result.plan = preview
            if dry_run:
                print_plan(out, preview)
            else:
                say(out, f"{target.name}: nothing to apply on {where}; {len(state.applied)} applied")
            result.ok, result.code = True, 0
            return result
        guard_production(
            target,
            action=f"apply {len(preview.steps)} migration(s)",
            where=where,
            yes=yes,
            dry_run=dry_run,
            database=touched(db),
        )
        wait = target.lock_wait if lock_wait is None else lock_wait

        def waiting(holder: LockHolder | None, left: float) -> None:
            who = holder.describe() if holder else "another session"
            say(out, f"waiting for the migration lock held by {who}; giving up in {left:.0f} s")

        lock_started = time.monotonic()
        lock_connection, opened = opened, None
        with migration_lock(
            db,
            schema=target.schema,
            wait=wait,
            connect_timeout=target.connect_timeout,
            on_wait=waiting,
            opened=lock_connection,
        ):
            result.lock_wait_s = time.monotonic() - lock_started
            _apply_locked(
                conn,
                target,
                db,
                out,
                migrations=migrations,
                result=result,
                to=to,
                retry_base=retry_base,
                lock_wait=wait,
                preview=preview,
            )
        result.ok, result.code = True, 0
        return result
    except OncallError as exc:
        result.code = int(exc.code)
        raise
    except KeyboardInterrupt:
        # Ctrl-C, SIGHUP or SIGTERM (oncall.tasks._common): psycopg cancelled the running query,
        # so its transaction rolls back; the connections close below.
        result.code, result.interrupted = int(ExitCode.INTERRUPTED), True
        raise
    finally:
        if opened is not None:
            discard(opened)
        if conn is not None:
            conn.close()
        result.duration_s = time.monotonic() - started
        if write_run_log and not dry_run:
            _record_run(target, out, result, args)


def _record_run(target: Target, out: Output, result: MigrateResult, args: dict[str, Any]) -> None:
    """The run's record in the run log; one that cannot be written is a warning, not the run's result."""
    outcome = "interrupted" if result.interrupted else (Status.OK if result.ok else Status.FAILED)
    record_run(
        target,
        out.stderr,
        task="migrate",
        args=args,
        outcome=outcome,
        code=result.code,
        durations={"total_s": result.duration_s, "lock_wait_s": result.lock_wait_s},
        details={
            "applied": [a["version"] for a in result.applied],
            "skipped": result.skipped,
            "where": result.where,
        },
    )


def _apply_locked(
    conn: psycopg.Connection[Any],
    target: Target,
    db: DatabaseURL,
    out: Output,
    *,
    migrations: list[Migration],
    result: MigrateResult,
    to: str | None,
    retry_base: float,
    lock_wait: float,
    preview: Plan,
) -> None:
    import psycopg

    state, _ = read_state_on(conn, db, target, migrations)
    the_plan = build_plan(
        target,
        state,
        migrations,
        where=result.where,
        server_version=conn.info.server_version,
        to=to,
        earlier=preview,
    )
    the_plan.lock_wait = lock_wait
    result.plan = the_plan
    if not the_plan.steps:
        say(out, f"{target.name}: nothing to apply on {result.where} (another run applied it)")
        return
    try:
        # A transactional first step creates the ledger inside its own transaction (no extra
        # round trip, and nothing left behind if it fails); otherwise it is created here.
        first_in_transaction = the_plan.steps[0].mode == "transaction"
        the_plan.create_schema = not state.ledger_exists and not _schema_exists(conn, target.schema)
        if not state.ledger_exists and not first_in_transaction:
            conn.execute(_ledger_ddl(the_plan).encode())
        the_plan.create_ledger = not state.ledger_exists and first_in_transaction
    except psycopg.Error as exc:
        raise database_error(exc, db, f"creating the ledger table {target.schema}.oncall_migrations") from exc
    for step in the_plan.steps:
        label = "transaction" if step.mode == "transaction" else "no transaction"
        say(out, f"applying {step.migration.version} ({label}) ...")
        counter = _Counter()
        begun = time.monotonic()
        waiter = LockWaiter(conn, the_plan.table_lock_wait, lambda text: say(out, text))
        try:
            if step.mode == BY_ALEMBIC:
                attempts = _run_by_alembic(conn, db, target, the_plan, step, counter=counter)
            elif step.mode == "transaction":
                attempts = _run_transactional(
                    conn, db, the_plan, step, counter=counter, out=out, retry_base=retry_base, waiter=waiter
                )
            else:
                attempts = _run_statementwise(
                    conn, db, the_plan, step, counter=counter, out=out, retry_base=retry_base, waiter=waiter
                )
        except _AppliedElsewhere:
            say(out, f"skipped  {step.migration.version}: another run applied it meanwhile (not run twice)")
            result.skipped.append(step.migration.version)
            continue
        # DDL time apart from the time spent waiting for other sessions' table locks.
        wait_ms = round(waiter.waited_s * 1000)
        ms = max(0, round((time.monotonic() - begun) * 1000) - wait_ms)
        say(out, f"applied  {step.migration.version} in {ms} ms{waiter.summary()}")
        result.applied.append(
            {
                "version": step.migration.version,
                "duration_ms": ms,
                "lock_wait_ms": wait_ms,
                "transaction_mode": step.mode,
                "attempts": attempts,
                "round_trips": counter.count,
                "statements": len(step.migration.statements),
            }
        )


def _alembic_upgrade_words(plan: Plan, migration: Migration) -> str:
    return (
        f"alembic upgrade {migration.down_revision or 'base'}:{migration.revision} (online, "
        f"PGOPTIONS lock_timeout={plan.lock_timeout} statement_timeout={plan.statement_timeout})"
    )


def _run_by_alembic(
    conn: psycopg.Connection[Any],
    db: DatabaseURL,
    target: Target,
    plan: Plan,
    step: Step,
    *,
    counter: _Counter,
) -> int:
    """A revision offline mode cannot render: `alembic upgrade <rev>` runs it while we hold the lock.

    Alembic connects on its own (env.py reads the team's variable) and moves alembic_version itself;
    PGOPTIONS gives its session our lock_timeout and statement_timeout. Its ledger row follows.
    """
    import psycopg

    migration = step.migration
    assert migration.revision is not None
    found = alembic_project(target)
    assert found is not None
    options = f"-c lock_timeout={plan.lock_timeout} -c statement_timeout={plan.statement_timeout}"
    run_alembic(
        found, target.alembic_command, ["upgrade", migration.revision], extra_env={"PGOPTIONS": options}
    )
    try:
        counter.send(
            conn,
            insert_row_sql(
                plan.schema,
                migration,
                duration_ms=None,
                transaction_mode=BY_ALEMBIC,
                outcome="applied",
                origin=plan.origin,
            ),
        )
    except psycopg.Error as exc:
        raise database_error(exc, db, f"recording {migration.version} in the ledger") from exc
    return 1


def _timeouts(plan: Plan, *, local: bool) -> str:
    return (
        f"{set_sql('lock_timeout', plan.lock_timeout, local=local)};\n"
        f"{set_sql('statement_timeout', plan.statement_timeout, local=local)};\n"
    )


@dataclass
class _LockRetries:
    """oncall.retry's hook for lock_timeout (55P03): retry `plan.lock_retries` times, saying so.

    Each retry says who blocked and how long it pauses. With the table lock wait on the pause is
    short: the wait before the next attempt is the backoff. The time an attempt spent queued, and
    the pause, count as waiting for locks.
    """

    out: Output
    plan: Plan
    retry_base: float
    waiter: LockWaiter
    where: str
    statements: list[Statement]
    done: int = 0  # retries announced so far
    tries: int = 0  # attempts begun (stamina.set_testing may stop sooner than lock_retries)
    began: float = 0.0  # when the current attempt began

    def start(self) -> None:
        self.tries += 1
        self.began = time.monotonic()

    def attempts(self) -> Iterator[retry.Attempt]:
        return retry.attempts(self, attempts=self.plan.lock_retries + 1, timeout=None)

    def __call__(self, exc: Exception) -> bool | float:
        if kind_of(exc) is not Kind.LOCK or self.done >= self.plan.lock_retries:
            return False
        self.waiter.lost_attempt(time.monotonic() - self.began)
        backoff = retry.Backoff(initial=self.retry_base, cap=retry.LOCK_TIMEOUT_BACKOFF.cap)
        pause = self.waiter.retry_pause() if self.waiter.enabled else backoff.pause(self.done)
        self.done += 1
        say(
            self.out,
            f"  lock_timeout ({self.plan.lock_timeout}) hit {self.where}; retry {self.done}/"
            f"{self.plan.lock_retries} in {pause:.1f} s{self.waiter.blocked_by(self.statements)}",
        )
        self.waiter.lost_attempt(pause)
        return pause


def _transaction_prefix(plan: Plan, migration: Migration) -> str:
    """Everything the one round trip sends before the file: BEGIN, the apply lock, the re-check.

    The apply lock is taken before the ledger is created or read, so a second runner waits here
    for the first one's COMMIT, then re-reads the ledger (READ COMMITTED: a fresh snapshot per
    statement) and stops with OC002 instead of running the file again. This holds whatever
    happened to either client or to its session lock: the server enforces it.
    """
    return (
        "BEGIN ISOLATION LEVEL READ COMMITTED;\n"
        f"{set_sql('statement_timeout', plan.statement_timeout, local=True)};\n"
        + apply_guard_sql(
            plan.schema,
            migration,
            key=apply_key(plan.schema),
            wait_s=plan.lock_wait,
            repeatable=_is_repeatable(migration),
        )
        + ";\n"
        f"{set_sql('lock_timeout', plan.lock_timeout, local=True)};\n"
    )


def _is_repeatable(migration: Migration) -> bool:
    return bool(migration.tool and migration.tool.repeatable)


def _run_transactional(
    conn: psycopg.Connection[Any],
    db: DatabaseURL,
    plan: Plan,
    step: Step,
    *,
    counter: _Counter,
    out: Output,
    retry_base: float,
    waiter: LockWaiter,
) -> int:
    import psycopg

    migration = step.migration
    version = migration.version
    # Which statements to look at pg_locks for: the same on every attempt (tables the run itself
    # created have nobody to wait for), and not needed at all when the table lock wait is off.
    watched = statements_to_watch(migration.statements, step.new_tables_before) if waiter.enabled else []
    retries = _LockRetries(
        out, plan, retry_base, waiter, f"in {migration.version}; rolled back", migration.statements
    )
    prefix = _transaction_prefix(plan, migration)
    try:
        for attempt in retries.attempts():
            with attempt:
                waiter.wait_until_clear(watched, migration.path.name)  # without queuing
                retries.start()
                _send_transaction(conn, counter, prefix + _body(plan, step), version=version)
                plan.create_ledger = False
                return retries.tries
    except psycopg.Error as exc:
        raise _migration_error(
            exc,
            conn,
            db,
            plan,
            step,
            offset=len(prefix),
            attempts=retries.tries,
            replayable=time.monotonic() - retries.began < REPLAY_LIMIT_SECONDS,
        ) from exc
    raise AssertionError("unreachable: the loop returns or raises")


def _body(plan: Plan, step: Step) -> str:
    """The file, then its ledger row (and the format's own), then COMMIT: what follows the prefix."""
    migration = step.migration
    suffix_parts = [
        # The claim of a no-transaction run that committed nothing (the file has run in one
        # transaction since): it records no work, so it gives way to the applied row. Always sent:
        # a run whose session lock was lost may write one after our plan read the ledger.
        delete_claim_sql(plan.schema, migration.version),
        insert_row_sql(
            plan.schema,
            migration,
            duration_ms=-1,
            transaction_mode="transaction",
            outcome="applied",
            statements_done=len(migration.statements),
            origin=plan.origin,
        ),
    ]
    if _is_repeatable(migration):
        suffix_parts.insert(0, replace_repeatable_sql(plan.schema, migration.version))
    if step.alembic_sql:
        suffix_parts.append(step.alembic_sql)
    if step.tool_sql:
        suffix_parts.append(step.tool_sql)
    if plan.create_ledger:
        # After the file, not before it: the file may create the schema the ledger lives in.
        suffix_parts.insert(0, _ledger_ddl(plan))
    return migration.sql + "\n;\n" + ";\n".join(suffix_parts) + ";\nCOMMIT;"


def _send_transaction(conn: psycopg.Connection[Any], counter: _Counter, text: str, *, version: str) -> None:
    """One migration's whole transaction in one round trip; rolled back on error (OC002: not ours to run)."""
    import psycopg

    try:
        counter.send(conn, text)
    except psycopg.Error as exc:
        rollback(conn)
        if exc.sqlstate == APPLIED_ELSEWHERE:
            raise _AppliedElsewhere(version) from exc
        raise


def _schema_exists(conn: psycopg.Connection[Any], schema: str) -> bool:
    row = conn.execute(
        "SELECT to_regnamespace(%s) IS NOT NULL", (sql_text(sql.Identifier(schema)),)
    ).fetchone()
    return bool(row and row[0])


def _ledger_ddl(plan: Plan) -> str:
    """CREATE TABLE of the ledger, preceded by CREATE SCHEMA IF NOT EXISTS when its schema is missing."""
    ddl = create_ledger_sql(plan.schema)
    if plan.create_schema:
        ddl = sql_text(sql.SQL("CREATE SCHEMA IF NOT EXISTS {};\n").format(sql.Identifier(plan.schema))) + ddl
    return ddl


def _drop_invalid_index(
    conn: psycopg.Connection[Any], schema: str, statement: Statement, counter: _Counter, out: Output
) -> None:
    """A failed CREATE INDEX CONCURRENTLY leaves an INVALID index that IF NOT EXISTS would keep forever."""
    for obj in statement.creates:
        if obj.kind != "index":
            continue
        name = qualified(obj.schema or schema, obj.name)
        counter.count += 1
        row = conn.execute(
            "SELECT NOT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass(%s)", (name,)
        ).fetchone()
        if row and row[0]:
            say(out, f"  dropping INVALID index {obj.qualified} left by a failed concurrent build")
            counter.send(conn, f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


def _claim(conn: psycopg.Connection[Any], plan: Plan, step: Step, counter: _Counter) -> int:
    """Under the apply lock: re-read the file's ledger row and return where to start.

    No row: insert a `partial` row with 0 statements done (a plain INSERT: a row that appeared
    meanwhile makes it fail instead of being overwritten). Applied: _AppliedElsewhere, or Drift
    if with other content. Partial: resume after the statements it records (maybe another run's).
    """
    migration = step.migration
    table = qualified(plan.schema, LEDGER_TABLE)
    counter.count += 1
    rows = conn.execute(
        f"SELECT version, name, checksum, applied_at, applied_by, host, duration_ms, transaction_mode, "
        f"outcome, statements_done FROM {table} WHERE version = %s",
        (migration.version,),
    ).fetchall()
    recorded = [LedgerRow(*row) for row in rows]
    if not recorded:
        counter.send(
            conn,
            insert_row_sql(
                plan.schema,
                migration,
                duration_ms=0,
                transaction_mode="none",
                outcome="partial",
                checksum=partial_checksum(migration.checksum, []),
                origin=plan.origin,
            ),
        )
        return 0
    applied = [r for r in recorded if r.outcome in APPLIED_OUTCOMES]
    if len(recorded) == 1 and applied and applied[0].checksum == migration.checksum:
        raise _AppliedElsewhere(migration.version)
    if len(recorded) > 1 or applied:
        raise _ledger_conflict(plan, migration.version, [r.checksum for r in recorded])
    return resume_point(recorded[0], migration, plan.where)


def _ledger_conflict(plan: Plan, version: str, checksums: list[str]) -> Drift:
    return Drift(
        f"the ledger on {plan.where} records {version} {len(checksums)} time(s) "
        f"(sha256 {', '.join(c[:12] for c in checksums)}), not once with this file's content",
        "a migration must be recorded once: check the database by hand, keep one row, then "
        f"invoke resolve {version} --applied (or --rolled-back)",
        kind="ledger-conflict",
        version=version,
    )


def _run_statementwise(
    conn: psycopg.Connection[Any],
    db: DatabaseURL,
    plan: Plan,
    step: Step,
    *,
    counter: _Counter,
    out: Output,
    retry_base: float,
    waiter: LockWaiter,
) -> int:
    """Statement by statement, holding the apply lock at session level for the whole file.

    The lock makes a second runner (whose session lock was lost, or whose client died) wait for
    this file, then read the progress in the ledger and start after it: no statement runs twice.
    """

    def waiting(holder: LockHolder | None, left: float) -> None:
        who = holder.describe() if holder else "another session"
        say(out, f"  waiting for the apply lock held by {who}; giving up in {left:.0f} s")

    counter.count += 1
    hold_apply_lock(conn, db, plan.schema, wait=plan.lock_wait, on_wait=waiting)
    try:
        resume = _claim(conn, plan, step, counter)
        counter.send(conn, _timeouts(plan, local=False))
        return _run_statements(
            conn,
            db,
            plan,
            step,
            resume=resume,
            counter=counter,
            out=out,
            retry_base=retry_base,
            waiter=waiter,
        )
    finally:
        if not conn.closed and not conn.broken:
            conn.execute(b"RESET lock_timeout; RESET statement_timeout")
        release_apply_lock(conn, plan.schema)


def _run_statements(
    conn: psycopg.Connection[Any],
    db: DatabaseURL,
    plan: Plan,
    step: Step,
    *,
    resume: int,
    counter: _Counter,
    out: Output,
    retry_base: float,
    waiter: LockWaiter,
) -> int:
    import psycopg

    migration = step.migration
    schema = plan.schema
    statements = migration.statements
    started = time.monotonic()
    attempts_total = 1
    if resume:
        say(out, f"  resuming after statement {resume} of {len(statements)}")
    for index in range(resume, len(statements)):
        statement = statements[index]
        where = f"{migration.path.name}:{statement.line}"
        retries = _LockRetries(out, plan, retry_base, waiter, f"at {where}", [statement])
        try:
            for attempt in retries.attempts():
                with attempt:
                    waiter.wait_until_clear([statement], where)
                    retries.start()
                    if statement.kind == "IndexStmt" and statement.node.get("concurrent"):
                        _drop_invalid_index(conn, schema, statement, counter, out)
                    counter.send(conn, statement.text)
        except psycopg.Error as exc:
            raise _statement_error(
                exc, conn, db, plan, step, statement=statement, attempts=retries.tries, committed=index
            ) from exc
        attempts_total += retries.tries - 1
        say(out, f"  {index + 1}/{len(statements)} done: {statement.first_line(60)}")
        done_texts = [s.text for s in statements[: index + 1]]
        moved = counter.send(
            conn,
            progress_sql(
                schema,
                migration.version,
                done=index + 1,
                checksum=partial_checksum(migration.checksum, done_texts),
                duration_ms=round((time.monotonic() - started) * 1000),
            ),
        )
        if moved.rowcount != 1:
            raise _ledger_conflict(plan, migration.version, [migration.checksum])
    finish = [
        finish_sql(
            schema,
            migration,
            statements=len(statements),
            duration_ms=round((time.monotonic() - started) * 1000),
            origin=plan.origin,
        )
    ]
    if step.alembic_sql:
        finish.append(step.alembic_sql)
    if step.tool_sql:
        finish.append(step.tool_sql)
    try:
        counter.send(conn, "BEGIN;\n" + ";\n".join(finish) + ";\nCOMMIT;")
    except psycopg.Error as exc:
        rollback(conn)
        raise database_error(exc, db, f"recording {migration.version} in the ledger") from exc
    return attempts_total


# --- errors ----------------------------------------------------------------------------------


def _blockers(conn: psycopg.Connection[Any], relations: list[str]) -> list[dict[str, Any]]:
    """Sessions holding granted locks on the given tables (whom our lock_timeout waited for)."""
    import psycopg

    if not relations or conn.closed or conn.broken:
        return []
    try:
        rows = conn.execute(
            "SELECT DISTINCT l.pid, c.relname, l.mode, a.application_name, a.state, a.query, "
            "extract(epoch FROM clock_timestamp() - a.xact_start)::float8 "
            "FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.granted AND l.pid <> pg_backend_pid() AND c.relname = ANY(%s) ORDER BY l.pid",
            (relations,),
        ).fetchall()
    except psycopg.Error:
        return []
    return [
        {
            "pid": r[0],
            "table": r[1],
            "mode": r[2],
            "application_name": r[3],
            "state": r[4],
            "query": r[5],
            "age_s": r[6],
        }
        for r in rows
    ]


def _locate(
    conn: psycopg.Connection[Any], plan: Plan, step: Step, exc: Exception, offset: int, *, replay: bool
) -> Statement | None:
    """The failing statement: from the server's error position, else by replaying in a rolled-back tx."""
    import psycopg

    migration = step.migration
    position = getattr(getattr(exc, "diag", None), "statement_position", None)
    if position:
        at = int(position) - 1 - offset
        if 0 <= at < len(migration.sql):
            return statement_at(migration.statements, at)
    if not replay or conn.closed or conn.broken:
        return None
    try:
        conn.execute(("BEGIN;\n" + _timeouts(plan, local=True)).encode())
        for statement in migration.statements:
            try:
                conn.execute(statement.text.encode())
            except psycopg.Error:
                return statement
        return None
    except psycopg.Error:
        return None
    finally:
        rollback(conn)


def _after_the_file(exc: Exception, offset: int, migration: Migration) -> bool:
    """Whether the server's error position lies in the ledger SQL sent after the file's own SQL."""
    position = getattr(getattr(exc, "diag", None), "statement_position", None)
    return position is not None and int(position) - 1 - offset >= len(migration.sql)


def _server_message(exc: Exception) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(exc).strip().splitlines()[0]
    detail = getattr(diag, "message_detail", None)
    return f"{primary} ({detail})" if detail else str(primary)


def _migration_error(
    exc: Exception,
    conn: psycopg.Connection[Any],
    db: DatabaseURL,
    plan: Plan,
    step: Step,
    *,
    offset: int,
    attempts: int,
    replayable: bool,
) -> OncallError:
    migration = step.migration
    sqlstate = sqlstate_of(exc)
    kind = kind_of(exc)
    relations = sorted({r for s in migration.statements for r in s.relations})
    if kind is Kind.LOCK:
        return _lock_refusal(conn, plan, migration.path.name, relations, attempts)
    if sqlstate == APPLY_LOCK_TIMEOUT:
        holder = lock_holder(conn, apply_key(plan.schema)) if not (conn.closed or conn.broken) else None
        who = holder.describe() if holder else "a session that has since ended"
        return Refused(
            f"{migration.path.name}: another migrate run held the apply lock on {plan.where} for over "
            f"{plan.lock_wait:g} s ({who}); nothing of the file ran",
            "wait for that run and rerun migrate (it skips what the other run applied), or raise --lock-wait",
            holder=holder.as_dict() if holder else None,
        )
    table = getattr(getattr(exc, "diag", None), "table_name", None)
    if sqlstate == LEDGER_CONFLICT or (sqlstate == UNIQUE_VIOLATION and table == LEDGER_TABLE):
        return Drift(
            f"{migration.path.name}: the ledger on {plan.where} already records {migration.version} "
            f"({_server_message(exc)}); rolled back, nothing ran twice",
            "a migration is recorded once: check the database by hand, keep one row, then "
            f"invoke resolve {migration.version} --applied (or --rolled-back)",
            sqlstate=sqlstate,
        )
    if sqlstate == ALEMBIC_VERSION_MOVED:
        return Drift(
            f"alembic_version on {plan.where} changed while {migration.version} ran; rolled back",
            "someone edited alembic_version by hand or ran alembic at the same time; check invoke status",
        )
    if kind is Kind.CONNECTION:
        return Unreachable(
            f"lost the connection to {db.host}:{db.port} while applying {migration.path.name}: "
            f"{_server_message(exc)}",
            "the server rolled the migration back (no table, no ledger row); rerun invoke migrate",
            sqlstate=sqlstate,
        )
    if _after_the_file(exc, offset, migration):
        return CheckFailed(
            f"recording {migration.version} in the ledger failed on {plan.where}: {_server_message(exc)} "
            f"[SQLSTATE {sqlstate}]; the migration ran and was rolled back with it",
            f"the migration file is not at fault: check the ledger tables in schema {plan.schema} "
            "(invoke doctor shows the role's rights), then rerun",
            sqlstate=sqlstate,
        )
    # Replaying to find the failing statement costs what the failed attempt cost: only when that
    # was quick, and never after statement_timeout (it would wait that long again).
    replay = replayable and kind is not Kind.STATEMENT_TIMEOUT
    statement = _locate(conn, plan, step, exc, offset, replay=replay)
    where = f"{migration.path.name}:{statement.line}" if statement else migration.path.name
    fix = "fix the SQL in that file and rerun; its transaction was rolled back, nothing of it was committed"
    return _statement_failure(exc, plan, where, statement, fix=fix)


def _statement_error(
    exc: Exception,
    conn: psycopg.Connection[Any],
    db: DatabaseURL,
    plan: Plan,
    step: Step,
    *,
    statement: Statement,
    attempts: int,
    committed: int,
) -> OncallError:
    migration = step.migration
    kind = kind_of(exc)
    if kind is Kind.LOCK:
        return _lock_refusal(
            conn, plan, f"{migration.path.name}:{statement.line}", statement.relations, attempts
        )
    if kind is Kind.CONNECTION:
        return Unreachable(
            f"lost the connection to {db.host}:{db.port} at {migration.path.name}:{statement.line}: "
            f"{_server_message(exc)}",
            "statements before it are recorded in the ledger; rerun invoke migrate to resume",
            sqlstate=sqlstate_of(exc),
        )
    where = f"{migration.path.name}:{statement.line}"
    fix = _committed_so_far(migration, committed, where)
    return _statement_failure(exc, plan, where, statement, fix=fix)


def _committed_so_far(migration: Migration, committed: int, where: str) -> str:
    """What of a no-transaction file committed before the failing statement, and how a rerun goes on."""
    total = len(migration.statements)
    failing = committed + 1
    if committed == 0:
        return f"no statement of the file committed; fix statement 1 ({where}) and rerun"
    done = "statement 1" if committed == 1 else f"statements 1-{committed}"
    verb = "committed and is recorded" if committed == 1 else "committed and are recorded"
    return f"{done} of {total} {verb}; fix statement {failing} ({where}) and rerun: it resumes there"


def _statement_failure(
    exc: Exception, plan: Plan, where: str, statement: Statement | None, *, fix: str
) -> OncallError:
    message = _server_message(exc)
    sqlstate = sqlstate_of(exc)
    kind = kind_of(exc)
    if kind is Kind.STATEMENT_TIMEOUT:
        return CheckFailed(
            f"{where}: statement_timeout ({plan.statement_timeout}) cancelled the statement; rolled back",
            "raise INVOKE_ONCALL_STATEMENT_TIMEOUT for this run, or make the statement cheaper",
            sqlstate=sqlstate,
        )
    hint = fix
    if kind is Kind.PERMISSION:
        hint = "the role lacks a privilege: migrate as the owner of the tables (Supabase: postgres); " + fix
    if sqlstate == UNDEFINED_TABLE:
        hint = "a table it references does not exist: apply the migration that creates it first; " + fix
    return CheckFailed(
        f"{where}: {message} [SQLSTATE {sqlstate}]",
        hint,
        sqlstate=sqlstate,
        statement=statement.first_line(120) if statement else None,
        server_message=message,
    )


def _lock_refusal(
    conn: psycopg.Connection[Any], plan: Plan, where: str, relations: list[str], attempts: int
) -> Refused:
    blockers = _blockers(conn, relations)
    if blockers:
        first = blockers[0]
        # Redacted before it is cut, so that a cut cannot leave part of a secret unrecognised.
        query = redact(first["query"] or "").strip()
        if first["state"] is None:
            # pg_stat_activity hides other roles' sessions from roles without pg_read_all_stats.
            activity = "its query is hidden from this role (grant pg_read_all_stats to see it)"
        else:
            age = f", transaction open {first['age_s']:.1f} s" if first["age_s"] is not None else ""
            activity = f"{first['state']}{age}: {query[:120]!r}"
        who = (
            f"pid {first['pid']} holding {first['mode']} on {first['table']} "
            f"({first['application_name'] or 'no application_name'}, {activity})"
        )
    else:
        who = "a session that has since released its lock"
    pid = blockers[0]["pid"] if blockers else "PID"
    return Refused(
        f"{where}: lock_timeout ({plan.lock_timeout}) hit {attempts} times; blocked by {who}",
        f"wait for that session to finish, or end it: SELECT pg_terminate_backend({pid}); then rerun migrate",
        blockers=blockers,
        attempts=attempts,
    )


__all__ = [
    "MigrateResult",
    "Plan",
    "StatusResult",
    "build_plan",
    "migrate",
    "plan",
    "print_plan",
    "status",
]
