"""Alembic projects read in place (issue 15): the graph from the .py files, the SQL from offline mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from alembic_support import BASELINE, HEAD, TRDRHUB_API, copy_project, run_alembic, versions, write_revision
from migrate_support import quiet, write_config
from oncall.config import Target
from oncall.errors import BadInput
from oncall.migrations import discover
from oncall.migrations.downgrade import rollback_migration
from oncall.migrations.run import migrate, plan, status
from oncall.migrations.sources.alembic_offline import clean


def alembic_target(ini: Path, tmp: Path, **overrides: Any) -> Target:
    settings: dict[str, Any] = {
        "name": "api",
        "system": "trdrhub",
        "migrations_dir": ini.parent,
        "format": "alembic",
        "alembic_ini": ini,
        "run_log": tmp / "runs.jsonl",
        "state_dir": tmp / "state",
        "lock_wait": 10.0,
    }
    settings.update(overrides)
    return Target(**settings)


def test_the_trdrhub_example_is_read_statically_and_rendered_by_alembic(tmp_path: Path) -> None:
    """Hex revision ids in Alembic's order; each one's SQL is Alembic's own DDL without its ledger moves."""
    ini = TRDRHUB_API / "alembic.ini"
    migrations = discover(alembic_target(ini, tmp_path))
    assert [(m.revision, m.down_revision) for m in migrations] == [(BASELINE, None), (HEAD, BASELINE)]
    assert [m.name for m in migrations] == ["baseline", "add_ai_usage_and_events"]
    assert "CREATE TABLE ai_usage_records" in migrations[1].sql
    assert "CREATE INDEX ix_ai_assist_events_company_id ON ai_assist_events (company_id)" in migrations[1].sql
    for migration in migrations:
        assert "alembic_version" not in migration.sql
        assert "BEGIN;" not in migration.sql
        assert "COMMIT;" not in migration.sql


def test_clean_keeps_ddl_and_drops_alembics_transaction_and_version_moves() -> None:
    rendered = (
        "BEGIN;\n\nCREATE TABLE alembic_version (\n    version_num VARCHAR(32) NOT NULL\n);\n\n"
        "CREATE TABLE t (id INTEGER);\n\n"
        "UPDATE alembic_version SET version_num='b' WHERE alembic_version.version_num = 'a';\n\nCOMMIT;\n"
    )
    assert clean(rendered) == "CREATE TABLE t (id INTEGER);\n"


def test_migrate_moves_alembic_version_so_that_alembic_itself_agrees(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """After oncall migrates, `alembic current` shows the head and `alembic upgrade head` does nothing."""
    ini = copy_project(tmp_path)
    result = migrate(alembic_target(ini, tmp_path), pg.url, quiet())
    assert [step["version"] for step in result.applied] == [BASELINE, HEAD]
    assert pg.scalar("SELECT to_regclass('ai_assist_events') IS NOT NULL")
    assert pg.execute("SELECT version_num FROM alembic_version") == [(HEAD,)]
    current = run_alembic(ini, pg.url, "current")
    assert current.returncode == 0, current.stderr
    assert f"{HEAD} (head)" in current.stdout
    again = run_alembic(ini, pg.url, "upgrade", "head")
    assert again.returncode == 0, again.stderr
    assert "Running upgrade" not in again.stderr
    assert pg.execute("SELECT version_num FROM alembic_version") == [(HEAD,)]


def test_a_database_alembic_stamped_at_the_baseline_gets_only_the_new_revision(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Production as seed 000 has it: Alembic applied the baseline; oncall plans and applies the rest."""
    ini = copy_project(tmp_path)
    done = run_alembic(ini, pg.url, "upgrade", BASELINE)
    assert done.returncode == 0, done.stderr
    target = alembic_target(ini, tmp_path)
    state = status(target, pg.url).state
    assert [m.version for m in state.applied] == [BASELINE]
    assert [m.version for m in state.pending] == [HEAD]
    planned = plan(target, pg.url)
    assert [step.migration.revision for step in planned.steps] == [HEAD]
    assert "CREATE TABLE ai_usage_records" in planned.steps[0].migration.sql
    migrate(target, pg.url, quiet())
    assert run_alembic(ini, pg.url, "current").stdout.strip().endswith(f"{HEAD} (head)")


def test_a_revision_with_a_syntax_error_is_named_and_never_imported(tmp_path: Path) -> None:
    ini = copy_project(tmp_path)
    marker = tmp_path / "imported"
    broken = write_revision(ini, "b0b0b0b0b0b0", HEAD, f"open({str(marker)!r}, 'w')")
    broken.write_text(broken.read_text() + f"\nopen({str(marker)!r}, 'w')\ndef oops(:\n", encoding="utf-8")
    with pytest.raises(BadInput) as caught:
        discover(alembic_target(ini, tmp_path))
    assert f"{broken}:" in caught.value.cause
    assert "syntax error" in caught.value.cause
    assert not marker.exists()


def test_a_down_revision_that_names_nothing_is_bad_input(tmp_path: Path) -> None:
    ini = copy_project(tmp_path)
    orphan = write_revision(ini, "c1c1c1c1c1c1", "deadbeef0000", "op.execute('SELECT 1')")
    with pytest.raises(BadInput) as caught:
        discover(alembic_target(ini, tmp_path))
    assert str(orphan) in caught.value.cause
    assert "'deadbeef0000' names no revision" in caught.value.cause
    assert BASELINE in str(caught.value.hint)


def test_two_heads_in_the_code_are_both_read_parents_first(tmp_path: Path) -> None:
    """Two heads (no merge yet): every revision is read, each after its parent, as `alembic upgrade
    heads` applies them (tests/test_alembic_merges.py applies them)."""
    ini = copy_project(tmp_path)
    write_revision(ini, "d2d2d2d2d2d2", BASELINE, "op.add_column('users', sa.Column('x', sa.Integer()))")
    migrations = discover(alembic_target(ini, tmp_path))
    order = [m.revision for m in migrations]
    assert sorted(order) == sorted([BASELINE, HEAD, "d2d2d2d2d2d2"])
    assert order[0] == BASELINE
    assert "ADD COLUMN x INTEGER" in migrations[order.index("d2d2d2d2d2d2")].sql


def test_a_database_revision_no_file_defines_lists_the_known_ones(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ini = copy_project(tmp_path)
    with psycopg.connect(pg.url, autocommit=True) as conn:  # as the app role, which owns the table
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('ffffffffffff')")
    state = status(alembic_target(ini, tmp_path), pg.url).state
    assert state.problems[0].details["kind"] == "alembic-unknown"
    assert f"revisions here: {BASELINE}, {HEAD}" in state.problems[0].cause


def test_status_reads_the_files_alone_without_running_alembic(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Heads and pending work come from the .py files: status works where no alembic command exists."""
    ini = copy_project(tmp_path)
    state = status(alembic_target(ini, tmp_path, alembic_command="no-such-alembic-xyz"), pg.url).state
    assert [m.version for m in state.pending] == [BASELINE, HEAD]


def test_an_alembic_command_that_is_not_found_says_how_to_set_it(tmp_path: Path) -> None:
    ini = copy_project(tmp_path)
    with pytest.raises(BadInput) as caught:
        discover(alembic_target(ini, tmp_path, alembic_command="no-such-alembic-xyz"))
    assert "'no-such-alembic-xyz' was not found" in caught.value.cause
    assert "alembic_command:" in str(caught.value.hint)


def test_offline_mode_failing_shows_alembics_error_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ini = copy_project(tmp_path)
    env_py = ini.parent / "alembic" / "env.py"
    env_py.write_text(
        "import os\nraise RuntimeError('cannot reach ' + os.environ['DATABASE_URL'])\n", encoding="utf-8"
    )
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:hunter2-secret@db.example.com:5432/app")
    with pytest.raises(BadInput) as caught:
        discover(alembic_target(ini, tmp_path))
    assert "failed in" in caught.value.cause
    assert "RuntimeError: cannot reach" in caught.value.cause
    assert "hunter2-secret" not in caught.value.cause
    assert "hunter2-secret" not in str(caught.value.details)


def test_an_alembic_ini_without_script_location_is_bad_input(tmp_path: Path) -> None:
    ini = copy_project(tmp_path)
    ini.write_text("[alembic]\nprepend_sys_path = .\n", encoding="utf-8")
    with pytest.raises(BadInput) as caught:
        discover(alembic_target(ini, tmp_path))
    assert "no script_location" in caught.value.cause


def test_format_auto_reads_a_versions_folder_as_alembic(tmp_path: Path) -> None:
    ini = copy_project(tmp_path)
    target = alembic_target(ini, tmp_path, format="auto", alembic_ini=None, migrations_dir=versions(ini))
    assert [m.revision for m in discover(target)] == [BASELINE, HEAD]


def test_invoke_plan_status_and_verify_on_an_alembic_target(
    pg, tmp_path: Path, run_invoke, secret_scan
) -> None:  # type: ignore[no-untyped-def]
    """The real `invoke`: plan shows Alembic's DDL, migrate applies it, verify finds the schema it made."""
    ini = copy_project(tmp_path)
    config = write_config(
        tmp_path / "oncall.json",
        {"api": {"system": "trdrhub", "format": "alembic", "alembic_ini": str(ini)}},
        target="api",
    )
    env = {"DATABASE_URL": pg.url}
    planned = run_invoke("-f", str(config), "plan", env=env)
    assert planned.code == 0, planned.output
    assert "CREATE TABLE ai_usage_records" in planned.stdout
    assert run_invoke("-f", str(config), "migrate", env=env).code == 0
    checked = run_invoke("-f", str(config), "status", "--check", env=env)
    assert checked.code == 0, checked.output
    verified = run_invoke("-f", str(config), "verify", env=env)
    assert verified.code == 0, verified.output
    secret_scan.check(planned.output + verified.output)


def test_rollback_migration_runs_alembics_downgrade_and_moves_alembic_version_back(
    pg, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The down SQL is `alembic downgrade A:B --sql`; afterwards `alembic current` shows the parent."""
    ini = copy_project(tmp_path)
    target = alembic_target(ini, tmp_path)
    migrate(target, pg.url, quiet())
    out = quiet()
    rollback_migration(target, pg.url, out, dry_run=True)
    assert "DROP TABLE ai_assist_events" in out.stdout.getvalue()  # type: ignore[attr-defined]
    result = rollback_migration(target, pg.url, quiet())
    assert [r["version"] for r in result.rolled_back] == [HEAD]
    assert not pg.scalar("SELECT to_regclass('ai_usage_records') IS NOT NULL")
    assert pg.execute("SELECT version_num FROM alembic_version") == [(BASELINE,)]
    assert run_alembic(ini, pg.url, "current").stdout.strip().endswith(BASELINE)
    assert [m.version for m in status(target, pg.url).state.pending] == [HEAD]


ONLINE_ONLY = """
bind = op.get_bind()
seen = bind.execute(sa.text("SHOW lock_timeout")).scalar()
companies = bind.execute(sa.text("SELECT count(*) FROM companies")).scalar()
op.execute(f"CREATE TABLE seen_settings AS SELECT '{seen}'::text AS lock_timeout, {companies} AS companies")
"""


def test_a_revision_that_reads_the_database_is_run_by_alembic_under_our_timeouts(
    pg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """op.get_bind(): plan marks it; migrate has Alembic run it with lock_timeout passed in PGOPTIONS."""
    ini = copy_project(tmp_path)
    write_revision(ini, "e3e3e3e3e3e3", HEAD, ONLINE_ONLY, name="backfill_stats")
    target = alembic_target(ini, tmp_path, lock_timeout="750ms", database_url_env="DATABASE_URL")
    planned = plan(target, pg.url)
    assert [s.mode for s in planned.steps] == ["transaction", "transaction", "alembic"]
    assert "op.get_bind() at line" in planned.steps[2].reasons[0]
    monkeypatch.setenv("DATABASE_URL", pg.url)  # what env.py reads when Alembic runs it online
    migrate(target, pg.url, quiet())
    assert pg.execute("SELECT lock_timeout, companies FROM seen_settings") == [("750ms", 0)]
    assert pg.execute("SELECT version_num FROM alembic_version") == [("e3e3e3e3e3e3",)]
    assert (
        pg.scalar("SELECT transaction_mode FROM oncall_migrations WHERE version = 'e3e3e3e3e3e3'")
        == "alembic"
    )
    assert status(target, pg.url).state.pending == []
    assert run_alembic(ini, pg.url, "current").stdout.strip().endswith("e3e3e3e3e3e3 (head)")


def test_a_target_with_only_alembic_ini_reads_that_project(tmp_path: Path) -> None:
    """alembic_ini: alone means format: alembic, ledger alembic, and the default alembic command."""
    from oncall.config import resolve_target

    ini = copy_project(tmp_path)
    layered = {"targets": {"api": {"alembic_ini": "apps/api/alembic.ini"}}}
    target = resolve_target(layered, "api", root=tmp_path, environ={})
    assert (target.format, target.ledger, target.alembic_command) == ("alembic", "alembic", "alembic")
    assert target.alembic_ini == ini.resolve()
    assert [m.revision for m in discover(target)] == [BASELINE, HEAD]


def test_doctor_reads_the_revisions_and_runs_the_teams_alembic_command(tmp_path: Path) -> None:
    """doctor's alembic row: the head, and the command; a command that is missing is exit 2 with the key."""
    from oncall.doctor.checks import alembic_check

    ini = copy_project(tmp_path)
    row = alembic_check(alembic_target(ini, tmp_path))
    assert row.result == "ok", row.detail
    assert f"2 revision(s) in {versions(ini)}, head {HEAD}" in row.detail
    missing = alembic_check(alembic_target(ini, tmp_path, alembic_command="no-such-alembic-xyz"))
    assert (missing.result, missing.code) == ("fail", 2)
    assert "alembic_command:" in str(missing.hint)
