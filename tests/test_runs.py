"""Run records and `invoke runs`: what ran, when, by whom, with which outcome — and never a secret."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from fix_invoke import RunInvoke
from fix_pg import TestDatabase
from fix_secrets import SecretScan
from health_support import migrate_target, page_server, scratch_project, target_entry, webhook_receiver
from oncall.redact import register_secret
from oncall.runlog import append_run, read_runs, select_runs
from oncall.sandbox.render_api import RenderStandIn, make_service


def test_run_log_lines_contain_no_secret(
    run_invoke: RunInvoke, pg: TestDatabase, tmp_path: Path, secret_scan: SecretScan
) -> None:
    """Tasks run with a database password, an API key, a webhook token and a header secret in their
    environment and arguments: the run log holds none of them."""
    key = "rnd_" + secrets.token_hex(16)
    header = "Bearer " + secrets.token_hex(12)
    entry = target_entry(render_service="turbo-response-backend")
    entry["smoke"][0]["header_env"] = {"Authorization": "ADMIN_AUTH"}
    project = scratch_project(tmp_path / "project", {"svc": entry})
    migrate_target(project, "svc", pg.url)
    with (
        webhook_receiver("/services/T9/B9/" + secrets.token_hex(8)) as hook,
        page_server(502) as page,
        RenderStandIn(api_key=key, services=[make_service("turbo-response-backend")]) as api_url,
    ):
        secret_scan.add(key, header, hook.url, hook.url.split("/services/")[1])
        env = {
            "DATABASE_URL": pg.url,
            "APP_URL": page.url,
            "RENDER_API_KEY": key,
            "RENDER_API_URL": api_url,
            "ONCALL_WEBHOOK_URL": hook.url,
            "ADMIN_AUTH": header,
        }
        health = run_invoke("health", "--notify", "--json", cwd=project, env=env)
        migrate = run_invoke("migrate", "--json", cwd=project, env=env)
        recover = run_invoke("recover", "--json", "--wait", "2", cwd=project, env=env)
    assert (health.code, migrate.code, recover.code) == (1, 0, 1)
    log = Path(health.env["INVOKE_ONCALL_RUN_LOG"])
    text = log.read_text()
    tasks = [json.loads(line)["task"] for line in text.splitlines()]
    assert "health" in tasks
    assert "recover" in tasks
    for secret in (pg.password, key, header, hook.url, hook.url.split("/services/")[1]):
        assert secret not in text
    report = Path(recover.json()["report"]).read_text()
    for secret in (pg.password, key, header):
        assert secret not in report


def test_append_run_redacts_arguments_and_details(tmp_path: Path, secret_scan: SecretScan) -> None:
    """A URL password and a registered secret in args or details are masked in the stored line."""
    token = "tok_" + secrets.token_hex(10)
    password = secrets.token_hex(9)
    secret_scan.add(token, password)
    register_secret(token)
    path = tmp_path / "runs.jsonl"
    append_run(
        path,
        task="migrate",
        target="svc",
        args={"url": f"postgresql://app:{password}@db.example:5432/app", "header": token},
        outcome="ok",
        code=0,
        details={"note": f"used {token}"},
    )
    text = path.read_text()
    assert password not in text
    assert token not in text
    (record,) = read_runs(path)
    assert record["args"]["url"] == "postgresql://app:***@db.example:5432/app"


def _fill(path: Path) -> None:
    for index, (task, target, code) in enumerate(
        [("health", "a", 0), ("migrate", "a", 0), ("health", "b", 3), ("recover", "a", 1), ("health", "a", 0)]
    ):
        append_run(path, task=task, target=target, args={"i": index}, outcome="x", code=code)


def test_select_runs_filters_and_keeps_the_newest(tmp_path: Path) -> None:
    """--last keeps the newest N (oldest first); --task and --target filter before counting."""
    path = tmp_path / "runs.jsonl"
    _fill(path)
    assert [r["args"]["i"] for r in select_runs(path, last=2)] == [3, 4]
    assert [r["args"]["i"] for r in select_runs(path, last=10, task="health")] == [0, 2, 4]
    assert [r["args"]["i"] for r in select_runs(path, last=1, task="health", target="b")] == [2]
    assert len(select_runs(path, last=0)) == 5


def test_a_torn_line_is_skipped(tmp_path: Path) -> None:
    """A half-written or foreign line in the run log is skipped, the rest still read."""
    path = tmp_path / "runs.jsonl"
    _fill(path)
    with path.open("a") as handle:
        handle.write('{"task": "health", "targ')
    assert len(list(read_runs(path))) == 5


def test_invoke_runs_shows_a_table(run_invoke: RunInvoke, tmp_path: Path) -> None:
    """`invoke runs --last 3` prints time, user, target, task, outcome, code and duration."""
    result = run_invoke("runs", "--last", "3")
    assert result.code == 0
    assert "no runs recorded" in result.stdout
    log = tmp_path / "home" / "runs.jsonl"
    _fill(log)
    result = run_invoke("runs", "--last", "3")
    assert result.code == 0
    for column in ("time (UTC)", "user", "target", "task", "outcome", "code", "duration"):
        assert column in result.stdout
    assert result.stdout.count("recover") == 1
    assert result.stdout.count("health") == 2


def test_invoke_runs_json_filters_by_task(run_invoke: RunInvoke, tmp_path: Path) -> None:
    """`invoke runs --task health --json`: one JSON document with only health runs."""
    _fill(tmp_path / "home" / "runs.jsonl")
    result = run_invoke("runs", "--task", "health", "--json")
    assert result.code == 0
    doc = result.json()
    assert (doc["ok"], doc["count"]) == (True, 3)
    assert {r["task"] for r in doc["runs"]} == {"health"}


def test_invoke_runs_with_an_unknown_target_exits_2(run_invoke: RunInvoke) -> None:
    """--target names no configured target: exit 2 listing the known ones."""
    result = run_invoke("runs", "--target", "nope")
    assert result.code == 2
    assert "unknown target 'nope'" in result.stderr


def test_a_run_duration_comes_from_total_or_the_timestamps() -> None:
    """`invoke runs` shows durations["total"], else durations["total_s"], else finished - time."""
    from oncall.runlog import run_duration

    assert run_duration({"durations": {"total": 1.5}}) == 1.5
    assert run_duration({"durations": {"total_s": 2.25, "lock_wait_s": 0.1}}) == 2.25
    stamps = {"time": "2026-01-01T00:00:00.000+00:00", "finished": "2026-01-01T00:00:03.500+00:00"}
    assert run_duration({"durations": {}, **stamps}) == 3.5
    assert run_duration({"durations": {}}) is None
