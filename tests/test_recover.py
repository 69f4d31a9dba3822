"""`invoke recover`: the four steps as one, with a timeline, a resume command and an incident report."""

from __future__ import annotations

from pathlib import Path

import pytest

from fix_invoke import RunInvoke
from fix_pg import TestDatabase
from fix_secrets import SecretScan
from health_support import (
    SANDBOX_TARGETS,
    SERVICES,
    damage_schema,
    page_status,
    restarts_seen,
    run_log_tasks,
    scratch_project,
    start_sandbox,
    target_entry,
)

# The migration each system's incident is missing: a SQL file, or an Alembic revision id.
NEW_MIGRATION = {"turbo-response": "20251110_add_usage_tracking", "trdrhub": "a7c41e2b9d3f"}


@pytest.mark.slow
@pytest.mark.parametrize("system", ["turbo-response", "trdrhub"])
def test_recover_fixes_the_incident_and_writes_a_report(
    run_invoke, sandbox_dir, secret_scan, tmp_path, system
) -> None:  # type: ignore[no-untyped-def]
    """502 and a missing table: recover applies, verifies, restarts, smokes; exit 0; report and record."""
    env = start_sandbox(run_invoke, sandbox_dir, system, secret_scan)
    report = tmp_path / "incident.md"
    result = run_invoke("recover", "--json", "--wait", "60", "--report", str(report), env=env, timeout=300)
    assert result.code == 0, result.stderr
    doc = result.json()
    assert (doc["ok"], doc["code"], doc["target"], doc["failed_step"]) == (
        True,
        0,
        SANDBOX_TARGETS[system],
        None,
    )
    assert [(s["step"], s["status"]) for s in doc["steps"]] == [
        ("migrate", "ok"),
        ("verify", "ok"),
        ("restart", "ok"),
        ("smoke", "ok"),
    ]
    assert NEW_MIGRATION[system] in doc["applied"]
    assert {c["name"]: c["status"] for c in doc["before"]["checks"]}["smoke"] == "fail"
    assert all(c["status"] == "pass" for c in doc["after"]["checks"])
    assert page_status(env) == 200
    assert restarts_seen(env, SERVICES[system]) == 1
    assert "recover" in run_log_tasks(result.env)
    text = report.read_text()
    assert "RESOLVED" in text
    assert "## What was wrong" in text
    assert "does not exist" in text  # triage named the missing relation
    assert "Applied migrations:" in text
    assert "| restart |" in text
    assert "timeline of recover" in result.stderr


@pytest.mark.slow
def test_a_failing_step_stops_recover_and_the_resume_command_finishes_it(
    run_invoke: RunInvoke, sandbox_dir: Path, secret_scan: SecretScan
) -> None:
    """verify fails: exit 1, restart not run, the resume command printed; after the fix it finishes."""
    env = start_sandbox(run_invoke, sandbox_dir, "turbo-response", secret_scan)
    damage_schema(env, "turbo-response")
    failed = run_invoke("recover", "--json", "--wait", "60", env=env, timeout=300)
    assert failed.code == 1
    doc = failed.json()
    assert doc["failed_step"] == "verify"
    assert [(s["step"], s["status"]) for s in doc["steps"]] == [
        ("migrate", "ok"),
        ("verify", "failed"),
        ("restart", "not run"),
        ("smoke", "not run"),
    ]
    assert doc["resume"] == "invoke recover --target sandbox --from verify"
    assert "resume: invoke recover --target sandbox --from verify" in failed.stderr
    assert restarts_seen(env, "turbo-response-backend") == 0
    report = Path(doc["report"]).read_text()
    assert "NOT RESOLVED — verify failed (exit 1)" in report
    assert "invoke recover --target sandbox --from verify" in report

    damage_schema(env, "turbo-response", undo=True)
    resumed = run_invoke(*doc["resume"].split()[1:], "--json", "--wait", "60", env=env, timeout=300)
    assert resumed.code == 0, resumed.stderr
    steps = {s["step"]: s["status"] for s in resumed.json()["steps"]}
    assert steps == {"migrate": "skipped", "verify": "ok", "restart": "ok", "smoke": "ok"}
    assert page_status(env) == 200


@pytest.mark.slow
def test_dry_run_changes_nothing(run_invoke: RunInvoke, sandbox_dir: Path, secret_scan: SecretScan) -> None:
    """--dry-run shows the plan and the service it would restart; nothing applied, no restart, exit 0."""
    env = start_sandbox(run_invoke, sandbox_dir, "turbo-response", secret_scan)
    result = run_invoke("recover", "--dry-run", "--json", env=env, timeout=120)
    assert result.code == 0, result.stderr
    doc = result.json()
    assert [(s["step"], s["status"]) for s in doc["steps"]] == [
        ("migrate", "dry run"),
        ("verify", "skipped"),
        ("restart", "dry run"),
        ("smoke", "skipped"),
    ]
    assert "20251110_add_usage_tracking" in doc["steps"][0]["summary"]
    assert doc["report"] is None
    assert restarts_seen(env, "turbo-response-backend") == 0
    assert run_log_tasks(result.env) == []
    assert page_status(env) == 502


def test_production_without_yes_is_refused_once_up_front(
    run_invoke: RunInvoke, pg: TestDatabase, tmp_path: Path
) -> None:
    """A production target without --yes and without a terminal: exit 4 before any step; nothing applied."""
    project = scratch_project(tmp_path / "prod", {"prod": target_entry(production=True, base_url_env=None)})
    result = run_invoke("recover", "--json", cwd=project, env={"DATABASE_URL": pg.url})
    assert result.code == 4
    assert "production" in result.json()["error"]["cause"]
    assert pg.scalar("select count(*) from pg_tables where tablename = 'ai_usage_logs'") == 0
    assert run_log_tasks(result.env) == []


def test_an_unknown_step_is_bad_input(run_invoke: RunInvoke, pg: TestDatabase, tmp_path: Path) -> None:
    """--from names no step: exit 2 listing the steps."""
    project = scratch_project(tmp_path / "p", {"svc": target_entry(base_url_env=None)})
    result = run_invoke("recover", "--from", "deploy", cwd=project, env={"DATABASE_URL": pg.url})
    assert result.code == 2
    assert "choose one of: migrate, verify, restart, smoke" in result.stderr


def test_a_step_error_is_a_failed_step_with_its_code(
    run_invoke: RunInvoke, pg: TestDatabase, tmp_path: Path
) -> None:
    """No RENDER_API_KEY: migrate and verify pass, restart fails with exit 2 and the resume command."""
    project = scratch_project(tmp_path / "p", {"svc": target_entry(render_service="turbo-response-backend")})
    env = {"DATABASE_URL": pg.url, "APP_URL": "http://127.0.0.1:9"}
    result = run_invoke("recover", "--json", cwd=project, env=env)
    assert result.code == 2
    doc = result.json()
    assert [s["status"] for s in doc["steps"]] == ["ok", "ok", "failed", "not run"]
    assert "RENDER_API_KEY" in doc["steps"][2]["summary"]
    assert doc["resume"] == "invoke recover --target svc --from restart"
    assert Path(doc["report"]).exists()


def test_ctrl_c_during_a_wait_still_leaves_the_timeline_and_report(pg: TestDatabase, tmp_path: Path) -> None:
    """SIGINT while smoke waits on a 502: exit 1, smoke recorded as interrupted, the report written."""
    import json
    import signal
    import subprocess

    from fix_invoke import INVOKE, clean_env
    from health_support import migrate_target, page_server, wait_for

    project = scratch_project(tmp_path / "p", {"svc": target_entry()})
    migrate_target(project, "svc", pg.url)
    home = tmp_path / "home"
    home.mkdir()
    with page_server(502) as page:
        env = clean_env(home, {"DATABASE_URL": pg.url, "APP_URL": page.url})
        proc = subprocess.Popen(
            [str(INVOKE), "recover", "--json", "--wait", "120"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert wait_for(lambda: page.hits >= 3, timeout=60), "smoke never polled the page"
            proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    print(stdout, stderr)
    assert proc.returncode == 1
    doc = json.loads(stdout)
    smoke = doc["steps"][3]
    assert (smoke["step"], smoke["status"], smoke["summary"]) == (
        "smoke",
        "failed",
        "interrupted (Ctrl-C) during smoke",
    )
    assert doc["resume"] == "invoke recover --target svc --from smoke"
    assert "interrupted (Ctrl-C) during smoke" in Path(doc["report"]).read_text()


def test_an_unwritable_report_path_is_bad_input_before_anything_is_done(
    run_invoke: RunInvoke, pg: TestDatabase, tmp_path: Path
) -> None:
    """--report under a regular file (unwritable even for root): exit 2 naming it; nothing applied."""
    project = scratch_project(tmp_path / "p", {"svc": target_entry(base_url_env=None)})
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    report = blocker / "incident.md"
    result = run_invoke("recover", "--report", str(report), cwd=project, env={"DATABASE_URL": pg.url})
    assert result.code == 2, result.output
    assert str(report) in result.stderr
    assert "hint:" in result.stderr
    assert pg.scalar("select count(*) from pg_tables where tablename = 'ai_usage_logs'") == 0
    assert run_log_tasks(result.env) == []
