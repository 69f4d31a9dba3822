"""One retry policy for every loop that tries again: bounded, declared once, switchable off in tests.

stamina drives the loops (`attempts(...)` is its `retry_context`): the lock_timeout retries of
migrate and rollback-migration, and the wait for the migration lock. A loop passes a `hook`,
stamina's backoff hook, that sees each failure and answers False (give up: stamina re-raises that
error) or the pause before the next try; so the pause a caller announces is the pause it takes.
Every pause comes from one jitter rule, `Backoff.pause` (full jitter), unless the caller has a
better measure (the table lock wait's short pause).

Bounds: `attempts` and `timeout` are always given by the caller (None only where the other bounds
the loop). `stamina.set_testing(True, attempts=N)` makes every pause 0 and caps the attempts in
tests, as stamina documents.

stamina logs each retry (a WARNING that Python prints to stderr when nothing configured logging);
our callers say why they retry themselves, so its on-retry hooks are turned off by `quiet()`,
which `attempts` calls.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import stamina
import stamina.instrumentation

Attempt = stamina.Attempt

# What a hook answers for a failure: False to give up, or seconds to pause before the next try.
Hook = Callable[[Exception], bool | float]


@dataclass(frozen=True)
class Backoff:
    """Full jitter: a pause uniform in [0, min(cap, initial * 2**retry)] (AWS architecture blog)."""

    initial: float
    cap: float

    def pause(self, retry: int) -> float:
        """The pause before retry number `retry` (0 for the first retry)."""
        return random.uniform(0, min(self.cap, self.initial * 2**retry))  # noqa: S311 - jitter, not secrecy


# lock_timeout (55P03) retries of a migration or a rollback: the whole transaction again.
LOCK_TIMEOUT_BACKOFF = Backoff(initial=0.5, cap=8.0)
# Polling pg_try_advisory_lock while another run holds the migration lock.
LOCK_POLL_BACKOFF = Backoff(initial=0.05, cap=1.0)


def quiet() -> None:
    """Turn off stamina's own retry log lines (callers announce their retries)."""
    if stamina.instrumentation.get_on_retry_hooks():
        stamina.instrumentation.set_on_retry_hooks([])


def attempts(hook: Hook, *, attempts: int | None, timeout: float | None) -> Iterator[Attempt]:
    """stamina's attempts: `for attempt in attempts(...): with attempt: ...`; the hook sets each pause."""
    quiet()
    # wait_* only matter if a hook answered True: ours always answer False or a pause.
    return iter(
        stamina.retry_context(
            on=hook, attempts=attempts, timeout=timeout, wait_initial=0.0, wait_max=0.0, wait_jitter=0.0
        )
    )
