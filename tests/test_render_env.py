"""database_url_from: render: the service's own DATABASE_URL, read through the API, never shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from migrate_support import invoke_args, write_config
from oncall.db import parse_database_url
from oncall.render.env import compare
from oncall.sandbox.render_api import RenderStandIn
from render_support import SERVICE, http_for, invoke_env, service_id, validate

REPO = Path(__file__).resolve().parents[1]
POOLER_6543 = "postgresql://postgres.abcdefghijklmnopqrst:Pooler6543Secret@aws-0-us-east-1.pooler.supabase.com:6543/postgres"


def _config(tmp_path: Path, **extra: Any) -> Path:
    target = {
        "system": "turbo-response",
        "migrations": str(REPO / "examples/turbo-response-backend/backend/migrations"),
        "ledger": "oncall",
        "render": {"service": SERVICE},
        "database_url_from": "render",
        **extra,
    }
    return write_config(tmp_path / "render-url.json", {"svc": target})


def test_standin_env_vars_follow_the_schema(api: RenderStandIn) -> None:
    """GET env-vars lists {envVar: {key, value}, cursor}; GET env-vars/{key} answers {key, value} or 404."""
    sid = service_id(api)
    api.set_env_var(sid, "NODE_ENV", "production")
    with http_for(api, api.base_url) as http:
        listed = http.get(f"/services/{sid}/env-vars").json()
        one = http.get(f"/services/{sid}/env-vars/NODE_ENV")
        missing = http.get(f"/services/{sid}/env-vars/DATABASE_URL")
    validate(listed, "/services/{serviceId}/env-vars")
    assert one.json() == {"key": "NODE_ENV", "value": "production"}
    assert missing.status_code == 404


def test_migrate_and_status_use_the_services_database_url(
    api: RenderStandIn, run_invoke: Any, pg: Any, tmp_path: Path
) -> None:
    """No DATABASE_URL here: migrate reads the service's own from Render and migrates that database."""
    api.set_env_var(service_id(api), "DATABASE_URL", pg.url)
    config = _config(tmp_path)
    env = invoke_env(api, api.base_url)
    migrated = run_invoke(*invoke_args(config, "migrate", "--target", "svc"), env=env)
    assert migrated.code == 0, migrated.output
    assert pg.scalar("SELECT to_regclass('public.ai_usage_logs') IS NOT NULL") is True
    status = run_invoke(*invoke_args(config, "status", "--target", "svc", "--check"), env=env)
    assert status.code == 0, status.output
    assert pg.url not in migrated.output + status.output
    assert pg.password not in migrated.output + status.output


def test_service_without_the_variable_exits_2(api: RenderStandIn, run_invoke: Any, tmp_path: Path) -> None:
    """The service sets no DATABASE_URL: exit 2 naming the service and the key, with a hint."""
    config = _config(tmp_path)
    result = run_invoke(*invoke_args(config, "status", "--target", "svc"), env=invoke_env(api, api.base_url))
    assert result.code == 2
    assert f"Render service {SERVICE}" in result.output
    assert "has no environment variable DATABASE_URL of its own" in result.output
    assert "hint:" in result.output


def test_a_key_without_the_right_exits_3(api: RenderStandIn, run_invoke: Any, tmp_path: Path) -> None:
    """Render answers 403 for the environment: exit 3 saying the key's user may not read it."""
    api.set_env_var(service_id(api), "DATABASE_URL", "postgresql://u:Sekrit403Value@db.example.com/app")
    api.inject("403", path=r"/env-vars/", times=10)
    config = _config(tmp_path)
    result = run_invoke(*invoke_args(config, "status", "--target", "svc"), env=invoke_env(api, api.base_url))
    assert result.code == 3
    assert "refused to show the environment" in result.output


def test_unknown_source_exits_2(api: RenderStandIn, run_invoke: Any, tmp_path: Path) -> None:
    """database_url_from: vault is not a source oncall knows: exit 2."""
    config = _config(tmp_path, database_url_from="vault")
    result = run_invoke(*invoke_args(config, "status", "--target", "svc"), env=invoke_env(api, api.base_url))
    assert result.code == 2
    assert "database_url_from" in result.output


def test_doctor_flags_the_services_pooler_url_and_other_host(
    api: RenderStandIn, run_invoke: Any, pg: Any, tmp_path: Path, secret_scan: Any
) -> None:
    """doctor shows the service's host/port/database and flags 6543 and a host other than the target's."""
    secret_scan.add("Pooler6543Secret")
    api.set_env_var(service_id(api), "DATABASE_URL", POOLER_6543)
    config = write_config(
        tmp_path / "doctor.json",
        {
            "svc": {
                "system": "turbo-response",
                "migrations": str(REPO / "examples/turbo-response-backend/backend/migrations"),
                "render": {"service": SERVICE},
                "database_url_env": "DATABASE_URL",
            }
        },
    )
    env = invoke_env(api, api.base_url, DATABASE_URL=pg.url)
    result = run_invoke(*invoke_args(config, "doctor", "--target", "svc", "--json"), env=env)
    rows = {row["check"]: row for row in result.json()["checks"]}
    row = rows["service database url"]
    assert row["result"] == "warn"
    assert "aws-0-us-east-1.pooler.supabase.com:6543/postgres" in row["detail"]
    assert "transaction pooler" in row["detail"]
    assert "is not this target's (127.0.0.1)" in row["detail"]
    assert "Pooler6543Secret" not in result.output


def test_doctor_same_database_is_ok(api: RenderStandIn, run_invoke: Any, pg: Any, tmp_path: Path) -> None:
    """The service's URL points at the target's database: an ok row saying so."""
    api.set_env_var(service_id(api), "DATABASE_URL", pg.url)
    config = write_config(
        tmp_path / "doctor.json",
        {
            "svc": {
                "system": "turbo-response",
                "migrations": str(REPO / "examples/turbo-response-backend/backend/migrations"),
                "render": {"service": SERVICE},
            }
        },
    )
    env = invoke_env(api, api.base_url, DATABASE_URL=pg.url)
    result = run_invoke(*invoke_args(config, "doctor", "--target", "svc", "--json"), env=env)
    row = {r["check"]: r for r in result.json()["checks"]}["service database url"]
    assert row["result"] == "ok"
    assert "the same database" in row["detail"]


@pytest.mark.parametrize(
    ("service", "target", "says"),
    [
        (
            "postgresql://postgres:x@db.aaaaaaaaaaaaaaaaaaaa.supabase.co:5432/postgres",
            "postgresql://postgres:x@db.bbbbbbbbbbbbbbbbbbbb.supabase.co:5432/postgres",
            "Supabase project aaaaaaaaaaaaaaaaaaaa",
        ),
        (
            "postgresql://postgres.aaaaaaaaaaaaaaaaaaaa:x@aws-0-eu-west-1.pooler.supabase.com:5432/postgres",
            "postgresql://postgres:x@db.aaaaaaaaaaaaaaaaaaaa.supabase.co:5432/postgres",
            None,
        ),
    ],
    ids=["another Supabase project", "the same project through the session pooler"],
)
def test_compare_supabase_projects(service: str, target: str, says: str | None) -> None:
    """Another project is flagged; the same project through its pooler is not another host."""
    warnings = compare(parse_database_url(service), parse_database_url(target))
    if says is None:
        assert warnings == []
    else:
        assert any(says in w for w in warnings)
