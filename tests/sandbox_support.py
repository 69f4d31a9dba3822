"""Helpers for the sandbox and demo tests: start the demo backend, fetch pages, read sandbox files."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from oncall.sandbox import manager, procs

REPO = Path(__file__).resolve().parents[1]
SQL = {
    "turbo-response": sorted((REPO / "examples/turbo-response-backend/backend/migrations").glob("*.sql")),
    "trdrhub": sorted((REPO / "sql" / "trdrhub").glob("*.sql")),
}
MISSING = {"turbo-response": "ai_usage_logs", "trdrhub": "ai_usage_records"}


@contextlib.contextmanager
def server_dir(name: str) -> Iterator[Path]:
    """`<a new directory>/name` for files of a server that runs as another user, removed afterwards.

    As root, PostgreSQL runs as a system user that must traverse to its data directory. Not under
    pytest's tmp_path: every pytest session that starts, in this process or any other on the
    machine, chmods /tmp/pytest-of-root back to 0700, and the server's user loses its way to its
    own files mid-initdb ("could not open file .../global/pg_control: Permission denied").
    """
    root = Path(tempfile.mkdtemp(prefix="oncall-test-"))
    try:
        yield root / name
    finally:
        shutil.rmtree(root, ignore_errors=True)


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, str]:
    """Status and body of a GET; HTTP errors are answers, not exceptions."""
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - 127.0.0.1 only
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for(predicate: Any, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {timeout}s")


def apply(pg: Any, system: str, count: int) -> None:
    """Apply the first `count` migration files of `system` as the database's owner."""
    import psycopg

    with psycopg.connect(pg.url, autocommit=True) as conn:
        for path in SQL[system][:count]:
            conn.execute(path.read_text().encode())


def backend_argv(system: str, port: int) -> list[str]:
    return [sys.executable, "-m", "oncall.sandbox.backend", "--system", system, "--port", str(port)]


def backend_env(database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return env


@contextlib.contextmanager
def running_backend(system: str, database_url: str) -> Iterator[int]:
    """Start the demo backend (tables present) and yield its port; stopped afterwards."""
    port = procs.pick_port(0)
    proc = subprocess.Popen(
        backend_argv(system, port),
        env=backend_env(database_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: procs.listening(port) or proc.poll() is not None, what="backend listening")
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def sandbox_env(directory: Path, **extra: str) -> dict[str, str]:
    """The environment that points sandbox tasks at a test's own directory, never the repo's."""
    return {manager.SANDBOX_DIR_ENV: str(directory), **extra}


def read_state(directory: Path) -> dict[str, Any]:
    return dict(json.loads((directory / "state.json").read_text()))


def read_env_file(directory: Path) -> dict[str, str]:
    return manager.read_env(directory)


def force_down(directory: Path) -> None:
    """Teardown for tests: stop whatever a test's sandbox left, by pid, even after a failure."""
    manager.down(REPO, environ={manager.SANDBOX_DIR_ENV: str(directory)})


def sandbox_pids(directory: Path) -> list[int]:
    """Every pid the sandbox's files name (sandbox process, backend, postgres)."""
    pids = []
    with contextlib.suppress(OSError, ValueError):
        state = read_state(directory)
        pids += [state["run_pid"], state["pg_pid"]]
    with contextlib.suppress(OSError, ValueError):
        run = json.loads((directory / "run.json").read_text())
        if run.get("backend_pid"):
            pids.append(run["backend_pid"])
    return [p for p in pids if p]
