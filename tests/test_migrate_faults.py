"""Faults that must not report success, and SQL that psql -f runs fine that migrate must run too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fix_invoke import RunInvoke
from fix_pg import TestDatabase
from fix_secrets import SecretScan
from migrate_support import make_set, write_config


def _config(tmp_path: Path, folder: Path) -> Path:
    return write_config(tmp_path / "c.yaml", {"mine": {"migrations": str(folder)}})


def _migrate(run_invoke: Any, pg: Any, config: Path, *args: str, **env: str) -> Any:
    return run_invoke(
        "-f", str(config), "migrate", "--target", "mine", *args, env={"DATABASE_URL": pg.url, **env}
    )


def test_a_nul_byte_is_refused_before_anything_is_sent(
    pg: TestDatabase, tmp_path: Path, run_invoke: RunInvoke, secret_scan: SecretScan
) -> None:
    """libpq would cut the query at the NUL and the run say applied: exit 2 naming file and offset."""
    secret_scan.add(pg.password)
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "001_nul.sql").write_bytes(
        b"CREATE TABLE IF NOT EXISTS a (id int);\x00\nCREATE TABLE IF NOT EXISTS b (id int);\n"
    )
    result = _migrate(run_invoke, pg, _config(tmp_path, folder))
    assert result.code == 2
    assert "001_nul.sql contains a NUL byte at byte offset 38" in result.stderr
    assert "Traceback" not in result.output
    assert pg.scalar("SELECT to_regclass('oncall_migrations')") is None
    assert pg.scalar("SELECT to_regclass('a')") is None


BACKFILL = """\
-- oncall:no-transaction
CREATE TABLE items (id int);
INSERT INTO items VALUES (1), (2);
UPDATE items SET missing_column = 1;
CREATE INDEX CONCURRENTLY items_id ON items (id);
"""


def test_a_no_transaction_file_that_fails_half_way_says_what_committed_and_resumes_after_the_fix(  # type: ignore[no-untyped-def]
    pg, tmp_path: Path, run_invoke, secret_scan
) -> None:
    """The hint names the committed statements; fixing only the failed one resumes after them."""
    secret_scan.add(pg.password)
    folder = make_set(tmp_path / "set", {"001_backfill.sql": BACKFILL})
    config = _config(tmp_path, folder)
    failed = _migrate(run_invoke, pg, config)
    assert failed.code == 1
    assert "001_backfill.sql:4" in failed.stderr
    assert (
        "statements 1-2 of 4 committed and are recorded; fix statement 3 (001_backfill.sql:4) and rerun: "
        "it resumes there"
    ) in failed.stderr
    assert "nothing of the file was committed" not in failed.output

    # Editing a statement that already committed is drift: it will not run again.
    path = folder / "001_backfill.sql"
    path.write_text(BACKFILL.replace("(1), (2)", "(1), (2), (3)"), encoding="utf-8")
    assert _migrate(run_invoke, pg, config).code == 5

    path.write_text(BACKFILL.replace("missing_column = 1", "id = id + 10"), encoding="utf-8")
    fixed = _migrate(run_invoke, pg, config)
    assert fixed.code == 0
    assert "resuming after statement 2 of 4" in fixed.stdout
    assert pg.execute("SELECT id FROM items ORDER BY id") == [(11,), (12,)]  # the INSERT ran once
    assert pg.execute("SELECT outcome, statements_done, checksum FROM oncall_migrations") == [
        ("applied", 4, __import__("hashlib").sha256(path.read_bytes()).hexdigest())
    ]


def test_a_do_block_that_commits_runs_outside_a_transaction_as_psql_would(  # type: ignore[no-untyped-def]
    pg, tmp_path: Path, run_invoke, secret_scan
) -> None:
    """A batched backfill (COMMIT inside DO) is detected, shown in plan, and applied."""
    secret_scan.add(pg.password)
    folder = make_set(
        tmp_path / "set",
        {
            "001_backfill.sql": """\
            CREATE TABLE IF NOT EXISTS events (id int, seen boolean);
            INSERT INTO events SELECT g, false FROM generate_series(1, 30) g;
            DO $$
            DECLARE
                last_id int := 0;
            BEGIN
                WHILE last_id < 30 LOOP
                    UPDATE events SET seen = true WHERE id > last_id AND id <= last_id + 10;
                    last_id := last_id + 10;
                    COMMIT;  -- one batch at a time: short row locks for the running app
                END LOOP;
            END $$;
            """
        },
    )
    config = _config(tmp_path, folder)
    plan = run_invoke("-f", str(config), "plan", "--target", "mine", env={"DATABASE_URL": pg.url})
    assert plan.code == 0
    assert "no transaction (DO block that COMMITs at line 3)" in plan.stdout
    result = _migrate(run_invoke, pg, config)
    assert result.code == 0
    assert "fix the SQL" not in result.output
    assert pg.scalar("SELECT count(*) FROM events WHERE seen") == 30
    assert pg.execute("SELECT outcome, transaction_mode FROM oncall_migrations") == [("applied", "none")]


def test_a_new_enum_value_used_in_the_same_file_runs_outside_a_transaction(  # type: ignore[no-untyped-def]
    pg, tmp_path: Path, run_invoke, secret_scan
) -> None:
    """ALTER TYPE ... ADD VALUE then a use of the value: psql -f runs it, and so does migrate."""
    secret_scan.add(pg.password)
    pg.execute("CREATE TYPE mood AS ENUM ('ok'); ALTER TYPE mood OWNER TO app")
    folder = make_set(
        tmp_path / "set",
        {
            "001_mood.sql": """\
            ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh';
            CREATE TABLE IF NOT EXISTS feelings (m mood NOT NULL DEFAULT 'meh');
            INSERT INTO feelings DEFAULT VALUES;
            """
        },
    )
    config = _config(tmp_path, folder)
    plan = run_invoke("-f", str(config), "plan", "--target", "mine", env={"DATABASE_URL": pg.url})
    assert "ALTER TYPE ... ADD VALUE 'meh' at line 1 is used at line 2" in plan.stdout
    result = _migrate(run_invoke, pg, config)
    assert result.code == 0
    assert pg.scalar("SELECT m::text FROM feelings") == "meh"


def test_a_run_log_that_cannot_be_written_is_a_warning_not_a_failure(  # type: ignore[no-untyped-def]
    pg, tmp_path: Path, run_invoke, secret_scan
) -> None:
    """The database result decides the exit code; the unwritable run log is named on stderr."""
    secret_scan.add(pg.password)
    folder = make_set(tmp_path / "set", {"001_a.sql": "CREATE TABLE IF NOT EXISTS a (id int);"})
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a regular file: nothing can be created under it, not even by root\n")
    run_log = blocker / "runs.jsonl"
    result = _migrate(run_invoke, pg, _config(tmp_path, folder), INVOKE_ONCALL_RUN_LOG=str(run_log))
    assert result.code == 0
    assert f"warning: could not write the run record to {run_log}" in result.stderr
    assert "internal error" not in result.output
    assert pg.scalar("SELECT count(*) FROM oncall_migrations") == 1
