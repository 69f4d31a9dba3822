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


# -- the crash signatures of issue 18 ---------------------------------------------------------

SIGNATURE_LINES = [
    ('ERROR:  column "plan" does not exist at character 8', ("missing_column", "plan")),
    ("error: column u.plan_tier does not exist", ("missing_column", "plan_tier")),
    (
        "FATAL:  remaining connection slots are reserved for non-replication superuser connections",
        ("too_many_connections", ""),
    ),
    (
        'PostgresError: prepared statement "s0" already exists',
        ("prepared_statement_pooler", "s0"),
    ),
    (
        "Error: connect ENETUNREACH 2a05:d014:1c06:5f01:4f6b:8e1b:2a3c:9d10:5432 - Local (:::0)",
        ("ipv6_unreachable", "2a05:d014:1c06:5f01:4f6b:8e1b:2a3c:9d10"),
    ),
    (
        'connection to server at "db.abcd.supabase.co" (2600:1f18:2e13:9d00::1), port 5432 failed: '
        "Network is unreachable",
        ("ipv6_unreachable", "2600:1f18:2e13:9d00::1"),
    ),
    (
        "Error: getaddrinfo ENOTFOUND db.wrongref.supabase.co",
        ("host_not_found", "db.wrongref.supabase.co"),
    ),
    (
        'psycopg.OperationalError: could not translate host name "db.x.supabase.co" to address',
        ("host_not_found", "db.x.supabase.co"),
    ),
    (
        'FATAL:  password authentication failed for user "postgres.abcdefgh"',
        ("password_failed", "postgres.abcdefgh"),
    ),
    ("Out of memory: Killed process 4182 (node) total-vm:1528332kB", ("out_of_memory", "")),
    ("==> No open ports detected on 0.0.0.0, continuing to scan...", ("port_not_bound", "")),
    (
        "alembic.util.exc.CommandError: Can't locate revision identified by '20251116_add_ai_usage'",
        ("alembic_missing_revision", "20251116_add_ai_usage"),
    ),
    (
        "FAILED: Multiple head revisions are present for given argument 'head'; please specify a "
        "specific target revision, '<branchname>@head' to narrow to a specific head, "
        "or 'heads' for all heads",
        ("alembic_multiple_heads", ""),
    ),
    ("Error: connect ECONNREFUSED 10.0.4.7:5432", ("database_refused", "")),
    ("Error: connect ECONNREFUSED 127.0.0.1:5432", ("database_url_unset", "")),
    ("ModuleNotFoundError: No module named 'psycopg2'", ("module_not_found", "psycopg2")),
    ("Error: Cannot find module 'pg'", ("module_not_found", "pg")),
]


@pytest.mark.parametrize(
    ("line", "expected"),
    SIGNATURE_LINES,
    ids=[
        "column (SELECT form)",
        "alias-qualified column",
        "no connection slots left",
        "pgbouncer prepared statement",
        "Node ENETUNREACH to Supabase's IPv6 host",
        "libpq network unreachable on IPv6",
        "getaddrinfo ENOTFOUND",
        "libpq cannot translate host name",
        "password authentication failed",
        "kernel OOM kill",
        "Render: no open ports",
        "Alembic can't locate revision",
        "Alembic multiple heads",
        "Node ECONNREFUSED to the database",
        "ECONNREFUSED to localhost: DATABASE_URL unset",
        "Python ModuleNotFoundError",
        "Node cannot find module",
    ],
)
def test_crash_signatures(line: str, expected: tuple[str, str]) -> None:
    """Each crash line of issue 18 is recognised, with its object."""
    assert classify(line) == expected


def test_select_form_column_names_the_migration_that_adds_it(tmp_path: Path) -> None:
    """column "ai_summary" does not exist (no relation named): the migration adding it to any table."""
    sql = tmp_path / "sql"
    sql.mkdir()
    (sql / "001_cases.sql").write_text("CREATE TABLE cases (id serial primary key);\n")
    (sql / "002_summary.sql").write_text("ALTER TABLE public.cases ADD COLUMN ai_summary text;\n")
    target = Target("t", "x", sql)
    assert creating_migration(target, "missing_column", "ai_summary").version == "002_summary"


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ('ERROR:  column "tokens_used" does not exist', "invoke migrate --target sandbox"),
        ("ModuleNotFoundError: No module named 'psycopg2'", "invoke rollback --target sandbox"),
        ('prepared statement "s0" already exists', "fix DATABASE_URL in Render"),
        ("Error: connect ENETUNREACH 2a05:d014::1:5432 - Local (:::0)", "fix DATABASE_URL in Render"),
        ("Ran out of memory (used over 512MB) while running your code.", "invoke scale 2 --target sandbox"),
        ("Multiple head revisions are present", "invoke status --target sandbox"),
    ],
    ids=["migrate", "rollback", "fix the URL (pooler)", "fix the URL (IPv6)", "scale", "status"],
)
def test_triage_shows_raw_lines_and_next_command(
    api: RenderStandIn, run_invoke: Any, line: str, command: str
) -> None:
    """Each finding prints the raw lines it is based on and proposes the next command."""
    now = dt.datetime.now(dt.UTC)
    for seconds in (30, 20):
        api.add_log(service_id(api), f"{line} [{seconds}s ago]", at=now - dt.timedelta(seconds=seconds))
    env = invoke_env(api, api.base_url)
    human = run_invoke("triage", "--target", "sandbox", env=env)
    assert human.code == 1
    assert "[30s ago]" in human.stdout
    assert "[20s ago]" in human.stdout
    assert f"next: {command}" in human.stdout
    doc = run_invoke("triage", "--target", "sandbox", "--json", env=env).json()
    [finding] = doc["findings"]
    assert finding["command"].startswith(command)
    assert [raw["message"][-9:] for raw in finding["lines"]] == ["[30s ago]", "[20s ago]"]


def test_triage_window_is_paginated_and_capped(api: RenderStandIn) -> None:
    """250 lines: every page is read by default; --max-lines 120 reads the newest 120 and says so."""
    now = dt.datetime.now(dt.UTC)
    sid = service_id(api)
    api.add_log(sid, "Error: Cannot find module 'pg'", at=now - dt.timedelta(minutes=20))
    for i in range(249):
        api.add_log(sid, f"GET /health 200 {i}", level="info", at=now - dt.timedelta(seconds=600 - i))
    target = Target(
        "t", "x", REPO / "examples/turbo-response-backend/backend/migrations", render_service=SERVICE
    )
    full = triage(target, "30m", client=client_for(api, api.base_url), check_ledger=False)
    assert full.lines == 250
    assert [f.signature for f in full.findings] == ["module_not_found"]
    capped = triage(target, "30m", client=client_for(api, api.base_url), check_ledger=False, max_lines=120)
    assert capped.lines == 120
    assert capped.findings == []
    assert "--max-lines" in (capped.note or "")
