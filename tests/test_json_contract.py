"""One JSON contract (issue 17, item 3): every task's real --json output against docs/schemas/<task>.json.

Each task runs through the real `invoke` against the embedded PostgreSQL and the Render stand-in,
on its success path where that is cheap and on a real failure otherwise (a failure document obeys
the same envelope). demo and sandbox.up start whole process trees and are left to their own tests;
their schemas are still checked to exist and to be valid schemas. bench has no --json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from health_support import scratch_project, target_entry
from oncall.sandbox.render_api import RenderStandIn
from oncall.tasks import ns
from render_support import invoke_env

SCHEMAS = Path(__file__).resolve().parents[1] / "docs" / "schemas"
ENVELOPE = ("schema_version", "task", "target", "ok", "code", "duration_s")


def _schema(task: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{task}.json").read_text(encoding="utf-8"))


def _valid(task: str, result: Any) -> dict[str, Any]:
    """The one JSON document on stdout, checked against the task's schema; stderr carries no table."""
    doc = result.json()
    jsonschema.validate(doc, _schema(task), cls=jsonschema.Draft202012Validator)
    assert list(doc)[: len(ENVELOPE)] == list(ENVELOPE)
    assert doc["task"] == task
    for line in result.stderr.splitlines():
        assert not set(line) & set("│┃┏┡└╭"), f"{task}: a table reached stderr under --json: {line}"
    return doc


# bench relays its scripts' lines and has no --json.
@pytest.mark.parametrize("task", sorted(set(ns.task_names) - {"bench"}))
def test_every_task_has_a_valid_schema(task: str) -> None:
    schema = _schema(task)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert set(ENVELOPE) <= set(schema["required"])


def test_database_tasks(run_invoke: Any, pg: Any, secret_scan: Any, tmp_path: Path) -> None:
    secret_scan.add(pg.password)
    env = {"DATABASE_URL": pg.url}
    for args in (
        ("status",),
        ("plan",),
        ("migrate", "--dry-run"),
        ("migrate",),
        ("verify",),
        ("doctor",),
        ("connect",),
        ("baseline", "--to", "20251001_baseline", "--dry-run"),
        ("resolve", "20251001_baseline", "--applied", "--dry-run"),
        ("rollback-migration", "--dry-run"),
        ("runs",),
        ("targets",),
    ):
        result = run_invoke(*args, "--json", env=env)
        doc = _valid(args[0], result)
        assert doc["code"] == result.code, args
        if args[0] not in ("runs", "targets"):
            assert doc["target"] == "sandbox", args


def test_health_and_smoke(run_invoke: Any, pg: Any, secret_scan: Any, tmp_path: Path) -> None:
    secret_scan.add(pg.password)
    project = scratch_project(tmp_path / "p", {"svc": target_entry()})
    env = {"DATABASE_URL": pg.url, "APP_URL": "http://127.0.0.1:9"}
    for args in (("health",), ("smoke",), ("smoke", "--url", "http://127.0.0.1:9/health")):
        result = run_invoke(*args, "--json", cwd=project, env=env)
        doc = _valid(args[0], result)
        assert doc["code"] == result.code != 0


def test_render_tasks(api: RenderStandIn, run_invoke: Any, pg: Any, secret_scan: Any) -> None:
    secret_scan.add(pg.password)
    env = invoke_env(api, api.base_url, DATABASE_URL=pg.url)
    for args in (
        ("render-status",),
        ("triage",),
        ("restart", "--dry-run"),
        ("restart", "--no-wait"),
        ("deploy", "--dry-run"),
        ("deploy",),
        ("recover", "--dry-run"),
    ):
        result = run_invoke(*args, "--json", env=env)
        doc = _valid(args[0], result)
        assert doc["code"] == result.code, args


def test_sandbox_tasks_without_a_sandbox(run_invoke: Any, tmp_path: Path) -> None:
    project = scratch_project(tmp_path / "p", {"svc": target_entry()})
    for task in ("sandbox.status", "sandbox.down"):
        _valid(task, run_invoke(task, "--json", cwd=project))


def test_an_error_document_keeps_the_envelope(run_invoke: Any) -> None:
    """A bad input still answers with the envelope: ok false, code 2, the error's cause and hint."""
    result = run_invoke("status", "--json")
    doc = _valid("status", result)
    assert (doc["ok"], doc["code"], doc["target"]) == (False, 2, "sandbox")
    assert "DATABASE_URL is not set" in doc["error"]["cause"]
