"""migrate waits, outside the lock queue, for other sessions' conflicting table locks (real PostgreSQL)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from fix_pg import TestDatabase
from migrate_support import make_set, quiet, target, write_config
from oncall.errors import Refused
from oncall.migrations.lock_wait import YOUNG_SECONDS, LockNeed, required_locks
from oncall.migrations.run import MigrateResult, migrate
from oncall.migrations.statements import split

ADD_COLUMN = {"001_col.sql": "ALTER TABLE cases ADD COLUMN IF NOT EXISTS priority int;"}


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "ALTER TABLE cases ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES s.users (id)",
            [
                LockNeed(None, "cases", "AccessExclusiveLock"),
                LockNeed("s", "users", "ShareRowExclusiveLock"),
            ],
        ),
        ("CREATE INDEX ix ON cases (status)", [LockNeed(None, "cases", "ShareLock")]),
        (
            "CREATE INDEX CONCURRENTLY ix ON cases (status)",
            [LockNeed(None, "cases", "ShareUpdateExclusiveLock")],
        ),
        (
            "CREATE TABLE notes (id int, case_id int REFERENCES cases (id))",
            [LockNeed(None, "cases", "ShareRowExclusiveLock")],
        ),
        (
            "INSERT INTO archive SELECT * FROM cases",
            [LockNeed(None, "archive", "RowExclusiveLock"), LockNeed(None, "cases", "AccessShareLock")],
        ),
        ("DROP TABLE IF EXISTS s.old", [LockNeed("s", "old", "AccessExclusiveLock")]),
        ("DROP INDEX CONCURRENTLY ix", [LockNeed(None, "ix", "ShareUpdateExclusiveLock")]),
        (
            "TRUNCATE a, b",
            [LockNeed(None, "a", "AccessExclusiveLock"), LockNeed(None, "b", "AccessExclusiveLock")],
        ),
        ("LOCK TABLE cases IN SHARE MODE", [LockNeed(None, "cases", "ShareLock")]),
        ("DO $$ BEGIN PERFORM 1; END $$", []),
    ],
    ids=[
        "ALTER TABLE needs ACCESS EXCLUSIVE, its referenced table SHARE ROW EXCLUSIVE",
        "CREATE INDEX needs SHARE",
        "CREATE INDEX CONCURRENTLY needs SHARE UPDATE EXCLUSIVE",
        "CREATE TABLE locks only the tables it references",
        "INSERT ... SELECT writes one table and reads the other",
        "DROP TABLE names its tables without RangeVars",
        "DROP INDEX CONCURRENTLY",
        "TRUNCATE of several tables",
        "LOCK TABLE in an explicit mode",
        "a DO block is opaque",
    ],
)
def test_required_locks_follow_postgres_lock_table(sql: str, expected: list[LockNeed]) -> None:
    """The lock each statement needs is read from its parse tree, as PostgreSQL's docs list them."""
    (statement,) = split(sql)
    assert required_locks(statement) == expected


def _arrange_cases(pg: TestDatabase) -> None:
    pg.execute("CREATE TABLE cases (id int); INSERT INTO cases VALUES (1); ALTER TABLE cases OWNER TO app")


def _until_old(pg: TestDatabase, pid: int) -> None:
    """Wait until the transaction of `pid` is old enough for migrate to wait for it (not a young query)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if pg.scalar(
            f"SELECT clock_timestamp() - xact_start > interval '{YOUNG_SECONDS * 2} s' "
            f"FROM pg_stat_activity WHERE pid = {pid}"
        ):
            return
        time.sleep(0.01)
    raise AssertionError(f"the transaction of pid {pid} never aged")


def _migrate_backend(pg: TestDatabase) -> int:
    """The pid of migrate's work session once it waits: reading pg_locks, or queued for a lock (today)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pid = pg.scalar(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'oncall migrate' "
            "AND (wait_event_type = 'Lock' OR query LIKE '%pg_locks%')"
        )
        if pid is not None:
            return int(pid)
        time.sleep(0.01)
    raise AssertionError("migrate never started waiting")


def test_waits_outside_the_lock_queue_then_applies_when_the_reader_commits(
    pg: TestDatabase, tmp_path: Path
) -> None:
    """A long reader holds ACCESS SHARE: migrate waits without queuing (the app's queries pass), then
    applies as soon as the reader commits, and reports its waiting apart from its DDL time."""
    _arrange_cases(pg)
    t = target(make_set(tmp_path / "set", ADD_COLUMN), tmp_path, table_lock_wait=60)
    out = quiet()
    results: list[MigrateResult | BaseException] = []

    def run() -> None:
        try:
            results.append(migrate(t, pg.url, out))
        except BaseException as exc:  # handed to the test thread
            results.append(exc)

    with psycopg.connect(pg.url, application_name="long report") as holder:
        holder.execute("SELECT count(*) FROM cases")  # ACCESS SHARE until this transaction ends
        holder_pid = holder.info.backend_pid
        _until_old(pg, holder_pid)
        worker = threading.Thread(target=run)
        worker.start()
        ours = _migrate_backend(pg)
        assert pg.scalar(f"SELECT count(*) FROM pg_locks WHERE pid = {ours} AND NOT granted") == 0
        with psycopg.connect(pg.url, autocommit=True, options="-c lock_timeout=1s") as app:
            # Queued behind a waiting ALTER TABLE this would wait, and fail at its lock_timeout.
            assert app.execute("SELECT count(*) FROM cases").fetchone() == (1,)
        assert holder.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        holder.commit()
        worker.join(timeout=60)
    (result,) = results
    assert isinstance(result, MigrateResult), result
    assert pg.scalar("SELECT count(*) FROM information_schema.columns WHERE column_name = 'priority'") == 1
    assert result.applied[0]["lock_wait_ms"] > 0
    text = out.stdout.getvalue()
    assert "applied  001_col in " in text
    assert f"for locks held by pid {holder_pid})" in text


def test_a_reader_that_never_ends_is_refused_with_exit_4_naming_pid_query_and_age(  # type: ignore[no-untyped-def]
    pg, tmp_path: Path, run_invoke, secret_scan
) -> None:
    """Past table_lock_wait, `invoke migrate` exits 4 naming the session, its query and its age."""
    secret_scan.add(pg.password)
    _arrange_cases(pg)
    folder = make_set(tmp_path / "set", ADD_COLUMN)
    config = write_config(tmp_path / "c.yaml", {"mine": {"migrations": str(folder), "table_lock_wait": 0.5}})
    with psycopg.connect(pg.url, application_name="nightly report") as holder:
        holder.execute("SELECT count(*) FROM cases /* the nightly report */")
        pid = holder.info.backend_pid
        _until_old(pg, pid)
        result = run_invoke("-f", str(config), "migrate", "--target", "mine", env={"DATABASE_URL": pg.url})
        holder.rollback()
    assert result.code == 4
    assert f"pid {pid} holding AccessShareLock on cases (nightly report, idle in transaction" in result.stderr
    assert "the nightly report" in result.stderr
    assert "transaction open " in result.stderr
    assert f"pg_terminate_backend({pid})" in result.stderr
    assert pg.scalar("SELECT count(*) FROM information_schema.columns WHERE column_name = 'priority'") == 0


def test_a_queued_lock_request_of_another_session_makes_migrate_hold_off(
    pg: TestDatabase, tmp_path: Path
) -> None:
    """An INSERT needs only ROW EXCLUSIVE but would queue behind another session's waiting LOCK: hold off."""
    _arrange_cases(pg)
    folder = make_set(tmp_path / "set", {"001_row.sql": "INSERT INTO cases VALUES (2);"})
    t = target(folder, tmp_path, table_lock_wait=0.5)
    with psycopg.connect(pg.url) as holder, psycopg.connect(pg.url) as queued:
        holder.execute("SELECT count(*) FROM cases")
        queued_pid = queued.info.backend_pid
        locker = threading.Thread(target=lambda: queued.execute("LOCK TABLE cases IN ACCESS EXCLUSIVE MODE"))
        locker.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not pg.scalar(
            f"SELECT count(*) FROM pg_locks WHERE pid = {queued_pid} AND NOT granted"
        ):
            time.sleep(0.01)
        with pytest.raises(Refused) as caught:
            migrate(t, pg.url, quiet())
        holder.rollback()
        locker.join(timeout=30)
        queued.rollback()
    assert caught.value.code == 4
    assert f"pid {queued_pid} waiting for AccessExclusiveLock on cases" in caught.value.cause
    assert pg.scalar("SELECT count(*) FROM cases") == 1


def test_no_transaction_statement_waits_for_the_lock_it_needs(pg: TestDatabase, tmp_path: Path) -> None:
    """CREATE INDEX CONCURRENTLY needs SHARE UPDATE EXCLUSIVE: a SHARE lock held elsewhere makes it wait."""
    _arrange_cases(pg)
    folder = make_set(
        tmp_path / "set", {"001_ix.sql": "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_id ON cases (id);"}
    )
    t = target(folder, tmp_path, table_lock_wait=0.3)
    with psycopg.connect(pg.url, application_name="bulk load") as holder:
        holder.execute("LOCK TABLE cases IN SHARE MODE")
        pid = holder.info.backend_pid
        _until_old(pg, pid)
        with pytest.raises(Refused) as caught:
            migrate(t, pg.url, quiet())
        holder.rollback()
    assert caught.value.cause.startswith("001_ix.sql:1: gave up after waiting")
    assert f"pid {pid} holding ShareLock on cases (bulk load" in caught.value.cause
    assert pg.scalar("SELECT to_regclass('ix_id')") is None


@pytest.mark.parametrize("value", ["nan", "-1", "inf"], ids=["NaN", "negative", "infinite"])
def test_table_lock_wait_that_is_not_a_finite_duration_is_bad_input(  # type: ignore[no-untyped-def]
    pg, tmp_path: Path, run_invoke, value: str
) -> None:
    """INVOKE_ONCALL_TABLE_LOCK_WAIT=nan/-1/inf: plan exits 2 naming the setting, with a hint."""
    folder = make_set(tmp_path / "set", ADD_COLUMN)
    config = write_config(tmp_path / "c.yaml", {"mine": {"migrations": str(folder)}})
    result = run_invoke(
        "-f",
        str(config),
        "plan",
        "--target",
        "mine",
        env={"DATABASE_URL": pg.url, "INVOKE_ONCALL_TABLE_LOCK_WAIT": value},
    )
    assert result.code == 2
    assert "table_lock_wait" in result.stderr
    assert "0 turns the wait off" in result.stderr
