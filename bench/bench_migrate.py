"""Benchmark: migrate each seed set onto a fresh database, against psql -f and alembic upgrade head.

Figures (medians, interleaved runs, one private embedded PostgreSQL, all in this run):
- library `migrate()` vs `psql -f` of the same files (psql from the pgserver wheel)      target <= 1.5
- the whole `invoke migrate` command vs `psql -f`                                         target <= 1.5
- the whole `invoke migrate` command vs `alembic upgrade head` (same DDL, one execute per
  statement as op.execute/op.create_table send it)                                      target <= 0.5
- library `migrate()` vs Alembic's `command.upgrade` in-process                           target <= 0.5
- round trips per migration for files of 1, 10 and 100 statements: counted by our runner
  and cross-checked in the server's log (log_statement=all), which must not grow with size.

"Fresh database": each timed run starts on an emptied database (see Slot). The command figures
include interpreter start-up on both sides: python + invoke + psycopg imports cost ~0.5 s that
psql (C) does not pay, so the command-vs-psql ratio measures start-up, not migration work.

Run: /tmp/venv/bin/python bench/bench_migrate.py   (BENCH_RUNS=N for more runs; default 7)
"""

from __future__ import annotations

import io
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from benchlib import figure, report
from migrate_support import alembic_project, make_set, sqlalchemy_url, target, write_config
from oncall.migrations import migrate
from oncall.report import Output
from oncall.sandbox.pg import EmbeddedPostgres, bin_dir

REPO = Path(__file__).resolve().parents[1]
SETS = {
    "turbo-response": ("oncall", REPO / "sql" / "turbo-response"),
    "trdrhub": ("alembic", REPO / "sql" / "trdrhub"),
}
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
INVOKE = Path(sys.executable).parent / "invoke"
ALEMBIC = Path(sys.executable).parent / "alembic"
APP_PASSWORD = secrets.token_urlsafe(18)


def quiet() -> Output:
    return Output(json_mode=False, stdout=io.StringIO(), stderr=io.StringIO())


class Slot:
    """A database owned by `app` that is made empty again (public schema dropped and recreated)
    before every timed run, outside the timing: as fresh as a new database for these sets, whose
    objects, ledger and alembic_version all live in public, without CREATE DATABASE's 0.3 s."""

    def __init__(self, server: EmbeddedPostgres, name: str) -> None:
        self.server = server
        self.name = name
        server.create_database(name, owner="app")
        self.url = server.url(name, "app", APP_PASSWORD)

    def reset(self) -> None:
        self.server.admin_execute(
            "DROP SCHEMA public CASCADE; CREATE SCHEMA public AUTHORIZATION app", self.name
        )


def paired_medians(
    a: Callable[[str], object], b: Callable[[str], object], slot_a: Slot, slot_b: Slot, runs: int
) -> tuple[float, float]:
    """Medians of a and b run alternately (after one warm-up each), each on a freshly emptied slot."""
    times_a: list[float] = []
    times_b: list[float] = []
    for index in range(runs + 1):
        for fn, slot, times in ((a, slot_a, times_a), (b, slot_b, times_b)):
            slot.reset()
            started = time.perf_counter()
            fn(slot.url)
            if index:
                times.append(time.perf_counter() - started)
    return statistics.median(times_a), statistics.median(times_b)


def main() -> int:
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-migrate-") as tmp_name:
        tmp = Path(tmp_name)
        server = EmbeddedPostgres(tmp / "data", settings={"log_statement": "all", "log_line_prefix": "'%a|'"})
        server.start()
        try:
            server.create_role("app", APP_PASSWORD)
            slots = (Slot(server, "ours"), Slot(server, "theirs"))
            for set_name, (ledger, folder) in SETS.items():
                ok &= bench_set(tmp, slots, set_name, ledger, folder)
            ok &= round_trips(tmp, server, slots[0])
        finally:
            server.destroy()
    return 0 if ok else 1


def bench_set(tmp: Path, slots: tuple[Slot, Slot], set_name: str, ledger: str, folder: Path) -> bool:
    """The four timing figures of one seed set."""
    from alembic import command
    from alembic.config import Config

    ok = True
    t = target(folder, tmp, ledger=ledger)
    files = sorted(folder.glob("*.sql"))
    config = write_config(tmp / f"{set_name}.yaml", {"bench": {"migrations": str(folder), "ledger": ledger}})
    ini = alembic_project(tmp / f"alembic-{set_name}", folder, with_sql=True)
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOKE_", "DATABASE_URL", "PG"))}
    base_env.update({"HOME": str(home), "INVOKE_ONCALL_RUN_LOG": str(home / "runs.jsonl")})

    def ours(url: str) -> None:
        migrate(t, url, quiet(), write_run_log=False)

    def psql(url: str) -> None:
        args = [str(bin_dir() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url]
        for path in files:
            args += ["-f", str(path)]
        subprocess.run(args, check=True, capture_output=True)

    def cli(url: str) -> None:
        env = {**base_env, "DATABASE_URL": url}
        subprocess.run(
            [str(INVOKE), "-f", str(config), "migrate", "--target", "bench"],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
        )

    def alembic_cli(url: str) -> None:
        env = {**base_env, "ONCALL_ALEMBIC_URL": sqlalchemy_url(url)}
        subprocess.run(
            [str(ALEMBIC), "-c", str(ini), "upgrade", "head"], env=env, check=True, capture_output=True
        )

    def alembic_lib(url: str) -> None:
        os.environ["ONCALL_ALEMBIC_URL"] = sqlalchemy_url(url)
        command.upgrade(Config(str(ini)), "head")

    pairs = (
        (ours, psql, "library migrate()", "psql -f", 1.5),
        (cli, psql, "whole invoke migrate command", "psql -f", 1.5),
        (cli, alembic_cli, "whole invoke migrate command", "alembic upgrade head", 0.5),
        (ours, alembic_lib, "library migrate()", "alembic command.upgrade in-process", 0.5),
    )
    for mine, theirs, label, baseline, goal in pairs:
        a, b = paired_medians(mine, theirs, *slots, RUNS)
        ok &= report(f"migrate {set_name} ({label})", a, b, baseline, target=goal)
    return ok


def round_trips(tmp: Path, server: EmbeddedPostgres, slot: Slot) -> bool:
    """Round trips per migration stay constant as files grow: our count, and the server log's."""
    ok = True
    counted: list[int] = []
    logged: list[int] = []
    for size in (1, 10, 100):
        body = "\n".join(f"CREATE TABLE IF NOT EXISTS t{i} (id int);" for i in range(size))
        folder = make_set(tmp / f"rt{size}", {"001_only.sql": body})
        slot.reset()
        url = slot.url
        before = server.logfile.read_text(errors="replace").count("oncall migrate|")
        result = migrate(target(folder, tmp), url, quiet(), write_run_log=False)
        after = server.logfile.read_text(errors="replace").count("oncall migrate|")
        counted.append(int(result.applied[0]["round_trips"]))
        logged.append(after - before)
    print(f"round trips per migration of 1/10/100 statements (our count): {counted}", flush=True)
    print(f"server-logged queries of a whole migrate run of 1/10/100 statements: {logged}", flush=True)
    ok &= figure("round trips per migration, 100-statement file", counted[-1], unit="round trips", target=1)
    ok &= figure(
        "growth of server-logged queries from 1 to 100 statements",
        logged[-1] - logged[0],
        unit="queries",
        target=0,
    )
    print(json.dumps({"round_trips": counted, "server_logged": logged}), flush=True)
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
