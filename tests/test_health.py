"""`invoke health` end to end: real PostgreSQL, a real page server, the Render stand-in, real webhooks."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fix_invoke import RunInvoke
from fix_pg import TestDatabase
from fix_secrets import SecretScan
from health_support import (
    closed_port_url,
    migrate_target,
    page_server,
    parse_prometheus_text,
    scratch_project,
    target_entry,
    webhook_receiver,
)
from oncall.sandbox.pg import EmbeddedPostgres
from oncall.sandbox.render_api import RenderStandIn, make_service

SERVICE = "turbo-response-backend"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose only target `svc` is the turbo-response system behind $APP_URL."""
    return scratch_project(tmp_path / "project", {"svc": target_entry(render_service=SERVICE)})


@pytest.fixture
def render_api(secret_scan: SecretScan) -> Iterator[tuple[RenderStandIn, dict[str, str]]]:
    """The Render stand-in with the target's service, and the env that points the client at it."""
    key = "rnd_" + secrets.token_hex(16)
    secret_scan.add(key)
    api = RenderStandIn(api_key=key, services=[make_service(SERVICE)])
    with api as base_url:
        yield api, {"RENDER_API_KEY": key, "RENDER_API_URL": base_url}


def _checks(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in doc["checks"]}


def test_a_healthy_target_passes_every_check(
    run_invoke: RunInvoke, pg: TestDatabase, project: Path, render_api: tuple[RenderStandIn, dict[str, str]]
) -> None:
    """Migrated database, live service, page 200: all four checks pass, exit 0, one JSON document."""
    _, render_env = render_api
    migrate_target(project, "svc", pg.url)
    with page_server(200) as page:
        result = run_invoke(
            "health", "--json", cwd=project, env={"DATABASE_URL": pg.url, "APP_URL": page.url, **render_env}
        )
    assert result.code == 0, result.stderr
    doc = result.json()
    assert (doc["ok"], doc["code"], doc["target"]) == (True, 0, "svc")
    assert {name: c["status"] for name, c in _checks(doc).items()} == {
        "database": "pass",
        "schema": "pass",
        "render": "pass",
        "smoke": "pass",
    }


def test_database_down_exits_3_and_skips_schema(
    run_invoke: RunInvoke, pg: TestDatabase, project: Path
) -> None:
    """Nothing listens on the database port: database fails with code 3, schema is skipped, exit 3."""
    with page_server(200) as page:
        result = run_invoke(
            "health",
            "--json",
            cwd=project,
            env={"DATABASE_URL": closed_port_url(pg.url), "APP_URL": page.url},
        )
    assert result.code == 3
    checks = _checks(result.json())
    assert (checks["database"]["status"], checks["database"]["code"]) == ("fail", 3)
    assert "connection refused" in checks["database"]["cause"]
    assert checks["schema"]["status"] == "skip"


def test_a_502_page_exits_1_and_says_why(run_invoke: RunInvoke, pg: TestDatabase, project: Path) -> None:
    """The page answers Render's 502: smoke fails with the status in words, exit 1."""
    migrate_target(project, "svc", pg.url)
    with page_server(502) as page:
        result = run_invoke(
            "health", "--json", cwd=project, env={"DATABASE_URL": pg.url, "APP_URL": page.url}
        )
    assert result.code == 1
    smoke = _checks(result.json())["smoke"]
    assert (smoke["status"], smoke["code"]) == ("fail", 1)
    assert "502 Bad Gateway" in smoke["cause"]
    assert "unhealthy (exit 1): svc/smoke failed" in result.stderr


def test_a_pending_migration_exits_1_naming_it(
    run_invoke: RunInvoke, pg: TestDatabase, project: Path
) -> None:
    """Only the baseline applied: schema fails (pending add_usage_tracking, run invoke migrate), exit 1."""
    migrate_target(project, "svc", pg.url, to="20251001_baseline")
    with page_server(200) as page:
        result = run_invoke(
            "health", "--json", cwd=project, env={"DATABASE_URL": pg.url, "APP_URL": page.url}
        )
    assert result.code == 1
    schema = _checks(result.json())["schema"]
    assert (schema["status"], schema["code"]) == ("fail", 1)
    assert "pending" in schema["cause"]
    assert schema["hint"] == "run invoke migrate"
    assert any("add_usage_tracking" in p for p in schema["details"]["pending"])


def test_checks_a_target_cannot_run_are_skipped_with_the_reason(
    run_invoke: RunInvoke, pg: TestDatabase, project: Path
) -> None:
    """No RENDER_API_KEY and no APP_URL: render and smoke are skipped and say why; still exit 0."""
    migrate_target(project, "svc", pg.url)
    result = run_invoke("health", "--json", cwd=project, env={"DATABASE_URL": pg.url})
    assert result.code == 0, result.stderr
    checks = _checks(result.json())
    assert (checks["render"]["status"], checks["render"]["cause"]) == (
        "skip",
        "skipped: RENDER_API_KEY is not set",
    )
    assert checks["smoke"]["status"] == "skip"
    assert "$APP_URL" in checks["smoke"]["cause"]


def test_a_suspended_service_fails_the_render_check(
    run_invoke: RunInvoke, pg: TestDatabase, project: Path, render_api: tuple[RenderStandIn, dict[str, str]]
) -> None:
    """The Render service is suspended: render fails naming it, exit 1."""
    api, render_env = render_api
    (service,) = [s for s in (api.service(sid) for sid in list(api._services)) if s["name"] == SERVICE]
    api.set_suspended(service["id"], True)
    migrate_target(project, "svc", pg.url)
    result = run_invoke("health", "--json", cwd=project, env={"DATABASE_URL": pg.url, **render_env})
    assert result.code == 1
    render = _checks(result.json())["render"]
    assert render["status"] == "fail"
    assert "suspended" in render["cause"]


def test_a_hanging_page_fails_within_the_timeout(
    run_invoke: RunInvoke, pg: TestDatabase, project: Path
) -> None:
    """A page that never answers fails smoke within --timeout (no answer: code 3) instead of hanging."""
    migrate_target(project, "svc", pg.url)
    with page_server(200) as page:
        page.hang = True
        result = run_invoke(
            "health",
            "--json",
            "--timeout",
            "2",
            cwd=project,
            env={"DATABASE_URL": pg.url, "APP_URL": page.url},
        )
    assert result.code == 3
    smoke = _checks(result.json())["smoke"]
    assert (smoke["status"], smoke["code"]) == ("fail", 3)
    assert "no complete answer" in smoke["cause"]


def test_notify_posts_once_on_failure_and_once_on_recovery(
    run_invoke: RunInvoke, pg: TestDatabase, project: Path, secret_scan: SecretScan
) -> None:
    """Down, down, up, up: the webhook receives exactly two POSTs (failing, then recovered)."""
    migrate_target(project, "svc", pg.url)
    with webhook_receiver() as hook, page_server(502) as page:
        secret_scan.add(hook.url)
        env = {"DATABASE_URL": pg.url, "APP_URL": page.url, "ONCALL_WEBHOOK_URL": hook.url}
        first = run_invoke("health", "--json", "--notify", "--failure-threshold", "1", cwd=project, env=env)
        assert first.code == 1
        assert hook.count == 1
        assert first.json()["notify"]["event"] == "failing"
        second = run_invoke("health", "--json", "--notify", "--failure-threshold", "1", cwd=project, env=env)
        assert second.code == 1
        assert hook.count == 1
        page.status = 200
        third = run_invoke("health", "--json", "--notify", "--failure-threshold", "1", cwd=project, env=env)
        assert third.code == 0
        assert hook.count == 2
        fourth = run_invoke("health", "--json", "--notify", "--failure-threshold", "1", cwd=project, env=env)
        assert fourth.code == 0
        assert hook.count == 2
        texts = hook.texts()
    assert "svc is FAILING (exit 1)" in texts[0]
    assert "502 Bad Gateway" in texts[0]
    assert "svc RECOVERED" in texts[1]


def test_notify_without_a_webhook_url_exits_2(run_invoke: RunInvoke, project: Path) -> None:
    """--notify with ONCALL_WEBHOOK_URL unset: exit 2 naming the variable, before any check runs."""
    result = run_invoke("health", "--json", "--notify", cwd=project, env={})
    assert result.code == 2
    doc = result.json()
    assert "ONCALL_WEBHOOK_URL is not set" in doc["error"]["cause"]


def test_metrics_file_is_prometheus_text(
    run_invoke: RunInvoke, pg: TestDatabase, project: Path, tmp_path: Path
) -> None:
    """--metrics-file writes strict exposition text: success and duration per check, last run time."""
    migrate_target(project, "svc", pg.url)
    metrics = tmp_path / "textfile" / "oncall.prom"
    with page_server(502) as page:
        result = run_invoke(
            "health",
            "--metrics-file",
            str(metrics),
            cwd=project,
            env={"DATABASE_URL": pg.url, "APP_URL": page.url},
        )
    assert result.code == 1
    types, samples = parse_prometheus_text(metrics.read_text())
    assert types["oncall_health_check_success"] == "gauge"
    success = {s.labels["check"]: s.value for s in samples if s.name == "oncall_health_check_success"}
    assert success == {"database": 1.0, "schema": 1.0, "smoke": 0.0}
    durations = {s.labels["check"] for s in samples if s.name == "oncall_health_check_duration_seconds"}
    assert durations == {"database", "schema", "smoke"}
    (stamp,) = [s.value for s in samples if s.name == "oncall_health_last_run_timestamp_seconds"]
    assert stamp > 1_600_000_000


def test_all_checks_every_target_in_one_document(
    run_invoke: RunInvoke, pg: TestDatabase, pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    """--all: one JSON document with a result per configured target; the worst code wins (3)."""
    project = scratch_project(
        tmp_path / "many",
        {
            "up": target_entry(base_url_env=None),
            "down": target_entry(database_url_env="DOWN_DATABASE_URL", base_url_env=None),
            "alembic": target_entry(system="trdrhub", database_url_env="TRDRHUB_URL", base_url_env=None),
        },
    )
    migrate_target(project, "up", pg.url)
    other = f"{pg.name}_trdrhub"
    pg_server.create_database(other, owner="app")
    trdrhub_url = pg_server.url(other, pg.user, pg.password)
    env = {"DATABASE_URL": pg.url, "DOWN_DATABASE_URL": closed_port_url(pg.url), "TRDRHUB_URL": trdrhub_url}
    result = run_invoke("health", "--all", "--json", cwd=project, env=env)
    assert result.code == 3
    doc = result.json()
    by_target = {t["target"]: t for t in doc["targets"]}
    assert sorted(by_target) == ["alembic", "down", "up"]
    assert (by_target["up"]["ok"], by_target["up"]["code"]) == (True, 0)
    assert by_target["down"]["code"] == 3
    assert by_target["alembic"]["code"] == 1  # a fresh database: trdrhub's migrations are pending
    assert (doc["ok"], doc["code"]) == (False, 3)


def test_each_run_leaves_a_run_record_per_target(
    run_invoke: RunInvoke, pg: TestDatabase, project: Path, tmp_path: Path
) -> None:
    """A health run appends one record with outcome and code, which `invoke runs` shows."""
    migrate_target(project, "svc", pg.url)
    with page_server(502) as page:
        run_invoke("health", cwd=project, env={"DATABASE_URL": pg.url, "APP_URL": page.url})
    listed = run_invoke("runs", "--json", "--task", "health", cwd=project)
    assert listed.code == 0
    (record,) = listed.json()["runs"]
    assert (record["task"], record["target"], record["outcome"], record["code"]) == (
        "health",
        "svc",
        "failing",
        1,
    )
    assert json.dumps(record).count("smoke") >= 1
