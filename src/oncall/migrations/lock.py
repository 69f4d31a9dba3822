"""The migration lock: one session-level advisory lock on a dedicated connection, polled, never awaited.

Why polled with `pg_try_advisory_lock` and not a blocking `pg_advisory_lock`: a waiting session
would sit in a lock queue, and a CREATE INDEX CONCURRENTLY of the run holding the lock waits for
every older transaction, which can deadlock with a blocking waiter (golang-migrate#960). Polling
from autocommit leaves no transaction open while waiting.

Why session-level on its own connection: the migrations commit one by one on another connection,
and a killed run leaves nothing behind; the server drops a session lock with its connection.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oncall import retry
from oncall.db.connect import DatabaseURL, connect
from oncall.errors import Refused, Unreachable

if TYPE_CHECKING:
    import datetime as _dt

    import psycopg

LOCK_APPLICATION_NAME = "oncall migrate (lock)"


def lock_key(schema: str, purpose: str = "migrate") -> int:
    """A stable signed 64-bit key per schema, so two schemas of one database migrate independently."""
    digest = hashlib.sha256(f"oncall-{purpose}:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def apply_key(schema: str) -> int:
    """The key of the apply lock: taken by the work connection around each ledger write.

    Not the session lock's key: the run that holds the session lock on its lock connection must be
    able to take this one on its work connection. The session lock says who is migrating and
    refuses early; this one is what makes a second apply impossible (see oncall.migrations.run).
    """
    return lock_key(schema, "apply")


def hold_apply_lock(
    conn: psycopg.Connection[Any],
    url: DatabaseURL,
    schema: str,
    *,
    wait: float,
    on_wait: Callable[[LockHolder | None, float], None] | None = None,
) -> None:
    """Take the apply lock at session level on `conn` (polled: no snapshot held while waiting, which a
    CREATE INDEX CONCURRENTLY of the holder would otherwise wait for); Refused after `wait` s."""
    _poll(conn, url, apply_key(schema), wait=wait, on_wait=on_wait, report_every=5.0)


def release_apply_lock(conn: psycopg.Connection[Any], schema: str) -> None:
    """Give the session-level apply lock back (a lost connection has already released it)."""
    import psycopg

    with suppress(psycopg.Error):
        if not conn.closed and not conn.broken:
            conn.execute("SELECT pg_advisory_unlock(%s)", (apply_key(schema),))


@dataclass(frozen=True)
class LockHolder:
    """The session holding the migration lock, as pg_stat_activity shows it."""

    pid: int
    application_name: str | None
    client_addr: str | None
    user: str | None
    backend_start: _dt.datetime | None
    state: str | None
    query: str | None

    def describe(self) -> str:
        since = self.backend_start.isoformat(timespec="seconds") if self.backend_start else "unknown"
        return (
            f"pid {self.pid} ({self.application_name or 'no application_name'}, "
            f"user {self.user or '?'}, from {self.client_addr or 'local socket'}, connected since {since})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "application_name": self.application_name,
            "client_addr": self.client_addr,
            "user": self.user,
            "backend_start": self.backend_start.isoformat() if self.backend_start else None,
            "state": self.state,
            "query": self.query,
        }


def lock_holder(conn: psycopg.Connection[Any], key: int) -> LockHolder | None:
    """Who holds advisory lock `key` in this database, or None (it may have just been released)."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    row = conn.execute(
        "SELECT l.pid, a.application_name, host(a.client_addr), a.usename, a.backend_start, a.state, a.query "
        "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid AND l.pid <> pg_backend_pid() "
        "LIMIT 1",
        (unsigned >> 32, unsigned & 0xFFFFFFFF),
    ).fetchone()
    if row is None:
        return None
    return LockHolder(*row)


@contextmanager
def migration_lock(
    url: DatabaseURL,
    *,
    schema: str,
    wait: float,
    connect_timeout: float = 5.0,
    on_wait: Callable[[LockHolder | None, float], None] | None = None,
    report_every: float = 5.0,
    opened: Future[psycopg.Connection[Any]] | None = None,
) -> Iterator[psycopg.Connection[Any]]:
    """Hold the migration lock for the block; Refused (exit 4) naming the holder after `wait` seconds.

    `opened` is a lock connection already being opened in the background (see `open_lock_connection`).
    """
    import psycopg

    if opened is not None:
        conn = opened.result()
    else:
        conn = connect(url, connect_timeout=connect_timeout, application_name=LOCK_APPLICATION_NAME)
    try:
        try:
            _poll(conn, url, lock_key(schema), wait=wait, on_wait=on_wait, report_every=report_every)
        except psycopg.OperationalError as exc:
            raise Unreachable(
                f"lost the lock connection to {url.host}:{url.port}: {str(exc).strip().splitlines()[0]}",
                "check the database is up and rerun migrate; a lost session releases its lock by itself",
            ) from exc
        yield conn
    finally:
        # A failed unlock needs no handling: the server drops a session lock with its connection.
        with suppress(psycopg.Error):
            if not conn.closed:
                conn.execute("SELECT pg_advisory_unlock_all()")
        conn.close()


def open_lock_connection(url: DatabaseURL, *, connect_timeout: float) -> Future[psycopg.Connection[Any]]:
    """Start opening the lock connection on a thread; libpq's handshake then overlaps other work."""
    future: Future[psycopg.Connection[Any]] = Future()

    def run() -> None:
        try:
            future.set_result(
                connect(url, connect_timeout=connect_timeout, application_name=LOCK_APPLICATION_NAME)
            )
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
            future.set_exception(exc)

    threading.Thread(target=run, name="oncall-lock-connect", daemon=True).start()
    return future


def discard(opened: Future[psycopg.Connection[Any]]) -> None:
    """Close a background-opened lock connection that turned out not to be needed."""
    with suppress(Exception):
        opened.result().close()


class _Busy(Exception):
    """pg_try_advisory_lock answered false: another session holds the migration lock."""


def _poll(
    conn: psycopg.Connection[Any],
    url: DatabaseURL,
    key: int,
    *,
    wait: float,
    on_wait: Callable[[LockHolder | None, float], None] | None,
    report_every: float,
) -> None:
    deadline = time.monotonic() + max(0.0, wait)
    next_report = time.monotonic()
    tries = 0

    def pause(exc: Exception) -> bool | float:
        """Until the deadline: report who holds the lock now and then, and pause before trying again."""
        nonlocal next_report, tries
        now = time.monotonic()
        if not isinstance(exc, _Busy) or now >= deadline:
            return False
        if on_wait is not None and now >= next_report:
            on_wait(lock_holder(conn, key), deadline - now)
            next_report = now + report_every
        # Jitter keeps eight waiting runs from polling in lock-step; the last pause ends at the deadline.
        tries += 1
        return min(retry.LOCK_POLL_BACKOFF.pause(tries - 1), max(0.0, deadline - now))

    try:
        # Bounded by the deadline, which the hook enforces (stamina's timeout would count from its own start).
        for attempt in retry.attempts(pause, attempts=None, timeout=None):
            with attempt:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                if not (row and row[0]):
                    raise _Busy
    except _Busy:
        holder = lock_holder(conn, key)
        who = holder.describe() if holder else "a session that has since ended"
        pid = holder.pid if holder else "PID"
        raise Refused(
            f"migration lock on {url.host}/{url.dbname} is held by {who}; gave up after {wait:g} s",
            "another migrate is running: wait for it and rerun, raise --lock-wait, or if that "
            f"session is stuck, end it with SELECT pg_terminate_backend({pid})",
            holder=holder.as_dict() if holder else None,
        ) from None
