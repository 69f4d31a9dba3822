"""verify: the schema the applied migrations declare, checked against the live database.

    verify(target, url, *, only=None) -> VerifyResult      (also used by health and recover)

One run, inside one READ ONLY transaction with a short statement_timeout and lock_timeout:

1. the ledger (`oncall.migrations.read_state`): pending files (exit 1, "run invoke migrate"), edited
   files and alembic_version drift (exit 5); for Alembic targets one alembic_version row per head
   of the applied revisions (one row for a linear history; one per branch where branches are
   applied and not yet merged), as Alembic itself leaves them;
2. the expected schema: the applied files replayed into a shadow database and its catalog read back
   (`oncall.schema.shadow`), cached by the files' checksums so that unchanged files never replay;
   when the shadow cannot be had, one note says why and the static pglast model
   (`oncall.schema.expect`, `oncall.schema.catalog`) checks what it can, naming what it cannot;
3. the live catalog, read by the same reader as the shadow (`oncall.schema.snapshot`): one statement
   for every object kind, one more for seed rows, whatever the number of objects;
4. the comparison (`oncall.schema.diff`): one `VerifyRow` per expected object (kind, name, expected,
   found, result), failures first; what differs says what was expected and what was found; objects
   the migrations did not make are warnings; INVALID indexes and NOT VALID constraints fail.

Exit codes: 0 everything present, 1 something missing or different (or pending), 5 ledger drift.
Drift wins over a mismatch: when the files no longer say what was applied, the expectation itself
cannot be trusted.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psycopg import sql

from oncall.config import Target
from oncall.db.connect import DatabaseURL, connect, database_url_for
from oncall.db.errors import Kind, Where, kind_of, sqlstate_of, translate
from oncall.errors import BadInput, ExitCode, OncallError, Unreachable
from oncall.migrations.files import LedgerState, Migration, discover, read_state, revision_graph
from oncall.migrations.ledger import LEDGER_TABLE
from oncall.schema.cache import Prepared, expected_for
from oncall.schema.catalog import read_catalog
from oncall.schema.diff import compare_snapshots
from oncall.schema.expect import qualified
from oncall.schema.result import DRIFT, FAIL, OK, WARNING, VerifyRow
from oncall.schema.result import ORDER as _ORDER
from oncall.schema.shadow import (
    LiveFacts,
    ShadowUnavailable,
    cached_snapshot,
    expected_snapshot,
    shadow_enabled,
    shadow_url,
)
from oncall.schema.snapshot import CatalogObject, Snapshot, lookup_rows, read_snapshot
from oncall.schema.static import compare, unchecked_by_static_model

if TYPE_CHECKING:
    import psycopg

# A verify reads the catalog and a few seed rows: anything slower than this is stuck behind
# something, and an on-call engineer should hear so rather than wait.
STATEMENT_TIMEOUT = "10s"
LOCK_TIMEOUT = "2s"

MIGRATE_HINT = "run invoke migrate"


@dataclass
class VerifyResult:
    """What verify found; `.ok`, `.code`, `.rows` (failures first), `.as_dict()` for --json."""

    target: str
    where: str
    rows: list[VerifyRow] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    queries: int = 0
    elapsed_ms: float = 0.0
    # Where the expectation came from (shadow replay, cached or not, or the static model), and what
    # could not be checked (named, never skipped silently).
    expected_from: str = ""
    unchecked: list[str] = field(default_factory=list)

    @property
    def code(self) -> int:
        if any(r.result == DRIFT for r in self.rows):
            return int(ExitCode.DRIFT)
        if any(r.failed for r in self.rows):
            return int(ExitCode.CHECK_FAILED)
        return int(ExitCode.OK)

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def failures(self) -> list[VerifyRow]:
        return [r for r in self.rows if r.failed]

    @property
    def warnings(self) -> list[VerifyRow]:
        return [r for r in self.rows if r.result == WARNING]

    @property
    def hint(self) -> str | None:
        return next((r.hint for r in self.failures if r.hint), None)

    def verdict(self) -> str:
        """The one-line summary a person reads first."""
        objects = [r for r in self.rows if r.kind not in ("ledger", "migration")]
        warn = f", {len(self.warnings)} warning(s)" if self.warnings else ""
        if self.unchecked:
            warn += f", {len(self.unchecked)} object(s) not checkable: " + "; ".join(self.unchecked[:3])
            warn += ", ..." if len(self.unchecked) > 3 else ""
        if self.ok:
            if not self.applied:
                return f"verify {self.target}: OK, no migrations applied yet and none pending{warn}"
            return (
                f"verify {self.target}: OK, {len(objects)} objects from {len(self.applied)} applied "
                f"migration(s) present as declared{warn}"
            )
        first = self.failures[0]
        return (
            f"verify {self.target}: FAILED, {len(self.failures)} problem(s); first: {first.kind} "
            f"{first.name} {first.result}" + (f" ({first.detail})" if first.detail else "") + warn
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "code": self.code,
            "target": self.target,
            "database": self.where,
            "verdict": self.verdict(),
            "hint": self.hint,
            "applied": self.applied,
            "pending": self.pending,
            "counts": {
                "rows": len(self.rows),
                "failed": len(self.failures),
                "warnings": len(self.warnings),
            },
            "queries": self.queries,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "expected_from": self.expected_from,
            "unchecked": self.unchecked,
            "rows": [r.as_dict() for r in self.rows],
            "notes": self.notes,
        }


# --- the library entry points ------------------------------------------------------------------


def verify(target: Target, url: DatabaseURL | str, *, only: Sequence[str] | None = None) -> VerifyResult:
    """Check the live database of `target` against its applied migrations; read-only."""

    url = database_url_for(target, url)
    migrations = discover(target)
    # The static model is only the fallback when a shadow replay is on: no point preparing it then.
    prepared = (
        None
        if shadow_enabled(target)
        else Prepared(_files(migrations), default_schema=target.schema, state_dir=target.state_dir)
    )
    conn = connect(url, connect_timeout=target.connect_timeout, autocommit=True)
    try:
        return verify_on(conn, target, migrations, only=only, where=url.where, prepared=prepared, url=url)
    finally:
        conn.close()


def verify_on(
    conn: psycopg.Connection[Any],
    target: Target,
    migrations: list[Migration],
    *,
    only: Sequence[str] | None = None,
    where: str = "",
    prepared: Prepared | None = None,
    url: DatabaseURL | None = None,
) -> VerifyResult:
    """verify on an open autocommit connection (the bench counts the statements it sends).

    `prepared`: an expectation being read in the background (see verify); used when it was prepared
    for exactly the applied files. `url`: what an error names of the database (else the session's).
    """
    import psycopg

    started = time.perf_counter()
    result = VerifyResult(target=target.name, where=where or f"{conn.info.host}/{conn.info.dbname}")
    place: Where = url if url is not None else _session_of(conn)
    try:
        # One round trip: a READ ONLY snapshot, and timeouts that only live as long as it does.
        conn.execute(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
            f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'; "
            f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"
        )
        try:
            state = read_state(conn, target, migrations)
            result.applied = [m.path.name for m in state.applied]
            result.pending = [m.path.name for m in state.pending]
            checked = _shadow_check(conn, target, state.applied, only, result) if state.applied else None
            if checked is None:
                checked = _static_check(conn, target, state.applied, only, prepared, result=result)
        finally:
            if not conn.broken:
                conn.execute("ROLLBACK")
    except psycopg.Error as exc:
        raise _translate(exc, place, result.where) from exc
    result.rows = ledger_rows(target, state) + checked
    result.rows.sort(key=lambda r: _ORDER[r.result])
    result.elapsed_ms = (time.perf_counter() - started) * 1000
    return result


def _shadow_check(
    conn: psycopg.Connection[Any],
    target: Target,
    applied: list[Migration],
    only: Sequence[str] | None,
    result: VerifyResult,
) -> list[VerifyRow] | None:
    """Catalog against catalog: the shadow's (cached) snapshot and the live one; None to fall back."""
    if not shadow_enabled(target):
        result.expected_from = "static model (verify_shadow: false)"
        return None
    live_version = conn.info.server_version
    expected = cached_snapshot(target, applied, live_version // 10000)
    if expected is not None:
        result.expected_from = "shadow replay (cached)"
    else:
        roles: list[str] = []
        if shadow_url(target) is None:
            # The embedded shadow gets the live roles, so that GRANTs and policies TO them replay.
            roles = [r for (r,) in conn.execute(_ROLES_SQL).fetchall()]
            result.queries += 1
        try:
            expected = expected_snapshot(target, applied, LiveFacts(live_version, roles))
        except ShadowUnavailable as exc:
            result.notes.append(f"shadow: {exc}; checked with the static model instead")
            return None
        result.expected_from = "shadow replay"
    if only:
        tables = _only_tables(expected, _split_only(only), target.schema)
        expected = expected.only(tables)
    conn.execute(sql.SQL("SET LOCAL search_path = {}").format(sql.Identifier(target.schema)))
    live = read_snapshot(conn, sorted({target.schema, *expected.schemas}))
    if only:
        live = live.only(tables)
    rows = expected.sorted_rows()
    checkable = [(i, r) for i, r in enumerate(rows) if _row_checkable(r, live)]
    found_rows = lookup_rows(conn, [r for _, r in checkable])
    result.queries += 1 + (1 if checkable else 0)
    rows_found = {i: found_rows.get(n) for n, (i, _) in enumerate(checkable)}
    shadow_major = expected.server_version // 10000
    if shadow_major != live_version // 10000:
        result.notes.append(
            f"expected schema from PostgreSQL {shadow_major}, live is {live_version // 10000}: "
            "definitions are compared as each server prints them"
        )
    result.unchecked = list(expected.unchecked)
    files = [(m.path.name, m.sql) for m in applied]
    return compare_snapshots(expected, live, rows_found, default_schema=target.schema, files=files)


_ROLES_SQL = "SELECT rolname::text FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY 1"


def _row_checkable(row: CatalogObject, live: Snapshot) -> bool:
    columns = [*row.fields.get("key", {}), *row.fields.get("values", {})]
    return all(("column", row.schema, row.table or "", c) in live.objects for c in columns)


def _only_tables(expected: Snapshot, names: Sequence[str], default_schema: str) -> list[tuple[str, str]]:
    """--only names -> (schema, table) keys; BadInput for a table no applied migration makes."""
    tables = expected.tables()
    wanted = []
    for raw in names:
        schema, _, table = raw.rpartition(".")
        key = (schema or default_schema, table)
        if key not in tables:
            known = ", ".join(qualified(s, t, default_schema) for s, t in sorted(tables))
            raise BadInput(
                f"--only {raw}: no applied migration declares table {raw}",
                f"choose among: {known or '(no tables expected)'}",
            )
        wanted.append(key)
    return wanted


def _static_check(
    conn: psycopg.Connection[Any],
    target: Target,
    applied: list[Migration],
    only: Sequence[str] | None,
    prepared: Prepared | None,
    *,
    result: VerifyResult,
) -> list[VerifyRow]:
    """The fallback: the pglast model of the files against the catalog, naming what it cannot check."""
    files = _files(applied)
    exp = prepared.result_for(files) if prepared is not None else None
    if exp is None:
        exp = expected_for(files, default_schema=target.schema, state_dir=target.state_dir)
    if only:
        exp = exp.only(_split_only(only))
    catalog = read_catalog(conn, exp)
    result.queries += catalog.queries
    result.notes.extend(exp.notes)
    if applied:
        result.expected_from = result.expected_from or "static model"
        result.unchecked = unchecked_by_static_model(applied)
    return compare(exp, catalog)


def _files(migrations: Iterable[Migration]) -> list[tuple[str, str]]:
    """(file name, SQL) in name order: what the expectation is built from."""
    return [(m.path.name, m.sql) for m in sorted(migrations, key=lambda m: m.path.name)]


def _split_only(only: Iterable[str]) -> list[str]:
    return [name.strip() for item in only for name in item.split(",") if name.strip()]


# verify's own next step for what can go wrong while it reads; the rest is the translator's.
VERIFY_HINTS: dict[Kind, str | None] = {
    Kind.LOCK: "a migration or DDL holds the table; wait for it (invoke status) and run verify again",
    Kind.PERMISSION: "verify reads pg_catalog and the seeded tables; grant SELECT on them to this role",
    Kind.CONNECTION: "retry; run invoke doctor",
    Kind.FAILED: "rerun with --debug and report it",
}


@dataclass(frozen=True)
class _Session:
    """What an error names of the database when verify_on is given only a connection."""

    host: str
    port: int
    user: str
    dbname: str
    source: str = "database URL"

    @property
    def hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _session_of(conn: psycopg.Connection[Any]) -> _Session:
    info = conn.info
    return _Session(host=info.host, port=info.port, user=info.user, dbname=info.dbname)


def _translate(exc: Exception, url: Where, where: str) -> OncallError:
    """A psycopg error while verify reads, as ours: the one translator, with verify's hints.

    A statement_timeout stays Unreachable (exit 3, docs/verify.md): verify's reads are cheap, so a
    timeout means the server did not answer, not that a statement was too slow.
    """
    if kind_of(exc) is Kind.STATEMENT_TIMEOUT:
        return Unreachable(
            f"verify on {where} did not finish within statement_timeout {STATEMENT_TIMEOUT}",
            "the server is overloaded or the catalog is locked; check pg_stat_activity and retry",
            sqlstate=sqlstate_of(exc),
        )
    return translate(exc, url, "verifying the schema", hints=VERIFY_HINTS)


# --- the ledger --------------------------------------------------------------------------------


def ledger_rows(target: Target, state: LedgerState) -> list[VerifyRow]:
    """Rows for the ledger facts: pending files, edited files, unknown rows, alembic_version."""
    rows: list[VerifyRow] = []
    applied, pending = len(state.applied), len(state.pending)
    if pending:
        names = ", ".join(m.path.name for m in state.pending)
        rows.append(
            VerifyRow(
                "ledger",
                "pending migrations",
                "none pending",
                f"{pending} pending: {names}",
                FAIL,
                detail="nothing applied yet" if not applied else f"{applied} applied",
                hint=MIGRATE_HINT,
            )
        )
    else:
        rows.append(
            VerifyRow("ledger", "pending migrations", "none pending", f"{applied} applied, 0 pending", OK)
        )
    edit_hint = next((p.hint for p in state.problems if "edited" in p.details), None)
    for migration in state.edited:
        recorded = state.rows[migration.version].checksum
        rows.append(
            VerifyRow(
                "migration",
                migration.path.name,
                f"sha256 {recorded[:12]} (as applied)",
                f"sha256 {migration.checksum[:12]} (on disk)",
                DRIFT,
                detail="edited after it was applied",
                hint=edit_hint,
            )
        )
    # read_state's Drift problems say which fact they are about in their details; the edited files
    # and alembic_version get rows of their own above and below, the rest (ledger rows without a
    # file) one row each on the ledger table.
    covered = ("edited", "alembic_versions", "behind") if target.is_alembic else ("edited",)
    for problem in state.problems:
        if not any(key in problem.details for key in covered):
            rows.append(
                VerifyRow("ledger", LEDGER_TABLE, "consistent", problem.cause, DRIFT, hint=problem.hint)
            )
    if target.is_alembic:
        rows.append(_alembic_row(state))
    return rows


def _alembic_row(state: LedgerState) -> VerifyRow:
    """One alembic_version row per head of the applied revisions, as Alembic leaves them."""
    applied = [m.revision for m in state.applied if m.revision]
    heads = revision_graph(state.migrations).heads_of(applied)
    versions = state.alembic_versions or []
    found = "(no table)" if state.alembic_versions is None else (", ".join(versions) or "(empty)")
    if not heads:
        expected = "no row (nothing applied)"
    elif len(heads) == 1:
        expected = f"one row: {heads[0]}"
    else:
        expected = f"{len(heads)} rows, one per applied branch: {', '.join(heads)}"
    problem = next(
        (p for p in state.problems if "alembic_versions" in p.details or "behind" in p.details), None
    )
    if sorted(versions) == heads:
        return VerifyRow("ledger", "alembic_version", expected, found, OK)
    if problem is not None and problem.details.get("kind") == "alembic-heads":
        detail = f"{len(versions)} rows: Alembic sees several heads"
    else:
        detail = problem.cause if problem else "alembic_version disagrees with the ledger"
    return VerifyRow(
        "ledger",
        "alembic_version",
        expected,
        found,
        DRIFT,
        detail=detail,
        hint=problem.hint
        if problem
        else "keep one row per head of the applied revisions, after checking the schema",
    )
