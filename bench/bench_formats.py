"""Benchmark: `invoke migrate` over 300 generated migrations in each format's own layout.

For every format oncall reads (oncall, prisma, diesel, golang-migrate, dbmate, flyway, supabase,
drizzle) a set of 300 migrations is written the way that tool lays them out (each one a table and an
index). On a fresh database each time, side by side in this run:

- the whole `invoke migrate` command against one `psql -v ON_ERROR_STOP=1 -f FILE` process per
  migration (what a shell loop over the folder does)                                   target <= 0.5
- the same command against ONE psql process over all the up SQL concatenated           target <= 1.5

psql is given the up SQL only (a dbmate file's down section, golang-migrate's .down.sql files are
not applied): the same DDL as ours. What we add on top: the migration lock, the per-migration
apply guard and ledger row(s) in that tool's own table and ours, the look at pg_locks before each
file (skipped for tables created earlier in the run, as these are), and interpreter start-up (~0.3 s).

A third line per format, without target, is the floor: the same command on a database where all
300 are applied already (interpreter start-up, imports, config, connections, the ledger read), timed
in the same rounds, so that what is fixed cost and what is per migration can be told apart. A
fourth is the least ratio to one psql that any run could reach, (floor + one psql) / one psql: a
command that starts up and then only runs the same DDL, with nothing added per migration.

Run: python bench/bench_formats.py   (BENCH_RUNS=N timed rounds, default 3; BENCH_FILES=N, default 300;
BENCH_FORMATS=a,b to pick formats)
"""

from __future__ import annotations

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

from benchlib import figure, report
from oncall.sandbox.pg import EmbeddedPostgres, bin_dir

REPO = Path(__file__).resolve().parents[1]
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
FILES = int(os.environ.get("BENCH_FILES", "300"))
INVOKE = Path(sys.executable).parent / "invoke"
APP_PASSWORD = secrets.token_urlsafe(18)


def up_sql(i: int) -> str:
    return (
        f"CREATE TABLE t_{i:04d} (id bigint PRIMARY KEY, name text NOT NULL);\n"
        f"CREATE INDEX t_{i:04d}_name_idx ON t_{i:04d} (name);\n"
    )


def down_sql(i: int) -> str:
    return f"DROP TABLE t_{i:04d};\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _stamp(i: int) -> str:
    """A 14-digit timestamp per migration, one minute apart, as the tools' generators name them."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(1_735_732_800 + 60 * i))


def write_set(fmt: str, root: Path, n: int) -> Path:
    """n migrations in `fmt`'s own layout under root; returns the folder to point `migrations:` at."""
    if fmt == "oncall":
        folder = root / "sql"
        for i in range(n):
            _write(folder / f"{i + 1:04d}_t{i}.sql", up_sql(i))
    elif fmt == "prisma":
        folder = root / "prisma" / "migrations"
        for i in range(n):
            _write(folder / f"{_stamp(i)}_t{i}" / "migration.sql", up_sql(i))
        _write(folder / "migration_lock.toml", 'provider = "postgresql"\n')
    elif fmt == "diesel":
        folder = root / "migrations"
        for i in range(n):
            name = f"{_stamp(i)[:4]}-{_stamp(i)[4:6]}-{_stamp(i)[6:8]}-{_stamp(i)[8:]}_t{i}"
            _write(folder / name / "up.sql", up_sql(i))
            _write(folder / name / "down.sql", down_sql(i))
    elif fmt == "golang-migrate":
        folder = root / "migrations"
        for i in range(n):
            _write(folder / f"{i + 1:06d}_t{i}.up.sql", up_sql(i))
            _write(folder / f"{i + 1:06d}_t{i}.down.sql", down_sql(i))
    elif fmt == "dbmate":
        folder = root / "db" / "migrations"
        for i in range(n):
            _write(
                folder / f"{_stamp(i)}_t{i}.sql",
                f"-- migrate:up\n{up_sql(i)}\n-- migrate:down\n{down_sql(i)}",
            )
    elif fmt == "flyway":
        folder = root / "db" / "migration"
        for i in range(n):
            _write(folder / f"V{i + 1}__T{i}.sql", up_sql(i))
    elif fmt == "supabase":
        folder = root / "supabase" / "migrations"
        for i in range(n):
            _write(folder / f"{_stamp(i)}_t{i}.sql", up_sql(i))
    elif fmt == "drizzle":
        folder = root / "drizzle"
        entries = []
        for i in range(n):
            tag = f"{i:04d}_t{i}"
            _write(folder / f"{tag}.sql", up_sql(i).replace(";\n", ";\n--> statement-breakpoint\n", 1))
            entries.append(
                {"idx": i, "version": "7", "when": 1_735_732_800_000 + i, "tag": tag, "breakpoints": True}
            )
        _write(
            folder / "meta" / "_journal.json",
            json.dumps({"version": "7", "dialect": "postgresql", "entries": entries}),
        )
    else:
        raise ValueError(fmt)
    return folder


FORMATS = ["oncall", "prisma", "diesel", "golang-migrate", "dbmate", "flyway", "supabase", "drizzle"]


class FreshDatabase:
    """A new empty database owned by `app` for every timed run, made outside the timing."""

    def __init__(self, server: EmbeddedPostgres) -> None:
        self.server = server
        self.count = 0
        self.url = ""

    def next(self) -> str:
        self.count += 1
        name = f"bench_{self.count}"
        self.server.create_database(name, owner="app")
        self.url = self.server.url(name, "app", APP_PASSWORD)
        return self.url


def medians(
    sides: dict[str, Callable[[str], None]],
    db: FreshDatabase,
    runs: int,
    fixed: dict[str, str] | None = None,
) -> dict[str, float]:
    """Median wall time of each side, the sides taking turns after one warm-up round.

    Each run gets a new empty database, except the sides in `fixed`, which run on the URL given there.
    """
    times: dict[str, list[float]] = {name: [] for name in sides}
    for index in range(runs + 1):
        for name, run in sides.items():
            url = (fixed or {}).get(name) or db.next()
            started = time.perf_counter()
            run(url)
            if index:
                times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def bench_format(fmt: str, tmp: Path, db: FreshDatabase) -> bool:
    root = tmp / fmt
    folder = write_set(fmt, root, FILES)
    plain = root / "psql"
    ups = []
    for i in range(FILES):
        path = plain / f"{i:04d}.sql"
        _write(path, up_sql(i))
        ups.append(path)
    concatenated = root / "all.sql"
    concatenated.write_text("".join(up_sql(i) for i in range(FILES)), encoding="utf-8")
    config = root / "bench.json"
    config.write_text(
        json.dumps(
            {
                "oncall": {
                    "run_log": str(root / "runs.jsonl"),
                    "state_dir": str(root / "state"),
                    "targets": {"bench": {"migrations": str(folder), "format": fmt}},
                }
            }
        ),
        encoding="utf-8",
    )
    psql = str(bin_dir() / "psql")
    # Bytecode as after `pip install`: a prefix of our own, written by the first (untimed) run. The
    # shell of this machine sets PYTHONDONTWRITEBYTECODE, and Invoke writes none for what a task
    # imports unless --write-pyc: without both, every timed run compiled every module from source.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pyc")

    def ours(url: str) -> None:
        subprocess.run(
            [str(INVOKE), "--write-pyc", "-f", str(config), "migrate", "--target", "bench"],
            cwd=REPO,
            env={**env, "DATABASE_URL": url},
            check=True,
            capture_output=True,
        )

    def psql_per_file(url: str) -> None:
        for path in ups:
            subprocess.run(
                [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(path)],
                check=True,
                capture_output=True,
            )

    def psql_once(url: str) -> None:
        subprocess.run(
            [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(concatenated)],
            check=True,
            capture_output=True,
        )

    migrated = db.next()
    ours(migrated)  # the floor's database: everything applied, so its runs find nothing to do
    times = medians(
        {"ours": ours, "loop": psql_per_file, "once": psql_once, "floor": ours},
        db,
        RUNS,
        fixed={"floor": migrated},
    )
    ok = report(
        f"{fmt}, {FILES} migrations, invoke migrate vs a psql -f per file",
        times["ours"],
        times["loop"],
        "psql -f per file",
        target=0.5,
    )
    ok &= report(
        f"{fmt}, {FILES} migrations, invoke migrate vs one psql over the concatenated files",
        times["ours"],
        times["once"],
        "one psql -f",
        target=1.5,
    )
    figure(
        f"{fmt}, {FILES} migrations, floor, invoke migrate with nothing to apply "
        "(start-up, config, ledger read)",
        times["floor"],
        unit="s",
    )
    # Even a run that added nothing per migration would start up (the floor) and then run the same
    # DDL as psql: the ratio the second target can reach at best on this machine, this run.
    figure(
        f"{fmt}, {FILES} migrations, least ratio to one psql any run could reach, "
        "(floor + one psql) / one psql",
        (times["floor"] + times["once"]) / times["once"],
        unit="x",
    )
    return ok


def main() -> int:
    chosen = [f for f in os.environ.get("BENCH_FORMATS", ",".join(FORMATS)).split(",") if f]
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-formats-") as tmp_name:
        tmp = Path(tmp_name)
        server = EmbeddedPostgres(tmp / "data")
        server.start()
        try:
            server.create_role("app", APP_PASSWORD)
            db = FreshDatabase(server)
            for fmt in chosen:
                ok &= bench_format(fmt, tmp, db)
        finally:
            server.destroy()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
