"""The deploy-wait schedule: a per-minute budget that holds for any wait, fast looks after a change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from oncall.render.wait import PollSchedule, follow


class SimClock:
    """Simulated seconds: `sleep` moves the clock, so a 10-minute wait takes no real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _statuses_changing_at(
    clock: SimClock, changes: list[tuple[float, str]]
) -> tuple[list[float], Callable[[], dict[str, Any]]]:
    """A status source (a list of (time, status)) and the times at which it was asked."""
    asked: list[float] = []

    def fetch() -> dict[str, Any]:
        asked.append(clock.now)
        status = "build_in_progress"
        for at, value in changes:
            if clock.now >= at:
                status = value
        return {"status": status}

    return asked, fetch


@pytest.mark.parametrize("wait", [5.0, 30.0, 95.0, 600.0], ids=["5 s", "30 s", "95 s", "10 min"])
def test_budget_holds_for_waits_of_any_length(wait: float) -> None:
    """Never more than 1 + 38/min polls in any wait, counting the fast ones after changes."""
    clock = SimClock()
    changes = [(1.0, "update_in_progress"), (2.0, "pre_deploy_in_progress"), (wait, "live")]
    asked, fetch = _statuses_changing_at(clock, changes)
    outcome = follow(
        fetch,
        terminal=frozenset({"live"}),
        timeout=wait + 60,
        sleep=clock.sleep,
        clock=clock,
        first={"status": "created"},
    )
    assert outcome.status == "live"
    assert len(asked) <= 1 + 38 * outcome.elapsed / 60
    assert outcome.elapsed - wait <= 1.7 + 1e-9  # seen at the latest one base interval later


def test_after_a_change_the_next_look_is_fast_when_the_budget_allows() -> None:
    """Slack saved at the base pace is spent on a 0.6 s look right after a status change."""
    plan = PollSchedule()
    # 60 s into a wait with 30 polls made (budget allows 38): a change 0.1 s ago.
    assert plan.next_delay(now=60.0, started=0.0, calls=30, last_change=59.9) == pytest.approx(0.6)
    # Same moment without a recent change: the base pace.
    assert plan.next_delay(now=60.0, started=0.0, calls=30, last_change=10.0) == pytest.approx(1.7)
    # Budget spent (38 polls by 60 s): wait until the budget allows the next one.
    assert plan.next_delay(now=60.0, started=0.0, calls=40, last_change=59.9) == pytest.approx(
        40 * 60 / 38 - 60
    )


def test_timeout_ends_the_wait_without_an_extra_poll() -> None:
    """When the next poll would fall after the deadline, the wait ends as timed out."""
    clock = SimClock()
    asked, fetch = _statuses_changing_at(clock, [])
    outcome = follow(
        fetch,
        terminal=frozenset({"live"}),
        timeout=10,
        sleep=clock.sleep,
        clock=clock,
    )
    assert outcome.timed_out
    assert clock.now == pytest.approx(10)
    assert all(t <= 10 for t in asked)


def test_transitions_are_recorded_once_each() -> None:
    """Each new status is one transition, with the wait time it was first seen."""
    clock = SimClock()
    _, fetch = _statuses_changing_at(clock, [(3.0, "update_in_progress"), (6.0, "live")])
    outcome = follow(
        fetch,
        terminal=frozenset({"live"}),
        timeout=60,
        sleep=clock.sleep,
        clock=clock,
    )
    assert [t.status for t in outcome.transitions] == ["build_in_progress", "update_in_progress", "live"]
    assert outcome.transitions[1].at >= 3.0
