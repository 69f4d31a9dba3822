"""Deadlines are deadlines (issue 12, section 2): `smoke --wait` and `restart --wait-timeout` end at
theirs, cut the last request's timeout to the time left, and report how long they really took.

The page answers after 3 s, the deadline is 1 s and the request timeout 10 s: before, the wait ran
the request to its end and then said "within 1 s". The assertions read the reported numbers (the
timeout a try was given, the elapsed time); the one bound on elapsed time is a loose safety net.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from health_support import scratch_project, target_entry
from render_support import SERVICE
from smoke_support import SmokeServer

DEADLINE = 1.0
REQUEST_TIMEOUT = 10.0
SLOW_PAGE = "/slow/3000"


def _reported(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match is not None, text
    return float(match.group(1))


def _tenths(seconds: float) -> pytest.approx:
    # The message rounds the raw time to 0.1 s, the JSON the same time to 0.001 s.
    return pytest.approx(seconds, abs=0.051)


def _assert_cut_to_the_deadline(check: dict[str, Any]) -> None:
    # The try was given the time left before the deadline, not the 10 s request timeout.
    assert 0 < check["timeout_s"] <= DEADLINE
    assert check["error"]["kind"] == "total_timeout"
    left = f"{round(check['timeout_s'], 2):g}"
    assert f"within the {left} s left before the deadline" in check["error"]["message"]


def test_smoke_wait_cuts_a_slow_request_to_the_deadline_and_says_how_long_it_took(
    run_invoke: Any, secret_scan: Any
) -> None:
    """--wait 1 on a page that answers in 3 s: one try cut to the time left, then the real elapsed time."""
    with SmokeServer() as server:
        args = (
            "--url",
            server.url(SLOW_PAGE),
            "--wait",
            f"{DEADLINE:g}",
            "--total-timeout",
            f"{REQUEST_TIMEOUT:g}",
        )
        machine = run_invoke("smoke", *args, "--json")
        human = run_invoke("smoke", *args)
    doc = machine.json()
    (check,) = doc["checks"]
    _assert_cut_to_the_deadline(check)
    assert doc["elapsed_s"] < DEADLINE + REQUEST_TIMEOUT + 5  # safety net only
    assert _reported(r"\(gave up after (\S+) s\)$", doc["summary"]) == _tenths(doc["elapsed_s"])
    assert (machine.code, human.code) == (3, 3)
    assert "1 unreachable (gave up after " in human.stderr


def test_restart_wait_timeout_cuts_a_slow_request_to_the_deadline_and_says_how_long_it_took(
    run_invoke: Any, api: Any, tmp_path: Path, secret_scan: Any
) -> None:
    """restart --wait-timeout 1 against a page that answers in 3 s: the message gives the real time."""
    project = scratch_project(
        tmp_path / "project", {"svc": target_entry(render_service=SERVICE, smoke_path=SLOW_PAGE)}
    )
    with SmokeServer() as server:
        env = {
            "APP_URL": server.url(""),
            "RENDER_API_KEY": api.api_key,
            "RENDER_API_URL": api.base_url,
        }
        result = run_invoke("restart", "--wait-timeout", f"{DEADLINE:g}", "--json", cwd=project, env=env)
    assert result.code == 1, result.stderr
    doc = result.json()
    (check,) = doc["smoke"]["checks"]
    _assert_cut_to_the_deadline(check)
    assert doc["smoke"]["elapsed_s"] < DEADLINE + REQUEST_TIMEOUT + 5  # safety net only
    pattern = r"did not answer healthy in the (\S+) s after the restart \(--wait-timeout 1 s\)"
    assert _reported(pattern, doc["message"]) == _tenths(doc["elapsed_s"])
