"""`format: drizzle` against the real drizzle-orm migrator (issue 14): each side reads the other's ledger.

drizzle's migrator applies every journal entry whose `when` is newer than the newest `created_at`
in drizzle.__drizzle_migrations, and runs the SQL without IF NOT EXISTS: a migration it wrongly
thought pending fails on the table that already exists, one it wrongly thought done is skipped.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest

import fix_drizzle
from drizzle_support import DRIZZLE_KIT_RELATIONS, DRIZZLE_KIT_TAGS, DRIZZLE_KIT_WHEN, write_drizzle_kit_set
from fix_drizzle import DrizzleMigrator, DrizzleRow, require_drizzle_migrator
from fix_invoke import RunInvoke
from fix_pg import TestDatabase
from migrate_support import quiet, target, write_config
from oncall.db.embedded import EmbeddedPostgres
from oncall.migrations.admin import resolve
from oncall.migrations.run import migrate, status

FIRST = 2  # how many migrations the team's drizzle applied before oncall took over


def _schema(pg: TestDatabase) -> list[tuple[Any, ...]]:
    """What the migrations created in public (relations, columns, constraints, enum labels); not oncall's."""
    rows = pg.execute(
        "SELECT 'relation', c.relname, c.relkind::text FROM pg_class c "
        "WHERE c.relnamespace = 'public'::regnamespace "
        "UNION ALL SELECT 'column', table_name || '.' || column_name, data_type || ' ' || is_nullable "
        "FROM information_schema.columns WHERE table_schema = 'public' "
        "UNION ALL SELECT 'constraint', conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE connamespace = 'public'::regnamespace "
        "UNION ALL SELECT 'enum', t.typname, e.enumlabel "
        "FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
        "ORDER BY 1, 2, 3"
    )
    return [row for row in rows if not str(row[1]).startswith("oncall_")]


def _file_hashes(folder: Path) -> list[str]:
    """What drizzle stores as `hash`: the sha256 hex of each migration file, in journal order."""
    return [hashlib.sha256((folder / f"{tag}.sql").read_bytes()).hexdigest() for tag in DRIZZLE_KIT_TAGS]


def _oncall_applied(pg: TestDatabase) -> list[str]:
    rows = pg.execute("SELECT version FROM oncall_migrations WHERE outcome = 'applied' ORDER BY version")
    return [str(r[0]) for r in rows]


def _drizzle_then_oncall(
    pg: TestDatabase, drizzle: DrizzleMigrator, run_invoke: RunInvoke, root: Path
) -> tuple[Path, Path]:
    """The team's drizzle applied the first migrations; drizzle-kit generated more; oncall migrates."""
    folder = write_drizzle_kit_set(root, FIRST)
    assert drizzle.migrate(pg.url, folder).applied == DRIZZLE_KIT_TAGS[:FIRST]
    write_drizzle_kit_set(root)
    config = write_config(root / "oncall.yaml", {"app": {"migrations": str(folder)}}, target="app")
    done = run_invoke("-f", str(config), "migrate", env={"DATABASE_URL": pg.url})
    assert done.code == 0, done.output
    return folder, config


def test_the_real_drizzle_migrator_finds_nothing_to_do_after_oncall_migrated_from_empty(
    pg: TestDatabase, drizzle_migrator: DrizzleMigrator, tmp_path: Path
) -> None:
    """(a) oncall applies all four from empty; drizzle's migrate() then applies none and changes nothing."""
    folder = write_drizzle_kit_set(tmp_path)
    assert len(migrate(target(folder, tmp_path), pg.url, quiet()).applied) == len(DRIZZLE_KIT_TAGS)
    ledger = drizzle_migrator.ledger(pg.url)
    schema = _schema(pg)
    assert [(r.hash, r.created_at) for r in ledger] == list(
        zip(_file_hashes(folder), DRIZZLE_KIT_WHEN, strict=True)
    )
    run = drizzle_migrator.migrate(pg.url, folder)
    assert run.applied == []
    assert run.ledger == ledger
    assert _schema(pg) == schema


def test_oncall_writes_the_ledger_rows_drizzle_itself_writes(
    pg: TestDatabase, pg_server: EmbeddedPostgres, drizzle_migrator: DrizzleMigrator, tmp_path: Path
) -> None:
    """From empty, drizzle on one database and oncall on another record the same (hash, created_at) rows."""
    folder = write_drizzle_kit_set(tmp_path)
    by_drizzle = TestDatabase(pg_server, f"{pg.name}_d", pg.user, pg.password)
    pg_server.create_database(by_drizzle.name, owner=pg.user)
    assert drizzle_migrator.migrate(by_drizzle.url, folder).applied == DRIZZLE_KIT_TAGS
    migrate(target(folder, tmp_path), pg.url, quiet())

    def rows(ledger: list[DrizzleRow]) -> list[tuple[str, int]]:
        return [(r.hash, r.created_at) for r in ledger]

    assert rows(drizzle_migrator.ledger(pg.url)) == rows(drizzle_migrator.ledger(by_drizzle.url))
    assert _schema(pg) == _schema(by_drizzle)


def test_oncall_migrate_applies_only_what_the_real_drizzle_migrator_left(
    pg: TestDatabase, drizzle_migrator: DrizzleMigrator, run_invoke: RunInvoke, tmp_path: Path
) -> None:
    """(b) drizzle applied the first two; `invoke migrate` applies the other two; `invoke verify` exits 0."""
    folder, config = _drizzle_then_oncall(pg, drizzle_migrator, run_invoke, tmp_path)
    assert _oncall_applied(pg) == DRIZZLE_KIT_TAGS[FIRST:]
    ledger = drizzle_migrator.ledger(pg.url)
    assert [(r.id, r.hash, r.created_at) for r in ledger] == list(
        zip(range(1, len(DRIZZLE_KIT_TAGS) + 1), _file_hashes(folder), DRIZZLE_KIT_WHEN, strict=True)
    )
    assert all(pg.scalar(f"SELECT to_regclass('{name}') IS NOT NULL") for name in DRIZZLE_KIT_RELATIONS)
    done = run_invoke("-f", str(config), "verify", env={"DATABASE_URL": pg.url})
    assert done.code == 0, done.output
    assert "verify app: OK" in done.stdout


def test_the_real_drizzle_migrator_finds_nothing_to_do_after_oncall_took_over(
    pg: TestDatabase, drizzle_migrator: DrizzleMigrator, run_invoke: RunInvoke, tmp_path: Path
) -> None:
    """(c) after (b), drizzle's migrate() applies none: the rows oncall added read as applied to drizzle."""
    folder, _ = _drizzle_then_oncall(pg, drizzle_migrator, run_invoke, tmp_path)
    ledger = drizzle_migrator.ledger(pg.url)
    schema = _schema(pg)
    run = drizzle_migrator.migrate(pg.url, folder)
    assert run.applied == []
    assert run.ledger == ledger
    assert _schema(pg) == schema


def test_without_node_the_migrator_is_a_skip_locally_and_a_failure_in_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Locally a missing node skips with the install command; with CI set it fails, never skips."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(
        pytest.skip.Exception, match=r"node is not installed .*npm ci --prefix tests/node/drizzle"
    ):
        require_drizzle_migrator()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the real drizzle migrator"):
        require_drizzle_migrator()


def test_without_the_npm_install_the_migrator_names_the_pinned_version_and_the_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """node present but tests/node/drizzle/node_modules missing: the reason names version and command."""
    project = tmp_path / "drizzle"
    project.mkdir()
    shutil.copy(fix_drizzle.PROJECT / "package.json", project / "package.json")
    monkeypatch.setattr(fix_drizzle, "PROJECT", project)
    found = fix_drizzle.find_drizzle_migrator()
    assert found == (
        "drizzle-orm 0.45.4 is pinned but not installed in tests/node/drizzle "
        "(run npm ci --prefix tests/node/drizzle --no-audit --no-fund)"
    )


def test_resolve_rolled_back_lets_the_real_drizzle_migrator_apply_that_migration_again(
    pg: TestDatabase, drizzle_migrator: DrizzleMigrator, run_invoke: RunInvoke, tmp_path: Path
) -> None:
    """The newest migration undone by hand, then `invoke resolve TAG --rolled-back`: drizzle reruns it."""
    folder, config = _drizzle_then_oncall(pg, drizzle_migrator, run_invoke, tmp_path)
    pg.execute(
        "ALTER TABLE orders DROP COLUMN customer_id; DROP TABLE customers"
    )  # what undoing 0003_tidy_nova by hand means
    newest = DRIZZLE_KIT_TAGS[-1]
    done = run_invoke("-f", str(config), "resolve", newest, "--rolled-back", env={"DATABASE_URL": pg.url})
    assert done.code == 0, done.output
    assert [r.created_at for r in drizzle_migrator.ledger(pg.url)] == DRIZZLE_KIT_WHEN[:-1]
    assert drizzle_migrator.migrate(pg.url, folder).applied == [newest]
    assert pg.scalar("SELECT to_regclass('customers') IS NOT NULL")


def test_resolve_rolled_back_of_an_older_migration_leaves_the_newer_ones_as_drift(
    pg: TestDatabase, drizzle_migrator: DrizzleMigrator, tmp_path: Path
) -> None:
    """drizzle counts all up to its newest row as applied: forgetting 0002 forgets 0003 in its table too."""
    folder = write_drizzle_kit_set(tmp_path)
    t = target(folder, tmp_path)
    migrate(t, pg.url, quiet())
    resolve(t, pg.url, quiet(), DRIZZLE_KIT_TAGS[2], applied=False)
    assert [r.created_at for r in drizzle_migrator.ledger(pg.url)] == DRIZZLE_KIT_WHEN[:2]
    result = status(t, pg.url, check=True)
    assert result.code == 5
    problem = result.state.problems[0]
    assert problem.details["kind"] == "tool-behind"
    assert (
        f"records {DRIZZLE_KIT_TAGS[3]} as applied but drizzle.__drizzle_migrations does not" in problem.cause
    )
