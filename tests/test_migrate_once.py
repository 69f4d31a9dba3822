"""Exactly once under faults: killed clients, lost lock sessions, racing runs (real invoke and PostgreSQL).

Each test counts the rows a migration inserts into `audit_log`: the proof that its file ran once.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fix_invoke import INVOKE, REPO, RunInvoke, clean_env
from fix_pg import TestDatabase
from fix_secrets import SecretScan
from migrate_support import make_set, write_config

AUDITED = {
    "001_audit.sql": "CREATE TABLE IF NOT EXISTS audit_log (id serial PRIMARY KEY, note text);",
    "002_data.sql": "SELECT pg_sleep(3);\nINSERT INTO audit_log (note) VALUES ('002 ran');",
}
SLEEPING = (
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'oncall migrate' "
    "AND wait_event = 'PgSleep'"
)


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = 60.0) -> None:
    """Poll until `predicate` is true (a generous bound that only guards against a hung test)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.02)


class Project:
    """A migration set, its `-f` config and the environment to run `invoke migrate` on `pg`."""

    def __init__(self, pg: Any, tmp_path: Path, files: dict[str, str], **settings: Any) -> None:
        self.folder = make_set(tmp_path / "set", files)
        entry = {"migrations": str(self.folder), **settings}
        self.config = write_config(tmp_path / "c.yaml", {"mine": entry})
        self.home = tmp_path / "home"
        self.home.mkdir(exist_ok=True)
        self.env = clean_env(self.home, {"DATABASE_URL": pg.url})

    def args(self, *extra: str) -> list[str]:
        return [
            str(INVOKE),
            "-f",
            str(self.config),
            "migrate",
            "--target",
            "mine",
            "--lock-wait",
            "60",
            *extra,
        ]

    def start(self, *extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.args(*extra),
            cwd=REPO,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *extra: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.args(*extra),
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        print(f"rerun: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    def runs(self) -> list[dict[str, Any]]:
        lines = (self.home / "runs.jsonl").read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines]


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    stdout, stderr = proc.communicate(timeout=120)
    print(f"exit {proc.returncode}\n{stdout}\n{stderr}")
    return stdout, stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "code"),
    [(signal.SIGHUP, 130), (signal.SIGTERM, 130), (signal.SIGKILL, -signal.SIGKILL)],
    ids=["SIGHUP (ssh dropped)", "SIGTERM", "SIGKILL (kill -9)"],
)
def test_killed_client_then_rerun_applies_the_file_exactly_once(  # type: ignore[no-untyped-def]
    pg, tmp_path: Path, secret_scan, sig: signal.Signals, code: int
) -> None:
    """Kill `invoke migrate` while its file sleeps, rerun at once: one audit row, never two."""
    secret_scan.add(pg.password)
    project = Project(pg, tmp_path, AUDITED)
    proc = project.start("--json")
    wait_until(lambda: pg.scalar(SLEEPING), "the migration to reach pg_sleep")
    proc.send_signal(sig)
    stdout, stderr = finish(proc)
    assert proc.returncode == code
    rerun = project.run()
    assert rerun.returncode == 0
    assert pg.scalar("SELECT count(*) FROM audit_log") == 1
    assert pg.scalar("SELECT count(*) FROM oncall_migrations WHERE version = '002_data'") == 1
    if sig != signal.SIGKILL:
        assert f"interrupted ({sig.name})" in stderr
        assert json.loads(stdout)["code"] == 130
        first = project.runs()[0]
        assert (first["outcome"], first["code"]) == ("interrupted", 130)
        assert "applied  002_data" in rerun.stdout  # it was rolled back, so the rerun applies it
    assert pg.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0


GATE = 4242  # an advisory lock the test holds: the first run's file waits on it until released
WAITING_ON_ADVISORY = (
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'oncall migrate' "
    "AND wait_event = 'advisory'"
)
POLLING_APPLY_LOCK = (
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'oncall migrate' "
    "AND query LIKE 'SELECT pg_try_advisory_lock%'"
)
DROP_LOCK_SESSIONS = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'oncall migrate (lock)'"
)


def gated_runs(pg: Any, project: Project, second_waits: str) -> tuple[str, str, int, int]:
    """Run 1 waits at the gate; its lock session is dropped; run 2 starts and waits; the gate opens.

    Every step waits for an event, so run 2 always overlaps run 1 (never a race won by timing).
    """
    import psycopg

    with psycopg.connect(pg.admin_url, autocommit=True) as gate:
        gate.execute("SELECT pg_advisory_lock(%s)", (GATE,))
        first = project.start()
        wait_until(lambda: pg.scalar(WAITING_ON_ADVISORY) == 1, "the first run to wait at the gate")
        pg.execute(DROP_LOCK_SESSIONS)
        second = project.start()
        wait_until(lambda: pg.scalar(second_waits), "the second run to wait for the first")
        gate.execute("SELECT pg_advisory_unlock(%s)", (GATE,))
    out_first, _ = finish(first)
    out_second, _ = finish(second)
    return out_first, out_second, first.returncode, second.returncode


@pytest.mark.slow
def test_lock_session_terminated_mid_migration_second_run_does_not_apply_again(  # type: ignore[no-untyped-def]
    pg, tmp_path: Path, secret_scan
) -> None:
    """pg_terminate_backend of the lock session, then a second migrate: one apply, one skip."""
    secret_scan.add(pg.password)
    files = {
        "001_audit.sql": AUDITED["001_audit.sql"],
        "002_data.sql": f"SELECT pg_advisory_xact_lock_shared({GATE});\n"
        "INSERT INTO audit_log (note) VALUES ('002 ran');",
    }
    project = Project(pg, tmp_path, files, lock_timeout="60s")
    assert project.run("--to", "001_audit").returncode == 0
    waits = WAITING_ON_ADVISORY.replace("count(*)", "count(*) = 2")
    out_first, out_second, code_first, code_second = gated_runs(pg, project, waits)
    assert (code_first, code_second) == (0, 0)
    assert pg.scalar("SELECT count(*) FROM audit_log") == 1
    assert "applied  002_data" in out_first
    assert "applied  002_data" not in out_second
    assert "skipped  002_data: another run applied it" in out_second


@pytest.mark.slow
def test_a_no_transaction_file_is_not_rerun_by_a_second_run_after_the_lock_session_is_lost(  # type: ignore[no-untyped-def]
    pg, tmp_path: Path, secret_scan
) -> None:
    """Statement by statement: the second run waits for the apply lock, reads the progress, skips."""
    secret_scan.add(pg.password)
    files = {
        "001_audit.sql": AUDITED["001_audit.sql"],
        "002_data.sql": f"-- oncall:no-transaction\nSELECT pg_advisory_lock_shared({GATE});\n"
        "INSERT INTO audit_log (note) VALUES ('002 ran');\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_note ON audit_log (note);\n",
    }
    project = Project(pg, tmp_path, files, lock_timeout="60s")
    assert project.run("--to", "001_audit").returncode == 0
    out_first, out_second, code_first, code_second = gated_runs(pg, project, POLLING_APPLY_LOCK)
    assert (code_first, code_second) == (0, 0)
    assert pg.scalar("SELECT count(*) FROM audit_log") == 1
    assert "applied  002_data" in out_first
    assert "waiting for the apply lock held by pid" in out_second
    assert "skipped  002_data: another run applied it" in out_second
    assert pg.execute(
        "SELECT outcome, statements_done FROM oncall_migrations WHERE version = '002_data'"
    ) == [("applied", 3)]


@pytest.mark.slow
def test_two_runs_racing_while_a_pooler_drops_lock_sessions_apply_once(  # type: ignore[no-untyped-def]
    pg, tmp_path: Path, secret_scan
) -> None:
    """Two runs at once while every lock session that gets the lock is dropped: one apply in total."""
    secret_scan.add(pg.password)
    project = Project(pg, tmp_path, AUDITED)
    runs = [project.start("--json"), project.start("--json")]
    holders = (
        "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'oncall migrate (lock)' "
        "AND a.state = 'idle'"
    )
    while any(p.poll() is None for p in runs):
        pg.execute(holders)  # what a pooler or idle_session_timeout does to an idle session holding it
        time.sleep(0.02)
    outputs = [finish(p) for p in runs]
    assert [p.returncode for p in runs] == [0, 0]
    applied = [a["version"] for stdout, _ in outputs for a in json.loads(stdout)["applied"]]
    assert applied.count("002_data") == 1
    assert pg.scalar("SELECT count(*) FROM audit_log") == 1
    assert pg.scalar("SELECT count(*) FROM oncall_migrations") == 2


def test_a_ledger_that_records_a_version_twice_is_drift(
    pg: TestDatabase, tmp_path: Path, run_invoke: RunInvoke, secret_scan: SecretScan
) -> None:
    """Two ledger rows for one version (a second apply) exit 5 for migrate and status --check."""
    secret_scan.add(pg.password)
    project = Project(pg, tmp_path, {"001_audit.sql": AUDITED["001_audit.sql"]})
    assert project.run().returncode == 0
    make_set(project.folder, {"002_more.sql": "CREATE TABLE IF NOT EXISTS more (id int);"})
    pg.execute(
        "ALTER TABLE oncall_migrations DROP CONSTRAINT oncall_migrations_pkey; "
        "INSERT INTO oncall_migrations SELECT * FROM oncall_migrations"
    )
    migrate = run_invoke(*project.args()[1:], env={"DATABASE_URL": pg.url})
    assert migrate.code == 5
    assert "records 001_audit more than once" in migrate.stderr
    assert pg.scalar("SELECT to_regclass('more')") is None
    check = run_invoke(
        "-f", str(project.config), "status", "--target", "mine", "--check", env={"DATABASE_URL": pg.url}
    )
    assert check.code == 5


def test_apply_lock_held_past_lock_wait_refuses_naming_the_holder(pg: TestDatabase, tmp_path: Path) -> None:
    """A session holding the apply lock (a run whose lock session was lost): exit 4 after --lock-wait."""
    import psycopg

    from migrate_support import quiet, target
    from oncall.errors import Refused
    from oncall.migrations.lock import apply_key
    from oncall.migrations.run import migrate

    folder = make_set(tmp_path / "set", {"001_a.sql": "CREATE TABLE IF NOT EXISTS a (id int);"})
    with psycopg.connect(pg.url, autocommit=True, application_name="orphaned run") as other:
        other.execute("SELECT pg_advisory_lock(%s)", (apply_key("public"),))
        with pytest.raises(Refused) as caught:
            migrate(target(folder, tmp_path), pg.url, quiet(), lock_wait=0.3)
        pid = other.info.backend_pid
    assert caught.value.code == 4
    assert "held the apply lock" in caught.value.cause
    assert f"pid {pid} (orphaned run" in caught.value.cause
    assert pg.scalar("SELECT to_regclass('a')") is None


def test_a_claim_that_committed_nothing_gives_way_when_the_file_runs_in_a_transaction(  # type: ignore[no-untyped-def]
    pg, tmp_path: Path
) -> None:
    """A no-transaction file that failed at its first statement, rewritten as transactional, applies."""
    from migrate_support import quiet, target
    from oncall.errors import CheckFailed
    from oncall.migrations.run import migrate

    folder = make_set(tmp_path / "set", {"001_ix.sql": "CREATE INDEX CONCURRENTLY ix ON missing (id);"})
    t = target(folder, tmp_path)
    with pytest.raises(CheckFailed):
        migrate(t, pg.url, quiet())
    assert pg.execute("SELECT outcome, statements_done FROM oncall_migrations") == [("partial", 0)]
    make_set(folder, {"001_ix.sql": "CREATE TABLE missing (id int);"})
    assert migrate(t, pg.url, quiet()).ok
    assert pg.execute("SELECT outcome, transaction_mode FROM oncall_migrations") == [
        ("applied", "transaction")
    ]


def test_a_claim_made_after_the_plan_read_the_ledger_still_gives_way(
    pg: TestDatabase, tmp_path: Path
) -> None:
    """A claim written while the run waits in the guard (a run that lost its lock) gives way as before.

    A claim can appear after the plan read the ledger (here: another session holds the apply lock,
    writes the claim, then lets go): it still gives way to the transactional apply, exactly once.
    """
    import threading

    import psycopg

    from migrate_support import quiet, target
    from oncall.migrations.lock import apply_key
    from oncall.migrations.run import MigrateResult, migrate

    folder = make_set(tmp_path / "set", {"000_base.sql": "CREATE TABLE base (id int);"})
    t = target(folder, tmp_path)
    assert migrate(t, pg.url, quiet()).ok
    make_set(folder, {"001_a.sql": "CREATE TABLE a (id int);"})
    outcome: list[MigrateResult | BaseException] = []

    def run() -> None:
        try:
            outcome.append(migrate(t, pg.url, quiet(), lock_wait=60))
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    with psycopg.connect(pg.url, autocommit=True, application_name="run that lost its lock") as other:
        other.execute("SELECT pg_advisory_lock(%s)", (apply_key("public"),))
        runner = threading.Thread(target=run)
        runner.start()
        wait_until(
            lambda: pg.scalar(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND NOT l.granted AND a.application_name = 'oncall migrate'"
            ),
            "the run waiting for the apply lock in its guard",
        )
        other.execute(
            "INSERT INTO oncall_migrations (version, name, checksum, applied_by, host, transaction_mode, "
            "outcome, statements_done) VALUES ('001_a', 'a', 'x/y', 'other', 'h', 'none', 'partial', 0)"
        )
        other.execute("SELECT pg_advisory_unlock(%s)", (apply_key("public"),))
        runner.join(timeout=60)
    (result,) = outcome
    assert isinstance(result, MigrateResult), result
    assert [a["version"] for a in result.applied] == ["001_a"]
    assert pg.execute("SELECT outcome, transaction_mode FROM oncall_migrations WHERE version = '001_a'") == [
        ("applied", "transaction")
    ]
    assert pg.scalar("SELECT to_regclass('a') IS NOT NULL")
