"""The edge answers Render's 502 while the backend is down; the supervisor restarts and deploys it."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from oncall.sandbox import procs
from oncall.sandbox.edge import Edge
from oncall.sandbox.supervisor import Supervisor, backend_command
from sandbox_support import MISSING, REPO, apply, backend_env, get


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from the app\n"
        self.send_response(201)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-App", "yes")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def app_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_edge_answers_502_bad_gateway_when_no_backend_runs() -> None:
    """No backend process: 502 with 'Bad Gateway' in the body, as Render's edge answers."""
    edge = Edge(lambda: None).start()
    try:
        status, body = get(edge.url + "/admin/case/11")
    finally:
        edge.stop()
    assert status == 502
    assert "Bad Gateway" in body


def test_edge_answers_502_when_the_backend_port_refuses() -> None:
    """A backend that is not listening (refused connection) is also a 502."""
    closed = procs.pick_port(0)
    edge = Edge(lambda: closed).start()
    try:
        status, body = get(edge.url + "/health")
    finally:
        edge.stop()
    assert (status, "Bad Gateway" in body) == (502, True)


def test_edge_forwards_status_headers_and_body(app_port: int) -> None:
    """With the backend up, the edge passes its answer through unchanged."""
    import urllib.request

    edge = Edge(lambda: app_port).start()
    try:
        with urllib.request.urlopen(edge.url + "/anything", timeout=10) as resp:  # noqa: S310
            status, header, body = resp.status, resp.headers["X-App"], resp.read()
    finally:
        edge.stop()
    assert (status, header, body) == (201, "yes", b"hello from the app\n")


def _supervisor(pg, tmp_path: Path, lines: list[str], system: str = "turbo-response") -> Supervisor:
    return Supervisor(
        command=backend_command(system),
        port=procs.pick_port(0),
        env=backend_env(pg.url),
        cwd=REPO,
        log=lines.append,
    )


def test_supervisor_start_reports_the_crash_and_logs_the_cause(pg, tmp_path: Path) -> None:
    """Started without its tables, the backend exits; start() is False and the log holds the cause."""
    apply(pg, "turbo-response", 1)
    lines: list[str] = []
    sup = _supervisor(pg, tmp_path, lines)
    assert sup.start() is False
    assert sup.upstream() is None
    from sandbox_support import wait_for

    wait_for(lambda: any("Exited with status 1" in line for line in lines), what="exit logged")
    assert f'error: relation "{MISSING["turbo-response"]}" does not exist' in lines
    assert sup.exit_code == 1


def test_supervisor_restart_brings_the_backend_up_once_the_tables_exist(pg, tmp_path: Path) -> None:
    """After the migration, restart() starts a backend that listens; the edge then answers 200."""
    apply(pg, "turbo-response", 1)
    lines: list[str] = []
    sup = _supervisor(pg, tmp_path, lines)
    edge = Edge(sup.upstream).start()
    try:
        assert sup.start() is False
        assert get(edge.url + "/health")[0] == 502
        apply(pg, "turbo-response", 2)
        assert sup.restart() is True
        assert sup.pid is not None
        assert get(edge.url + "/health")[0] == 200
    finally:
        sup.stop()
        edge.stop()
    assert sup.pid is None


def test_restart_moves_to_a_free_port_when_another_process_took_the_old_one(pg, tmp_path: Path) -> None:
    """A port grabbed by someone else while the backend was down: restart picks another, the edge follows."""
    apply(pg, "turbo-response", 2)
    lines: list[str] = []
    sup = _supervisor(pg, tmp_path, lines)
    taken = sup.port
    squatter = ThreadingHTTPServer(("127.0.0.1", taken), _Hello)
    edge = Edge(sup.upstream).start()
    try:
        assert sup.start() is True
        assert sup.port != taken
        assert any(f"Port {taken} is taken" in line for line in lines)
        assert get(edge.url + "/health")[0] == 200
    finally:
        sup.stop()
        edge.stop()
        squatter.server_close()


def test_deploy_with_a_failing_pre_deploy_command_is_pre_deploy_failed(pg, tmp_path: Path) -> None:
    """A pre-deploy command that exits non-zero ends the deploy pre_deploy_failed, with no restart."""
    apply(pg, "turbo-response", 1)
    lines: list[str] = []
    sup = _supervisor(pg, tmp_path, lines)
    assert (
        sup.deploy("python -c 'import sys; print(\"migration failed\"); sys.exit(3)'") == "pre_deploy_failed"
    )
    assert "migration failed" in lines
    assert not any("Restarting" in line for line in lines)


def test_deploy_runs_the_pre_deploy_command_then_restarts_live(pg, tmp_path: Path) -> None:
    """A pre-deploy command that applies the migration makes the deploy go live."""
    apply(pg, "turbo-response", 1)
    migration = (
        REPO / "examples/turbo-response-backend/backend/migrations" / "20251110_add_usage_tracking.sql"
    )
    script = (
        "import os, pathlib, psycopg; "
        "conn = psycopg.connect(os.environ['DATABASE_URL'], autocommit=True); "
        f"conn.execute(pathlib.Path('{migration}').read_bytes())"
    )
    lines: list[str] = []
    sup = _supervisor(pg, tmp_path, lines)
    try:
        assert sup.deploy(f'{sys.executable} -c "{script}"') == "live"
        assert sup.pid is not None
    finally:
        sup.stop()


def test_deploy_whose_backend_still_crashes_is_update_failed(pg, tmp_path: Path) -> None:
    """Pre-deploy succeeds but the new instance crashes: update_failed, as Render reports it."""
    apply(pg, "turbo-response", 1)
    lines: list[str] = []
    sup = _supervisor(pg, tmp_path, lines)
    assert sup.deploy("python -c pass") == "update_failed"


def test_the_backend_environment_never_holds_the_render_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Like a Render service, the backend and its pre-deploy commands get DATABASE_URL but no API key."""
    from oncall.sandbox.supervisor import child_env

    monkeypatch.setenv("RENDER_API_KEY", "rnd_notforthebackend0000")
    env = child_env("postgresql://u:p@127.0.0.1:5432/db")
    assert "RENDER_API_KEY" not in env
    assert env["DATABASE_URL"] == "postgresql://u:p@127.0.0.1:5432/db"
