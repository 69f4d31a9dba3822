"""Notifications on state change: one post when failing starts, none while it lasts, one on recovery."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import pytest

from fix_secrets import SecretScan
from health_support import webhook_receiver
from oncall.errors import BadInput
from oncall.health import HealthCheckResult, TargetHealth
from oncall.health.notify import AlertPolicy, decide, load_state, notify_change, state_path, webhook_url

# These tests pin the posting rules at a threshold of one failing run (the behaviour before
# thresholds); tests/test_alerts.py covers thresholds and reminders.
FIRST_FAILURE = AlertPolicy(failure_threshold=1)


def _health(ok: bool, name: str = "svc") -> TargetHealth:
    checks = [
        HealthCheckResult("database", "pass", 0, 0.01, "fine"),
        HealthCheckResult(
            "smoke", "pass" if ok else "fail", 0 if ok else 1, 0.02, None if ok else "page: 502 Bad Gateway"
        ),
    ]
    return TargetHealth(name, "turbo-response", checks, _dt.datetime.now(_dt.UTC), 0.03, 0.0)


def test_failing_posts_once_then_recovery_posts_once(tmp_path: Path, secret_scan: SecretScan) -> None:
    """fail, fail, fail, ok, ok: exactly two posts — FAILING then RECOVERED."""
    with webhook_receiver() as hook:
        secret_scan.add(hook.url)
        events = [
            notify_change(_health(ok), tmp_path, hook.url, policy=FIRST_FAILURE).event
            for ok in (False, False, False, True, True)
        ]
        assert events == ["failing", None, None, "recovered", None]
        assert hook.count == 2
        first, second = hook.texts()
    assert "svc is FAILING (exit 1)" in first
    assert "smoke: page: 502 Bad Gateway" in first
    assert "svc RECOVERED" in second


def test_a_first_healthy_run_is_not_news(tmp_path: Path) -> None:
    """No previous state and healthy: nothing is posted, the state is stored."""
    with webhook_receiver() as hook:
        outcome = notify_change(_health(True), tmp_path, hook.url, policy=FIRST_FAILURE)
        assert hook.count == 0
    assert (outcome.event, outcome.sent) == (None, False)
    state = load_state(state_path(tmp_path, "svc"))
    assert state is not None
    assert state.status == "healthy"


def test_a_failed_post_is_retried_on_the_next_run(tmp_path: Path) -> None:
    """The webhook answers 500: the failure stays unannounced and the next failing run posts again."""
    with webhook_receiver() as hook:
        hook.status = 500
        first = notify_change(_health(False), tmp_path, hook.url, policy=FIRST_FAILURE)
        assert first.sent is False
        assert first.error is not None
        assert "answered HTTP 500" in first.error["cause"]
        hook.status = 200
        second = notify_change(_health(False), tmp_path, hook.url, policy=FIRST_FAILURE)
        third = notify_change(_health(False), tmp_path, hook.url, policy=FIRST_FAILURE)
        assert (second.event, second.sent) == ("failing", True)
        assert third.event is None
        assert hook.count == 2


def test_a_failed_recovery_post_is_retried(tmp_path: Path) -> None:
    """The recovery post fails: the next healthy run posts RECOVERED again, then nothing."""
    with webhook_receiver() as hook:
        notify_change(_health(False), tmp_path, hook.url, policy=FIRST_FAILURE)
        hook.status = 503
        assert notify_change(_health(True), tmp_path, hook.url, policy=FIRST_FAILURE).sent is False
        hook.status = 200
        assert notify_change(_health(True), tmp_path, hook.url, policy=FIRST_FAILURE).event == "recovered"
        assert notify_change(_health(True), tmp_path, hook.url, policy=FIRST_FAILURE).event is None
        assert [t.split(":")[1] for t in hook.texts()] == [
            "red_circle",
            "large_green_circle",
            "large_green_circle",
        ]


def test_an_unreachable_webhook_names_the_host_not_the_url(tmp_path: Path, secret_scan: SecretScan) -> None:
    """Nothing listens: the error names host 127.0.0.1 and never the token in the URL path."""
    url = "http://127.0.0.1:9/services/T1/B2/very-secret-token"
    secret_scan.add(url, "/services/T1/B2/very-secret-token")
    outcome = notify_change(
        _health(False), tmp_path, webhook_url({"ONCALL_WEBHOOK_URL": url}), policy=FIRST_FAILURE
    )
    assert outcome.error is not None
    assert outcome.error["code"] == 3
    assert "127.0.0.1" in outcome.error["cause"]
    assert "very-secret-token" not in json.dumps(outcome.as_dict())


def test_state_is_written_atomically_as_json(tmp_path: Path) -> None:
    """The state file is complete JSON, and no temporary file is left beside it."""
    with webhook_receiver() as hook:
        notify_change(_health(False), tmp_path, hook.url, policy=FIRST_FAILURE)
    path = state_path(tmp_path, "svc")
    doc = json.loads(path.read_text())
    assert (doc["status"], doc["notified"], doc["failing"]) == ("failing", True, ["smoke"])
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_an_unreadable_state_counts_as_a_first_run(tmp_path: Path) -> None:
    """A torn or foreign state file is ignored (treated as no state), never a crash."""
    path = state_path(tmp_path, "svc")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert load_state(path) is None


@pytest.mark.parametrize(
    ("previous", "healthy", "event"),
    [
        (None, True, None),
        (None, False, "failing"),
        (("healthy", True), False, "failing"),
        (("failing", True), False, None),
        (("failing", False), False, "failing"),
        (("failing", True), True, "recovered"),
        (("failing", False), True, None),
        (("healthy", True), True, None),
    ],
    ids=[
        "first run healthy: quiet",
        "first run failing: post",
        "healthy to failing: post",
        "still failing, announced: quiet",
        "still failing, not announced: retry",
        "failing to healthy, announced: post",
        "failing to healthy, never announced: quiet",
        "still healthy: quiet",
    ],
)
def test_the_transition_table(previous: tuple[str, bool] | None, healthy: bool, event: str | None) -> None:
    """decide() posts on a change of state, and only then."""
    from oncall.health.notify import HealthState

    state = (
        HealthState(
            previous[0], "2026-01-01T00:00:00+00:00", notified=previous[1] and previous[0] == "failing"
        )
        if previous
        else None
    )
    assert decide(state, healthy, FIRST_FAILURE) == event


@pytest.mark.parametrize(
    "value", ["", "   ", "ftp://example/hook", "not a url"], ids=["empty", "blank", "not http", "garbage"]
)
def test_a_bad_webhook_url_is_bad_input(value: str) -> None:
    """An empty or non-http(s) ONCALL_WEBHOOK_URL is BadInput (exit 2) naming the variable."""
    with pytest.raises(BadInput, match="ONCALL_WEBHOOK_URL"):
        webhook_url({"ONCALL_WEBHOOK_URL": value})
