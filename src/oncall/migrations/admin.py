"""baseline and resolve: deliberate ledger writes, under the migration lock, dry-runnable.

`baseline` adopts a database whose tables already exist: it records pending migrations as applied
only after the catalog confirms every table, index, view and sequence they create. `resolve` is
explicit repair: mark one migration applied (with today's checksum) or rolled back. On Alembic
targets both move `alembic_version` as `alembic stamp` would. Both are guarded for production
before any lock is taken, and append a run record however they end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from oncall.config import Target
from oncall.db.connect import DatabaseURL, connect, database_url_for
from oncall.errors import CheckFailed, OncallError, Refused
from oncall.migrations.alembic_heads import Op, moves_sql, stamp_ops
from oncall.migrations.common import (
    WORK_APPLICATION_NAME,
    database_error,
    read_only_state,
    rollback,
    say,
    touched,
)
from oncall.migrations.files import LedgerState, Migration, discover, find, revision_graph
from oncall.migrations.ledger import (
    create_ledger_sql,
    delete_row_sql,
    qualified,
    upsert_row_sql,
)
from oncall.migrations.lock import migration_lock
from oncall.migrations.sources.ledgers import ledger_for
from oncall.output import Output
from oncall.runlog import record_run
from oncall.safety import guard_production
from oncall.status import Status

# Drift that makes recording anything unsafe; a ledger row without a file does not.
_BASELINE_BLOCKERS = ("alembic-heads", "alembic-unknown", "edited")


@dataclass
class AdminResult:
    """The outcome of baseline or resolve: what was (or would be) recorded."""

    ok: bool
    code: int
    action: str
    target: str
    where: str
    dry_run: bool
    versions: list[str]
    sql: list[str]
    checked: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "code": self.code,
            "action": self.action,
            "target": self.target,
            "where": self.where,
            "dry_run": self.dry_run,
            "versions": self.versions,
            "sql": self.sql,
            "checked": self.checked,
        }


def _admin_run(
    target: Target,
    db: DatabaseURL,
    out: Output,
    *,
    action: str,
    dry_run: bool,
    statements: list[str],
    versions: list[str],
    checked: list[dict[str, Any]],
) -> AdminResult:
    import psycopg

    where = f"{db.host}/{db.dbname}"
    result = AdminResult(
        ok=True,
        code=0,
        action=action,
        target=target.name,
        where=where,
        dry_run=dry_run,
        versions=versions,
        sql=statements,
        checked=checked,
    )
    for text in statements:
        say(out, ("would run: " if dry_run else "running: ") + text + ";")
    if dry_run or not statements:
        return result
    conn = connect(db, connect_timeout=target.connect_timeout, application_name=WORK_APPLICATION_NAME)
    try:
        conn.execute(("BEGIN;\n" + ";\n".join(statements) + ";\nCOMMIT;").encode())
    except psycopg.Error as exc:
        rollback(conn)
        raise database_error(exc, db, action) from exc
    finally:
        conn.close()
    return result


def baseline(
    target: Target,
    url: DatabaseURL | str | None,
    out: Output,
    *,
    to: str,
    dry_run: bool = False,
    yes: bool = False,
) -> AdminResult:
    """Record migrations up to `to` as applied, only after checking the objects they create exist."""
    db = database_url_for(target, url)
    with _logged_admin(target, db, out, task="baseline", args={"to": to}, dry_run=dry_run, yes=yes):
        return _baseline(target, db, out, to=to, dry_run=dry_run)


def _baseline(target: Target, db: DatabaseURL, out: Output, *, to: str, dry_run: bool) -> AdminResult:
    migrations = discover(target)
    last = find(migrations, to)
    with migration_lock(
        db, schema=target.schema, wait=target.lock_wait, connect_timeout=target.connect_timeout
    ):
        state, _ = read_only_state(db, target, migrations)
        blocking = [p for p in state.problems if p.details.get("kind") in _BASELINE_BLOCKERS]
        if blocking:
            raise blocking[0]
        todo = _baseline_todo(state, migrations, last)
        checked = _check_objects(target, db, todo)
        for item in checked:
            mark = "ok" if item["exists"] else "MISSING"
            say(out, f"  {mark}  {item['kind']} {item['name']} ({item['version']})")
        missing = [c for c in checked if not c["exists"]]
        unverifiable = [m.version for m in todo if not any(c["version"] == m.version for c in checked)]
        if missing:
            names = ", ".join(f"{c['kind']} {c['name']} ({c['version']})" for c in missing)
            raise CheckFailed(
                f"cannot baseline {db.host}/{db.dbname}: missing {names}",
                "those migrations have not run: use invoke migrate, which applies them",
                checked=checked,
            )
        if unverifiable:
            raise CheckFailed(
                f"cannot baseline {', '.join(unverifiable)}: the files create no table or index to check",
                "if you know they ran, record each one explicitly: invoke resolve VERSION --applied",
            )
        statements = [create_ledger_sql(target.schema)] if todo else []
        for m in todo:
            statements.append(
                upsert_row_sql(
                    target.schema,
                    m,
                    duration_ms=None,
                    transaction_mode=m.mode(),
                    outcome="baseline",
                    statements_done=len(m.statements),
                )
            )
        if target.is_alembic and todo and last.revision:
            statements.extend(_alembic_stamp(target.schema, state, migrations, last.revision))
        statements.extend(_tool_rows(target, state, todo))
        if not todo:
            say(out, f"nothing to baseline: everything up to {last.version} is already recorded")
        return _admin_run(
            target,
            db,
            out,
            action=f"baseline {len(todo)} migration(s)",
            dry_run=dry_run,
            statements=statements,
            versions=[m.version for m in todo],
            checked=checked,
        )


def _check_objects(target: Target, db: DatabaseURL, todo: list[Migration]) -> list[dict[str, Any]]:
    import psycopg

    wanted = [(m.version, obj) for m in todo for s in m.statements for obj in s.creates]
    if not wanted:
        return []
    conn = connect(db, connect_timeout=target.connect_timeout, application_name="oncall baseline")
    try:
        names = [qualified(obj.schema or target.schema, obj.name) for _, obj in wanted]
        rows = conn.execute(
            "SELECT n, to_regclass(n) IS NOT NULL FROM unnest(%s::text[]) AS n", (names,)
        ).fetchall()
    except psycopg.Error as exc:
        raise database_error(exc, db, "checking objects for baseline") from exc
    finally:
        conn.close()
    found = dict(rows)
    return [
        {"version": version, "kind": obj.kind, "name": obj.qualified, "exists": bool(found.get(name))}
        for (version, obj), name in zip(wanted, names, strict=True)
    ]


def _baseline_todo(state: LedgerState, migrations: list[Migration], last: Migration) -> list[Migration]:
    """The pending migrations up to `last`: for Alembic, the revisions it stands on (any branch)."""
    if last.revision and last.tool and last.tool.format == "alembic":
        below = revision_graph(migrations).ancestors([last.revision])
        return [m for m in state.pending if m.revision in below]
    return [m for m in state.pending if migrations.index(m) <= migrations.index(last)]


def _alembic_stamp(schema: str, state: LedgerState, migrations: list[Migration], revision: str) -> list[str]:
    """alembic_version after a baseline up to `revision`: one row per head of what is then applied
    (the revision alone on a line; other applied branches keep their rows), like `alembic stamp`."""
    graph = revision_graph(migrations)
    applied = graph.ancestors([*(state.alembic_versions or []), *(m.revision or "" for m in state.applied)])
    heads = graph.heads_of(applied | graph.ancestors([revision]))
    if heads == [revision]:
        return _alembic_set(schema, state.alembic_versions, revision)
    ops = [*(Op("delete", v) for v in state.alembic_versions or []), *(Op("insert", h) for h in heads)]
    return [moves_sql(schema, state.alembic_versions, ops, expect=heads)]


def _alembic_set(schema: str, current: list[str] | None, revision: str) -> list[str]:
    """Statements that make alembic_version hold exactly `revision` (like `alembic stamp`)."""
    return [moves_sql(schema, current, stamp_ops(current, revision), expect=None)]


def resolve(
    target: Target,
    url: DatabaseURL | str | None,
    out: Output,
    version: str,
    *,
    applied: bool,
    dry_run: bool = False,
    yes: bool = False,
) -> AdminResult:
    """Repair the ledger explicitly: mark `version` applied (with today's checksum) or rolled back."""
    db = database_url_for(target, url)
    args = {"version": version, "applied": applied}
    with _logged_admin(target, db, out, task="resolve", args=args, dry_run=dry_run, yes=yes):
        return _resolve(target, db, out, version, applied=applied, dry_run=dry_run)


def _resolve(
    target: Target, db: DatabaseURL, out: Output, version: str, *, applied: bool, dry_run: bool
) -> AdminResult:
    migrations = discover(target)
    with migration_lock(
        db, schema=target.schema, wait=target.lock_wait, connect_timeout=target.connect_timeout
    ):
        state, _ = read_only_state(db, target, migrations)
        known_rows = {r.version for r in state.unknown}
        statements: list[str] = []
        if version in known_rows and not applied:
            statements.append(delete_row_sql(target.schema, version))
            versions = [version]
        else:
            m = find(migrations, version)
            versions = [m.version]
            if applied:
                statements += [
                    create_ledger_sql(target.schema),
                    upsert_row_sql(
                        target.schema,
                        m,
                        duration_ms=None,
                        transaction_mode=m.mode(),
                        outcome="resolved",
                        statements_done=len(m.statements),
                    ),
                ]
            elif state.ledger_exists:
                statements.append(delete_row_sql(target.schema, m.version))
            if target.is_alembic and m.revision:
                statements += _alembic_resolve(target, state, migrations, m, applied=applied)
            statements += _tool_resolve(target, state, migrations, m, applied=applied)
        return _admin_run(
            target,
            db,
            out,
            action=f"resolve {version} as {'applied' if applied else 'rolled back'}",
            dry_run=dry_run,
            statements=statements,
            versions=versions,
            checked=[],
        )


@contextmanager
def _logged_admin(
    target: Target,
    db: DatabaseURL,
    out: Output,
    *,
    task: str,
    args: dict[str, Any],
    dry_run: bool,
    yes: bool,
) -> Iterator[None]:
    """Guard production before any lock is taken, and append the run record however it ends."""
    started = time.monotonic()
    where = f"{db.host}/{db.dbname}"
    code = 1
    try:
        guard_production(target, action=task, where=where, yes=yes, dry_run=dry_run, database=touched(db))
        yield
        code = 0
    except OncallError as exc:
        code = int(exc.code)
        raise
    finally:
        if not dry_run:
            record_run(
                target,
                out.stderr,
                task=task,
                args={**args, "yes": yes},
                outcome=Status.OK if code == 0 else Status.FAILED,
                code=code,
                durations={"total_s": time.monotonic() - started},
                details={"where": where},
            )


def _tool_rows(target: Target, state: LedgerState, todo: list[Migration]) -> list[str]:
    """The format's own ledger rows for `todo`, written as its tool writes them (none for oncall)."""
    adapter = ledger_for(todo[0].tool.format, target.schema) if todo and todo[0].tool else None
    if adapter is None:
        return []
    return [adapter.record_sql(m, create=i == 0 and not state.tool_ledger_exists) for i, m in enumerate(todo)]


def _tool_resolve(
    target: Target, state: LedgerState, migrations: list[Migration], m: Migration, *, applied: bool
) -> list[str]:
    """Bring the tool's own ledger in line with the resolution, when it says otherwise."""
    adapter = ledger_for(m.tool.format, target.schema) if m.tool else None
    if adapter is None:
        return []
    recorded = m.version in state.applied_in_tool
    if applied and not recorded:
        return [adapter.record_sql(m, create=not state.tool_ledger_exists)]
    if not applied and recorded:
        index = migrations.index(m)
        return [adapter.forget_sql(m, migrations[index - 1] if index else None)]
    return []


def _alembic_resolve(
    target: Target, state: LedgerState, migrations: list[Migration], m: Migration, *, applied: bool
) -> list[str]:
    """alembic_version after resolving `m`, as `alembic upgrade`/`downgrade` of that one revision
    would leave it (one row per head; a branch keeps its own row)."""
    current = state.alembic_versions
    rows = current or []
    blocking = [p for p in state.problems if p.details.get("kind") in ("alembic-heads", "alembic-unknown")]
    if blocking:
        raise blocking[0]
    graph = revision_graph(migrations)
    revision = m.revision or ""
    done = graph.ancestors(rows)
    if applied:
        if revision in done:
            return []
        missing = [p for p in graph.parents(revision) if p not in done]
        if missing:
            raise Refused(
                f"alembic_version is at {', '.join(rows) or '(empty)'}, not at {', '.join(missing)} "
                f"which {m.version} follows",
                "resolve the earlier revisions first, in order",
            )
        if rows == ([m.down_revision] if m.down_revision else []) and not graph.is_merge(revision):
            return _alembic_set(target.schema, current, revision)  # a line: like `alembic stamp`
        return [moves_sql(target.schema, current, graph.upgrade_move(rows, revision), expect=None)]
    if revision not in done:
        return []
    if revision not in rows:
        raise Refused(
            f"alembic_version is at {', '.join(rows)}, after {revision}",
            "roll back (resolve --rolled-back) the later revisions first, newest first",
        )
    return [moves_sql(target.schema, current, graph.downgrade_move(rows, revision), expect=None)]
