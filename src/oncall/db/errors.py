"""The one boundary where psycopg's exceptions become ours.

Every psycopg error is first sorted into a `Kind`, by exception class where psycopg has one and by
SQLSTATE class otherwise, most specific first:

    psycopg class / SQLSTATE                               Kind               ours
    InvalidPassword, InvalidAuthorizationSpecification 28  AUTH               Unreachable
    InvalidCatalogName 3D000                               NO_DATABASE        Unreachable
    TooManyConnections 53300, CannotConnectNow 57P03       SERVER_BUSY        Unreachable
    InsufficientPrivilege 42501                            PERMISSION         CheckFailed
    LockNotAvailable 55P03                                 LOCK               Refused
    QueryCanceled 57014 (statement_timeout)                STATEMENT_TIMEOUT  CheckFailed
    class 08 (connection), class 57P (shutdown, ...)        CONNECTION         Unreachable
    OperationalError / InterfaceError without SQLSTATE     CONNECTION         Unreachable
    any other SQLSTATE, or a client-side error             FAILED             CheckFailed

`translate(exc, url, doing, hints=...)` turns the error into ours with one line of cause naming
the host and what we were doing, and the caller's hint for its context (`hints`, keyed by Kind)
or a generic one; the caller raises it `from exc`. Code that needs another message for one kind
(a migration that names its file) branches on `kind_of(exc)`, never on SQLSTATE literals.
`translate_connect` is the start-up variant: libpq reports start-up failures as text without a
SQLSTATE, so it is the one place that reads message text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from typing import Protocol

import psycopg
from psycopg import errors as pg_errors

from oncall.errors import CheckFailed, OncallError, Refused, Unreachable

# SQLSTATEs the code names outside this table (psycopg's classes carry the same codes).
INSUFFICIENT_PRIVILEGE = pg_errors.InsufficientPrivilege.sqlstate  # 42501
LOCK_NOT_AVAILABLE = pg_errors.LockNotAvailable.sqlstate  # 55P03
QUERY_CANCELED = pg_errors.QueryCanceled.sqlstate  # 57014: statement_timeout, or a cancel request
UNDEFINED_TABLE = pg_errors.UndefinedTable.sqlstate  # 42P01
UNIQUE_VIOLATION = pg_errors.UniqueViolation.sqlstate  # 23505

SUPABASE_IPV6_HINT = (
    "Supabase's direct host db.<ref>.supabase.co is IPv6-only; from an IPv4 network use the session "
    "pooler instead: host aws-0-<region>.pooler.supabase.com, port 5432, user postgres.<ref>"
)


class Kind(StrEnum):
    """What went wrong, as far as the caller needs to know to choose an error and a hint."""

    AUTH = "auth"
    NO_DATABASE = "database"
    SERVER_BUSY = "server"
    PERMISSION = "permission"
    LOCK = "lock"
    STATEMENT_TIMEOUT = "statement_timeout"
    CONNECTION = "connection"
    FAILED = "failed"


class Where(Protocol):
    """What a cause names of the database (oncall.db.connect.DatabaseURL has all of it)."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def user(self) -> str: ...
    @property
    def dbname(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def hostport(self) -> str: ...


# Most specific first: the first class the error is an instance of decides.
_BY_CLASS: tuple[tuple[type[psycopg.Error], Kind], ...] = (
    (pg_errors.InvalidPassword, Kind.AUTH),
    (pg_errors.InvalidAuthorizationSpecification, Kind.AUTH),
    (pg_errors.InvalidCatalogName, Kind.NO_DATABASE),
    (pg_errors.TooManyConnections, Kind.SERVER_BUSY),
    (pg_errors.CannotConnectNow, Kind.SERVER_BUSY),
    (pg_errors.InsufficientPrivilege, Kind.PERMISSION),
    (pg_errors.LockNotAvailable, Kind.LOCK),
    (pg_errors.QueryCanceled, Kind.STATEMENT_TIMEOUT),
)

# For SQLSTATEs psycopg has no class for (a newer server's), and errors raised by our own
# functions with RAISE: the SQLSTATE's class decides.
_BY_SQLSTATE_CLASS: tuple[tuple[str, Kind], ...] = (
    ("28", Kind.AUTH),
    ("08", Kind.CONNECTION),
    ("57P", Kind.CONNECTION),
)

_CLASS: dict[Kind, type[OncallError]] = {
    Kind.AUTH: Unreachable,
    Kind.NO_DATABASE: Unreachable,
    Kind.SERVER_BUSY: Unreachable,
    Kind.PERMISSION: CheckFailed,
    Kind.LOCK: Refused,
    Kind.STATEMENT_TIMEOUT: CheckFailed,
    Kind.CONNECTION: Unreachable,
    Kind.FAILED: CheckFailed,
}

_CAUSE: dict[Kind, str] = {
    Kind.AUTH: "authentication failed for user {user!r} on {hostport} while {doing}: {text}",
    Kind.NO_DATABASE: "database {dbname!r} does not exist on {hostport}",
    Kind.SERVER_BUSY: "{hostport} refused the session while {doing}: {text}",
    Kind.PERMISSION: "permission denied on {host}/{dbname} while {doing}: {text}",
    Kind.LOCK: "lock_timeout hit on {host}/{dbname} while {doing}: {text}",
    Kind.STATEMENT_TIMEOUT: "statement_timeout cancelled {doing} on {host}/{dbname}: {text}",
    Kind.CONNECTION: "lost the connection to {host}:{port} while {doing}: {text}",
    Kind.FAILED: "{doing} failed on {host}/{dbname}: {text}",
}

_HINT: dict[Kind, str | None] = {
    Kind.AUTH: "check the password in {source}; the role must exist and be allowed to log in",
    Kind.NO_DATABASE: "check the database name at the end of the URL (Supabase uses 'postgres')",
    Kind.SERVER_BUSY: "the server is full or starting/stopping; retry in a minute",
    Kind.PERMISSION: "use a role with that right (Supabase: postgres); invoke doctor shows the role's rights",
    Kind.LOCK: "another session holds a lock on that table: wait for it to finish, then rerun",
    Kind.STATEMENT_TIMEOUT: (
        "raise INVOKE_ONCALL_STATEMENT_TIMEOUT for this run, or make the statement cheaper"
    ),
    Kind.CONNECTION: "check the database is up, then rerun",
    Kind.FAILED: None,
}


def kind_of(exc: BaseException) -> Kind:
    """Which Kind a psycopg error is (anything else that reaches here is FAILED)."""
    for cls, kind in _BY_CLASS:
        if isinstance(exc, cls):
            return kind
    sqlstate = sqlstate_of(exc)
    if sqlstate is None:
        # No SQLSTATE: libpq or psycopg saw the connection fail or already closed.
        connection_gone = isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
        return Kind.CONNECTION if connection_gone else Kind.FAILED
    for prefix, kind in _BY_SQLSTATE_CLASS:
        if sqlstate.startswith(prefix):
            return kind
    return Kind.FAILED


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE the server (or psycopg's class) gave, if any."""
    sqlstate = getattr(exc, "sqlstate", None)
    return sqlstate if isinstance(sqlstate, str) else None


def server_text(exc: BaseException) -> str:
    """The first line of the server's message, or of psycopg's when the server sent none."""
    diag = getattr(exc, "diag", None)
    text = (getattr(diag, "message_primary", None) or str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def translate(
    exc: BaseException, url: Where, doing: str, *, hints: Mapping[Kind, str | None] | None = None
) -> OncallError:
    """The psycopg error `exc`, met while `doing` on `url`, as ours; raise it `from exc`."""
    kind = kind_of(exc)
    fields = {
        "host": url.host,
        "port": url.port,
        "user": url.user,
        "dbname": url.dbname,
        "hostport": url.hostport,
        "source": url.source,
        "doing": doing,
        "text": server_text(exc),
    }
    if hints is not None and kind in hints:
        hint = hints[kind]
    else:
        default = _HINT[kind]
        hint = default.format(**fields) if default else None
    return _CLASS[kind](_CAUSE[kind].format(**fields), hint, sqlstate=sqlstate_of(exc))


@contextmanager
def translating(url: Where, doing: str, *, hints: Mapping[Kind, str | None] | None = None) -> Iterator[None]:
    """Run the block; a psycopg error in it leaves as `translate(...)`, chained from the original."""
    try:
        yield
    except psycopg.Error as exc:
        raise translate(exc, url, doing, hints=hints) from exc


# psycopg/libpq wrap the reason in "connection failed: connection to server at "h" (addr), port N failed: "
_LIBPQ_PREFIX = re.compile(
    r"^(?:connection failed: )?connection to server at \"[^\"]*\"(?: \([^)]*\))?, port \d+ failed: "
    r"(?:FATAL:\s+)?"
)

_DNS_FAILURES = (
    "could not translate host name",
    "failed to resolve host",
    "name or service not known",
    "temporary failure in name resolution",
    "nodename nor servname",
)


def _first_line(exc: BaseException) -> str:
    """The reason libpq gave, without the host/port preamble our cause already states."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return _LIBPQ_PREFIX.sub("", first) or first


def translate_connect(exc: BaseException, url: Where) -> Unreachable:
    """A failure to open a connection as Unreachable, with a cause and a hint.

    libpq reports start-up failures (authentication, missing database, refused, TLS) as text with
    no SQLSTATE, so this reads message text; a SQLSTATE wins when present.
    `details["stage"]` says which step failed: dns, tcp, timeout, tls, auth, database, server.
    """
    sqlstate = sqlstate_of(exc)
    kind = kind_of(exc)
    text = _first_line(exc)
    where = url.hostport
    lowered = str(exc).lower()
    hba = "pg_hba.conf" in lowered
    if (kind is Kind.AUTH and not hba) or "password authentication failed" in lowered:
        return Unreachable(
            f"authentication failed for user {url.user!r} on {where}",
            f"check the password in {url.source}; the role must exist and be allowed to log in",
            stage="auth",
            sqlstate=sqlstate,
        )
    if "tenant or user not found" in lowered:
        return Unreachable(
            f"the pooler at {where} knows no tenant for user {url.user!r}",
            "Supabase's pooler needs the user as postgres.<project-ref>, not plain postgres",
            stage="auth",
            sqlstate=sqlstate,
        )
    if hba:
        return Unreachable(
            f"{where} has no access rule for user {url.user!r}, database {url.dbname!r} from this address",
            "the server's pg_hba.conf (or the provider's network restrictions) must allow this client",
            stage="auth",
            sqlstate=sqlstate,
        )
    if kind is Kind.NO_DATABASE or f'database "{url.dbname.lower()}" does not exist' in lowered:
        return Unreachable(
            f"database {url.dbname!r} does not exist on {where}",
            _HINT[Kind.NO_DATABASE],
            stage="database",
            sqlstate=sqlstate,
        )
    if any(marker in lowered for marker in _DNS_FAILURES):
        return Unreachable(
            f"DNS: host {url.host!r} does not resolve",
            "check the host in the URL and your network/DNS",
            stage="dns",
        )
    if "network is unreachable" in lowered or "no route to host" in lowered:
        return Unreachable(
            f"network is unreachable for {where} (an IPv6-only address from an IPv4-only network?)",
            SUPABASE_IPV6_HINT,
            stage="tcp",
        )
    if "connection refused" in lowered:
        return Unreachable(
            f"connection refused by {where}",
            "is the server running and listening on that port?",
            stage="tcp",
        )
    if isinstance(exc, pg_errors.ConnectionTimeout) or "timeout" in lowered or "timed out" in lowered:
        return Unreachable(
            f"no answer from {where} within the connect timeout",
            "something accepts connections there but does not speak PostgreSQL in time: check the "
            "port, firewalls/allow-lists, or raise --connect-timeout",
            stage="timeout",
        )
    if "ssl" in lowered or "certificate" in lowered:
        return Unreachable(
            f"TLS failed with {where}: {text}",
            "check sslmode and sslrootcert in the URL",
            stage="tls",
        )
    if kind is Kind.SERVER_BUSY:
        return Unreachable(
            f"{where} refused the session: {text}",
            _HINT[Kind.SERVER_BUSY],
            stage="server",
            sqlstate=sqlstate,
        )
    return Unreachable(
        f"could not connect to {where} as {url.user!r}: {text}",
        "run invoke doctor for a step-by-step diagnosis",
        stage="server",
        sqlstate=sqlstate,
    )
