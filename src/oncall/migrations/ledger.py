"""The ledger tables: our own `oncall_migrations`, and Alembic's `alembic_version`.

`oncall_migrations` (created on first write, in the target's schema) has one row per migration:

    version          text PRIMARY KEY   the file stem, e.g. 20251116_add_ai_usage_and_events
    name             text               the stem without its leading number
    checksum         text               sha256 hex of the file's bytes when it was applied
                                        (partial: that, '/', the committed statements' sha256)
    applied_at       timestamptz        server time of the commit
    applied_by       text               OS user running oncall, and the database role
    host             text               machine oncall ran on
    duration_ms      integer            time spent applying
    transaction_mode text               'transaction' or 'none'
    outcome          text               applied | partial | baseline | resolved
    statements_done  integer            progress of a no-transaction file (resumes from here)

`alembic_version` is created exactly as Alembic creates it (`version_num varchar(32) not null`,
primary key `alembic_version_pkc`) and moved exactly as `alembic upgrade` moves it: one UPDATE from
the down-revision to the revision, inside the migration's transaction.

The runner writes an applied row with a plain INSERT (never merged: a second apply is an error,
and two rows for one version are drift), under the apply lock (`apply_guard_sql`); only the
deliberate repairs (baseline, resolve) replace a row (`upsert_row_sql`).

Readers here only SELECT and never create anything, so they work in a READ ONLY transaction.
"""

from __future__ import annotations

import datetime as _dt
import functools
import getpass
import hashlib
import os
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from psycopg import sql

if TYPE_CHECKING:
    import psycopg

LEDGER_TABLE = "oncall_migrations"
ALEMBIC_TABLE = "alembic_version"
ALEMBIC_VERSION_LENGTH = 32
APPLIED_OUTCOMES = ("applied", "baseline", "resolved")


@dataclass(frozen=True)
class LedgerRow:
    """One row of `oncall_migrations`."""

    version: str
    name: str
    checksum: str
    applied_at: _dt.datetime | None
    applied_by: str
    host: str
    duration_ms: int | None
    transaction_mode: str
    outcome: str
    statements_done: int

    @property
    def is_applied(self) -> bool:
        return self.outcome in APPLIED_OUTCOMES

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "name": self.name,
            "checksum": self.checksum,
            "applied_at": self.applied_at.isoformat() if self.applied_at else None,
            "applied_by": self.applied_by,
            "host": self.host,
            "duration_ms": self.duration_ms,
            "transaction_mode": self.transaction_mode,
            "outcome": self.outcome,
            "statements_done": self.statements_done,
        }


def sql_text(query: sql.Composable) -> str:
    """Composed SQL as text, to be sent with a migration file's own SQL as one simple-protocol query.

    Rendered without a connection (psycopg's `as_string(None)`): identifiers are quoted, and a
    literal is escaped in a form every server reads the same whatever standard_conforming_strings
    says (E'...' when it holds a backslash).
    """
    return query.as_string(None)


def table_id(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema, table)


def qualified(schema: str, table: str) -> str:
    """schema.table with both parts quoted as identifiers (to_regclass arguments, messages)."""
    return sql_text(table_id(schema, table))


_FIELD = re.compile(r"\{(\w+)\}")


class SqlTemplate:
    """SQL composed once, with literal slots filled on each use.

    A run of 300 migrations sends the same statements around each file 300 times with only the
    version, name and checksum changed; composing them whole with psycopg.sql costs tens of
    microseconds each (format parsing, an adapter per part). Here the constant part is composed
    once (identifiers quoted, constant literals rendered); a use quotes only the slot values, with
    sql.Literal as before, so the text is byte for byte what composing it whole gives.
    `text` uses psycopg.sql's {name} fields: those given in `fixed` are composed now, the rest are slots.
    """

    def __init__(self, text: str, **fixed: sql.Composable) -> None:
        pieces = _FIELD.split(text)  # text, field, text, field, ..., text
        self.parts: list[str] = []
        self.slots: list[str] = []
        current = ""
        for index, piece in enumerate(pieces):
            if index % 2 == 0:
                if "{" in piece or "}" in piece:
                    raise ValueError(f"unexpected brace in SQL template text {piece!r}")
                current += piece
            elif piece in fixed:
                current += sql_text(fixed[piece])
            else:
                self.parts.append(current)
                self.slots.append(piece)
                current = ""
        self.parts.append(current)

    def render(self, **values: Any) -> str:
        """The SQL with each slot's value as a literal (or as given, for a Composable)."""
        out = [self.parts[0]]
        for name, after in zip(self.slots, self.parts[1:], strict=True):
            value = values[name]
            out.append(sql_text(value if isinstance(value, sql.Composable) else sql.Literal(value)))
            out.append(after)
        return "".join(out)


def create_ledger_sql(schema: str) -> str:
    return sql_text(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (\n"
            "    version text PRIMARY KEY,\n"
            "    name text NOT NULL,\n"
            "    checksum text NOT NULL,\n"
            "    applied_at timestamptz NOT NULL DEFAULT now(),\n"
            "    applied_by text NOT NULL,\n"
            "    host text NOT NULL,\n"
            "    duration_ms integer,\n"
            "    transaction_mode text NOT NULL,\n"
            "    outcome text NOT NULL,\n"
            "    statements_done integer NOT NULL DEFAULT 0\n"
            ")"
        ).format(table_id(schema, LEDGER_TABLE))
    )


def create_alembic_sql(schema: str) -> str:
    """DDL identical to what Alembic's MigrationContext creates on first upgrade."""
    return sql_text(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (\n"
            "    version_num VARCHAR({}) NOT NULL,\n"
            "    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n"
            ")"
        ).format(table_id(schema, ALEMBIC_TABLE), sql.Literal(ALEMBIC_VERSION_LENGTH))
    )


def who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return user


@dataclass(frozen=True)
class Origin:
    """Who applies and from which machine (applied_by, host): looked up once per run, not per row."""

    user: str = field(default_factory=who)
    host: str = field(default_factory=socket.gethostname)


class Recordable(Protocol):
    """What the ledger keeps of a migration file (oncall.migrations.Migration is one)."""

    @property
    def version(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def checksum(self) -> str: ...


def insert_row_sql(
    schema: str,
    migration: Recordable,
    *,
    duration_ms: int | None,
    transaction_mode: str,
    outcome: str,
    statements_done: int = 0,
    checksum: str | None = None,
    origin: Origin | None = None,
) -> str:
    """One plain INSERT that records `migration`; `applied_by` adds the database role.

    A second row for the same version fails on the primary key: the runner never merges two applies.
    `duration_ms=-1` measures inside the transaction: clock_timestamp() - now() is the time since
    BEGIN, i.e. how long the migration's own statements took, without another round trip.
    `checksum` defaults to the file's (a partial row records `partial_checksum` instead).
    `origin` (who and where) is looked up here unless the caller looked it up once for its run.
    """
    origin = origin or Origin()
    measured = duration_ms == -1
    template = _insert_template(schema, origin, transaction_mode, outcome, measured=measured)
    return template.render(
        version=migration.version,
        name=migration.name,
        checksum=checksum or migration.checksum,
        done=int(statements_done),
        **({} if measured else {"duration": None if duration_ms is None else int(duration_ms)}),
    )


@functools.lru_cache(maxsize=32)
def _insert_template(
    schema: str, origin: Origin, transaction_mode: str, outcome: str, *, measured: bool
) -> SqlTemplate:
    fixed: dict[str, sql.Composable] = {
        "table": table_id(schema, LEDGER_TABLE),
        "who": sql.Literal(origin.user),
        "host": sql.Literal(origin.host),
        "mode": sql.Literal(transaction_mode),
        "outcome": sql.Literal(outcome),
    }
    if measured:
        fixed["duration"] = sql.SQL("round(extract(epoch FROM clock_timestamp() - now()) * 1000)::integer")
    return SqlTemplate(
        "INSERT INTO {table} AS l "
        "(version, name, checksum, applied_at, applied_by, host, duration_ms, transaction_mode, "
        "outcome, statements_done) VALUES ({version}, {name}, {checksum}, now(), "
        "{who} || ' as ' || current_user, {host}, {duration}, {mode}, {outcome}, {done})",
        **fixed,
    )


def upsert_row_sql(
    schema: str,
    migration: Recordable,
    *,
    duration_ms: int | None,
    transaction_mode: str,
    outcome: str,
    statements_done: int = 0,
) -> str:
    """`insert_row_sql` that replaces an existing row: only for deliberate repairs (baseline, resolve)."""
    return (
        insert_row_sql(
            schema,
            migration,
            duration_ms=duration_ms,
            transaction_mode=transaction_mode,
            outcome=outcome,
            statements_done=statements_done,
        )
        + " ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, checksum = EXCLUDED.checksum, "
        "applied_at = EXCLUDED.applied_at, applied_by = EXCLUDED.applied_by, host = EXCLUDED.host, "
        "duration_ms = EXCLUDED.duration_ms, transaction_mode = EXCLUDED.transaction_mode, "
        "outcome = EXCLUDED.outcome, statements_done = EXCLUDED.statements_done"
    )


# --- exactly once -----------------------------------------------------------------------------
# Custom SQLSTATEs the runner's guards raise inside a migration's transaction (OC001 is Alembic's).
ALEMBIC_VERSION_MOVED = "OC001"  # alembic_version changed under the migration (its guard)
APPLIED_ELSEWHERE = "OC002"  # the ledger already records this version with this content
APPLY_LOCK_TIMEOUT = "OC003"  # another run held the apply lock for longer than lock_wait
LEDGER_CONFLICT = "OC004"  # the ledger records this version twice, or with other content


def statements_digest(texts: Sequence[str]) -> str:
    """sha256 of the statements that committed in a partial apply (each text, NUL-separated)."""
    return hashlib.sha256("\0".join(texts).encode()).hexdigest()


def partial_checksum(file_checksum: str, done_texts: Sequence[str]) -> str:
    """The checksum column of a `partial` row: the file's, then `/` and the committed statements'.

    The second half lets a rerun accept a file whose failed statement was fixed, as long as every
    statement that already committed is byte-identical.
    """
    return f"{file_checksum}/{statements_digest(done_texts)}"


def apply_guard_sql(
    schema: str, migration: Recordable, *, key: int, wait_s: float, repeatable: bool = False
) -> str:
    """Take the transaction-level apply lock, then fail the transaction if the ledger already has it.

    Every writer of a migration's ledger row holds this lock (or its session-level twin around a
    no-transaction file) while it reads and writes the row: a second runner waits here for the
    first one's COMMIT, then reads the row (READ COMMITTED: a fresh snapshot per statement) and stops
    before running the file. The SQLSTATEs: OC002 applied once with this content (another run did
    it: nothing to do), OC004 recorded twice or with other content (drift), OC003 the lock was not
    granted within `wait_s` (its own lock_timeout; the caller sets the migration's after this).
    A `repeatable` migration (Flyway's R__) runs again whenever its content changes: a row with
    other content is its previous run, which `replace_repeatable_sql` removes in the same transaction.
    Compact on purpose: pg_stat_activity shows only the first 1024 bytes of the round trip.
    """
    wait_ms = max(1, round(wait_s * 1000))
    template = _guard_template(schema, int(key), wait_ms, repeatable)
    return template.render(version=migration.version, checksum=migration.checksum)


@functools.lru_cache(maxsize=32)
def _guard_template(schema: str, key: int, wait_ms: int, repeatable: bool) -> SqlTemplate:
    """apply_guard_sql's text with the version and checksum left as slots (the rest is per schema)."""
    table = table_id(schema, LEDGER_TABLE)
    other_content = "false" if repeatable else "c IS NOT NULL"
    return SqlTemplate(
        "DO $oncall_guard$DECLARE c text[];BEGIN "
        "PERFORM set_config('lock_timeout',{wait},true);PERFORM pg_advisory_xact_lock({key});"
        "IF to_regclass({name}) IS NULL THEN RETURN;END IF;"
        "SELECT array_agg(checksum)INTO c FROM {table} WHERE version={version} AND outcome<>'partial';"
        "IF cardinality(c)=1 AND c[1]={checksum} THEN RAISE SQLSTATE {applied};"
        "ELSIF {other_content} THEN RAISE SQLSTATE {conflict} USING "
        "MESSAGE='recorded as applied with sha256 '||array_to_string(c,', ');END IF;"
        "EXCEPTION WHEN lock_not_available THEN RAISE SQLSTATE {lock_timeout};END$oncall_guard$",
        wait=sql.Literal(f"{wait_ms}ms"),
        key=sql.Literal(key),
        name=sql.Literal(sql_text(table)),
        table=table,
        applied=sql.Literal(APPLIED_ELSEWHERE),
        other_content=sql.SQL(other_content),
        conflict=sql.Literal(LEDGER_CONFLICT),
        lock_timeout=sql.Literal(APPLY_LOCK_TIMEOUT),
    )


def replace_repeatable_sql(schema: str, version: str) -> str:
    """Remove the previous run's row of a repeatable migration, so that its new run records one row."""
    return sql_text(
        sql.SQL("DELETE FROM {} WHERE version = {} AND outcome <> 'partial'").format(
            table_id(schema, LEDGER_TABLE), sql.Literal(version)
        )
    )


def progress_sql(schema: str, version: str, *, done: int, checksum: str, duration_ms: int) -> str:
    """Advance a partial row from `done - 1` to `done` statements (0 rows updated: someone else moved it)."""
    return sql_text(
        sql.SQL(
            "UPDATE {table} SET statements_done = {done}, checksum = {checksum}, "
            "duration_ms = {duration}, applied_at = now() "
            "WHERE version = {version} AND outcome = 'partial' AND statements_done = {before}"
        ).format(
            table=table_id(schema, LEDGER_TABLE),
            done=sql.Literal(int(done)),
            checksum=sql.Literal(checksum),
            duration=sql.Literal(int(duration_ms)),
            version=sql.Literal(version),
            before=sql.Literal(int(done) - 1),
        )
    )


def delete_claim_sql(schema: str, version: str) -> str:
    """Remove a `partial` row that records no statement done (a claim, nothing committed)."""
    return _delete_claim_template(schema).render(version=version)


@functools.lru_cache(maxsize=32)
def _delete_claim_template(schema: str) -> SqlTemplate:
    return SqlTemplate(
        "DELETE FROM {table} WHERE version = {version} AND outcome = 'partial' AND statements_done = 0",
        table=table_id(schema, LEDGER_TABLE),
    )


def finish_sql(
    schema: str, migration: Recordable, *, statements: int, duration_ms: int, origin: Origin | None = None
) -> str:
    """Turn the partial row of a no-transaction file into its applied row."""
    origin = origin or Origin()
    return sql_text(
        sql.SQL(
            "UPDATE {table} SET outcome = 'applied', checksum = {checksum}, statements_done = {done}, "
            "duration_ms = {duration}, applied_at = now(), applied_by = {who} || ' as ' || current_user, "
            "host = {host} WHERE version = {version} AND outcome = 'partial'"
        ).format(
            table=table_id(schema, LEDGER_TABLE),
            checksum=sql.Literal(migration.checksum),
            done=sql.Literal(int(statements)),
            duration=sql.Literal(int(duration_ms)),
            who=sql.Literal(origin.user),
            host=sql.Literal(origin.host),
            version=sql.Literal(migration.version),
        )
    )


def delete_row_sql(schema: str, version: str) -> str:
    return sql_text(
        sql.SQL("DELETE FROM {} WHERE version = {}").format(
            table_id(schema, LEDGER_TABLE), sql.Literal(version)
        )
    )


def table_exists(conn: psycopg.Connection[Any], schema: str, table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (qualified(schema, table),)).fetchone()
    return bool(row and row[0])


def existing(conn: psycopg.Connection[Any], schema: str) -> tuple[bool, bool]:
    """Whether the ledger and alembic_version tables exist, in one round trip."""
    row = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL",
        (qualified(schema, LEDGER_TABLE), qualified(schema, ALEMBIC_TABLE)),
    ).fetchone()
    return (bool(row[0]), bool(row[1])) if row else (False, False)


def read_rows(
    conn: psycopg.Connection[Any], schema: str, *, exists: bool | None = None
) -> list[LedgerRow] | None:
    """Every ledger row, or None when the ledger table does not exist yet (nothing is created)."""
    if not (table_exists(conn, schema, LEDGER_TABLE) if exists is None else exists):
        return None
    cur = conn.execute(
        sql.SQL(
            "SELECT version, name, checksum, applied_at, applied_by, host, duration_ms, transaction_mode, "
            "outcome, statements_done FROM {} ORDER BY version"
        ).format(table_id(schema, LEDGER_TABLE))
    )
    return [LedgerRow(*row) for row in cur.fetchall()]


def read_alembic(
    conn: psycopg.Connection[Any], schema: str, *, exists: bool | None = None
) -> list[str] | None:
    """The rows of alembic_version, or None when the table does not exist."""
    if not (table_exists(conn, schema, ALEMBIC_TABLE) if exists is None else exists):
        return None
    cur = conn.execute(
        sql.SQL("SELECT version_num FROM {} ORDER BY 1").format(table_id(schema, ALEMBIC_TABLE))
    )
    return [str(row[0]) for row in cur.fetchall()]


@functools.lru_cache(maxsize=32)
def set_sql(setting: str, value: str, *, local: bool) -> str:
    """`SET [LOCAL] setting = 'value'` for the timeouts every migration transaction sets (composed once)."""
    scope = "SET LOCAL" if local else "SET"
    return sql_text(sql.SQL("{} {} = {}").format(sql.SQL(scope), sql.SQL(setting), sql.Literal(value)))
