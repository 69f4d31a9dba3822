"""Waiting on Render: a polling schedule that notices a change within about a second while
staying far under Render's GET limit, and the loop that follows a deploy or a job to its end.

Why this schedule. Render has no long-poll or push for deploy status, so a change is seen at the
next poll. If a change falls at a random moment between polls spaced T apart, the delay until it
is seen is uniform on [0, T]: the median is T/2. For a given number of calls, evenly spaced
polls give the smallest expected delay (spacing them unevenly makes the long gaps, where a random
change more likely lands, longer). So the budget, not cleverness, sets the floor:

    40 calls/minute (a tenth of Render's 400 GET/min)  ->  T >= 1.5 s  ->  median delay >= 0.75 s

`PollSchedule` polls every `base` = 1.7 s (35/min, median ~0.85 s plus one round trip) and keeps a
hard budget of `per_minute` = 38 calls per minute of waiting, counting the first poll. The slack
between the two (3 calls/minute) buys `fast` polls (0.6 s) in the few seconds after a status
change, because Render's phases often follow each other quickly (created -> build_in_progress;
pre_deploy -> update -> live on a small service). Fast polls are only made when the budget allows,
so the rate guarantee holds for waits of any length; the trade-off is that a change right after
a long quiet stretch is seen at the base pace, never faster.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PollSchedule:
    """When to poll next: base pace, fast after a change, never above the per-minute budget."""

    base: float = 1.7
    fast: float = 0.6
    fast_for: float = 4.0
    per_minute: float = 38.0

    def next_delay(self, *, now: float, started: float, calls: int, last_change: float | None) -> float:
        """Seconds to sleep before the next poll, given `calls` polls made since `started`."""
        recent = last_change is not None and now - last_change < self.fast_for
        desired = self.fast if recent else self.base
        # The (calls)th poll after the first may happen no earlier than calls * 60/budget: the
        # count over any wait stays <= 1 + budget * minutes, and the average under the budget.
        earliest = started + calls * 60.0 / self.per_minute
        return max(desired, earliest - now, 0.0)


@dataclass
class Transition:
    status: str
    at: float  # seconds since the wait started, when the answer carrying the new status arrived
    monotonic: float


@dataclass
class WaitOutcome:
    """How a wait ended: the last object seen, its transitions, the polls made and why it stopped."""

    obj: dict[str, Any]
    transitions: list[Transition] = field(default_factory=list)
    polls: int = 0
    elapsed: float = 0.0
    timed_out: bool = False
    interrupted: bool = False

    @property
    def status(self) -> str:
        return str(self.obj.get("status") or "unknown")


def follow(
    fetch: Callable[[], dict[str, Any]],
    *,
    terminal: frozenset[str],
    timeout: float,
    schedule: PollSchedule | None = None,
    on_change: Callable[[Transition, dict[str, Any]], None] | None = None,
    on_tick: Callable[[float], None] | None = None,
    first: dict[str, Any] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> WaitOutcome:
    """Poll `fetch` until the status is terminal or `timeout` passes; Ctrl-C ends it as interrupted.

    `first` is an object already in hand (the POST's answer), shown as the first status without
    spending a call.
    """
    plan = schedule or PollSchedule()
    started = clock()
    outcome = WaitOutcome(obj=first or {})
    last_status: str | None = None
    last_change: float | None = None

    def seen(obj: dict[str, Any]) -> bool:
        nonlocal last_status, last_change
        now = clock()
        outcome.obj = obj
        status = str(obj.get("status") or "unknown")
        if status != last_status:
            last_status, last_change = status, now
            transition = Transition(status, now - started, now)
            outcome.transitions.append(transition)
            if on_change is not None:
                on_change(transition, obj)
        return status in terminal

    # The object in hand counts as the first look: polling at once would only repeat it.
    looked = 0
    try:
        if first is not None and first.get("status"):
            looked = 1
            if seen(first):
                return outcome
        while True:
            now = clock()
            calls = outcome.polls + looked
            if calls:
                delay = plan.next_delay(now=now, started=started, calls=calls, last_change=last_change)
                remaining = started + timeout - now
                if delay >= remaining:
                    if remaining > 0:
                        sleep(remaining)
                    outcome.timed_out = True
                    return outcome
                _sleep_ticking(delay, sleep, clock, on_tick, started)
            outcome.polls += 1
            if seen(fetch()):
                return outcome
    except KeyboardInterrupt:
        outcome.interrupted = True
        return outcome
    finally:
        outcome.elapsed = clock() - started


def _sleep_ticking(
    delay: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    on_tick: Callable[[float], None] | None,
    started: float,
) -> None:
    """Sleep `delay`, waking every 0.25 s to refresh an elapsed-time display when there is one."""
    if on_tick is None:
        sleep(delay)
        return
    end = clock() + delay
    while True:
        left = end - clock()
        if left <= 0:
            return
        sleep(min(0.25, left))
        on_tick(clock() - started)
