"""triage: read the service's Render logs, name the cause, and for a missing table the migration to run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from oncall.config import Target
from oncall.errors import BadInput
from oncall.runbook.triage import classify, creating_migration, parse_since, triage
from oncall.sandbox.render_api import RenderStandIn, make_service
from render_support import SERVICE, client_for, invoke_env, new_key, service_id

REPO = Path(__file__).resolve().parents[1]


CRASH = 'error: relation "ai_usage_logs" does not exist at character 15'


def test_missing_table_names_the_pending_migration(api: RenderStandIn, run_invoke: Any, pg: Any) -> None:
    """The seed-001 crash: triage names 20251110_add_usage_tracking as pending and the command to run."""
    for _ in range(3):
        api.add_log(service_id(api), CRASH)
    api.add_log(service_id(api), "GET /admin/case/11 502", level="info")
    env = invoke_env(api, api.base_url, DATABASE_URL=pg.url)
    result = run_invoke("triage", "--target", "sandbox", "--json", env=env)
    assert result.code == 1
    doc = result.json()
    assert doc["lines"] == 4
    [finding] = doc["findings"]
    assert finding["signature"] == "missing_relation"
    assert finding["object"] == "ai_usage_logs"
    assert finding["count"] == 3
    assert finding["migration"] == "20251110_add_usage_tracking"
    assert finding["migration_state"] == "pending"
    assert finding["command"] == "invoke migrate --target sandbox"
    assert "invoke migrate --target sandbox" in finding["hint"]


def test_human_output_reads_as_a_diagnosis(api: RenderStandIn, run_invoke: Any) -> None:
    """Without --json: the signature, the log line, the migration and the fix, one block each."""
    api.add_log(service_id(api), CRASH)
    result = run_invoke("triage", "--target", "sandbox", env=invoke_env(api, api.base_url))
    assert result.code == 1
    assert "missing_relation" in result.stdout
    assert "20251110_add_usage_tracking" in result.stdout
    assert (
        "fix: examples/turbo-response-backend/backend/migrations" not in result.stdout
    )  # the directory is named by its last part
    assert "migrations/20251110_add_usage_tracking.sql creates it" in result.stdout


def test_missing_table_for_alembic_target(run_invoke: Any, secret_scan: Any) -> None:
    """trdrhub: relation ai_usage_records is created by Alembic revision a7c41e2b9d3f (its .py named)."""
    standin = RenderStandIn(api_key=new_key(), services=[make_service("trdrhub-api")])
    secret_scan.add(standin.api_key)
    with standin as base_url:
        sid = str(standin.services()[0]["id"])
        line = (
            'sqlalchemy.exc.ProgrammingError: (psycopg2.errors.UndefinedTable) relation "ai_usage_records" '
        )
        standin.add_log(sid, line + "does not exist")
        result = run_invoke(
            "triage", "--target", "sandbox-trdrhub", "--json", env=invoke_env(standin, base_url)
        )
    assert result.code == 1
    [finding] = result.json()["findings"]
    assert finding["migration"] == "a7c41e2b9d3f"
    assert "versions/a7c41e2b9d3f_add_ai_usage_and_events.py creates it" in finding["hint"]
    assert finding["migration_state"] == "unknown"  # no DATABASE_URL: the ledger was not read


def test_clean_logs_exit_0(api: RenderStandIn, run_invoke: Any) -> None:
    """Logs without a known signature: exit 0 and say how many lines were read."""
    api.add_log(service_id(api), "listening on port 10000", level="info")
    result = run_invoke("triage", "--target", "sandbox", "--json", env=invoke_env(api, api.base_url))
    assert result.code == 0, result.stderr
    assert result.json()["findings"] == []
    assert "no known signature in 1 log line" in result.json()["note"]


def test_since_limits_the_window(api: RenderStandIn) -> None:
    """Lines older than --since are not read."""
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    api.add_log(service_id(api), CRASH, at=old)
    target = Target(
        "sandbox",
        "turbo-response",
        REPO / "examples/turbo-response-backend/backend/migrations",
        render_service=SERVICE,
    )
    recent = triage(target, "30m", client=client_for(api, api.base_url), check_ledger=False)
    wider = triage(target, "3h", client=client_for(api, api.base_url), check_ledger=False)
    assert (recent.code, recent.lines) == (0, 0)
    assert (wider.code, len(wider.findings)) == (1, 1)


def test_bad_since_exits_2(api: RenderStandIn, run_invoke: Any) -> None:
    """--since that is not a duration: exit 2 with the accepted forms."""
    result = run_invoke(
        "triage", "--target", "sandbox", "--since", "yesterday", env=invoke_env(api, api.base_url)
    )
    assert result.code == 2
    assert "30m" in result.output


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (CRASH, ("missing_relation", "ai_usage_logs")),
        (
            'ERROR: column "ai_summary" of relation "cases" does not exist',
            ("missing_column", "cases.ai_summary"),
        ),
        ("Error: connect ECONNREFUSED 10.0.0.5:5432", ("database_refused", "")),
        (
            'psycopg.OperationalError: connection to server at "db.x.supabase.co" (10.1.1.1), '
            "port 5432 failed: Connection refused",
            ("database_refused", ""),
        ),
        (
            "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
            ("out_of_memory", ""),
        ),
        ("Ran out of memory (used over 512MB) while running your code.", ("out_of_memory", "")),
        ("==> No open ports detected, continuing to scan...", ("port_not_bound", "")),
        (
            "Port scan timeout reached, no open ports detected. Bind your service to at least one port.",
            ("port_not_bound", ""),
        ),
        ("GET /health 200 3ms", None),
    ],
    ids=[
        "missing relation",
        "missing column",
        "node refused on 5432",
        "psycopg refused",
        "V8 heap",
        "Render OOM",
        "Render port scan",
        "Render port timeout",
        "ordinary line",
    ],
)
def test_signatures(line: str, expected: tuple[str, str] | None) -> None:
    """Each known signature is recognised from a real-looking log line; ordinary lines are not."""
    assert classify(line) == expected


def test_missing_column_names_the_migration_that_adds_it(tmp_path: Path) -> None:
    """column "Y" of relation "X": the migration with ALTER TABLE X ADD COLUMN Y is named."""
    sql = tmp_path / "sql"
    sql.mkdir()
    (sql / "001_cases.sql").write_text("CREATE TABLE cases (id serial primary key);\n")
    (sql / "002_summary.sql").write_text("ALTER TABLE public.cases ADD COLUMN ai_summary text;\n")
    target = Target("t", "x", sql)
    assert creating_migration(target, "missing_column", "cases.ai_summary").version == "002_summary"
    assert creating_migration(target, "missing_column", "cases.id").version == "001_cases"
    assert creating_migration(target, "missing_relation", "public.cases").version == "001_cases"
    assert creating_migration(target, "missing_relation", "nope") is None


def test_no_migration_creates_it(api: RenderStandIn, tmp_path: Path) -> None:
    """A missing table no migration creates: the hint says so instead of naming a command."""
    sql = tmp_path / "sql"
    sql.mkdir()
    (sql / "001.sql").write_text("CREATE TABLE other (id int);\n")
    api.add_log(service_id(api), 'relation "ghost" does not exist')
    target = Target("t", "x", sql, render_service=SERVICE)
    result = triage(target, "30m", client=client_for(api, api.base_url), check_ledger=False)
    [finding] = result.findings
    assert finding.migration is None
    assert "no migration" in finding.hint


def test_several_causes_are_listed_newest_first(api: RenderStandIn) -> None:
    """Different signatures in one window become separate findings, the most recent first."""
    now = dt.datetime.now(dt.UTC)
    api.add_log(
        service_id(api), "Error: connect ECONNREFUSED 10.0.0.5:5432", at=now - dt.timedelta(minutes=5)
    )
    api.add_log(service_id(api), "JavaScript heap out of memory", at=now - dt.timedelta(minutes=1))
    target = Target(
        "t", "x", REPO / "examples/turbo-response-backend/backend/migrations", render_service=SERVICE
    )
    result = triage(target, "30m", client=client_for(api, api.base_url), check_ledger=False)
    assert [f.signature for f in result.findings] == ["out_of_memory", "database_refused"]


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400)])
def test_parse_since(text: str, seconds: int) -> None:
    """Durations as on-call people type them."""
    assert parse_since(text).total_seconds() == seconds


def test_parse_since_rejects_nonsense() -> None:
    """Anything else is BadInput (exit 2)."""
    with pytest.raises(BadInput):
        parse_since("0m")
    with pytest.raises(BadInput):
        parse_since("soon")


def test_applied_migration_points_at_the_wrong_database(api: RenderStandIn, run_invoke: Any, pg: Any) -> None:
    """The table's migration is applied here, yet the service says it is missing: suspect its DATABASE_URL."""
    env = invoke_env(api, api.base_url, DATABASE_URL=pg.url)
    migrated = run_invoke("migrate", "--target", "sandbox", env=env)
    assert migrated.code == 0, migrated.output
    api.add_log(service_id(api), CRASH)
    result = run_invoke("triage", "--target", "sandbox", "--json", env=env)
    assert result.code == 1
    [finding] = result.json()["findings"]
    assert finding["migration_state"] == "applied"
    assert "another database" in finding["hint"]
    assert result.json()["ledger_note"] is None


def test_unreadable_ledger_is_named(api: RenderStandIn, run_invoke: Any) -> None:
    """Without DATABASE_URL the migration is still named, and the output says why its state is unknown."""
    api.add_log(service_id(api), CRASH)
    result = run_invoke("triage", "--target", "sandbox", env=invoke_env(api, api.base_url))
    assert result.code == 1
    assert "ledger not read: DATABASE_URL is not set" in result.stdout
