"""One retry policy (oncall.retry, stamina underneath): bounded, re-raises the last error, off in tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import stamina

from fix_pg import TestDatabase
from migrate_support import make_set, quiet, target
from oncall import retry
from oncall.errors import Refused
from oncall.migrations.run import migrate


@pytest.fixture
def no_pauses() -> Iterator[None]:
    """stamina's test mode: every pause 0, at most two attempts."""
    with stamina.set_testing(True, attempts=2):
        yield


def _failing(errors: list[Exception], hook: retry.Hook, attempts: int) -> int:
    calls = 0
    for attempt in retry.attempts(hook, attempts=attempts, timeout=None):
        with attempt:
            calls += 1
            raise errors[calls - 1]
    return calls


def test_a_hook_that_gives_up_reraises_that_error_at_once() -> None:
    """A hook answering False ends the loop after one attempt with the original error."""
    first = ValueError("first")
    with pytest.raises(ValueError, match="first") as caught:
        _failing([first, ValueError("second")], lambda exc: False, attempts=5)
    assert caught.value is first


def test_attempts_are_bounded_and_the_last_error_is_raised() -> None:
    """A hook that always retries still stops at `attempts`, raising the last attempt's error."""
    errors: list[Exception] = [ValueError(str(n)) for n in range(3)]
    with pytest.raises(ValueError, match="2"):
        _failing(errors, lambda exc: 0.0, attempts=3)


def test_full_jitter_stays_under_its_cap() -> None:
    """Backoff.pause(n) lies in [0, min(cap, initial * 2**n)]."""
    backoff = retry.Backoff(initial=0.5, cap=8.0)
    assert all(0 <= backoff.pause(n) <= min(8.0, 0.5 * 2**n) for n in range(10) for _ in range(50))


def test_a_retry_writes_no_log_line_of_stamina(caplog: pytest.LogCaptureFixture) -> None:
    """stamina's own retry warning would reach stderr beside our line: it is turned off."""
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ValueError, match="1"):
        _failing([ValueError("0"), ValueError("1")], lambda exc: 0.0, attempts=2)
    assert [r for r in caplog.records if r.name.startswith("stamina")] == []


@pytest.mark.usefixtures("no_pauses")
def test_stamina_test_mode_caps_the_lock_timeout_retries_of_migrate(pg: TestDatabase, tmp_path: Path) -> None:
    """Under stamina.set_testing(attempts=2), migrate's lock_timeout retries stop after two attempts."""
    pg.execute("CREATE TABLE cases (id int)")
    pg.execute("ALTER TABLE cases OWNER TO app")
    folder = make_set(tmp_path / "set", {"001_col.sql": "ALTER TABLE cases ADD COLUMN x int;"})
    t = target(folder, tmp_path, lock_timeout="50ms", lock_retries=9, table_lock_wait=0)
    with psycopg.connect(pg.url) as holder:
        holder.execute("LOCK TABLE cases IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(Refused) as caught:
            migrate(t, pg.url, quiet(), retry_base=30)
        holder.rollback()
    assert "hit 2 times" in caught.value.cause
