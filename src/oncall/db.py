"""Connect to PostgreSQL with timeouts, and translate connection failures into our errors.

`parse_database_url` checks a URL part by part so a malformed one says which part is wrong.
`connect` opens a psycopg connection with a connect timeout, an application_name that names us
in pg_stat_activity, `sslmode=require` for non-local hosts that did not choose, and prepared
statements off (they break behind transaction-mode poolers). Failures become `Unreachable` or
`BadInput` with the host, port, user and database named, and the password never shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from oncall.errors import BadInput, Unreachable
from oncall.redact import register_secret

if TYPE_CHECKING:
    import psycopg

SCHEMES = ("postgresql", "postgres")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "")
APPLICATION_NAME = "oncall"


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
    def where(self) -> str:
        """user@host:port/dbname, safe to print."""
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"

    def conninfo(self, **overrides: str) -> str:
        """The URL to hand to libpq, with sslmode made explicit for non-local hosts."""
        params = dict(self.params)
        if not self.is_local and "sslmode" not in params:
            params["sslmode"] = "require"
        params.update(overrides)
        base = self.raw.split("?", 1)[0]
        return base + ("?" + urlencode(params) if params else "")

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
        for key, var in (("sslrootcert", "PGSSLROOTCERT"), ("connect_timeout", "PGCONNECT_TIMEOUT")):
            if key in self.params:
                env[var] = self.params[key]
        return env


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
    dbname = unquote(parts.path.lstrip("/")) or "postgres"
    params = dict(parse_qsl(parts.query))
    for secret_key in ("password",):
        if secret_key in params:
            register_secret(params[secret_key])
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


def translate_connect_error(exc: Exception, url: DatabaseURL) -> Exception:
    """Map a psycopg connection failure to Unreachable/BadInput with a cause and a hint."""
    sqlstate = getattr(exc, "sqlstate", None)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    where = f"{url.host}:{url.port}"
    lowered_all = str(exc).lower()
    # libpq reports start-up failures as text without a SQLSTATE, so both are checked.
    if sqlstate in ("28P01", "28000") or "password authentication failed" in lowered_all:
        return Unreachable(
            f"authentication failed for user {url.user!r} on {where}",
            f"check the password in {url.source}; the role must exist and be allowed to log in",
            sqlstate=sqlstate,
        )
    if sqlstate == "3D000" or (f'database "{url.dbname.lower()}" does not exist' in lowered_all):
        return Unreachable(
            f"database {url.dbname!r} does not exist on {where}",
            "check the database name at the end of the URL (Supabase uses 'postgres')",
            sqlstate=sqlstate,
        )
    lowered = text.lower()
    if "could not translate host name" in lowered or "name or service not known" in lowered:
        return Unreachable(
            f"DNS: host {url.host!r} does not resolve", "check the host in the URL and your network/DNS"
        )
    if "network is unreachable" in lowered:
        return Unreachable(
            f"network is unreachable for {where} (an IPv6-only address from an IPv4-only network?)",
            "Supabase's direct host db.<ref>.supabase.co is IPv6-only; use the session pooler "
            "(aws-0-<region>.pooler.supabase.com, port 5432, user postgres.<ref>) from IPv4 networks",
        )
    if "connection refused" in lowered:
        return Unreachable(
            f"connection refused by {where}", "is the server running and listening on that port?"
        )
    if "timeout" in lowered or "timed out" in lowered:
        return Unreachable(
            f"no answer from {where} within the connect timeout",
            "check firewalls/allow-lists, or raise --connect-timeout",
        )
    if "ssl" in lowered or "certificate" in lowered:
        return Unreachable(f"TLS failed with {where}: {text}", "check sslmode and sslrootcert in the URL")
    return Unreachable(
        f"could not connect to {where} as {url.user!r}: {text}",
        "run invoke doctor for a step-by-step diagnosis",
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
        raise translate_connect_error(exc, url) from exc
    return conn
