"""Benchmark: verify on a schema of ~1,000 objects, side by side with pg_dump and psql.

A migration set is generated: 50 tables of 10 columns (a primary key each), 250 indexes, 100
foreign keys, 20 functions with a trigger each, 20 views, 20 RLS policies, and a seeded settings
table (about 1,100 catalog objects). It is applied with oncall's migrate to its own database on a
private embedded PostgreSQL. The shadow is the embedded server verify keeps under the target's
state dir (as on a user's machine: no SHADOW_DATABASE_URL), started once before the timings.

Figures, each run interleaved with its baseline so that machine noise hits both alike:
- statements verify sends at 2 tables and at 50 (catalog queries constant in object count);
- the whole `invoke verify` command, warm cache, default output, against `pg_dump --schema-only` of
  the same database (the wheel's pg_dump): target <= 3.0x. Run as installed, with bytecode caches
  (PYTHONDONTWRITEBYTECODE is dropped from its environment);
- the library check `oncall.schema.verify(target, url)` in this process, warm, against the same
  pg_dump: target <= 0.5x;
- the first run after a migration, cold (the cached snapshot removed, so the files are replayed
  into a new shadow database and read back), against `createdb` + `psql -f` of the applied files
  into a fresh database on the same server: target <= 2.0x;
- and, without targets: the floors under the CLI figure, each against pg_dump in the same run
  (`invoke --list`; importing invoke and psycopg; a process that imports both, connects and sends
  verify's one catalog statement, with no oncall code), the warm and the cold-with-the-shadow-stopped
  times, and what starting the shadow costs once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import io

import psycopg

from benchlib import figure, interleaved_medians, median_of, report
from oncall.config import Target
from oncall.db import parse_database_url
from oncall.db.embedded import EmbeddedPostgres
from oncall.migrations import discover
from oncall.migrations.run import migrate
from oncall.output import Output
from oncall.schema.shadow import SHADOW_URL_ENV, stop_shadow
from oncall.schema.snapshot import SNAPSHOT_SQL
from oncall.schema.verify import verify, verify_on

RUNS = 15
PASSWORD = "bench-password-1"  # noqa: S105 - a throw-away local server
REPO = Path(__file__).resolve().parents[1]
INVOKE = Path(sys.executable).parent / "invoke"


def migration_set(folder: Path, tables: int) -> None:
    """Three files: tables with keys, then indexes and foreign keys, then code, views and policies."""
    folder.mkdir(parents=True)
    first = [
        "CREATE TABLE settings (k varchar(100) PRIMARY KEY, v text);",
        "INSERT INTO settings (k, v) VALUES ('cap_warning_threshold', '0.8'), ('monthly_cap', NULL);",
    ]
    second, third = [], []
    for i in range(tables):
        cols = ", ".join(f"c{j} {'text' if j % 2 else 'integer'}" for j in range(1, 8))
        first.append(f"CREATE TABLE t{i:03d} (id serial PRIMARY KEY, ref_a int, ref_b int, {cols});")
        for j in range(1, 6):
            second.append(f"CREATE INDEX ix_t{i:03d}_{j} ON t{i:03d} (c{j});")
        for ref in ("ref_a", "ref_b"):
            target = (i + (1 if ref == "ref_a" else 2)) % tables
            second.append(f"ALTER TABLE t{i:03d} ADD FOREIGN KEY ({ref}) REFERENCES t{target:03d} (id);")
    for i in range(min(20, tables)):
        third += [
            f"CREATE FUNCTION touch_{i:03d}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"NEW.c1 := coalesce(NEW.c1, 't{i:03d}'); RETURN NEW; END $$;",
            f"CREATE TRIGGER trg_{i:03d} BEFORE INSERT ON t{i:03d} FOR EACH ROW"
            f" EXECUTE FUNCTION touch_{i:03d}();",
            f"CREATE VIEW v_{i:03d} AS SELECT id, c1, c2 FROM t{i:03d} WHERE c2 > 0;",
            f"ALTER TABLE t{i:03d} ENABLE ROW LEVEL SECURITY;",
            f"CREATE POLICY p_{i:03d} ON t{i:03d} FOR SELECT USING (c1 IS NOT NULL);",
        ]
    for name, lines in (("001_tables.sql", first), ("002_keys.sql", second), ("003_code.sql", third)):
        (folder / name).write_text("\n".join(lines) + "\n")


def apply(url: str, target: Target) -> None:
    sink = Output(json_mode=True, stdout=io.StringIO(), stderr=io.StringIO())
    result = migrate(target, url, sink, write_run_log=False)
    assert result.ok, sink.stderr.getvalue()  # type: ignore[attr-defined]


class CountingCursor(psycopg.Cursor[Any]):
    count = 0

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        CountingCursor.count += 1
        return super().execute(*args, **kwargs)


def statements_sent(url: str, target: Target) -> tuple[int, int]:
    """(statements on the wire, objects checked) for one warm verify."""
    verify(target, url)  # fill the cache
    CountingCursor.count = 0
    with psycopg.connect(url, autocommit=True, cursor_factory=CountingCursor) as conn:
        result = verify_on(conn, target, discover(target))
    assert result.ok, result.verdict()
    return CountingCursor.count, len(result.rows)


def invoke_config(root: Path, target: Target) -> Path:
    config = root / f"{target.name}.yaml"
    spec = {"migrations": str(target.migrations_dir), "database_url_env": "DATABASE_URL"}
    config.write_text(
        json.dumps({"oncall": {"state_dir": str(target.state_dir), "targets": {target.name: spec}}})
    )
    return config


def main() -> int:
    ok = True
    os.environ.pop(SHADOW_URL_ENV, None)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = EmbeddedPostgres(root / "data").start()
        targets: dict[int, Target] = {}
        try:
            server.create_role("bench", PASSWORD)
            urls = {}
            for tables in (2, 50):
                server.create_database(f"bench_{tables}", owner="bench")
                urls[tables] = server.url(f"bench_{tables}", "bench", PASSWORD)
                targets[tables] = Target(
                    name=f"bench{tables}",
                    system="bench",
                    migrations_dir=root / f"m{tables}",
                    state_dir=root / f"state{tables}",
                )
                migration_set(targets[tables].migrations_dir, tables)
                apply(urls[tables], targets[tables])
            started = time.perf_counter()
            verify(targets[2], urls[2])
            figure(
                "embedded shadow first start (initdb + start + first replay), paid once",
                time.perf_counter() - started,
                unit="s",
            )
            counts = {}
            for tables in (2, 50):
                counts[tables], objects = statements_sent(urls[tables], targets[tables])
                figure(
                    f"verify at {tables} tables ({objects} result rows), warm: statements sent",
                    counts[tables],
                    unit="queries",
                    target=counts[2],
                )
            ok &= counts[2] == counts[50]
            target, url = targets[50], urls[50]
            env = {**parse_database_url(url).libpq_env(), "PATH": "/usr/bin:/bin"}
            dump = [str(server.bin / "pg_dump"), "--schema-only", "-f", os.devnull]

            def pg_dump() -> None:
                subprocess.run(dump, env=env, check=True, capture_output=True)

            config = invoke_config(root, target)
            # As installed: with bytecode caches (this machine's shell sets PYTHONDONTWRITEBYTECODE, which
            # would make every run compile the package from source, a cost no installed copy pays).
            cli_env = {**os.environ, "DATABASE_URL": url, "COLUMNS": "160"}
            cli_env.pop("PYTHONDONTWRITEBYTECODE", None)

            def cli() -> None:
                done = subprocess.run(
                    [str(INVOKE), "-f", str(config), "verify", "--target", target.name],
                    env=cli_env, cwd=REPO, capture_output=True, text=True, check=False,
                )  # fmt: skip
                assert done.returncode == 0, done.stdout + done.stderr
                assert len(done.stdout.splitlines()) == 1, done.stdout

            cli()
            ours, dumped = interleaved_medians(cli, pg_dump, RUNS)
            ok &= report(
                "invoke verify at ~1,000 objects, warm cache, default output, vs pg_dump --schema-only",
                ours,
                dumped,
                "pg_dump --schema-only",
                target=3.0,
            )
            floor(cli_env, config, pg_dump)
            ours, dumped = interleaved_medians(lambda: verify(target, url), pg_dump, RUNS)
            ok &= report("verify library check in-process at ~1,000 objects, warm, vs pg_dump --schema-only",
                         ours, dumped, "pg_dump --schema-only", target=0.5)  # fmt: skip
            library_floor(url, pg_dump)
            ok &= cold_figures(server, target, url)
        finally:
            for t in targets.values():
                stop_shadow(t.state_dir)
            server.destroy()
    return 0 if ok else 1


# A process that does only what any invoke task reading the catalog over psycopg must do: start
# Python, import invoke and psycopg, connect, send verify's one catalog statement, exit. No oncall
# code runs in it; the statement comes from the environment.
_FLOOR_PROGRAM = """
import os, invoke.main, psycopg
with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
    conn.execute(os.environ["FLOOR_SQL"], {"schemas": ["public"], "ledgers": []}).fetchone()
"""


def floor(env: dict[str, str], config: Path, pg_dump: Callable[[], None]) -> None:
    """What any invoke task pays before verify's own work, each against pg_dump in the same run.

    No target: these are the floor under the CLI figure's target, not something to tune.
    """
    floors = (
        ("invoke --list (Python + invoke + the task collection)", [str(INVOKE), "-f", str(config), "--list"]),
        ("python -c 'import invoke.main, psycopg'", [sys.executable, "-c", "import invoke.main, psycopg"]),
        (
            "python: import invoke and psycopg, connect, send the catalog statement once (no oncall code)",
            [sys.executable, "-c", _FLOOR_PROGRAM],
        ),
    )
    floor_env = {**env, "FLOOR_SQL": SNAPSHOT_SQL}
    for label, command in floors:

        def run(c: list[str] = command) -> None:
            subprocess.run(c, env=floor_env, cwd=REPO, check=True, capture_output=True)

        seconds, dumped = interleaved_medians(run, pg_dump, RUNS)
        figure(f"floor: {label}, vs pg_dump --schema-only {dumped:.4f} s: ratio {seconds / dumped:.2f}",
               seconds, unit="s")  # fmt: skip


def library_floor(url: str, pg_dump: Callable[[], None]) -> None:
    """Under the library figure: a new connection and verify's catalog statement, nothing else."""

    def connect_and_read() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SNAPSHOT_SQL, {"schemas": ["public"], "ledgers": []}).fetchone()

    seconds, dumped = interleaved_medians(connect_and_read, pg_dump, RUNS)
    figure(f"floor: in-process connect + the catalog statement, vs pg_dump --schema-only {dumped:.4f} s: "
           f"ratio {seconds / dumped:.2f}", seconds, unit="s")  # fmt: skip


def cold_figures(server: EmbeddedPostgres, target: Target, url: str) -> bool:
    """The first verify after a migration (replay included) against psql -f into a fresh database."""
    files = [str(m.path) for m in discover(target)]
    admin_env = {**parse_database_url(server.url()).libpq_env(), "PATH": "/usr/bin:/bin"}
    fresh = {"n": 0}

    def psql_f() -> None:
        fresh["n"] += 1
        name = f"fresh_{fresh['n']}"
        subprocess.run([str(server.bin / "createdb"), name], env=admin_env, check=True, capture_output=True)
        command = [str(server.bin / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", name]
        for path in files:
            command += ["-f", path]
        subprocess.run(command, env=admin_env, check=True, capture_output=True)

    def cold() -> None:
        shutil.rmtree(target.state_dir / "cache", ignore_errors=True)
        result = verify(target, url)
        assert result.ok
        assert result.expected_from == "shadow replay", result.expected_from

    ours, baseline = interleaved_medians(cold, psql_f, 7)
    ok = report("verify at ~1,000 objects, cold (replay into the shadow), vs createdb + psql -f of the files",
                ours, baseline, "createdb + psql -f", target=2.0)  # fmt: skip
    warm = median_of(lambda: verify(target, url), RUNS)
    figure("verify at ~1,000 objects, warm (for the cold figure above)", warm, unit="s")
    stop_shadow(target.state_dir)
    started = time.perf_counter()
    cold()
    figure(
        "verify at ~1,000 objects, cold with the shadow server stopped (start + replay)",
        time.perf_counter() - started,
        unit="s",
    )
    return ok


if __name__ == "__main__":
    sys.exit(main())
