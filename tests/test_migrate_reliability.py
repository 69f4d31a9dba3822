"""Reliability of `invoke migrate` under concurrency and a killed backend (real processes and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from fix_invoke import INVOKE, REPO, clean_env
from fix_pg import TestDatabase
from fix_secrets import SecretScan
from migrate_support import TURBO, make_set, write_config

SLOW = """\
CREATE TABLE IF NOT EXISTS half_done (id int);
SELECT pg_sleep(coalesce(nullif(current_setting('oncall_test.sleep', true), ''), '0')::float);
CREATE TABLE IF NOT EXISTS never_without_half (id int);
"""


@pytest.mark.slow
def test_eight_concurrent_migrate_runs_apply_each_migration_once(
    pg: TestDatabase, tmp_path: Path, secret_scan: SecretScan
) -> None:
    """Eight `invoke migrate` started at once all exit 0 and every migration is applied exactly once."""
    secret_scan.add(pg.password)
    folder = make_set(tmp_path / "set", {p.name: p.read_text() for p in sorted(TURBO.glob("*.sql"))})
    make_set(
        folder,
        {"20251120_slowish.sql": "CREATE TABLE IF NOT EXISTS slowish (id int);\nSELECT pg_sleep(0.3);"},
    )
    config = write_config(tmp_path / "c.yaml", {"mine": {"migrations": str(folder)}})
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(home, {"DATABASE_URL": pg.url})
    procs = [
        subprocess.Popen(
            [str(INVOKE), "-f", str(config), "migrate", "--target", "mine", "--json", "--lock-wait", "120"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outputs = [p.communicate(timeout=240) for p in procs]
    for proc, (stdout, stderr) in zip(procs, outputs, strict=True):
        print(f"exit {proc.returncode}\n{stdout}\n{stderr}")
    assert [p.returncode for p in procs] == [0] * 8
    applied = [a["version"] for stdout, _ in outputs for a in json.loads(stdout)["applied"]]
    assert sorted(applied) == ["20251001_baseline", "20251110_add_usage_tracking", "20251120_slowish"]
    assert pg.scalar("SELECT count(*) FROM oncall_migrations") == 3
    assert pg.scalar("SELECT count(*) FROM admin_settings") == 2


@pytest.mark.slow
def test_backend_terminated_mid_file_leaves_nothing_and_rerun_succeeds(  # type: ignore[no-untyped-def]
    pg, tmp_path: Path, secret_scan
) -> None:
    """pg_terminate_backend mid-file: exit 3, no table of that file, no ledger row; the rerun applies it."""
    secret_scan.add(pg.password)
    folder = make_set(
        tmp_path / "set",
        {"001_first.sql": "CREATE TABLE IF NOT EXISTS first_one (id int);", "002_slow.sql": SLOW},
    )
    config = write_config(tmp_path / "c.yaml", {"mine": {"migrations": str(folder)}})
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(home, {"DATABASE_URL": pg.url})
    pg.execute(f"ALTER DATABASE {pg.name} SET oncall_test.sleep = '60'")
    proc = subprocess.Popen(
        [str(INVOKE), "-f", str(config), "migrate", "--target", "mine"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:
        victim = pg.scalar(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'oncall migrate' "
            "AND query LIKE '%pg_sleep%' AND state = 'active'"
        )
        time.sleep(0.05)
    assert victim is not None, "the migration never reached its slow statement"
    pg.execute(f"SELECT pg_terminate_backend({victim})")
    stdout, stderr = proc.communicate(timeout=60)
    print(stdout, stderr)
    assert proc.returncode == 3
    assert "lost the connection" in stderr
    assert "002_slow.sql" in stderr
    assert pg.scalar("SELECT to_regclass('half_done')") is None
    assert pg.execute("SELECT version FROM oncall_migrations") == [("001_first",)]
    assert pg.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0
    pg.execute(f"ALTER DATABASE {pg.name} RESET oncall_test.sleep")
    rerun = subprocess.run(
        [str(INVOKE), "-f", str(config), "migrate", "--target", "mine"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    print(rerun.stdout, rerun.stderr)
    assert rerun.returncode == 0
    assert pg.scalar("SELECT to_regclass('never_without_half') IS NOT NULL")
    assert pg.execute("SELECT version FROM oncall_migrations ORDER BY 1") == [("001_first",), ("002_slow",)]


def test_waiting_ddl_queues_other_sessions_only_until_lock_timeout(pg: TestDatabase, tmp_path: Path) -> None:
    """While migrate waits for a table lock, a reader queued behind it gets through once lock_timeout ends."""
    import threading

    import psycopg

    from migrate_support import quiet, target
    from oncall.errors import Refused
    from oncall.migrations.run import migrate

    pg.execute("CREATE TABLE cases (id int); ALTER TABLE cases OWNER TO app")
    folder = make_set(tmp_path / "set", {"001_col.sql": "ALTER TABLE cases ADD COLUMN IF NOT EXISTS x int;"})
    # The table lock wait off: this is the lock_timeout backstop on its own.
    t = target(folder, tmp_path, lock_timeout="300ms", lock_retries=0, table_lock_wait=0)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            migrate(t, pg.url, quiet())
        except Refused as exc:
            outcome.append(exc)

    with psycopg.connect(pg.url, application_name="long report") as holder:
        holder.execute("SELECT count(*) FROM cases")  # ACCESS SHARE until this transaction ends
        worker = threading.Thread(target=run)
        worker.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not pg.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'oncall migrate' "
            "AND wait_event_type = 'Lock'"
        ):
            time.sleep(0.01)
        with psycopg.connect(pg.url, autocommit=True, options="-c statement_timeout=60s") as reader:
            # Queued behind the waiting ALTER TABLE, then let through when its lock_timeout fires,
            # while the long report still holds its lock.
            assert reader.execute("SELECT count(*) FROM cases").fetchone() == (0,)
        assert holder.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        holder.rollback()
        worker.join(timeout=60)
    assert outcome
    assert outcome[0].code == 4  # type: ignore[attr-defined]
