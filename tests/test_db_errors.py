"""The one Postgres error boundary: every psycopg error we can meet becomes one of ours.

Modelled on httpx's test_httpcore_all_exceptions_mapped: a psycopg error class that reaches the
generic branch by accident (a new class, a reordered table) fails here, and the main classes are
provoked on the real server rather than constructed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors

from fix_pg import TestDatabase
from oncall.db.connect import DatabaseURL, parse_database_url
from oncall.db.errors import Kind, kind_of, translate, translate_connect, translating
from oncall.errors import CheckFailed, OncallError, Refused, Unreachable

URL = parse_database_url("postgresql://app:pw@127.0.0.1:5432/app", source="DATABASE_URL")

# Every psycopg class we can meet, with what it must become.
EXPECTED: dict[type[psycopg.Error], tuple[Kind, type[OncallError]]] = {
    psycopg.OperationalError: (Kind.CONNECTION, Unreachable),
    psycopg.InterfaceError: (Kind.CONNECTION, Unreachable),
    pg_errors.ConnectionTimeout: (Kind.CONNECTION, Unreachable),
    pg_errors.InvalidPassword: (Kind.AUTH, Unreachable),
    pg_errors.InvalidAuthorizationSpecification: (Kind.AUTH, Unreachable),
    pg_errors.InvalidCatalogName: (Kind.NO_DATABASE, Unreachable),
    pg_errors.TooManyConnections: (Kind.SERVER_BUSY, Unreachable),
    pg_errors.CannotConnectNow: (Kind.SERVER_BUSY, Unreachable),
    pg_errors.AdminShutdown: (Kind.CONNECTION, Unreachable),
    pg_errors.CrashShutdown: (Kind.CONNECTION, Unreachable),
    pg_errors.IdleSessionTimeout: (Kind.CONNECTION, Unreachable),
    pg_errors.ConnectionFailure: (Kind.CONNECTION, Unreachable),
    pg_errors.ProtocolViolation: (Kind.CONNECTION, Unreachable),
    pg_errors.InsufficientPrivilege: (Kind.PERMISSION, CheckFailed),
    pg_errors.LockNotAvailable: (Kind.LOCK, Refused),
    pg_errors.QueryCanceled: (Kind.STATEMENT_TIMEOUT, CheckFailed),
    pg_errors.UndefinedTable: (Kind.FAILED, CheckFailed),
    pg_errors.SyntaxError: (Kind.FAILED, CheckFailed),
    pg_errors.UniqueViolation: (Kind.FAILED, CheckFailed),
    psycopg.ProgrammingError: (Kind.FAILED, CheckFailed),
}


def _all_psycopg_errors() -> Iterator[type[psycopg.Error]]:
    seen: set[type[psycopg.Error]] = set()
    todo: list[type[psycopg.Error]] = [psycopg.Error]
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.add(cls)
            todo.extend(cls.__subclasses__())
    yield from sorted(seen, key=lambda c: c.__qualname__)


@pytest.mark.parametrize("cls", list(EXPECTED), ids=lambda c: c.__name__)
def test_each_class_we_can_meet_maps_to_its_kind_and_error(cls: type[psycopg.Error]) -> None:
    """Each listed psycopg class is sorted into its Kind and becomes the matching error of ours."""
    kind, ours = EXPECTED[cls]
    exc = cls("boom")
    error = translate(exc, URL, "testing")
    assert (kind_of(exc), type(error)) == (kind, ours)


@pytest.mark.parametrize(
    ("prefix", "kind"),
    [("08", Kind.CONNECTION), ("28", Kind.AUTH), ("57P", Kind.CONNECTION)],
    ids=["class 08 is a lost connection", "class 28 is authentication", "class 57P is a shutdown"],
)
def test_every_class_of_a_connection_sqlstate_class_is_mapped(prefix: str, kind: Kind) -> None:
    """No psycopg class of SQLSTATE classes 08, 28, 57P falls through to the generic failure."""
    members = [c for c in _all_psycopg_errors() if (c.sqlstate or "").startswith(prefix)]
    assert members
    wrong = {c.__name__: kind_of(c("x")) for c in members if kind_of(c("x")) not in (kind, Kind.SERVER_BUSY)}
    assert wrong == {}


def test_every_psycopg_error_becomes_one_of_ours() -> None:
    """Every psycopg error class, listed or not, becomes an oncall error with a one-line cause."""
    unmapped = []
    for cls in _all_psycopg_errors():
        error = translate(cls("first line\nsecond line"), URL, "testing")
        if type(error) not in (CheckFailed, Unreachable, Refused) or "\n" in error.cause:
            unmapped.append(cls.__name__)
    assert unmapped == []


def _raised(action: Callable[[], object]) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as caught:
        action()
    return caught.value


def _app(pg: TestDatabase, **kwargs: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(pg.url, autocommit=True, **kwargs)


def _start_up(url: str) -> tuple[str, psycopg.Error]:
    return url, _raised(lambda: psycopg.connect(url, connect_timeout=5))


def _wrong_password(pg: TestDatabase) -> tuple[str, psycopg.Error]:
    return _start_up(pg.url.replace(pg.password, "not-it"))


def _no_database(pg: TestDatabase) -> tuple[str, psycopg.Error]:
    return _start_up(pg.url.rsplit("/", 1)[0] + "/no_such_db")


def _role_limit(pg: TestDatabase) -> tuple[str, psycopg.Error]:
    role = f"limited_{secrets.token_hex(4)}"
    pg.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'limited-pw' CONNECTION LIMIT 0")
    return _start_up(pg.url.replace(f"app:{pg.password}@", f"{role}:limited-pw@"))


def _permission(pg: TestDatabase) -> psycopg.Error:
    pg.execute("CREATE TABLE owned_by_postgres (x int)")
    with _app(pg) as conn:
        return _raised(lambda: conn.execute("SELECT * FROM owned_by_postgres"))


def _lock_timeout(pg: TestDatabase) -> psycopg.Error:
    with _app(pg) as holder, _app(pg) as waiter:
        holder.execute("CREATE TABLE busy (x int)")
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE busy")
        waiter.execute("SET lock_timeout = '20ms'")
        return _raised(lambda: waiter.execute("SELECT * FROM busy"))


def _statement_timeout(pg: TestDatabase) -> psycopg.Error:
    with _app(pg) as conn:
        conn.execute("SET statement_timeout = '20ms'")
        return _raised(lambda: conn.execute("SELECT pg_sleep(30)"))


def _terminated(pg: TestDatabase) -> psycopg.Error:
    with _app(pg) as victim, _app(pg) as killer:
        killer.execute("SELECT pg_terminate_backend(%s)", [victim.info.backend_pid])
        return _raised(lambda: victim.execute("SELECT 1"))


def _closed(pg: TestDatabase) -> psycopg.Error:
    conn = _app(pg)
    conn.close()
    return _raised(lambda: conn.execute("SELECT 1"))


def _undefined_table(pg: TestDatabase) -> psycopg.Error:
    with _app(pg) as conn:
        return _raised(lambda: conn.execute("SELECT * FROM no_such_table"))


# libpq reports start-up failures as text without a SQLSTATE: translate_connect reads them.
AT_START_UP: dict[str, tuple[Callable[[TestDatabase], tuple[str, psycopg.Error]], str]] = {
    "a wrong password is authentication": (_wrong_password, "auth"),
    "a missing database is named": (_no_database, "database"),
    "a role at its connection limit is refused by the server": (_role_limit, "server"),
}


@pytest.mark.parametrize("case", list(AT_START_UP), ids=list(AT_START_UP))
def test_start_up_failures_on_the_real_server_name_their_stage(pg: TestDatabase, case: str) -> None:
    """Failures to open a connection, provoked on the embedded PostgreSQL, are Unreachable at a stage."""
    provoke, stage = AT_START_UP[case]
    url, exc = provoke(pg)
    error = translate_connect(exc, parse_database_url(url, source="DATABASE_URL"))
    assert (type(error), error.details["stage"]) == (Unreachable, stage)
    assert pg.password not in error.message()


PROVOKED: dict[str, tuple[Callable[[TestDatabase], psycopg.Error], Kind, type[OncallError]]] = {
    "another owner's table is a permission failure": (_permission, Kind.PERMISSION, CheckFailed),
    "lock_timeout is a refusal": (_lock_timeout, Kind.LOCK, Refused),
    "statement_timeout is a failed check": (_statement_timeout, Kind.STATEMENT_TIMEOUT, CheckFailed),
    "a terminated session is a lost connection": (_terminated, Kind.CONNECTION, Unreachable),
    "a closed connection is a lost connection": (_closed, Kind.CONNECTION, Unreachable),
    "an undefined table is a failed statement": (_undefined_table, Kind.FAILED, CheckFailed),
}


@pytest.mark.parametrize("case", list(PROVOKED), ids=list(PROVOKED))
def test_errors_provoked_on_the_real_server_map_to_ours(pg: TestDatabase, case: str) -> None:
    """The main error classes, provoked on the embedded PostgreSQL, land in their Kind and class."""
    provoke, kind, ours = PROVOKED[case]
    exc = provoke(pg)
    db = parse_database_url(pg.url, source="DATABASE_URL")
    error = translate(exc, db, "testing")
    assert (kind_of(exc), type(error)) == (kind, ours)
    assert pg.password not in error.message()


def test_translating_chains_the_original_error(pg: TestDatabase) -> None:
    """The error leaving `translating` is ours, with the psycopg error as its __cause__."""
    db: DatabaseURL = parse_database_url(pg.url, source="DATABASE_URL")
    with pytest.raises(CheckFailed) as caught, translating(db, "reading nothing"), _app(pg) as conn:
        conn.execute("SELECT * FROM no_such_table")
    assert isinstance(caught.value.__cause__, pg_errors.UndefinedTable)
    assert caught.value.cause == (
        f'reading nothing failed on 127.0.0.1/{pg.name}: relation "no_such_table" does not exist'
    )


def test_a_callers_hint_replaces_the_generic_one_for_its_kind() -> None:
    """`hints=` sets the hint for the kinds it names and leaves the others generic."""
    hints = {Kind.LOCK: "wait for the deploy to finish"}
    locked = translate(pg_errors.LockNotAvailable("x"), URL, "testing", hints=hints)
    lost = translate(psycopg.OperationalError("x"), URL, "testing", hints=hints)
    assert (locked.hint, lost.hint) == (
        "wait for the deploy to finish",
        "check the database is up, then rerun",
    )
