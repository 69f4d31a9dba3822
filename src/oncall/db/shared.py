"""Tables oncall shares through the target's own database: the run history and the alert state.

    oncall_runs           one row per run record (who, where, task, target, outcome, the record)
    oncall_notify_state   one row per target: health --notify's state, for a scheduler without
                          a writable disk (a Render cron job); a row lock serialises overlapping runs.
                          Each channel's delivery state is a record inside the row's jsonb, not a
                          row of its own: a role with only SELECT, INSERT, UPDATE on the table (no
                          ALTER) keeps working, and one row lock still covers every channel

Both live in the target's schema and are created on first use. A table is created only when it
is missing (`to_regclass` first): `CREATE TABLE IF NOT EXISTS` checks the CREATE privilege on the
schema even when the table exists, which would refuse every engineer but the table's creator.
Callers decide what a failure means (a warning for the history, never a failed run).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

RUNS_TABLE = "oncall_runs"
STATE_TABLE = "oncall_notify_state"


def _exists(conn: psycopg.Connection[Any], schema: str, table: str) -> bool:
    from psycopg import sql

    name = sql.SQL(".").join([sql.Identifier(schema), sql.Identifier(table)]).as_string(conn)
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [name]).fetchone()
    return bool(row and row[0])


def _create(conn: psycopg.Connection[Any], statement: Any) -> None:
    """Run one CREATE; a concurrent first use that created it a moment earlier is fine."""
    import psycopg

    try:
        with conn.transaction():
            conn.execute(statement)
    except (psycopg.errors.DuplicateTable, psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject):
        return


def ensure_runs_table(conn: psycopg.Connection[Any], schema: str) -> None:
    from psycopg import sql

    if _exists(conn, schema, RUNS_TABLE):
        return
    _create(
        conn,
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {}.{} ("
            " id bigserial PRIMARY KEY,"
            " time timestamptz NOT NULL,"
            " finished timestamptz,"
            " username text, host text, target text, task text, outcome text, code integer,"
            " record jsonb NOT NULL)"
        ).format(sql.Identifier(schema), sql.Identifier(RUNS_TABLE)),
    )


def insert_run(conn: psycopg.Connection[Any], schema: str, record: dict[str, Any]) -> None:
    """Append one run record (already redacted by the run log) to oncall_runs, creating it if needed."""
    from psycopg import sql

    ensure_runs_table(conn, schema)
    conn.execute(
        sql.SQL(
            "INSERT INTO {}.{} (time, finished, username, host, target, task, outcome, code, record)"
            " VALUES (%s::timestamptz, %s::timestamptz, %s, %s, %s, %s, %s, %s, %s::jsonb)"
        ).format(sql.Identifier(schema), sql.Identifier(RUNS_TABLE)),
        [
            record.get("time"),
            record.get("finished"),
            record.get("user"),
            record.get("host"),
            record.get("target"),
            record.get("task"),
            record.get("outcome"),
            record.get("code"),
            json.dumps(record, default=str),
        ],
    )


def select_runs(
    conn: psycopg.Connection[Any],
    schema: str,
    *,
    target: str,
    task: str | None = None,
    last: int = 10,
    since: str | None = None,
    until: str | None = None,
) -> list[dict[str, Any]]:
    """The newest `last` records of `target` (0: all), newest first; [] when nobody shared any yet."""
    from psycopg import sql

    if not _exists(conn, schema, RUNS_TABLE):
        return []
    where = [sql.SQL("target = %s")]
    params: list[Any] = [target]
    filters = (
        (sql.SQL("task = %s"), task),
        (sql.SQL("time >= %s::timestamptz"), since),
        (sql.SQL("time <= %s::timestamptz"), until),
    )
    for clause, value in filters:
        if value is not None:
            where.append(clause)
            params.append(value)
    query = sql.SQL("SELECT record FROM {}.{} WHERE {} ORDER BY time DESC, id DESC").format(
        sql.Identifier(schema), sql.Identifier(RUNS_TABLE), sql.SQL(" AND ").join(where)
    )
    if last > 0:
        query = sql.SQL("{} LIMIT {}").format(query, sql.Literal(last))
    return [row[0] for row in conn.execute(query, params).fetchall() if isinstance(row[0], dict)]


def ensure_state_table(conn: psycopg.Connection[Any], schema: str) -> None:
    from psycopg import sql

    if _exists(conn, schema, STATE_TABLE):
        return
    _create(
        conn,
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {}.{} ("
            " target text PRIMARY KEY, state jsonb, updated timestamptz NOT NULL DEFAULT now())"
        ).format(sql.Identifier(schema), sql.Identifier(STATE_TABLE)),
    )


@contextmanager
def locked_state(
    conn: psycopg.Connection[Any], schema: str, target: str
) -> Iterator[tuple[dict[str, Any] | None, Callable[[dict[str, Any]], None]]]:
    """The stored state of `target` under a row lock held until the block ends (then committed).

    An overlapping run of the same target waits at the SELECT ... FOR UPDATE, and then sees the
    state this run stored.
    """
    from psycopg import sql

    ensure_state_table(conn, schema)
    table = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(STATE_TABLE))
    with conn.transaction():
        conn.execute(
            sql.SQL("INSERT INTO {} (target) VALUES (%s) ON CONFLICT (target) DO NOTHING").format(table),
            [target],
        )
        row = conn.execute(
            sql.SQL("SELECT state FROM {} WHERE target = %s FOR UPDATE").format(table), [target]
        ).fetchone()
        previous = row[0] if row and isinstance(row[0], dict) else None

        def save(state: dict[str, Any]) -> None:
            conn.execute(
                sql.SQL("UPDATE {} SET state = %s::jsonb, updated = now() WHERE target = %s").format(table),
                [json.dumps(state), target],
            )

        yield previous, save
