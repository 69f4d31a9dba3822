"""sandbox.up / status / down through the real invoke command, including the bad-input cases."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from oncall.sandbox import procs
from sandbox_support import (
    force_down,
    get,
    read_env_file,
    read_state,
    sandbox_env,
    sandbox_pids,
    server_dir,
    wait_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def sbx() -> Iterator[Path]:
    """A sandbox directory of the test's own; whatever runs in it is stopped afterwards."""
    with server_dir("sandbox") as directory:
        yield directory
        force_down(directory)


def _register(secret_scan, directory: Path) -> dict[str, str]:
    from urllib.parse import unquote, urlsplit

    env = read_env_file(directory)
    password = urlsplit(env["DATABASE_URL"]).password or ""
    secret_scan.add(env["RENDER_API_KEY"], password, unquote(password))
    return env


def test_up_starts_the_incident_status_reports_it_and_down_stops_everything(
    run_invoke, sbx: Path, secret_scan
) -> None:
    """up: backend crashed and the edge answers 502; status exit 0; down stops every pid, exit 0."""
    up = run_invoke("sandbox.up", "--json", env=sandbox_env(sbx))
    env = _register(secret_scan, sbx)
    assert up.code == 0, up.stderr
    doc = up.json()
    components = {c["name"]: c for c in doc["components"]}
    assert doc["system"] == "turbo-response"
    assert doc["target"] == "sandbox"
    assert (components["postgres"]["healthy"], components["render-api"]["healthy"]) == (True, True)
    assert components["backend"]["healthy"] is False
    assert doc["page"]["status"] == 502
    assert doc["env"]["INVOKE_ONCALL_TARGET"] == "sandbox"
    assert doc["env"]["ONCALL_SANDBOX_URL"] == doc["edge_url"]
    assert "***" in doc["env"]["DATABASE_URL"]
    assert 'relation "ai_usage_logs" does not exist' in up.stderr
    assert (sbx / "env").stat().st_mode & 0o777 == 0o600
    assert get(env["ONCALL_SANDBOX_URL"] + "/admin/case/11")[0] == 502

    status = run_invoke("sandbox.status", "--json", env=sandbox_env(sbx))
    assert status.code == 0
    assert status.json()["running"] is True

    pids = sandbox_pids(sbx)
    down = run_invoke("sandbox.down", env=sandbox_env(sbx))
    assert down.code == 0
    assert not any(procs.alive(pid) for pid in pids)
    assert not (sbx / "state.json").exists()
    assert not (sbx / "pg").exists()


def test_the_database_role_is_password_protected_and_not_a_superuser(
    run_invoke, sbx: Path, secret_scan
) -> None:
    """DATABASE_URL logs in as a non-superuser owning the database; no password, no login."""
    import psycopg

    assert run_invoke("sandbox.up", env=sandbox_env(sbx)).code == 0
    env = _register(secret_scan, sbx)
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        row = conn.execute(
            "SELECT rolsuper, pg_get_userbyid(d.datdba) = current_user FROM pg_roles r, pg_database d"
            " WHERE r.rolname = current_user AND d.datname = current_database()"
        ).fetchone()
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert row == (False, True)
    assert "cases" in tables
    assert "ai_usage_logs" not in tables
    without = env["DATABASE_URL"].replace(":" + env["DATABASE_URL"].split(":")[2].split("@")[0] + "@", "@")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(without, connect_timeout=5).close()


def test_trdrhub_sandbox_has_alembic_version_at_the_baseline(run_invoke, sbx: Path, secret_scan) -> None:
    """--system trdrhub: alembic_version is at the baseline revision; the backend lacks ai_usage_records."""
    import psycopg

    up = run_invoke("sandbox.up", "--system", "trdrhub", "--json", env=sandbox_env(sbx))
    env = _register(secret_scan, sbx)
    assert up.code == 0
    assert up.json()["target"] == "sandbox-trdrhub"
    assert 'relation "ai_usage_records" does not exist' in up.stderr
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        versions = [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]
    assert versions == ["3f2a9c1d7b10"]  # the baseline revision of examples/trdrhub-api


def test_up_twice_says_it_is_running_and_where(run_invoke, sbx: Path, secret_scan) -> None:
    """A second sandbox.up changes nothing, exits 0 and says where the running sandbox is."""
    first = run_invoke("sandbox.up", "--json", env=sandbox_env(sbx))
    _register(secret_scan, sbx)
    second = run_invoke("sandbox.up", env=sandbox_env(sbx))
    assert second.code == 0
    assert "already running" in second.stdout
    assert first.json()["edge_url"] in second.stdout
    assert read_state(sbx)["run_pid"] == first.json()["components"][1]["pid"]


def test_up_with_another_system_while_one_runs_is_refused(run_invoke, sbx: Path, secret_scan) -> None:
    """Asking for trdrhub while turbo-response runs exits 4 and says to run sandbox.down first."""
    assert run_invoke("sandbox.up", env=sandbox_env(sbx)).code == 0
    _register(secret_scan, sbx)
    other = run_invoke("sandbox.up", "--system", "trdrhub", env=sandbox_env(sbx))
    assert other.code == 4
    assert "sandbox.down" in other.stderr


def test_a_taken_port_is_replaced_by_a_free_one(run_invoke, sbx: Path, secret_scan) -> None:
    """When the preferred edge and API ports are taken, sandbox.up picks others and still works.

    The test holds two listening ports of its own and names them the preferred ones: the default
    18080/18081 are shared by every sandbox on the machine, so another one could hold them when the
    test starts and let them go before sandbox.up looks, and up would then get them after all.
    """
    held = [socket.create_server(("127.0.0.1", 0)) for _ in ("edge", "render_api")]
    edge_port, api_port = (sock.getsockname()[1] for sock in held)
    try:
        env = sandbox_env(sbx, ONCALL_SANDBOX_PORTS=f"edge={edge_port},render_api={api_port}")
        up = run_invoke("sandbox.up", "--json", env=env)
        _register(secret_scan, sbx)
        assert up.code == 0, up.stderr
        state = read_state(sbx)
        assert state["edge_port"] not in (edge_port, api_port)
        assert state["api_port"] not in (edge_port, api_port)
        assert get(up.json()["edge_url"] + "/admin/case/11")[0] == 502
    finally:
        for sock in held:
            sock.close()


@pytest.mark.parametrize(
    "value",
    ["edge", "edge=port", "edge=0", "edge=70000", "frontend=8080"],
    ids=["no port", "a port that is not a number", "port 0", "a port above 65535", "an unknown name"],
)
def test_a_malformed_ports_variable_is_bad_input(run_invoke, sbx: Path, value: str) -> None:
    """ONCALL_SANDBOX_PORTS that is not NAME=PORT is exit 2 naming the variable, before anything starts."""
    result = run_invoke("sandbox.up", env=sandbox_env(sbx, ONCALL_SANDBOX_PORTS=value))
    assert result.code == 2
    assert "ONCALL_SANDBOX_PORTS" in result.stderr
    assert not (sbx / "state.json").exists()


def test_a_stale_sandbox_from_a_killed_run_is_detected_and_cleaned(
    run_invoke, sbx: Path, secret_scan
) -> None:
    """After kill -9 of the sandbox process, status exits 1 (stale) and up cleans it and starts anew."""
    assert run_invoke("sandbox.up", env=sandbox_env(sbx)).code == 0
    _register(secret_scan, sbx)
    old = read_state(sbx)
    os.kill(old["run_pid"], signal.SIGKILL)
    wait_for(lambda: not procs.alive(old["run_pid"]), what="sandbox process gone")

    status = run_invoke("sandbox.status", env=sandbox_env(sbx))
    assert status.code == 1
    assert "stale" in status.stderr

    again = run_invoke("sandbox.up", "--json", env=sandbox_env(sbx))
    _register(secret_scan, sbx)
    assert again.code == 0
    assert any("postgres" in item for item in again.json()["cleaned_stale"])
    assert not procs.alive(old["pg_pid"]) or read_state(sbx)["pg_pid"] == old["pg_pid"]
    assert read_state(sbx)["run_pid"] != old["run_pid"]


def test_down_with_nothing_running_exits_0(run_invoke, sbx: Path) -> None:
    """sandbox.down in a directory with no sandbox says so and exits 0."""
    result = run_invoke("sandbox.down", "--json", env=sandbox_env(sbx))
    assert result.code == 0
    assert result.json()["was_running"] is False


def test_status_with_nothing_running_exits_1(run_invoke, sbx: Path) -> None:
    """sandbox.status without a sandbox exits 1 with the hint to run sandbox.up."""
    result = run_invoke("sandbox.status", env=sandbox_env(sbx))
    assert result.code == 1
    assert "sandbox.up" in result.stderr


def test_an_unknown_system_is_bad_input(run_invoke, sbx: Path) -> None:
    """--system with a name we do not know exits 2 and lists the known ones."""
    result = run_invoke("sandbox.up", "--system", "nope", env=sandbox_env(sbx))
    assert result.code == 2
    assert "turbo-response" in result.stderr
    assert not (sbx / "state.json").exists()


def test_pids_reused_by_other_processes_are_never_signalled(run_invoke, sbx: Path) -> None:
    """A stale state.json whose pids now belong to unrelated processes: down leaves them alone, exit 0."""
    import json
    import subprocess
    import sys

    bystanders = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]) for _ in range(3)]
    try:
        sbx.mkdir(parents=True)
        state = {
            "system": "turbo-response",
            "target": "sandbox",
            "service": "turbo-response-backend",
            "root": str(sbx),
            "started_at": "2026-01-01T00:00:00+00:00",
            "pg_pid": bystanders[0].pid,
            "pg_port": 1,
            "run_pid": bystanders[1].pid,
            "api_port": 1,
            "edge_port": 1,
            "database": "turbo_response",
        }
        (sbx / "state.json").write_text(json.dumps(state))
        (sbx / "run.json").write_text(json.dumps({"backend_pid": bystanders[2].pid, "backend_port": 1}))
        status = run_invoke("sandbox.status", env=sandbox_env(sbx))
        assert status.code == 1
        assert "stale" in status.stderr
        down = run_invoke("sandbox.down", "--json", env=sandbox_env(sbx))
        assert down.code == 0
        assert down.json()["stopped"] == []
        assert all(p.poll() is None for p in bystanders)
        assert not (sbx / "state.json").exists()
    finally:
        for p in bystanders:
            p.kill()
            p.wait()
