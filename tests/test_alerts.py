"""Alerts through apprise channels: thresholds, reminders, PagerDuty resolve, overlapping runs (issue 19).

A local HTTP server on 127.0.0.1 stands in for every channel: apprise's `json://` webhook posts to
it directly; apprise's PagerDuty plugin has no host override, so its Events v2 endpoint table is
pointed at the local server (monkeypatch.setitem on the plugin's own lookup table) and the real
plugin code builds and sends the request. No real service is ever contacted.
"""

from __future__ import annotations

import datetime as _dt
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fix_secrets import SecretScan
from health_support import WebhookReceiver, legacy_alert_state, webhook_receiver
from oncall.errors import BadInput
from oncall.health import HealthCheckResult, TargetHealth
from oncall.health.channels import channel_urls
from oncall.health.notify import AlertPolicy, NotifyOutcome, notify_change

T0 = _dt.datetime(2026, 11, 30, 12, 0, tzinfo=_dt.UTC)


def _health(ok: bool, name: str = "svc") -> TargetHealth:
    smoke = HealthCheckResult(
        "smoke", "pass" if ok else "fail", 0 if ok else 1, 0.02, None if ok else "page: 502 Bad Gateway"
    )
    return TargetHealth(name, "turbo-response", [smoke], T0, 0.02, 0.0)


class Clock:
    """An injectable clock: tests move time forward instead of sleeping."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> _dt.datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += _dt.timedelta(minutes=minutes)


def _json_url(hook: WebhookReceiver) -> str:
    return hook.url.replace("http://", "json://", 1)


def _run(hook: WebhookReceiver, tmp_path: Path, ok: bool, policy: AlertPolicy, clock: Clock) -> str | None:
    outcome = notify_change(
        _health(ok), tmp_path, None, channel_urls=[_json_url(hook)], policy=policy, clock=clock
    )
    assert outcome.error is None
    return outcome.event


@pytest.fixture
def pagerduty(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    """A local stand-in for PagerDuty's Events v2 endpoint, reached by apprise's own plugin."""
    from apprise.plugins import pagerduty as plugin

    with webhook_receiver("/v2/enqueue") as hook:
        hook.status = 202
        for region in list(plugin.PAGERDUTY_API_LOOKUP):
            monkeypatch.setitem(plugin.PAGERDUTY_API_LOOKUP, region, hook.url)
        yield hook


def test_fail_fail_alerts_once(tmp_path: Path) -> None:
    """Two failing runs at threshold 2: one alert, on the second run."""
    with webhook_receiver("/alerts") as hook:
        events = [_run(hook, tmp_path, False, AlertPolicy(failure_threshold=2), Clock()) for _ in range(3)]
        assert events == [None, "failing", None]
        assert hook.count == 1
        assert hook.posts[0]["type"] == "failure"
        assert "svc FAILING" in hook.posts[0]["title"]


def test_fail_pass_at_threshold_two_alerts_nobody(tmp_path: Path) -> None:
    """One failed probe then a pass: no alert, and no resolve for an alert never sent."""
    with webhook_receiver("/alerts") as hook:
        policy = AlertPolicy(failure_threshold=2)
        events = [_run(hook, tmp_path, ok, policy, Clock()) for ok in (False, True, False, True)]
        assert events == [None, None, None, None]
        assert hook.count == 0


def test_a_reminder_after_remind_every_while_still_failing(tmp_path: Path) -> None:
    """Failing for 30 minutes with --remind-every 30m: one reminder, then quiet until the next 30."""
    clock = Clock()
    policy = AlertPolicy(failure_threshold=1, remind_every=30 * 60)
    with webhook_receiver("/alerts") as hook:
        assert _run(hook, tmp_path, False, policy, clock) == "failing"
        clock.advance(10)
        assert _run(hook, tmp_path, False, policy, clock) is None
        clock.advance(20)
        assert _run(hook, tmp_path, False, policy, clock) == "reminder"
        clock.advance(5)
        assert _run(hook, tmp_path, False, policy, clock) is None
        assert hook.count == 2
        assert "STILL FAILING" in hook.posts[1]["title"]


def test_success_threshold_holds_the_resolve(tmp_path: Path) -> None:
    """--success-threshold 2: the alert resolves on the second passing run, not the first."""
    policy = AlertPolicy(failure_threshold=1, success_threshold=2)
    with webhook_receiver("/alerts") as hook:
        events = [_run(hook, tmp_path, ok, policy, Clock()) for ok in (False, True, True, True)]
        assert events == ["failing", None, "recovered", None]
        assert hook.posts[-1]["type"] == "success"


def test_pagerduty_triggers_then_resolves_with_the_same_dedup_key(
    tmp_path: Path, pagerduty, secret_scan
) -> None:  # type: ignore[no-untyped-def]
    """Through apprise's PagerDuty plugin: trigger, reminder and resolve share one dedup key."""
    url = "pagerduty://routingkey0123456789abcdef@apikey-secret-0123456789"
    secret_scan.add("routingkey0123456789abcdef", "apikey-secret-0123456789")
    urls = channel_urls({"ONCALL_NOTIFY_URLS": url})
    clock = Clock()
    policy = AlertPolicy(failure_threshold=2, remind_every=600)
    events = []
    for ok, minutes in ((False, 0), (False, 5), (False, 11), (True, 5)):
        clock.advance(minutes)
        outcome = notify_change(_health(ok), tmp_path, None, channel_urls=urls, policy=policy, clock=clock)
        assert outcome.error is None
        events.append(outcome.event)
    assert events == [None, "failing", "reminder", "recovered"]
    actions = [(p["event_action"], p["dedup_key"]) for p in pagerduty.posts]
    assert actions == [
        ("trigger", "oncall-health-svc"),
        ("trigger", "oncall-health-svc"),
        ("resolve", "oncall-health-svc"),
    ]
    assert pagerduty.posts[0]["routing_key"] == "routingkey0123456789abcdef"


def test_two_overlapping_runs_alert_once(tmp_path: Path) -> None:
    """Two runs of the same failing target at once, after one failure: exactly one alert."""
    policy = AlertPolicy(failure_threshold=2)
    with webhook_receiver("/alerts") as hook:
        assert _run(hook, tmp_path, False, policy, Clock()) is None
        start = threading.Barrier(2)
        events: list[str | None] = []

        def one_run() -> None:
            start.wait()
            events.append(_run(hook, tmp_path, False, policy, Clock()))

        runs = [threading.Thread(target=one_run) for _ in range(2)]
        for run in runs:
            run.start()
        for run in runs:
            run.join()
        assert sorted(map(str, events)) == ["None", "failing"]
        assert hook.count == 1


def test_a_failed_channel_is_retried_and_named_without_its_url(tmp_path: Path, secret_scan) -> None:  # type: ignore[no-untyped-def]
    """The channel answers 500: the error names 'channel 1 (json)', and the next run alerts again."""
    policy = AlertPolicy(failure_threshold=1)
    with webhook_receiver("/alerts/secret-path-token-42") as hook:
        secret_scan.add("secret-path-token-42")
        hook.status = 500
        url = _json_url(hook)
        channel_urls({"ONCALL_NOTIFY_URLS": url})  # registers it as a secret, as the task does
        first = notify_change(_health(False), tmp_path, None, channel_urls=[url], policy=policy)
        assert first.error is not None
        assert "channel 1 (json)" in first.error["cause"]
        assert "secret-path-token-42" not in str(first.as_dict())
        hook.status = 200
        second = notify_change(_health(False), tmp_path, None, channel_urls=[url], policy=policy)
        assert (second.event, second.sent) == ("failing", True)


def test_a_jsons_channel_is_posted_over_verified_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """jsons:// to a local https receiver: delivered when its CA is trusted, refused when not."""
    from smoke_support import leaf, make_ca

    ca, pem = make_ca(tmp_path)
    policy = AlertPolicy(failure_threshold=1)
    with webhook_receiver("/alerts", tls=leaf(ca)) as hook:
        url = hook.url.replace("https://", "jsons://", 1)
        untrusted = notify_change(_health(False, "a"), tmp_path, None, channel_urls=[url], policy=policy)
        assert untrusted.error is not None
        assert hook.count == 0
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pem))  # requests, under apprise, reads it
        trusted = notify_change(_health(False, "b"), tmp_path, None, channel_urls=[url], policy=policy)
        assert (trusted.event, trusted.sent) == ("failing", True)
        assert hook.count == 1


@pytest.mark.parametrize(
    ("value", "count"),
    [
        ("json://127.0.0.1:9/a json://127.0.0.1:9/b", 2),
        ("json://127.0.0.1:9/a,json://127.0.0.1:9/b", 2),
        ("", 0),
    ],
    ids=["space separated", "comma separated", "unset means none"],
)
def test_channel_urls_are_split_on_spaces_and_commas(value: str, count: int) -> None:
    """ONCALL_NOTIFY_URLS holds one or more apprise URLs, space or comma separated."""
    assert len(channel_urls({"ONCALL_NOTIFY_URLS": value})) == count


def test_an_unknown_channel_is_bad_input_naming_only_its_scheme() -> None:
    """An entry apprise does not accept: BadInput with its position and scheme, not the URL."""
    with pytest.raises(BadInput, match=r"entry #2 \(nosuch://\.\.\.\)") as caught:
        channel_urls({"ONCALL_NOTIFY_URLS": "json://127.0.0.1:9/a nosuch://token-value-123/x"})
    assert "token-value-123" not in str(caught.value)


# ------------------------------------------------------------------ delivery state per channel


PD_URL = "pagerduty://routingkey0123456789abcdef@apikey-secret-0123456789"


@dataclass
class SlackAndPagerDuty:
    """Runs of one target alerting the Slack-style webhook and PagerDuty (through apprise's plugin)."""

    slack: WebhookReceiver
    state_dir: Path
    policy: AlertPolicy = field(default_factory=lambda: AlertPolicy(failure_threshold=1))
    clock: Clock = field(default_factory=Clock)

    def run(self, ok: bool) -> NotifyOutcome:
        urls = channel_urls({"ONCALL_NOTIFY_URLS": PD_URL})
        return notify_change(
            _health(ok),
            self.state_dir,
            self.slack.url,
            channel_urls=urls,
            policy=self.policy,
            clock=self.clock,
        )


def test_a_channel_that_accepted_is_not_paged_again_when_another_failed(
    tmp_path: Path, pagerduty: WebhookReceiver, secret_scan: SecretScan
) -> None:
    """Slack accepts, PagerDuty answers 500: the next run triggers PagerDuty only, Slack gets no
    second copy, and the run after that posts to nobody."""
    secret_scan.add("routingkey0123456789abcdef", "apikey-secret-0123456789")
    with webhook_receiver() as slack:
        both = SlackAndPagerDuty(slack, tmp_path)
        pagerduty.status = 500
        first = both.run(False)
        assert first.error is not None
        assert "channel 1 (pagerduty) did not accept the failing alert" in first.error["cause"]
        assert (slack.count, pagerduty.count) == (1, 1)
        pagerduty.status = 202
        second = both.run(False)
        assert [(c["channel"], c["event"], c["sent"]) for c in second.channels] == [
            ("channel 1 (pagerduty)", "failing", True)
        ]
        third = both.run(False)
        assert (third.event, third.channels) == (None, [])
        assert (slack.count, pagerduty.count) == (1, 2)
    assert pagerduty.posts[-1]["event_action"] == "trigger"
    assert "routingkey0123456789abcdef" not in (tmp_path / "health" / "svc.json").read_text()


def test_the_recovery_goes_only_to_the_channels_that_were_told(
    tmp_path: Path, pagerduty: WebhookReceiver
) -> None:
    """PagerDuty never accepted the alert: on recovery Slack gets RECOVERED, PagerDuty no resolve."""
    with webhook_receiver() as slack:
        both = SlackAndPagerDuty(slack, tmp_path)
        pagerduty.status = 500
        both.run(False)
        both.run(False)
        pagerduty.status = 202
        recovered = both.run(True)
        assert [(c["channel"], c["event"]) for c in recovered.channels] == [("webhook", "recovered")]
        assert "RECOVERED" in slack.texts()[-1]
        assert slack.count == 2
    assert [p["event_action"] for p in pagerduty.posts] == ["trigger", "trigger"]


def test_a_failed_recovery_is_retried_on_that_channel_only(
    tmp_path: Path, pagerduty: WebhookReceiver
) -> None:
    """Both channels told; PagerDuty refuses the resolve: the next passing run resolves it, Slack
    gets no second RECOVERED."""
    with webhook_receiver() as slack:
        both = SlackAndPagerDuty(slack, tmp_path)
        both.run(False)
        pagerduty.status = 500
        both.run(True)
        pagerduty.status = 202
        retried = both.run(True)
        assert [(c["channel"], c["event"], c["sent"]) for c in retried.channels] == [
            ("channel 1 (pagerduty)", "recovered", True)
        ]
        assert slack.count == 2
    assert [p["event_action"] for p in pagerduty.posts] == ["trigger", "resolve", "resolve"]


def test_reminders_are_timed_per_channel(tmp_path: Path) -> None:
    """remind every 30m; channel 2 got the alert 10 minutes after channel 1 (a retry): each is
    reminded 30 minutes after its own last post."""
    policy, clock = AlertPolicy(failure_threshold=1, remind_every=30 * 60), Clock()
    with webhook_receiver("/one") as one, webhook_receiver("/two") as two:
        urls = [_json_url(one), _json_url(two)]

        def run() -> list[tuple[str, str]]:
            outcome = notify_change(
                _health(False), tmp_path, None, channel_urls=urls, policy=policy, clock=clock
            )
            return [(c["channel"], c["event"]) for c in outcome.channels if c["sent"]]

        two.status = 500
        assert run() == [("channel 1 (json)", "failing")]
        two.status = 200
        clock.advance(10)
        assert run() == [("channel 2 (json)", "failing")]
        clock.advance(20)
        assert run() == [("channel 1 (json)", "reminder")]
        clock.advance(10)
        assert run() == [("channel 2 (json)", "reminder")]
        assert (one.count, two.count) == (2, 3)


def _legacy_state(path: Path) -> None:
    """A state as oncall wrote it before channels had their own record: one alert open, per target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    legacy = legacy_alert_state(fail_streak=6)
    path.write_text(json.dumps(legacy, indent=2) + "\n", encoding="utf-8")


def test_a_state_from_before_channels_reads_as_every_channel_told(tmp_path: Path) -> None:
    """A per-target state (notified) from today's oncall: still failing posts nothing to either
    channel; on recovery both are resolved, and one that refused is retried alone."""
    from oncall.health.notify import state_path

    _legacy_state(state_path(tmp_path, "svc"))
    policy, clock = AlertPolicy(failure_threshold=2), Clock()
    with webhook_receiver("/one") as one, webhook_receiver("/two") as two:
        urls = [_json_url(one), _json_url(two)]

        def run(ok: bool) -> NotifyOutcome:
            return notify_change(_health(ok), tmp_path, None, channel_urls=urls, policy=policy, clock=clock)

        assert run(False).channels == []
        two.status = 503
        first = run(True)
        assert [(c["channel"], c["sent"]) for c in first.channels] == [
            ("channel 1 (json)", True),
            ("channel 2 (json)", False),
        ]
        two.status = 200
        second = run(True)
        assert [(c["channel"], c["event"], c["sent"]) for c in second.channels] == [
            ("channel 2 (json)", "recovered", True)
        ]
        assert (one.count, two.count) == (1, 2)
        assert all(p["type"] == "success" for p in one.posts + two.posts)
