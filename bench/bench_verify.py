"""Benchmark: verify at 10, 100 and 1,000 declared objects, against one `psql -c` catalog query.

For each size a migration set is generated (a settings table with a seed row, plus tables of
id PRIMARY KEY, a column and an index: five objects each), applied to its own database on a private
embedded PostgreSQL, and verified. Figures:

- statements verify sends at each size (counted on the connection), which must not change;
- median wall time of the library call `oncall.schema.verify(target, url)` at each size: connect,
  read the files, read ledger and catalog, compare. Warm: the expectation comes from the cache
  under the target's state_dir (oncall.schema.cache), as on every scheduled run after the first
  since the files last changed. Cold: that cache is emptied before each run, so the files are
  parsed with pglast and replayed (pglast is already imported in this process; its import, paid
  once per process on a miss, is its own figure);
- the warm 1,000-object time against the warm 10-object time, interleaved (target <= 1.5x);
- the warm 1,000-object time against ONE `psql -c` catalog query (columns of the same tables with
  their types, as the runbook's eyeball check would) run side by side (target <= 2x);
- where the time goes at each size: discover (oncall.migrations reads and hashes the files), the
  expectation warm (cache read) and cold (pglast parse + replay), the catalog reads, the comparison.

psql's time includes starting its process and its own connection; ours includes our connection
and reading the files. Both start from nothing, which is what an on-call engineer waits for.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import subprocess

import psycopg

from benchlib import figure, interleaved_medians, median_of, report
from oncall.config import Target
from oncall.db import parse_database_url
from oncall.migrations import discover
from oncall.migrations.ledger import create_ledger_sql, upsert_row_sql
from oncall.sandbox.pg import EmbeddedPostgres
from oncall.schema.cache import expected_for
from oncall.schema.catalog import read_catalog
from oncall.schema.expect import expect
from oncall.schema.verify import compare, verify, verify_on

SIZES = (10, 100, 1000)
RUNS = 15
RATIO_RUNS = 31


def migration_set(folder: Path, objects: int) -> None:
    """Two files declaring `objects` objects: a seeded settings table and (objects/5 - 1) tables."""
    folder.mkdir(parents=True)
    tables = objects // 5 - 1
    first = [
        "CREATE TABLE settings (k varchar(100) PRIMARY KEY, v text);",
        "INSERT INTO settings (k, v) VALUES ('cap_warning_threshold', '0.8');",
    ]
    second = []
    for i in range(tables):
        first.append(f"CREATE TABLE t{i:04d} (id serial PRIMARY KEY, val varchar(50));")
        second.append(f"CREATE INDEX ix_t{i:04d}_val ON t{i:04d} (val);")
    (folder / "001_tables.sql").write_text("\n".join(first) + "\n")
    (folder / "002_indexes.sql").write_text("\n".join(second) + "\n")


def apply(url: str, target: Target) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(create_ledger_sql(target.schema).encode())
        for m in discover(target):
            with conn.transaction():
                conn.execute(m.sql.encode())
                conn.execute(
                    upsert_row_sql(
                        target.schema,
                        m,
                        duration_ms=1,
                        transaction_mode="transaction",
                        outcome="applied",
                    ).encode()
                )


class CountingCursor(psycopg.Cursor[Any]):
    count = 0

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        CountingCursor.count += 1
        return super().execute(*args, **kwargs)


def statements_sent(url: str, target: Target) -> tuple[int, int, int]:
    """(statements on the wire, catalog queries, objects checked) for one verify."""
    CountingCursor.count = 0
    with psycopg.connect(url, autocommit=True, cursor_factory=CountingCursor) as conn:
        result = verify_on(conn, target, discover(target))
    assert result.ok, result.verdict()
    return CountingCursor.count, result.queries, len(result.rows)


def psql_query(server: EmbeddedPostgres, tables: int) -> list[str]:
    names = ",".join(["settings", *(f"t{i:04d}" for i in range(tables))])
    sql = (
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        f"WHERE n.nspname = 'public' AND c.relname = ANY('{{{names}}}'::text[]) ORDER BY 1, a.attnum"
    )
    return [str(server.bin / "psql"), "-X", "-q", "-A", "-t", "-c", sql]


def parts(url: str, target: Target) -> dict[str, float]:
    """Median time of each stage of one verify, to show where the time at each size goes."""
    migrations = discover(target)
    files = [(m.path.name, m.sql) for m in migrations]
    exp = expected_for(files, default_schema=target.schema, state_dir=target.state_dir)
    with psycopg.connect(url, autocommit=True) as conn:
        catalog = read_catalog(conn, exp)
        return {
            "discover (oncall.migrations: read + hash files)": median_of(lambda: discover(target), RUNS),
            "expectation warm (cache read)": median_of(
                lambda: expected_for(files, default_schema=target.schema, state_dir=target.state_dir), RUNS
            ),
            "expectation cold (parse with pglast + replay)": median_of(lambda: expect(files), RUNS),
            "catalog reads (<= 3 queries)": median_of(lambda: read_catalog(conn, exp), RUNS),
            "compare": median_of(lambda: compare(exp, catalog), RUNS),
        }


def cold_verify(target: Target, url: str) -> None:
    """verify with its expectation cache emptied first: the files are parsed again."""
    shutil.rmtree(target.state_dir / "cache", ignore_errors=True)
    verify(target, url)


def pglast_import(python: str) -> float:
    """What importing pglast adds to a process (paid once, only when the cache misses)."""
    bare = median_of(lambda: subprocess.run([python, "-c", "pass"], check=True), 5)
    loaded = median_of(
        lambda: subprocess.run([python, "-c", "import pglast.ast, pglast.stream"], check=True), 5
    )
    return max(loaded - bare, 0.0)


def main() -> int:
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = EmbeddedPostgres(root / "data").start()
        try:
            server.create_role("bench", "bench-password-1")
            counts: dict[int, int] = {}
            times: dict[int, float] = {}
            urls: dict[int, str] = {}
            targets: dict[int, Target] = {}
            for size in SIZES:
                db = f"bench_{size}"
                server.create_database(db, owner="bench")
                urls[size] = server.url(db, "bench", "bench-password-1")
                targets[size] = Target(
                    name=f"bench{size}",
                    system="bench",
                    migrations_dir=root / f"m{size}",
                    state_dir=root / f"state{size}",
                )
                migration_set(targets[size].migrations_dir, size)
                apply(urls[size], targets[size])
            for size in SIZES:
                sent, catalog_queries, objects = statements_sent(urls[size], targets[size])
                counts[size] = sent
                figure(
                    f"verify at {size} objects ({objects} result rows): statements sent, "
                    f"{catalog_queries} of them catalog queries",
                    sent,
                    unit="queries",
                    target=counts[SIZES[0]],
                )
            ok &= len(set(counts.values())) == 1
            for size in SIZES:
                url, target = urls[size], targets[size]
                times[size] = median_of(lambda u=url, t=target: verify(t, u), RUNS)
                figure(
                    f"verify at {size} objects, warm: median wall time (connect to verdict)",
                    times[size],
                    unit="s",
                )
            for size in SIZES:
                url, target = urls[size], targets[size]
                cold = median_of(lambda u=url, t=target: cold_verify(t, u), RUNS)
                figure(
                    f"verify at {size} objects, cold (no cache, pglast already imported): median wall time",
                    cold,
                    unit="s",
                )
            figure(
                "pglast import, paid once per process when the cache misses",
                pglast_import(sys.executable),
                unit="s",
            )
            big_ours, small_ours = interleaved_medians(
                lambda: verify(targets[1000], urls[1000]), lambda: verify(targets[10], urls[10]), RATIO_RUNS
            )
            ok &= report(
                "verify at 1000 objects vs at 10 objects, warm, interleaved",
                big_ours,
                small_ours,
                "verify at 10 objects",
                target=1.5,
            )
            big = urls[1000]
            env = {**parse_database_url(big).libpq_env(), "PATH": "/usr/bin:/bin"}
            command = psql_query(server, 1000 // 5 - 1)
            ours, psql = interleaved_medians(
                lambda: verify(targets[1000], big),
                lambda: subprocess.run(command, env=env, check=True, capture_output=True),
                RATIO_RUNS,
            )
            ok &= report(
                "verify at 1000 objects, warm, vs one psql -c catalog query",
                ours,
                psql,
                "psql -c",
                target=2.0,
            )
            start_only = median_of(
                lambda: subprocess.run(
                    [str(server.bin / "psql"), "--version"], env=env, check=True, capture_output=True
                ),
                RUNS,
            )
            figure("psql process start alone (psql --version), to read the ratio above", start_only, unit="s")
            for size in SIZES:
                for stage, seconds in parts(urls[size], targets[size]).items():
                    figure(f"verify at {size} objects, stage {stage}", seconds, unit="s")
        finally:
            server.destroy()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
