"""Benchmark: does an ALTER TABLE behind a long transaction stall the application? (issue 12, section 3)

The classic outage: a transaction holds ACCESS SHARE on a table for a while, an `ALTER TABLE ...
ADD COLUMN` asks for ACCESS EXCLUSIVE and queues behind it, and every query of the application
queues behind the ALTER. Scenario, one embedded PostgreSQL, each side on a fresh database:

- app: N connections (1, then a pool of 10), each running a cheap query on the table every 20 ms,
  every latency recorded;
- blocker: `BEGIN; SELECT ... FROM t LIMIT 1;`, then idle in that transaction for BENCH_BLOCKER_S
  seconds (default 10, the issue's figure), then COMMIT;
- migration: `ALTER TABLE t ADD COLUMN ...`, started 1 s after the blocker, run by
  `psql -v ON_ERROR_STOP=1 -f` (the baseline; psql from the pgserver wheel) or by the real
  `invoke migrate` command with oncall's DEFAULT settings (nothing configured but the folder).

Figures per app size:
- total app stall: the sum of the latencies of app queries that took over 100 ms, ours against
  psql's                                                                          target <= 0.1x
- the longest single app query while the migration ran                          target <= 250 ms
- how long after the blocker's COMMIT the migration had finished                 target <= 1.5 s

Run: python bench/bench_lockqueue.py   (BENCH_BLOCKER_S=3 for a quick run)
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from benchlib import figure, report
from migrate_support import make_set, write_config
from oncall.sandbox.pg import EmbeddedPostgres, bin_dir

REPO = Path(__file__).resolve().parents[1]
INVOKE = Path(sys.executable).parent / "invoke"
BLOCKER_S = float(os.environ.get("BENCH_BLOCKER_S", "10"))
MIGRATION_DELAY_S = 1.0
APP_EVERY_S = 0.020
STALL_OVER_S = 0.100
AFTER_S = 0.5  # app traffic measured after both the blocker and the migration ended
APP_PASSWORD = secrets.token_urlsafe(18)
MIGRATION = "ALTER TABLE t ADD COLUMN note text;\n"


@dataclass
class Run:
    """One side's run: every app query (start, latency), and when things began and ended."""

    queries: list[tuple[float, float]] = field(default_factory=list)
    blocker_end: float = 0.0
    migration_start: float = 0.0
    migration_end: float = 0.0
    output: str = ""

    def stall(self) -> float:
        return sum(latency for _, latency in self.queries if latency > STALL_OVER_S)

    def longest_during_migration(self) -> float:
        during = [
            latency
            for start, latency in self.queries
            if start + latency >= self.migration_start and start <= self.migration_end
        ]
        return max(during, default=0.0)

    def applied_after_blocker(self) -> float:
        return max(0.0, self.migration_end - self.blocker_end)


def app_loop(url: str, stop: threading.Event, record: Callable[[float, float], None]) -> None:
    """Query the table every 20 ms (on the tick; a slow query skips the ticks it missed)."""
    with psycopg.connect(url, autocommit=True, application_name="bench app") as conn:
        tick = time.monotonic()
        while not stop.is_set():
            started = time.monotonic()
            conn.execute("SELECT id FROM t WHERE id = 1").fetchall()
            record(started, time.monotonic() - started)
            tick += APP_EVERY_S
            now = time.monotonic()
            if tick < now:
                tick = now + APP_EVERY_S - (now - tick) % APP_EVERY_S
            time.sleep(tick - now)


def scenario(url: str, migrate: Callable[[], str], connections: int) -> Run:
    """The app, the blocker and the migration, side by side; returns what happened and when."""
    run = Run()
    lock = threading.Lock()
    stop = threading.Event()

    def record(started: float, latency: float) -> None:
        with lock:
            run.queries.append((started, latency))

    apps = [threading.Thread(target=app_loop, args=(url, stop, record)) for _ in range(connections)]
    for app in apps:
        app.start()
    time.sleep(0.3)  # the app is running before anything else happens
    with psycopg.connect(url, application_name="bench blocker") as blocker:
        blocker.execute("SELECT id FROM t LIMIT 1").fetchall()  # ACCESS SHARE until COMMIT
        blocked_at = time.monotonic()

        def migrate_later() -> None:
            time.sleep(MIGRATION_DELAY_S)
            run.migration_start = time.monotonic()
            run.output = migrate()
            run.migration_end = time.monotonic()

        migration = threading.Thread(target=migrate_later)
        migration.start()
        time.sleep(max(0.0, BLOCKER_S - (time.monotonic() - blocked_at)))
        blocker.commit()
        run.blocker_end = time.monotonic()
    migration.join()
    time.sleep(AFTER_S)
    stop.set()
    for app in apps:
        app.join()
    return run


def fresh_database(server: EmbeddedPostgres, name: str) -> str:
    server.create_database(name, owner="app")
    server.admin_execute(
        "CREATE TABLE t (id int PRIMARY KEY, payload text); "
        "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g; "
        "ALTER TABLE t OWNER TO app",
        name,
    )
    return server.url(name, "app", APP_PASSWORD)


def main() -> int:
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-lockqueue-") as tmp_name:
        tmp = Path(tmp_name)
        folder = make_set(tmp / "migrations", {"001_add_note.sql": MIGRATION})
        config = write_config(tmp / "oncall.yaml", {"bench": {"migrations": str(folder)}})
        home = tmp / "home"
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOKE_", "DATABASE_URL", "PG"))}
        env.update(
            {
                "HOME": str(home),
                "INVOKE_ONCALL_RUN_LOG": str(home / "runs.jsonl"),
                "INVOKE_ONCALL_STATE_DIR": str(home / "state"),
            }
        )
        server = EmbeddedPostgres(tmp / "data")
        server.start()
        try:
            server.create_role("app", APP_PASSWORD)

            def psql(url: str) -> Callable[[], str]:
                args = [str(bin_dir() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url]
                return lambda: run_command([*args, "-f", str(folder / "001_add_note.sql")], env)

            def oncall(url: str) -> Callable[[], str]:
                args = [str(INVOKE), "-f", str(config), "migrate", "--target", "bench"]
                return lambda: run_command(args, {**env, "DATABASE_URL": url})

            for connections in (1, 10):
                baseline_url = fresh_database(server, f"psql_{connections}")
                baseline = scenario(baseline_url, psql(baseline_url), connections)
                ours_url = fresh_database(server, f"oncall_{connections}")
                ours = scenario(ours_url, oncall(ours_url), connections)
                ok &= report_figures(connections, ours, baseline)
        finally:
            server.destroy()
    return 0 if ok else 1


def run_command(args: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{Path(args[0]).name} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout + proc.stderr


def report_figures(connections: int, ours: Run, baseline: Run) -> bool:
    app = "1 app connection" if connections == 1 else f"a pool of {connections} app connections"
    label = f"lock queue, {BLOCKER_S:g} s blocker, {app}"
    ok = report(
        f"{label}: total app stall (sum of app queries over 100 ms), default settings",
        ours.stall(),
        baseline.stall(),
        "psql -f",
        target=0.1,
    )
    ok &= figure(
        f"{label}: longest single app query during the migration, default settings "
        f"(psql -f: {baseline.longest_during_migration() * 1000:.0f} ms)",
        ours.longest_during_migration() * 1000,
        unit="ms",
        target=250,
    )
    ok &= figure(
        f"{label}: migration applied after the blocker ended, default settings "
        f"(psql -f: {baseline.applied_after_blocker():.2f} s)",
        ours.applied_after_blocker(),
        unit="s",
        target=1.5,
    )
    applied = [line.strip() for line in ours.output.splitlines() if line.strip().startswith("applied")]
    print(f"{label}: oncall said: {applied[0] if applied else ours.output.strip()!r}", flush=True)
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
