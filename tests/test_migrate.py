"""migrate, status, plan, baseline, resolve against real PostgreSQL (library and the invoke command)."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from fix_invoke import RunInvoke
from fix_pg import TestDatabase
from fix_secrets import SecretScan
from migrate_support import TRDRHUB, TURBO, make_set, quiet, target, write_config
from oncall.errors import BadInput, CheckFailed, Drift, Refused
from oncall.migrations import discover, read_state
from oncall.migrations.admin import baseline, resolve
from oncall.migrations.run import migrate, status


def test_applies_seed_set_with_one_round_trip_per_migration(pg: TestDatabase, tmp_path: Path) -> None:
    """Every pending file runs in its own transaction with its ledger row, in one round trip each."""
    result = migrate(target(TURBO, tmp_path), pg.url, quiet())
    assert result.ok
    assert result.code == 0
    assert [a["version"] for a in result.applied] == ["20251001_baseline", "20251110_add_usage_tracking"]
    assert {a["round_trips"] for a in result.applied} == {1}
    rows = pg.execute(
        "SELECT version, checksum, transaction_mode, outcome, applied_by, host FROM oncall_migrations"
    )
    assert [r[0] for r in rows] == ["20251001_baseline", "20251110_add_usage_tracking"]
    assert all(r[2] == "transaction" and r[3] == "applied" and " as app" in r[4] and r[5] for r in rows)
    assert pg.scalar("SELECT count(*) FROM admin_settings") == 2
    again = migrate(target(TURBO, tmp_path), pg.url, quiet())
    assert again.ok
    assert again.applied == []


def test_read_state_is_read_only_and_creates_no_ledger(pg: TestDatabase, tmp_path: Path) -> None:
    """read_state works inside a READ ONLY transaction and leaves no ledger table behind."""
    t = target(TURBO, tmp_path)
    migrations = discover(t)
    with psycopg.connect(pg.url) as conn:
        conn.read_only = True
        state = read_state(conn, t, migrations)
    assert [m.version for m in state.pending] == [m.version for m in migrations]
    assert state.applied == []
    assert state.alembic_versions is None
    assert pg.scalar("SELECT to_regclass('oncall_migrations')") is None


def test_edited_applied_file_is_drift_until_resolved(pg: TestDatabase, tmp_path: Path) -> None:
    """Editing an applied file makes status show it and migrate refuse with exit 5; resolve clears it."""
    folder = make_set(tmp_path / "set", {"001_a.sql": "CREATE TABLE IF NOT EXISTS a (id int);"})
    t = target(folder, tmp_path)
    migrate(t, pg.url, quiet())
    (folder / "001_a.sql").write_text("CREATE TABLE IF NOT EXISTS a (id bigint);")
    make_set(folder, {"002_b.sql": "CREATE TABLE IF NOT EXISTS b (id int);"})
    assert [m.version for m in status(t, pg.url).state.edited] == ["001_a"]
    with pytest.raises(Drift) as caught:
        migrate(t, pg.url, quiet())
    assert caught.value.code == 5
    assert "001_a.sql was edited" in caught.value.cause
    assert "resolve 001_a --applied" in (caught.value.hint or "")
    assert pg.scalar("SELECT to_regclass('b')") is None
    resolve(t, pg.url, quiet(), "001_a", applied=True)
    assert migrate(t, pg.url, quiet()).applied[0]["version"] == "002_b"


def test_missing_referenced_table_is_named_with_file_and_line(pg: TestDatabase, tmp_path: Path) -> None:
    """A migration referencing a table that does not exist fails naming file:line and the table."""
    folder = make_set(
        tmp_path / "set",
        {
            "001_x.sql": "CREATE TABLE IF NOT EXISTS ok (id int);\n\nCREATE TABLE IF NOT EXISTS usage (\n"
            "  id int,\n  company_id uuid REFERENCES companies(id)\n);\n"
        },
    )
    with pytest.raises(CheckFailed) as caught:
        migrate(target(folder, tmp_path), pg.url, quiet())
    assert caught.value.code == 1
    assert "001_x.sql:3" in caught.value.cause
    assert 'relation "companies" does not exist' in caught.value.cause
    assert pg.scalar("SELECT to_regclass('ok')") is None
    assert pg.scalar("SELECT to_regclass('oncall_migrations')") is None  # rolled back with the file


def test_server_error_position_maps_to_the_file_line(pg: TestDatabase, tmp_path: Path) -> None:
    """An error the server positions (unknown column) names the file line of its statement."""
    folder = make_set(
        tmp_path / "set", {"001_x.sql": "CREATE TABLE IF NOT EXISTS t (a int);\n\nSELECT nope FROM t;\n"}
    )
    with pytest.raises(CheckFailed) as caught:
        migrate(target(folder, tmp_path), pg.url, quiet())
    assert "001_x.sql:3" in caught.value.cause
    assert 'column "nope" does not exist' in caught.value.cause


def test_syntax_error_exits_2_before_anything_runs(
    pg: TestDatabase, tmp_path: Path, run_invoke: RunInvoke, secret_scan: SecretScan
) -> None:
    """A syntax error names file, line and PostgreSQL's message and sends nothing (exit 2)."""
    secret_scan.add(pg.password)
    folder = make_set(
        tmp_path / "set", {"001_x.sql": "CREATE TABLE a (id int);\nCREATE TABLE b (id int,);\n"}
    )
    config = write_config(tmp_path / "c.yaml", {"mine": {"migrations": str(folder)}})
    result = run_invoke("-f", str(config), "migrate", "--target", "mine", env={"DATABASE_URL": pg.url})
    assert result.code == 2
    assert "001_x.sql:2" in result.stderr
    assert 'syntax error at or near ")"' in result.stderr
    assert pg.scalar("SELECT to_regclass('a')") is None


def test_plan_and_dry_run_show_sql_mode_timeouts_and_lint_and_write_nothing(  # type: ignore[no-untyped-def]
    pg, tmp_path: Path, run_invoke, secret_scan
) -> None:
    """plan and migrate --dry-run print SQL, transaction mode, timeouts and lint, and change nothing."""
    secret_scan.add(pg.password)
    pg.execute("CREATE TABLE cases (id int, status text)")
    pg.execute("ALTER TABLE cases OWNER TO app")
    folder = make_set(
        tmp_path / "set",
        {
            "001_idx.sql": "CREATE INDEX IF NOT EXISTS ix_status ON cases (status);",
            "002_cic.sql": "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_id ON cases (id);",
        },
    )
    config = write_config(tmp_path / "c.yaml", {"mine": {"migrations": str(folder)}})
    for args in (("plan",), ("migrate", "--dry-run")):
        result = run_invoke("-f", str(config), *args, "--target", "mine", env={"DATABASE_URL": pg.url})
        assert result.code == 0, result.stderr
        text = result.stdout
        assert "lock_timeout 200ms" in text
        assert "waits up to 60 s, without queuing, for conflicting table locks" in text
        assert "statement_timeout 5min" in text
        assert "[transaction]" in text
        assert "no transaction (CREATE INDEX CONCURRENTLY at line 1)" in text
        assert "require-concurrent-index-creation" in text
        assert "CREATE INDEX IF NOT EXISTS ix_status ON cases (status);" in text
    assert pg.scalar("SELECT to_regclass('oncall_migrations')") is None
    as_json = run_invoke(
        "-f", str(config), "plan", "--json", "--target", "mine", env={"DATABASE_URL": pg.url}
    )
    doc = as_json.json()
    assert doc["ok"]
    assert [s["transaction_mode"] for s in doc["steps"]] == ["transaction", "none"]


def test_no_transaction_file_runs_statementwise_and_drops_invalid_index(
    pg: TestDatabase, tmp_path: Path
) -> None:
    """A failed CREATE UNIQUE INDEX CONCURRENTLY's INVALID index is dropped before the retry succeeds."""
    pg.execute("CREATE TABLE items (id int, code text); INSERT INTO items VALUES (1, 'a'), (2, 'a')")
    pg.execute("ALTER TABLE items OWNER TO app")
    folder = make_set(
        tmp_path / "set",
        {
            "001_uniq.sql": "-- oncall:no-transaction\n"
            "ALTER TABLE items ADD COLUMN IF NOT EXISTS seen boolean;\n"
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ux_items_code ON items (code);\n"
        },
    )
    t = target(folder, tmp_path)
    with pytest.raises(CheckFailed) as caught:
        migrate(t, pg.url, quiet())
    assert "001_uniq.sql:3" in caught.value.cause
    assert pg.scalar("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = 'ux_items_code'::regclass")
    assert pg.execute("SELECT outcome, statements_done FROM oncall_migrations") == [("partial", 1)]
    pg.execute("UPDATE items SET code = 'b' WHERE id = 2")
    out = quiet()
    result = migrate(t, pg.url, out)
    assert result.applied[0]["transaction_mode"] == "none"
    assert "dropping INVALID index ux_items_code" in out.stdout.getvalue()
    assert "resuming after statement 1 of 2" in out.stdout.getvalue()
    assert pg.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 'ux_items_code'::regclass")
    assert pg.execute("SELECT outcome, statements_done, transaction_mode FROM oncall_migrations") == [
        ("applied", 2, "none")
    ]


def test_held_table_lock_fails_fast_retries_then_refuses_naming_blocker(
    pg: TestDatabase, tmp_path: Path
) -> None:
    """ACCESS EXCLUSIVE held elsewhere, table lock wait off: lock_timeout, bounded retries, then exit 4
    naming pid and query; each retry line names the blocker."""
    pg.execute("CREATE TABLE cases (id int)")
    pg.execute("ALTER TABLE cases OWNER TO app")
    folder = make_set(tmp_path / "set", {"001_col.sql": "ALTER TABLE cases ADD COLUMN IF NOT EXISTS x int;"})
    t = target(folder, tmp_path, lock_timeout="150ms", lock_retries=2, table_lock_wait=0)
    with psycopg.connect(pg.url, application_name="report job") as holder:
        holder.execute("LOCK TABLE cases IN ACCESS EXCLUSIVE MODE")
        pid = holder.info.backend_pid
        out = quiet()
        with pytest.raises(Refused) as caught:
            migrate(t, pg.url, out, retry_base=0.05)
        holder.rollback()
    assert caught.value.code == 4
    assert f"pid {pid} holding AccessExclusiveLock on cases" in caught.value.cause
    assert "LOCK TABLE cases IN ACCESS EXCLUSIVE MODE" in caught.value.cause
    assert "idle in transaction, transaction open " in caught.value.cause
    assert "hit 3 times" in caught.value.cause
    assert out.stdout.getvalue().count("retry ") == 2
    assert out.stdout.getvalue().count(f"; blocked by pid {pid} holding AccessExclusiveLock on cases") == 2
    assert pg.scalar("SELECT to_regclass('oncall_migrations')") is None  # rolled back with the file
    assert migrate(t, pg.url, quiet()).ok


def test_advisory_lock_held_elsewhere_refuses_naming_holder(pg: TestDatabase, tmp_path: Path) -> None:
    """Another run holding the migration lock: exit 4 after --lock-wait, naming its pid and application."""
    from oncall.migrations.lock import lock_key

    t = target(TURBO, tmp_path)
    with psycopg.connect(pg.url, autocommit=True, application_name="other deploy") as other:
        other.execute("SELECT pg_advisory_lock(%s)", (lock_key("public"),))
        with pytest.raises(Refused) as caught:
            migrate(t, pg.url, quiet(), lock_wait=0.5)
        pid = other.info.backend_pid
    assert caught.value.code == 4
    assert f"pid {pid} (other deploy" in caught.value.cause
    assert "gave up after 0.5 s" in caught.value.cause


def test_lock_released_when_holder_connection_dies(pg: TestDatabase, tmp_path: Path) -> None:
    """A killed holder leaves no stale lock: the session lock dies with its connection."""
    from oncall.migrations.lock import lock_key

    other = psycopg.connect(pg.url, autocommit=True)
    other.execute("SELECT pg_advisory_lock(%s)", (lock_key("public"),))
    pid = other.info.backend_pid
    timer = threading.Timer(0.5, lambda: pg.execute(f"SELECT pg_terminate_backend({pid})"))
    timer.start()
    out = quiet()
    try:
        result = migrate(target(TURBO, tmp_path), pg.url, out, lock_wait=30)
    finally:
        timer.join()
        other.close()
    assert f"waiting for the migration lock held by pid {pid}" in out.stdout.getvalue()
    assert result.ok
    assert len(result.applied) == 2


def test_production_target_without_yes_off_a_terminal_exits_4(
    pg: TestDatabase, tmp_path: Path, run_invoke: RunInvoke, secret_scan: SecretScan
) -> None:
    """A production target refuses without --yes when stdin is not a terminal, naming host and database."""
    secret_scan.add(pg.password)
    config = write_config(tmp_path / "c.yaml", {"prod": {"migrations": str(TURBO), "production": True}})
    result = run_invoke("-f", str(config), "migrate", "--target", "prod", env={"DATABASE_URL": pg.url})
    assert result.code == 4
    assert f"127.0.0.1/{pg.name}" in result.stderr
    assert "--yes" in result.stderr
    assert pg.scalar("SELECT to_regclass('cases')") is None
    ok = run_invoke(
        "-f", str(config), "migrate", "--target", "prod", "--yes", "--json", env={"DATABASE_URL": pg.url}
    )
    assert ok.code == 0
    assert ok.json()["ok"]
    assert len(ok.json()["applied"]) == 2


def test_status_check_and_json(
    pg: TestDatabase, tmp_path: Path, run_invoke: RunInvoke, secret_scan: SecretScan
) -> None:
    """status --check exits 1 while migrations are pending and 0 after; --json is one document."""
    secret_scan.add(pg.password)
    config = write_config(tmp_path / "c.yaml", {"mine": {"migrations": str(TURBO)}})
    env = {"DATABASE_URL": pg.url}
    pending = run_invoke("-f", str(config), "status", "--check", "--json", "--target", "mine", env=env)
    assert pending.code == 1
    assert pending.json()["pending"] == [
        "20251001_baseline",
        "20251110_add_usage_tracking",
    ]
    applied = run_invoke("-f", str(config), "migrate", "--target", "mine", env=env)
    assert applied.code == 0
    assert "applying 20251001_baseline (transaction)" in applied.stdout
    assert "applied  20251110_add_usage_tracking in" in applied.stdout
    done = run_invoke("-f", str(config), "status", "--check", "--target", "mine", env=env)
    assert done.code == 0
    assert "applied" in done.stdout
    runs = (Path(applied.env["INVOKE_ONCALL_RUN_LOG"])).read_text()
    assert '"task": "migrate"' in runs
    assert '"outcome": "ok"' in runs


def test_baseline_records_only_after_checking_objects(pg: TestDatabase, tmp_path: Path) -> None:
    """baseline refuses (exit 1) while a table is missing, and records the files once all objects exist."""
    t = target(TURBO, tmp_path)
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute((TURBO / "20251001_baseline.sql").read_bytes())
    with pytest.raises(CheckFailed) as caught:
        baseline(t, pg.url, quiet(), to="20251110_add_usage_tracking")
    assert caught.value.code == 1
    assert "missing table ai_usage_logs (20251110_add_usage_tracking)" in caught.value.cause
    assert pg.scalar("SELECT to_regclass('oncall_migrations')") is None
    result = baseline(t, pg.url, quiet(), to="20251001_baseline")
    assert result.versions == ["20251001_baseline"]
    assert pg.execute("SELECT version, outcome FROM oncall_migrations") == [("20251001_baseline", "baseline")]
    assert [a["version"] for a in migrate(t, pg.url, quiet()).applied] == ["20251110_add_usage_tracking"]


def test_resolve_dry_run_changes_nothing_and_rolled_back_forgets(pg: TestDatabase, tmp_path: Path) -> None:
    """resolve --dry-run only prints; --rolled-back deletes the ledger row so migrate runs it again."""
    t = target(TURBO, tmp_path)
    migrate(t, pg.url, quiet())
    out = quiet()
    preview = resolve(t, pg.url, out, "20251110_add_usage_tracking", applied=False, dry_run=True)
    assert "would run: DELETE FROM" in out.stdout.getvalue()
    assert preview.dry_run
    assert pg.scalar("SELECT count(*) FROM oncall_migrations") == 2
    resolve(t, pg.url, quiet(), "20251110_add_usage_tracking", applied=False)
    assert [m.version for m in status(t, pg.url).state.pending] == ["20251110_add_usage_tracking"]


def test_resolve_needs_exactly_one_mode(run_invoke: RunInvoke) -> None:
    """resolve without --applied or --rolled-back is bad input (exit 2)."""
    result = run_invoke(
        "resolve", "x", "--target", "sandbox", env={"DATABASE_URL": "postgresql://a@127.0.0.1/x"}
    )
    assert result.code == 2
    assert "--applied" in result.stderr


def test_unknown_header_and_too_long_revision_are_bad_input(tmp_path: Path) -> None:
    """A misspelt header and a revision over 32 characters are refused before connecting."""
    folder = make_set(tmp_path / "a", {"001.sql": "-- oncall:no-transction\nSELECT 1;"})
    with pytest.raises(BadInput, match="unknown header"):
        discover(target(folder, tmp_path))
    folder = make_set(tmp_path / "b", {"001.sql": f"-- oncall:revision: {'r' * 33}\nSELECT 1;"})
    with pytest.raises(BadInput, match="at most 32"):
        discover(target(folder, tmp_path, ledger="alembic"))


def test_discover_reads_headers_and_checksums() -> None:
    """Alembic headers chain the trdrhub set; checksums are sha256 of the file bytes."""
    import hashlib

    from oncall.config import Target

    migrations = discover(Target(name="x", system="x", migrations_dir=TRDRHUB, ledger="alembic"))
    assert [(m.revision, m.down_revision) for m in migrations] == [
        ("20251001_baseline", None),
        ("20251116_add_ai_usage_and_events", "20251001_baseline"),
    ]
    assert migrations[1].checksum == hashlib.sha256(migrations[1].path.read_bytes()).hexdigest()
    assert not any(m.no_transaction for m in migrations)


def test_baseline_on_production_without_yes_is_refused_and_logged(
    pg: TestDatabase, tmp_path: Path, run_invoke: RunInvoke, secret_scan: SecretScan
) -> None:
    """baseline on a production target off a terminal exits 4 before touching anything, and is logged."""
    secret_scan.add(pg.password)
    config = write_config(tmp_path / "c.yaml", {"prod": {"migrations": str(TURBO), "production": True}})
    result = run_invoke(
        "-f",
        str(config),
        "baseline",
        "--to",
        "20251001_baseline",
        "--target",
        "prod",
        env={"DATABASE_URL": pg.url},
    )
    assert result.code == 4
    assert "refusing to baseline without --yes" in result.stderr
    record = Path(result.env["INVOKE_ONCALL_RUN_LOG"]).read_text()
    assert '"task": "baseline"' in record
    assert '"code": 4' in record


def test_to_applies_only_up_to_the_named_version(pg: TestDatabase, tmp_path: Path) -> None:
    """--to VERSION stops after that version; an unknown version is bad input (exit 2)."""
    t = target(TURBO, tmp_path)
    with pytest.raises(BadInput) as caught:
        migrate(t, pg.url, quiet(), to="20991231_nope")
    assert caught.value.code == 2
    result = migrate(t, pg.url, quiet(), to="20251001_baseline")
    assert [a["version"] for a in result.applied] == ["20251001_baseline"]
    assert pg.scalar("SELECT to_regclass('ai_usage_logs')") is None


def test_statement_timeout_cancels_and_rolls_back(pg: TestDatabase, tmp_path: Path) -> None:
    """A statement running past statement_timeout is cancelled: exit 1 naming the file, nothing kept."""
    folder = make_set(
        tmp_path / "set", {"001_slow.sql": "CREATE TABLE IF NOT EXISTS kept (id int);\nSELECT pg_sleep(5);\n"}
    )
    with pytest.raises(CheckFailed) as caught:
        migrate(target(folder, tmp_path, statement_timeout="200ms"), pg.url, quiet())
    assert caught.value.code == 1
    assert "001_slow.sql: statement_timeout (200ms) cancelled the statement" in caught.value.cause
    assert pg.scalar("SELECT to_regclass('kept')") is None


def test_lock_wait_that_is_not_a_number_is_bad_input(run_invoke: RunInvoke) -> None:
    """--lock-wait soon is refused as bad input (exit 2) before connecting."""
    result = run_invoke(
        "migrate",
        "--target",
        "sandbox",
        "--lock-wait",
        "soon",
        env={"DATABASE_URL": "postgresql://a@127.0.0.1/x"},
    )
    assert result.code == 2
    assert "--lock-wait 'soon' is not a duration" in result.stderr


def _imported(importtime_log: str) -> set[str]:
    """Top-level package names in a PYTHONPROFILEIMPORTTIME log (`import time: self | cum | name`)."""
    return {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in importtime_log.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_rerun_over_unchanged_files_imports_neither_pglast_nor_rich(  # type: ignore[no-untyped-def]
    pg, tmp_path: Path, run_invoke, secret_scan
) -> None:
    """The first migrate parses (pglast) and prints a table (rich); a rerun with nothing new needs neither."""
    secret_scan.add(pg.password)
    folder = make_set(tmp_path / "set", {"001_a.sql": "CREATE TABLE IF NOT EXISTS a (id int);"})
    config = write_config(tmp_path / "c.yaml", {"mine": {"migrations": str(folder)}})
    env = {"DATABASE_URL": pg.url, "PYTHONPROFILEIMPORTTIME": "1"}
    first = run_invoke("-f", str(config), "migrate", "--target", "mine", env=env)
    assert first.code == 0, first.stderr
    assert {"pglast", "rich"} <= _imported(first.stderr)
    again = run_invoke("-f", str(config), "migrate", "--target", "mine", env=env)
    assert again.code == 0, again.stderr
    assert "mine: nothing to apply" in again.stdout
    assert not {"pglast", "rich"} & _imported(again.stderr)


def test_a_long_run_ends_with_one_totals_line_not_a_table(pg, tmp_path: Path, run_invoke) -> None:  # type: ignore[no-untyped-def]
    """25 migrations: each has its applied line, and the run closes with one line, not 25 table rows."""
    folder = make_set(
        tmp_path / "set", {f"{i:03d}_t{i}.sql": f"CREATE TABLE t{i} (id bigint);" for i in range(25)}
    )
    config = write_config(tmp_path / "c.yaml", {"mine": {"migrations": str(folder)}})
    done = run_invoke("-f", str(config), "migrate", "--target", "mine", env={"DATABASE_URL": pg.url})
    assert done.code == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert sum(line.startswith("applied  ") for line in lines) == 25
    assert lines[-1].startswith("mine on ")
    assert " 25 applied in " in lines[-1]
    assert "(each on its 'applied' line above; --json lists them)" in lines[-1]
    assert not [line for line in lines if "│" in line or "┃" in line]
