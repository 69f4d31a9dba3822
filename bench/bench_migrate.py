"""Benchmark: migrate each seed set onto a fresh database, against psql -f and alembic upgrade head.

Figures (medians of interleaved runs, one private embedded PostgreSQL, all in this run):
- library `migrate()` vs `psql -f` of the same files (psql from the pgserver wheel)      target <= 1.5
- library `migrate()` vs Alembic's `command.upgrade` in-process                           target <= 0.5
- the whole `invoke migrate` command vs `alembic upgrade head` (same DDL, one execute per
  statement as op.execute/op.create_table send it)                                      target <= 0.5
  in two conditions of our parse cache (oncall.migrations.parse_cache, under the target's state_dir):
    warm: the files are unchanged since the last run, statements come from the cache and pglast
          is never imported (every run after the first on a machine);
    cold: the cache is emptied before each timed run, every file is parsed (the first run, or
          every file edited since the last one).
- the whole command (warm) vs `psql -f`                                                  target <= 1.5
- for reading: the command's CPU time (user + sys) against alembic's, and, for the first set, the
  floor of this stack: an Invoke task that only imports psycopg and rich, connects once and
  prints a one-row table, against `alembic upgrade head`
- format: alembic: the whole `invoke migrate` command on an Alembic project of 50 revisions
  (op.create_table / op.create_index, read statically, SQL from Alembic's offline mode, cached)
  vs `alembic upgrade head` on the same project                                          target <= 1.0
  (and, for reading, with the offline rendering cache emptied before each run)
- `oncall --list` vs `invoke --list` in this repository                                  target <= 1.1
- round trips per migration for files of 1, 10 and 100 statements: counted by our runner
  and cross-checked in the server's log (log_statement=all), which must not grow with size.

Bytecode: both commands run with a PYTHONPYCACHEPREFIX of their own in a temporary directory,
filled by one warm-up run each (`invoke --write-pyc`; alembic writes its bytecode by itself), as
after `pip install` (which compiles). Invoke never writes bytecode for what a task imports, so in
an editable checkout whose code only ever ran under `invoke`, our modules are compiled from source
on every run: one more figure, for the first set, shows that condition (warm parse cache).

"Fresh database": each timed run starts on an emptied database (see Slot). The command figures
include interpreter start-up on both sides: python + invoke + psycopg + rich imports cost ~0.3 s
that psql (C) does not pay, so the command-vs-psql ratio measures start-up, not migration work.

Run: /tmp/venv/bin/python bench/bench_migrate.py   (BENCH_RUNS=N for more runs; default 7;
BENCH_ONLY=alembic for the format: alembic and `oncall --list` figures alone)
"""

from __future__ import annotations

import io
import json
import os
import resource
import secrets
import shutil
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
from oncall.migrations.run import migrate
from oncall.output import Output
from oncall.sandbox.pg import EmbeddedPostgres, bin_dir

REPO = Path(__file__).resolve().parents[1]
SETS = {
    "turbo-response": ("oncall", REPO / "examples/turbo-response-backend/backend/migrations"),
    "trdrhub": ("alembic", REPO / "sql" / "trdrhub"),
}
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
INVOKE = Path(sys.executable).parent / "invoke"
ONCALL = Path(sys.executable).parent / "oncall"
ONLY = os.environ.get("BENCH_ONLY", "")
ALEMBIC_REVISIONS = 50
ALEMBIC = Path(sys.executable).parent / "alembic"
APP_PASSWORD = secrets.token_urlsafe(18)

# The floor under our command: an Invoke task that does only what no migrate can skip with this
# stack (import psycopg and rich, connect once, print a one-row table), in a project of its own.
FLOOR_TASKS = '''from invoke import task


@task
def floor(c):
    """Import psycopg and rich, connect once, print a one-row table."""
    import os

    import psycopg
    from rich.console import Console
    from rich.table import Table

    psycopg.connect(os.environ["DATABASE_URL"], autocommit=True).close()
    table = Table(title="floor")
    table.add_column("applied")
    table.add_row("nothing")
    Console().print(table)
'''


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


Side = tuple[Callable[[str], object], Callable[[], object] | None]


def interleaved(sides: dict[str, Side], slot: Slot, runs: int) -> dict[str, float]:
    """Median time of each side's run, the sides taking turns (after one warm-up round), each on a
    freshly emptied slot; a side's `prepare` (e.g. emptying the parse cache) runs outside the timing.

    Also, under "<name> cpu", the median CPU time (user + sys) of the processes a side ran: on a
    shared machine wall time includes waiting for a core, CPU time does not.
    """
    times: dict[str, list[float]] = {name: [] for name in sides}
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    for index in range(runs + 1):
        for name, (run, prepare) in sides.items():
            slot.reset()
            if prepare is not None:
                prepare()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            run(slot.url)
            elapsed = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if index:
                times[name].append(elapsed)
                cpu[name].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    medians = {name: statistics.median(values) for name, values in times.items()}
    medians.update({f"{name} cpu": statistics.median(values) for name, values in cpu.items()})
    return medians


def main() -> int:
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-migrate-") as tmp_name:
        tmp = Path(tmp_name)
        server = EmbeddedPostgres(tmp / "data", settings={"log_statement": "all", "log_line_prefix": "'%a|'"})
        server.start()
        try:
            server.create_role("app", APP_PASSWORD)
            slot = Slot(server, "bench")
            if ONLY != "alembic":
                for index, (set_name, (ledger, folder)) in enumerate(SETS.items()):
                    ok &= bench_set(tmp, slot, set_name, ledger, folder, from_source=index == 0)
            ok &= bench_alembic_format(tmp, slot)
            ok &= bench_list()
            if ONLY != "alembic":
                ok &= round_trips(tmp, server, slot)
        finally:
            server.destroy()
    return 0 if ok else 1


def bench_set(tmp: Path, slot: Slot, set_name: str, ledger: str, folder: Path, *, from_source: bool) -> bool:
    """The timing figures of one seed set."""
    from alembic import command
    from alembic.config import Config

    t = target(folder, tmp, ledger=ledger)
    files = sorted(folder.glob("*.sql"))
    config = write_config(tmp / f"{set_name}.yaml", {"bench": {"migrations": str(folder), "ledger": ledger}})
    ini = alembic_project(tmp / f"alembic-{set_name}", folder, with_sql=True)
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    state = tmp / f"state-{set_name}"
    cached_pyc, source_pyc = tmp / "pyc-cached", tmp / "pyc-source"
    base_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("INVOKE_", "DATABASE_URL", "PG", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
        )
    }
    base_env.update(
        {
            "HOME": str(home),
            "INVOKE_ONCALL_RUN_LOG": str(home / "runs.jsonl"),
            "INVOKE_ONCALL_STATE_DIR": str(state),
            "PYTHONPYCACHEPREFIX": str(cached_pyc),
        }
    )

    def ours(url: str) -> None:
        migrate(t, url, quiet(), write_run_log=False)

    def psql(url: str) -> None:
        args = [str(bin_dir() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url]
        for path in files:
            args += ["-f", str(path)]
        subprocess.run(args, check=True, capture_output=True)

    def cli(*flags: str, pyc: Path = cached_pyc) -> Callable[[str], None]:
        def run(url: str) -> None:
            env = {**base_env, "DATABASE_URL": url, "PYTHONPYCACHEPREFIX": str(pyc)}
            subprocess.run(
                [str(INVOKE), *flags, "-f", str(config), "migrate", "--target", "bench"],
                cwd=REPO,
                env=env,
                check=True,
                capture_output=True,
            )

        return run

    def alembic_cli(url: str) -> None:
        env = {**base_env, "ONCALL_ALEMBIC_URL": sqlalchemy_url(url)}
        subprocess.run(
            [str(ALEMBIC), "-c", str(ini), "upgrade", "head"], env=env, check=True, capture_output=True
        )

    def alembic_lib(url: str) -> None:
        os.environ["ONCALL_ALEMBIC_URL"] = sqlalchemy_url(url)
        command.upgrade(Config(str(ini)), "head")

    def empty_parse_cache() -> None:
        shutil.rmtree(state / "cache", ignore_errors=True)

    # Warm-up: bytecode for both commands (and the parse cache) in their own prefix.
    for warm in (cli("--write-pyc"), alembic_cli):
        slot.reset()
        warm(slot.url)
    sides: dict[str, Side] = {
        "warm": (cli(), None),
        "cold": (cli(), empty_parse_cache),
        "alembic": (alembic_cli, None),
        "psql": (psql, None),
    }
    if from_source:
        floor_dir = tmp / "floor"
        floor_dir.mkdir()
        (floor_dir / "tasks.py").write_text(FLOOR_TASKS, encoding="utf-8")

        def floor(url: str, *flags: str) -> None:
            env = {**base_env, "DATABASE_URL": url}
            subprocess.run(
                [str(INVOKE), *flags, "floor"], cwd=floor_dir, env=env, check=True, capture_output=True
            )

        floor(slot.url, "--write-pyc")
        sides["floor"] = (floor, None)
        # The same bytecode, less our project's: Invoke never writes it back, so it stays source.
        shutil.copytree(cached_pyc, source_pyc, dirs_exist_ok=True)
        shutil.rmtree(source_pyc / REPO.relative_to(REPO.anchor), ignore_errors=True)
        sides["source"] = (cli(pyc=source_pyc), None)
    cmd = interleaved(sides, slot, RUNS)
    lib = interleaved(
        {"ours": (ours, None), "psql": (psql, None), "alembic": (alembic_lib, None)}, slot, RUNS
    )

    return report_set(f"migrate {set_name}", cmd, lib, from_source=from_source)


ALEMBIC_ENV_FROM_URL = """from alembic import context
from sqlalchemy import create_engine, pool
import os

if context.is_offline_mode():
    context.configure(url="postgresql+psycopg://", literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(os.environ["ONCALL_ALEMBIC_URL"], poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
"""


def alembic_revisions_project(root: Path, count: int) -> Path:
    """An Alembic project of `count` revisions written as Alembic users write them; its alembic.ini."""
    versions = root / "alembic" / "versions"
    versions.mkdir(parents=True)
    (root / "alembic" / "env.py").write_text(ALEMBIC_ENV_FROM_URL, encoding="utf-8")
    ini = root / "alembic.ini"
    ini.write_text("[alembic]\nscript_location = %(here)s/alembic\n", encoding="utf-8")
    down = None
    for n in range(count):
        revision = f"{n + 1:04x}" + secrets.token_hex(4)
        (versions / f"{revision}_table_{n}.py").write_text(
            "import sqlalchemy as sa\nfrom alembic import op\n\n"
            f"revision = {revision!r}\ndown_revision = {down!r}\n"
            "branch_labels = None\ndepends_on = None\n\n\n"
            "def upgrade():\n"
            f"    op.create_table('t{n}', sa.Column('id', sa.Integer(), primary_key=True), "
            "sa.Column('name', sa.String(100), nullable=False), "
            "sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()')))\n"
            f"    op.create_index('ix_t{n}_name', 't{n}', ['name'])\n\n\n"
            f"def downgrade():\n    op.drop_table('t{n}')\n",
            encoding="utf-8",
        )
        down = revision
    return ini


def bench_alembic_format(tmp: Path, slot: Slot) -> bool:
    """`invoke migrate` on a 50-revision Alembic project (format: alembic) vs `alembic upgrade head`."""
    ini = alembic_revisions_project(tmp / "alembic-50", ALEMBIC_REVISIONS)
    config = write_config(tmp / "alembic-50.yaml", {"bench": {"format": "alembic", "alembic_ini": str(ini)}})
    state = tmp / "state-alembic-50"
    home = tmp / "home-alembic"
    home.mkdir(exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INVOKE_", "DATABASE_URL", "PG", "PYTHONPYCACHEPREFIX"))
    }
    env.update(
        {
            "HOME": str(home),
            "INVOKE_ONCALL_RUN_LOG": str(home / "runs.jsonl"),
            "INVOKE_ONCALL_STATE_DIR": str(state),
            "PYTHONPYCACHEPREFIX": str(tmp / "pyc-alembic"),
        }
    )

    def ours(url: str) -> None:
        run_env = {**env, "DATABASE_URL": url, "ONCALL_ALEMBIC_URL": sqlalchemy_url(url)}
        subprocess.run(
            [str(INVOKE), "-f", str(config), "migrate", "--target", "bench"],
            cwd=REPO,
            env=run_env,
            check=True,
            capture_output=True,
        )

    def alembic_cli(url: str) -> None:
        run_env = {**env, "ONCALL_ALEMBIC_URL": sqlalchemy_url(url)}
        subprocess.run(
            [str(ALEMBIC), "-c", str(ini), "upgrade", "head"], env=run_env, check=True, capture_output=True
        )

    def empty_render_cache() -> None:
        shutil.rmtree(state / "cache", ignore_errors=True)

    for warm in (ours, alembic_cli):
        slot.reset()
        warm(slot.url)
    times = interleaved(
        {"warm": (ours, None), "cold": (ours, empty_render_cache), "alembic": (alembic_cli, None)}, slot, RUNS
    )
    label = (
        f"migrate an Alembic project of {ALEMBIC_REVISIONS} revisions "
        "(format: alembic, whole invoke migrate command)"
    )
    ok = report(
        f"{label}, offline rendering cached (files unchanged)",
        times["warm"],
        times["alembic"],
        "alembic upgrade head",
        target=1.0,
    )
    figure(
        f"{label}, rendering cache emptied before each run (alembic upgrade --sql runs first): ratio to "
        f"alembic upgrade head ({times['cold']:.3f} s vs {times['alembic']:.3f} s)",
        times["cold"] / times["alembic"],
        unit="x",
    )
    return ok


def bench_list() -> bool:
    """`oncall --list` (the console script) against `invoke --list`, both in this repository."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    sides = {"oncall": [str(ONCALL), "--list"], "invoke": [str(INVOKE), "--list"]}
    samples: dict[str, list[float]] = {name: [] for name in sides}
    for index in range(RUNS * 2 + 1):
        for name, argv in sides.items():
            started = time.perf_counter()
            subprocess.run(argv, cwd=REPO, env=env, check=True, capture_output=True)
            if index:
                samples[name].append(time.perf_counter() - started)
    return report(
        "oncall --list (console script, config found by walking up)",
        statistics.median(samples["oncall"]),
        statistics.median(samples["invoke"]),
        "invoke --list",
        target=1.1,
    )


def report_set(label: str, cmd: dict[str, float], lib: dict[str, float], *, from_source: bool) -> bool:
    """Print one set's figures; whether all met their targets."""
    ok = True
    command_label = "whole invoke migrate command, bytecode cached"
    alembic_name = "alembic upgrade head, bytecode cached"
    ok &= report(
        f"{label} (library migrate(), warm parse cache)", lib["ours"], lib["psql"], "psql -f", target=1.5
    )
    ok &= report(
        f"{label} (library migrate(), warm parse cache)",
        lib["ours"],
        lib["alembic"],
        "alembic command.upgrade in-process",
        target=0.5,
    )
    ok &= report(
        f"{label} ({command_label}, WARM parse cache)", cmd["warm"], cmd["psql"], "psql -f", target=1.5
    )
    ok &= report(
        f"{label} ({command_label}, WARM parse cache: files unchanged, pglast not imported)",
        cmd["warm"],
        cmd["alembic"],
        alembic_name,
        target=0.5,
    )
    ok &= report(
        f"{label} ({command_label}, COLD parse cache: every file parsed)",
        cmd["cold"],
        cmd["alembic"],
        alembic_name,
        target=0.5,
    )
    figure(
        f"{label} (whole invoke migrate command, bytecode cached, WARM parse cache): CPU time (user+sys) "
        f"ratio to alembic upgrade head ({cmd['warm cpu']:.3f} s vs {cmd['alembic cpu']:.3f} s)",
        cmd["warm cpu"] / cmd["alembic cpu"],
        unit="x",
    )
    if from_source:
        figure(
            f"{label} floor: an invoke task that only imports psycopg and rich, connects once and prints "
            f"a one-row table ({cmd['floor']:.3f} s): ratio to alembic upgrade head",
            cmd["floor"] / cmd["alembic"],
            unit="x",
        )
        ok &= report(
            f"{label} (whole invoke migrate command, our modules compiled from source, WARM parse cache)",
            cmd["source"],
            cmd["alembic"],
            alembic_name,
            target=0.5,
        )
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
