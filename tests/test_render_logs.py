"""events and logs end to end: the real invoke against the Render stand-in."""

from __future__ import annotations

import datetime as _dt
import json
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest

from oncall.render.logs import printable
from oncall.sandbox.render_api import RenderStandIn
from render_support import http_for, invoke_env, service_id, validate

REPO = Path(__file__).resolve().parents[1]


def _ago(seconds: float) -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC) - _dt.timedelta(seconds=seconds)


# -- events -----------------------------------------------------------------------------------


def _incident_events(api: RenderStandIn) -> None:
    sid = service_id(api)
    api.add_event(sid, "deploy_started", {"deployId": "dep-" + "a" * 20, "trigger": "new_commit"})
    api.add_event(
        sid,
        "server_failed",
        {"instanceID": f"{sid}-abcde", "reason": {"evicted": False, "nonZeroExit": 1}},
    )
    api.add_event(sid, "server_failed", {"reason": {"evicted": False, "oomKilled": {"memoryLimit": "512Mi"}}})
    api.add_event(sid, "instance_count_changed", {"fromInstances": 1, "toInstances": 2})


def test_standin_events_follow_the_schema_and_filter_by_type(api: RenderStandIn) -> None:
    """GET /events: Render's schema, newest first, `type` filters."""
    _incident_events(api)
    sid = service_id(api)
    with http_for(api, api.base_url) as http:
        every = http.get(f"/services/{sid}/events").json()
        failed = http.get(f"/services/{sid}/events", params={"type": "server_failed"}).json()
    validate(every, "/services/{serviceId}/events")
    assert every[0]["event"]["type"] == "instance_count_changed"
    assert {e["event"]["type"] for e in failed} == {"server_failed"}


def test_events_newest_first_in_words(api: RenderStandIn, run_invoke: Any) -> None:
    """events --json: newest first, each summarised (exit code, OOM kill, instance count)."""
    _incident_events(api)
    result = run_invoke("events", "--target", "sandbox", "--json", env=invoke_env(api, api.base_url))
    assert result.code == 0, result.stderr
    summaries = [e["summary"] for e in result.json()["events"]]
    assert summaries == [
        "instance count changed: 1 → 2",
        "server failed: out of memory (limit 512Mi)",
        "server failed: exited with code 1",
        f"deploy dep-{'a' * 20} started (trigger new_commit)",
    ]


def test_events_type_filter_and_text(api: RenderStandIn, run_invoke: Any) -> None:
    """events --type server_failed shows only failures, as text lines."""
    _incident_events(api)
    result = run_invoke(
        "events", "--target", "sandbox", "--type", "server_failed", env=invoke_env(api, api.base_url)
    )
    assert result.code == 0, result.stderr
    assert "2 event(s) of turbo-response-backend" in result.stdout
    assert "instance count" not in result.stdout


def test_render_status_shows_the_last_events(api: RenderStandIn, run_invoke: Any) -> None:
    """render-status lists the last few events, newest first."""
    _incident_events(api)
    env = invoke_env(api, api.base_url)
    doc = run_invoke("render-status", "--target", "sandbox", "--json", env=env).json()
    assert [e["type"] for e in doc["events"]][:2] == ["instance_count_changed", "server_failed"]
    human = run_invoke("render-status", "--target", "sandbox", env=env)
    assert "server failed: exited with code 1" in human.stdout


def test_events_bad_since_exits_2(api: RenderStandIn, run_invoke: Any) -> None:
    """--since that is not a duration: exit 2 with the accepted forms, no traceback."""
    result = run_invoke(
        "events", "--target", "sandbox", "--since", "yesterday", env=invoke_env(api, api.base_url)
    )
    assert result.code == 2
    assert "90s, 30m, 2h, 1d" in result.output
    assert "Traceback" not in result.output


# -- logs -------------------------------------------------------------------------------------


def test_printable_escapes_control_characters() -> None:
    """ANSI escapes, carriage returns and newlines become visible escapes; tabs and text stay."""
    assert printable("\x1b[31mred\x1b[0m\tok\r\nnext\x07") == "\\x1b[31mred\\x1b[0m\tok\\r\\nnext\\x07"


def test_logs_are_oldest_first_redacted_and_escaped(
    api: RenderStandIn, run_invoke: Any, secret_scan: Any
) -> None:
    """logs: the window oldest first; passwords masked; markup and ANSI shown as text, not obeyed."""
    sid = service_id(api)
    secret_scan.add("s3cretPw9")
    api.add_log(sid, "server listening on 10000", level="info", at=_ago(120))
    api.add_log(
        sid, "connecting to postgresql://app:s3cretPw9@db.example.com:5432/app", level="info", at=_ago(60)
    )
    api.add_log(
        sid, "\x1b[2J\x1b[31m[bold red]fake[/bold red] :fire: line\nforged 200 OK", level="error", at=_ago(30)
    )
    api.add_log(sid, "too old for the window", at=_ago(3600))
    result = run_invoke("logs", "--target", "sandbox", "--since", "30m", env=invoke_env(api, api.base_url))
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "server listening" in lines[0]
    assert "s3cretPw9" not in result.stdout
    assert "\\x1b[2J\\x1b[31m[bold red]fake[/bold red] :fire: line\\nforged 200 OK" in lines[2]
    assert "\x1b" not in result.stdout
    assert "too old" not in result.stdout
    assert "3 line(s) of turbo-response-backend" in result.stdout


def test_logs_filters_reach_render(api: RenderStandIn, run_invoke: Any) -> None:
    """--level, --text, --status-code and --path filter on Render's side."""
    sid = service_id(api)
    api.add_log(
        sid,
        "GET /admin/case/11",
        level="info",
        type="request",
        labels={"statusCode": "502", "path": "/admin/case/11"},
    )
    api.add_log(
        sid, "GET /health", level="info", type="request", labels={"statusCode": "200", "path": "/health"}
    )
    api.add_log(sid, 'error: relation "ai_usage_logs" does not exist', level="error")
    api.add_log(sid, "warning: slow query", level="warning")
    env = invoke_env(api, api.base_url)

    def messages(*flags: str) -> list[str]:
        result = run_invoke("logs", "--target", "sandbox", "--json", *flags, env=env)
        assert result.code == 0, result.stderr
        return [json.loads(line)["message"] for line in result.stdout.splitlines()]

    assert messages("--level", "error") == ['error: relation "ai_usage_logs" does not exist']
    assert messages("--status-code", "502") == ["GET /admin/case/11"]
    assert messages("--path", "/admin/*") == ["GET /admin/case/11"]
    assert messages("--text", "slow") == ["warning: slow query"]
    assert len(messages()) == 4


def test_logs_json_is_one_object_per_line(api: RenderStandIn, run_invoke: Any) -> None:
    """--json: each stdout line is a JSON object with timestamp, level, message; the summary on stderr."""
    sid = service_id(api)
    api.add_log(sid, "one", level="info", at=_ago(20))
    api.add_log(sid, "two", level="error", at=_ago(10))
    result = run_invoke("logs", "--target", "sandbox", "--json", env=invoke_env(api, api.base_url))
    assert result.code == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(o["level"], o["message"]) for o in objects] == [("info", "one"), ("error", "two")]
    assert "2 line(s)" in result.stderr


def test_logs_beyond_retention_exits_2_without_asking(api: RenderStandIn, run_invoke: Any) -> None:
    """--since 45d is further back than Render keeps logs: exit 2, no log request sent."""
    result = run_invoke("logs", "--target", "sandbox", "--since", "45d", env=invoke_env(api, api.base_url))
    assert result.code == 2
    assert "further back than Render keeps logs" in result.output
    assert api.calls("GET", "/logs") == 0


def _reader(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def _next_line_with(lines: queue.Queue[str], text: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        if text in line:
            return line


def test_logs_follow_shows_new_lines_until_ctrl_c(
    api: RenderStandIn, secret_scan: Any, tmp_path: Path
) -> None:
    """--follow: a line written later is shown once; Ctrl-C ends it with exit 130."""
    from fix_invoke import INVOKE, clean_env

    sid = service_id(api)
    api.add_log(sid, "before the follow", level="info", at=_ago(5))
    env = clean_env(tmp_path, invoke_env(api, api.base_url))
    proc = subprocess.Popen(
        [str(INVOKE), "logs", "--target", "sandbox", "--follow"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    try:
        _next_line_with(lines, "before the follow")
        api.add_log(sid, "written while following", level="error")
        _next_line_with(lines, "written while following")
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        stderr = proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    print(rest, stderr)
    assert code == 130
    assert not any("written while following" in line for line in rest)
    assert "stopped following" in stderr


@pytest.mark.parametrize("since", ["30", "m", "-5m", "0s"], ids=["no unit", "no number", "negative", "zero"])
def test_logs_bad_since_exits_2(api: RenderStandIn, run_invoke: Any, since: str) -> None:
    """A --since that is not a positive duration: exit 2."""
    result = run_invoke("logs", "--target", "sandbox", f"--since={since}", env=invoke_env(api, api.base_url))
    assert result.code == 2
    assert api.calls("GET", "/logs") == 0
