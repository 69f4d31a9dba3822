"""The demo backend crashes like the real one without its tables, and serves the case page with them."""

from __future__ import annotations

import json
import subprocess

import pytest

from oncall.sandbox import procs
from sandbox_support import MISSING, apply, backend_argv, backend_env, get, running_backend


@pytest.mark.parametrize("system", ["turbo-response", "trdrhub"], ids=["turbo-response", "trdrhub"])
def test_backend_crashes_at_startup_naming_the_missing_relation(pg, system: str) -> None:
    """Without the new migration the backend exits 1 with PostgreSQL's own 'relation does not exist'."""
    apply(pg, system, 1)
    proc = subprocess.run(
        backend_argv(system, procs.pick_port(0)),
        env=backend_env(pg.url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert f'error: relation "{MISSING[system]}" does not exist' in proc.stderr.splitlines()


def test_backend_without_database_url_exits_1(pg) -> None:
    """No DATABASE_URL: the backend says so and exits 1, like a misconfigured service."""
    proc = subprocess.run(
        backend_argv("turbo-response", procs.pick_port(0)),
        env=backend_env(None),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "DATABASE_URL is not set" in proc.stderr


def test_turbo_response_serves_case_11_as_html_and_json(pg) -> None:
    """With both migrations applied the backend serves /admin/case/11 with the case and its usage rows."""
    apply(pg, "turbo-response", 2)
    pg.execute("INSERT INTO cases (id, client_name, case_type) VALUES (11, 'Jordan Lee', 'debt_collection')")
    pg.execute(
        "INSERT INTO ai_usage_logs (case_id, analysis_type, tokens_used) VALUES (11, 'comprehensive', 1200)"
    )
    with running_backend("turbo-response", pg.url) as port:
        status, body = get(f"http://127.0.0.1:{port}/admin/case/11")
        assert status == 200
        assert "Jordan Lee" in body
        status, body = get(f"http://127.0.0.1:{port}/admin/case/11?format=json")
        doc = json.loads(body)
        assert (status, doc["case"]["client_name"], doc["usage"][0]["tokens_used"]) == (
            200,
            "Jordan Lee",
            1200,
        )
        assert get(f"http://127.0.0.1:{port}/health")[0] == 200
        assert get(f"http://127.0.0.1:{port}/admin/case/99")[0] == 404
        assert get(f"http://127.0.0.1:{port}/nowhere")[0] == 404


def test_trdrhub_serves_the_validation_session_of_case_11(pg) -> None:
    """trdrhub's case N is the validation session whose UUID is N; its usage records are listed."""
    from oncall.sandbox.backend import case_uuid

    apply(pg, "trdrhub", 2)
    company, user, session = case_uuid(1), case_uuid(2), case_uuid(11)
    pg.execute(f"INSERT INTO companies (id, name) VALUES ('{company}', 'Acme')")
    pg.execute(f"INSERT INTO users (id, company_id, email) VALUES ('{user}', '{company}', 'a@acme.example')")
    pg.execute(
        "INSERT INTO validation_sessions (id, company_id, user_id)"
        f" VALUES ('{session}', '{company}', '{user}')"
    )
    with running_backend("trdrhub", pg.url) as port:
        status, body = get(f"http://127.0.0.1:{port}/admin/case/11", {"Accept": "application/json"})
        assert status == 200
        assert json.loads(body)["case"]["name"] == "Acme"
        assert get(f"http://127.0.0.1:{port}/health")[0] == 200


def test_a_table_dropped_after_startup_gives_500_and_logs_the_error(pg) -> None:
    """A query failing after start-up answers 500 (the app's own error, not the edge's 502)."""
    apply(pg, "turbo-response", 2)
    pg.execute("INSERT INTO cases (id, client_name, case_type) VALUES (11, 'Jordan Lee', 'debt_collection')")
    with running_backend("turbo-response", pg.url) as port:
        pg.execute("DROP TABLE ai_usage_logs")
        status, _ = get(f"http://127.0.0.1:{port}/admin/case/11")
        assert status == 500
