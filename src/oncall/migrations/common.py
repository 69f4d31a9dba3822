"""What the migration runner and the admin commands (baseline, resolve) both need.

The ledger state read in a READ ONLY transaction, a psycopg error outside a
migration's own SQL as our error, ending a failed transaction, and a plain progress line. They sit
below both `run` and `admin` so that neither borrows the other's internals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from oncall.config import Target
from oncall.db.connect import DatabaseURL, connect
from oncall.db.errors import Kind, translate
from oncall.errors import OncallError
from oncall.migrations.files import LedgerState, Migration, read_state
from oncall.output import Output
from oncall.redact import redact

if TYPE_CHECKING:
    import psycopg

WORK_APPLICATION_NAME = "oncall migrate"

# What the migration commands say on top of the boundary's causes (oncall.db.errors).
MIGRATION_HINTS: Mapping[Kind, str | None] = {
    Kind.PERMISSION: "use a role that owns the schema (Supabase: postgres); invoke doctor shows the rights",
    Kind.CONNECTION: "check the database is up, then rerun (a migration that was cut off was rolled back)",
}


def read_only_state(url: DatabaseURL, target: Target, migrations: list[Migration]) -> tuple[LedgerState, int]:
    """The ledger state read on a connection of its own (status, plan, baseline, resolve)."""
    conn = connect(url, connect_timeout=target.connect_timeout, application_name="oncall status")
    try:
        return read_state_on(conn, url, target, migrations)
    finally:
        conn.close()


def read_state_on(
    conn: psycopg.Connection[Any], url: DatabaseURL, target: Target, migrations: list[Migration]
) -> tuple[LedgerState, int]:
    """The ledger state read in a READ ONLY transaction (proof that status and plan write nothing)."""
    import psycopg

    try:
        conn.execute(b"BEGIN READ ONLY")
        state = read_state(conn, target, migrations)
        conn.execute(b"ROLLBACK")
    except psycopg.Error as exc:
        rollback(conn)
        raise database_error(exc, url, "reading the ledger") from exc
    return state, conn.info.server_version


def database_error(exc: Exception, url: DatabaseURL, doing: str) -> OncallError:
    """A psycopg error outside a migration's own SQL, as our error, with the migration commands' hints."""
    return translate(exc, url, doing, hints=MIGRATION_HINTS)


def say(out: Output, text: str) -> None:
    """One line for people, where `out.print` would put it (stdout; stderr under --json), redacted.

    Plain text rather than rich: no markup to misread in SQL, versions or lint rule names, no
    wrapping of SQL lines, and a run that prints only such lines never imports rich.
    """
    stream = out.stderr if out.json_mode else out.stdout
    stream.write(redact(text) + "\n")
    stream.flush()


def rollback(conn: psycopg.Connection[Any]) -> None:
    """End a failed transaction on an autocommit connection; a broken connection is just closed."""
    import psycopg

    if conn.closed or conn.broken:
        return
    try:
        conn.execute(b"ROLLBACK")
    except psycopg.Error:
        conn.close()
