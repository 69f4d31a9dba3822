"""The run history the whole team shares, in the target's own database (issue 19 point 3).

Two engineers are two processes with two local run logs and two database roles: what one did must
show up in the other's `invoke runs --target` and incident report.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from health_support import (
    legacy_alert_state,
    load_target,
    migrate_target,
    scratch_project,
    target_entry,
    webhook_receiver,
)
from oncall.config import build_target
from oncall.errors import BadInput
from oncall.health.model import CheckEnv, HealthObservation
from oncall.health.notify import store_for
from oncall.health.run import run_health
from oncall.output import Output
from oncall.runbook.history import SharedHistory, merge_runs
from oncall.runbook.recover import RecoverResult, format_report, others_meanwhile

TURBO = "examples/turbo-response-backend/backend/migrations"


def _second_role(pg: Any, secret_scan: Any, *, on_runs: bool = True) -> str:
    """A second login role (another engineer); with `on_runs`, rights to read and add shared runs."""
    name = f"bob_{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)
    secret_scan.add(password)
    pg.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
    if on_runs:
        pg.execute(f"GRANT SELECT, INSERT ON oncall_runs TO {name}")
        pg.execute(f"GRANT USAGE ON SEQUENCE oncall_runs_id_seq TO {name}")
    url: str = pg.server.url(pg.name, name, password)
    return url


def _project(tmp_path: Path) -> Path:
    return scratch_project(tmp_path / "project", {"svc": target_entry(base_url_env=None)})


def test_runs_shows_what_another_engineer_did(run_invoke, pg, tmp_path, secret_scan) -> None:  # type: ignore[no-untyped-def]
    """Alice migrates; Bob, another role with an empty local log, sees it in `runs --target`, and
    Alice sees Bob's health run: both through oncall_runs, merged with the local file."""
    project = _project(tmp_path)
    alice = {"DATABASE_URL": pg.url}
    migrate = run_invoke("migrate", "--json", cwd=project, env=alice)
    assert migrate.code == 0
    bob = {
        "DATABASE_URL": _second_role(pg, secret_scan),
        "INVOKE_ONCALL_RUN_LOG": str(tmp_path / "bob.jsonl"),
    }
    seen_by_bob = run_invoke("runs", "--target", "svc", "--json", cwd=project, env=bob)
    assert seen_by_bob.code == 0, seen_by_bob.stderr
    assert [r["task"] for r in seen_by_bob.json()["runs"]] == ["migrate"]
    assert not (tmp_path / "bob.jsonl").exists()
    health = run_invoke("health", "--json", cwd=project, env=bob)
    assert "not shared" not in health.stderr
    seen_by_alice = run_invoke("runs", "--target", "svc", "--json", cwd=project, env=alice).json()
    assert [r["task"] for r in seen_by_alice["runs"]] == ["migrate", "health"]
    assert seen_by_alice["shared_count"] == 2
    assert pg.scalar("SELECT count(*) FROM oncall_runs") == 2


def test_a_role_that_cannot_create_the_table_warns_once(run_invoke, pg, tmp_path, secret_scan) -> None:  # type: ignore[no-untyped-def]
    """No oncall_runs yet and no CREATE on the schema: one warning, the run's own exit code, and
    the record still in the local run log."""
    project = _project(tmp_path)
    migrate_target(project, "svc", pg.url)
    pg.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    env = {"DATABASE_URL": _second_role(pg, secret_scan, on_runs=False)}
    result = run_invoke("health", "--json", cwd=project, env=env)
    assert result.code == result.json()["code"]
    assert result.stderr.count("run record not shared in public.oncall_runs of svc") == 1
    assert "permission denied" in result.stderr
    log = Path(result.env["INVOKE_ONCALL_RUN_LOG"])
    assert [json.loads(line)["task"] for line in log.read_text().splitlines()] == ["health"]
    assert pg.scalar("SELECT to_regclass('public.oncall_runs') IS NULL") is True


def test_the_incident_report_lists_what_others_did(pg, tmp_path, monkeypatch, secret_scan) -> None:  # type: ignore[no-untyped-def]
    """Bob restarted the service ten minutes ago from his laptop: Alice's recover report says so."""
    project = _project(tmp_path)
    target = load_target(project, "svc")
    now = _dt.datetime.now(_dt.UTC)
    warnings: list[str] = []
    first_use = {"time": (now - _dt.timedelta(hours=3)).isoformat(), "target": "svc", "task": "status"}
    SharedHistory(target, warnings.append, {"DATABASE_URL": pg.url})(first_use)  # creates the table
    bob = SharedHistory(target, warnings.append, {"DATABASE_URL": _second_role(pg, secret_scan)})
    bob(
        {
            "time": (now - _dt.timedelta(minutes=10)).isoformat(),
            "user": "bob",
            "host": "laptop-b",
            "pid": 4242,
            "target": "svc",
            "task": "restart",
            "outcome": "restarted",
            "code": 0,
            "details": {"service": "srv-d0abc123"},
        }
    )
    assert warnings == []
    monkeypatch.setenv("DATABASE_URL", pg.url)
    others = others_meanwhile(target, now, Output(stdout=io.StringIO(), stderr=io.StringIO()))
    assert [(r["user"], r["task"]) for r in others] == [("bob", "restart")]
    result = RecoverResult("svc", "turbo-response", "db", None, False, "migrate", now, [], others=others)
    report = format_report(result)
    assert "## What others did meanwhile" in report
    assert "| bob@laptop-b | restart | restarted | 0 | service srv-d0abc123 |" in report


def test_merge_lists_a_run_in_both_places_once() -> None:
    """A record written here is in the file and the table: merged, it appears once, in time order."""
    mine = {"time": "2026-11-30T10:00:00+00:00", "host": "a", "pid": 1, "task": "migrate"}
    theirs = {"time": "2026-11-30T09:00:00+00:00", "host": "b", "pid": 2, "task": "restart"}
    assert merge_runs([mine], [mine, theirs]) == [theirs, mine]


def _failing_smoke(env: CheckEnv) -> HealthObservation:
    return HealthObservation(False, code=1, cause="page: 502 Bad Gateway")


def _passing(env: CheckEnv) -> HealthObservation:
    return HealthObservation(True, cause="fine")


def test_alert_state_lives_in_the_database_without_a_writable_state_dir(pg, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A Render cron job has no writable disk: the state goes to oncall_notify_state, so two failing
    runs at threshold 2 alert once, not twice."""
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the state directory would be")
    merged = {"run_log": str(tmp_path / "runs.jsonl"), "state_dir": str(blocked)}
    target = build_target("svc", {"migrations": TURBO}, merged, tmp_path)
    checks = {"database": _passing, "schema": _passing, "render": _passing, "smoke": _failing_smoke}
    with webhook_receiver("/alerts") as hook:
        env = {"DATABASE_URL": pg.url, "ONCALL_NOTIFY_URLS": hook.url.replace("http://", "json://")}
        events = []
        for _ in range(3):
            run = run_health([target], notify=True, environ=env, checks=checks)
            note = run.results[0].notify or {}
            assert note.get("error") is None
            events.append(note["event"])
        assert events == [None, "failing", None]
        assert hook.count == 1
    assert pg.scalar("SELECT (state->>'fail_streak')::int FROM oncall_notify_state WHERE target = 'svc'") == 3


@pytest.mark.parametrize(
    ("notify_state", "environ", "expected"),
    [
        ("auto", {}, "FileStateStore"),
        ("auto", {"RENDER": "true"}, "DbStateStore"),
        ("database", {}, "DbStateStore"),
        ("file", {"RENDER": "true"}, "FileStateStore"),
    ],
    ids=[
        "auto with a writable state_dir: the file",
        "auto on Render, whose cron jobs lose their disk: the database",
        "database when configured",
        "file when configured, even on Render",
    ],
)
def test_where_the_alert_state_lives(
    tmp_path: Path, notify_state: str, environ: dict[str, str], expected: str
) -> None:
    """notify_state chooses the store; auto picks the database on Render."""
    merged = {"state_dir": str(tmp_path / "state"), "notify_state": notify_state}
    target = build_target("svc", {"migrations": TURBO}, merged, tmp_path)
    assert type(store_for(target, environ)).__name__ == expected


def test_an_unknown_notify_state_is_bad_input(tmp_path: Path) -> None:
    """notify_state: disk is none of auto, file, database: BadInput naming the key."""
    with pytest.raises(BadInput, match="notify_state"):
        build_target(
            "svc",
            {"migrations": TURBO, "notify_state": "disk"},
            {},
            tmp_path,
        )


def test_two_overlapping_runs_alert_once_with_the_state_in_the_database(pg, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """notify_state: database, one failure stored, then two runs at once: the row lock lets one
    decide first, so exactly one of them alerts."""
    import threading

    merged = {"run_log": str(tmp_path / "runs.jsonl"), "notify_state": "database"}
    target = build_target("svc", {"migrations": TURBO}, merged, tmp_path)
    checks = {"database": _passing, "schema": _passing, "render": _passing, "smoke": _failing_smoke}
    with webhook_receiver("/alerts") as hook:
        env = {"DATABASE_URL": pg.url, "ONCALL_NOTIFY_URLS": hook.url.replace("http://", "json://")}
        first = run_health([target], notify=True, environ=env, checks=checks).results[0].notify or {}
        assert first["event"] is None
        start = threading.Barrier(2)
        events: list[str] = []

        def one_run() -> None:
            start.wait()
            note = run_health([target], notify=True, environ=env, checks=checks).results[0].notify or {}
            events.append(str(note.get("event")))

        runs = [threading.Thread(target=one_run) for _ in range(2)]
        for run in runs:
            run.start()
        for run in runs:
            run.join()
        assert sorted(events) == ["None", "failing"]
        assert hook.count == 1


def _two_channels(first: Any, second: Any) -> dict[str, str]:
    return {"ONCALL_NOTIFY_URLS": " ".join(h.url.replace("http://", "json://") for h in (first, second))}


def _sent(run: Any) -> list[tuple[str, str]]:
    note = run.results[0].notify or {}
    return [(c["channel"], c["event"]) for c in note.get("channels", []) if c["sent"]]


def test_each_channel_keeps_its_own_state_in_the_database(pg, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """notify_state: database; channel 2 answers 500 to the alert: the next run posts to channel 2
    only, and the row holds a record per channel (named by hash, never by URL)."""
    merged = {"run_log": str(tmp_path / "runs.jsonl"), "notify_state": "database", "failure_threshold": 1}
    target = build_target("svc", {"migrations": TURBO}, merged, tmp_path)
    checks = {"database": _passing, "schema": _passing, "render": _passing, "smoke": _failing_smoke}
    with webhook_receiver("/one/token-one-abcdef0123") as one, webhook_receiver("/two/token-two") as two:
        env = {"DATABASE_URL": pg.url, **_two_channels(one, two)}
        two.status = 500
        assert _sent(run_health([target], notify=True, environ=env, checks=checks)) == [
            ("channel 1 (json)", "failing")
        ]
        two.status = 200
        assert _sent(run_health([target], notify=True, environ=env, checks=checks)) == [
            ("channel 2 (json)", "failing")
        ]
        assert _sent(run_health([target], notify=True, environ=env, checks=checks)) == []
        assert (one.count, two.count) == (1, 2)
    row = pg.scalar("SELECT state::text FROM oncall_notify_state WHERE target = 'svc'")
    channels = json.loads(row)["channels"]
    assert sorted(c["notified"] for c in channels.values()) == [True, True]
    assert "token-one" not in row
    assert "127.0.0.1" not in row


def test_a_per_target_row_from_before_reads_as_every_channel_told(pg, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A row as today's oncall writes it (one alert open for the target, no channels): still
    failing posts nothing; the recovery goes to both channels, and is retried on the one that
    refused it without a second copy to the other."""
    import psycopg

    from oncall.db.shared import ensure_state_table

    legacy = legacy_alert_state(fail_streak=4)
    with psycopg.connect(pg.url, autocommit=True) as conn:
        ensure_state_table(conn, "public")
        conn.execute(
            "INSERT INTO oncall_notify_state (target, state) VALUES ('svc', %s::jsonb)", [json.dumps(legacy)]
        )
    merged = {"run_log": str(tmp_path / "runs.jsonl"), "notify_state": "database"}
    target = build_target("svc", {"migrations": TURBO}, merged, tmp_path)
    failing = {"database": _passing, "schema": _passing, "render": _passing, "smoke": _failing_smoke}
    passing = {**failing, "smoke": _passing}
    with webhook_receiver("/one") as one, webhook_receiver("/two") as two:
        env = {"DATABASE_URL": pg.url, **_two_channels(one, two)}
        assert _sent(run_health([target], notify=True, environ=env, checks=failing)) == []
        two.status = 503
        assert _sent(run_health([target], notify=True, environ=env, checks=passing)) == [
            ("channel 1 (json)", "recovered")
        ]
        two.status = 200
        assert _sent(run_health([target], notify=True, environ=env, checks=passing)) == [
            ("channel 2 (json)", "recovered")
        ]
        assert (one.count, two.count) == (1, 2)
