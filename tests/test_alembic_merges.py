"""Alembic projects with branches and merge revisions: applied in a parents-first order, with
alembic_version kept exactly as the real `alembic` keeps it (checked against the real command)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from alembic_support import HEAD, copy_project, run_alembic, versions, write_revision
from fix_pg import TestDatabase
from migrate_support import quiet, write_config
from oncall.errors import BadInput
from oncall.migrations.admin import baseline, resolve
from oncall.migrations.downgrade import rollback_migration
from oncall.migrations.run import migrate, plan, status
from oncall.sandbox.pg import EmbeddedPostgres
from oncall.schema.verify import verify
from test_alembic_format import alembic_target

# HEAD (a7c41e2b9d3f) is a branch point: B1 -> B2 on one branch, C1 on the other, MERGE joins them.
B1, B2, C1, MERGE = "b1b1b1b1b1b1", "b2b2b2b2b2b2", "c1c1c1c1c1c1", "e4e4e4e4e4e4"


def branched_project(tmp: Path, *, merged: bool = True) -> Path:
    """The trdrhub project with two branches after its head, joined by `alembic merge` (the real one)."""
    ini = copy_project(tmp)
    write_revision(
        ini, B1, HEAD, "op.create_table('branch_b', sa.Column('id', sa.Integer(), primary_key=True))"
    )
    write_revision(ini, B2, B1, "op.add_column('branch_b', sa.Column('note', sa.Text()))")
    write_revision(
        ini, C1, HEAD, "op.create_table('branch_c', sa.Column('id', sa.Integer(), primary_key=True))"
    )
    if merged:
        made = run_alembic(
            ini, "postgresql://unused@127.0.0.1/none", "merge", "-m", "join", B2, C1, "--rev-id", MERGE
        )
        assert made.returncode == 0, made.stderr
    return ini


def rows(pg: TestDatabase) -> list[str]:
    return sorted(str(r[0]) for r in pg.execute("SELECT version_num FROM alembic_version"))


def alembic_sees(ini: Path, pg: TestDatabase) -> tuple[str, str]:
    current = run_alembic(ini, pg.url, "current")
    heads = run_alembic(ini, pg.url, "heads")
    assert current.returncode == 0, current.stderr
    assert heads.returncode == 0, heads.stderr
    return current.stdout, heads.stdout


def nothing_left_for_alembic(ini: Path, pg: TestDatabase, before: list[str]) -> None:
    again = run_alembic(ini, pg.url, "upgrade", "heads")
    assert again.returncode == 0, again.stderr
    assert "Running upgrade" not in again.stderr
    assert rows(pg) == before


def second_database(server: EmbeddedPostgres) -> TestDatabase:
    name = f"t_merges_{secrets.token_hex(4)}"
    server.create_database(name, owner="app")
    return TestDatabase(server, name, "app", server.app_password)  # type: ignore[attr-defined]


def test_a_merge_is_applied_from_empty_and_alembic_agrees(pg: TestDatabase, tmp_path: Path) -> None:
    """Parents first, the merge last; one row (the merge) and nothing for `alembic upgrade head`."""
    ini = branched_project(tmp_path)
    target = alembic_target(ini, tmp_path)
    order = [s.migration.version for s in plan(target, pg.url).steps]
    assert order.index(B1) < order.index(B2) < order.index(MERGE)
    assert order.index(HEAD) < order.index(C1) < order.index(MERGE)
    result = migrate(target, pg.url, quiet())
    assert [a["version"] for a in result.applied] == order
    assert pg.scalar("SELECT to_regclass('branch_b') IS NOT NULL AND to_regclass('branch_c') IS NOT NULL")
    assert rows(pg) == [MERGE]
    current, heads = alembic_sees(ini, pg)
    assert f"{MERGE} (head)" in current
    assert f"{MERGE} (head)" in heads
    nothing_left_for_alembic(ini, pg, [MERGE])
    assert status(target, pg.url, check=True).code == 0
    assert verify(target, pg.url).code == 0


def test_alembic_version_moves_as_the_real_alembic_moves_it_step_by_step(
    pg: TestDatabase, pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    """Each revision in turn, by `alembic upgrade REV` on one database and `migrate --to REV` on
    another: the rows agree after every step (the branch point's row goes to its first child, the
    second child gets a row of its own, the merge replaces both)."""
    ini = branched_project(tmp_path)
    target = alembic_target(ini, tmp_path)
    by_alembic = second_database(pg_server)
    for revision in [s.migration.version for s in plan(target, pg.url).steps]:
        done = run_alembic(ini, by_alembic.url, "upgrade", revision)
        assert done.returncode == 0, done.stderr
        migrate(target, pg.url, quiet(), to=revision)
        assert rows(pg) == rows(by_alembic), revision
    assert rows(pg) == [MERGE]


def depends_on_project(tmp: Path) -> Path:
    """Two branches after HEAD, no merge; C1 also depends_on B1 (a cross-branch dependency)."""
    ini = branched_project(tmp, merged=False)
    c1 = versions(ini) / f"{C1}_change.py"
    c1.write_text(c1.read_text().replace("depends_on = None", f"depends_on = {B1!r}"), encoding="utf-8")
    return ini


@pytest.mark.parametrize("to", [C1, None])
def test_a_depends_on_moves_alembic_version_as_the_real_alembic_does(
    pg: TestDatabase, pg_server: EmbeddedPostgres, tmp_path: Path, to: str | None
) -> None:
    """`--to C1` from empty applies B1 first (C1 depends on it) and leaves C1's row alone, as
    `alembic upgrade C1` does; everything leaves one row per head, as `alembic upgrade heads`."""
    ini = depends_on_project(tmp_path)
    target = alembic_target(ini, tmp_path)
    by_alembic = second_database(pg_server)
    done = run_alembic(ini, by_alembic.url, "upgrade", to or "heads")
    assert done.returncode == 0, done.stderr
    applied = migrate(target, pg.url, quiet(), to=to).applied
    order = [a["version"] for a in applied]
    assert order.index(B1) < order.index(C1)
    assert rows(pg) == rows(by_alembic)
    assert verify(target, pg.url).code == (0 if to is None else 1)  # B2 pending with --to C1
    state = status(target, pg.url).state
    assert state.problems == []


def test_a_database_half_applied_by_alembic_is_finished_by_oncall(pg: TestDatabase, tmp_path: Path) -> None:
    """`alembic upgrade B1` then `alembic upgrade C1` leave two rows (two applied branches): not drift;
    oncall applies B2 and the merge, and alembic_version ends with the merge alone."""
    ini = branched_project(tmp_path)
    target = alembic_target(ini, tmp_path)
    for revision in (B1, C1):
        done = run_alembic(ini, pg.url, "upgrade", revision)
        assert done.returncode == 0, done.stderr
    assert rows(pg) == [B1, C1]
    state = status(target, pg.url).state
    assert state.problems == []
    assert [m.version for m in state.pending] == [B2, MERGE]
    result = migrate(target, pg.url, quiet())
    assert [a["version"] for a in result.applied] == [B2, MERGE]
    assert rows(pg) == [MERGE]
    nothing_left_for_alembic(ini, pg, [MERGE])
    assert verify(target, pg.url).code == 0


def test_two_heads_without_a_merge_are_both_applied_and_verify_accepts_two_rows(
    pg: TestDatabase, tmp_path: Path, run_invoke, secret_scan
) -> None:  # type: ignore[no-untyped-def]
    """As `alembic upgrade heads`: every branch applied, one row per head; status says so."""
    ini = branched_project(tmp_path, merged=False)
    target = alembic_target(ini, tmp_path)
    migrate(target, pg.url, quiet(), to=C1)  # --to a revision of one branch: only that branch
    assert rows(pg) == [C1]
    assert B1 in [m.version for m in status(target, pg.url).state.pending]
    migrate(target, pg.url, quiet())
    assert rows(pg) == [B2, C1]
    _, heads = alembic_sees(ini, pg)
    assert B2 in heads
    assert C1 in heads
    nothing_left_for_alembic(ini, pg, [B2, C1])
    assert verify(target, pg.url).code == 0
    config = write_config(
        tmp_path / "oncall.json",
        {"api": {"system": "trdrhub", "format": "alembic", "alembic_ini": str(ini)}},
        target="api",
    )
    shown = run_invoke("-f", str(config), "status", "--check", env={"DATABASE_URL": pg.url})
    assert shown.code == 0, shown.output
    assert f"2 heads in the files: {B2}, {C1}" in shown.stdout
    verified = run_invoke("-f", str(config), "verify", env={"DATABASE_URL": pg.url})
    assert verified.code == 0, verified.output
    secret_scan.check(shown.output + verified.output)


def test_a_merge_whose_parent_is_missing_is_bad_input_naming_it(tmp_path: Path, run_invoke) -> None:  # type: ignore[no-untyped-def]
    """A merge naming a revision no file defines (a branch not pulled yet): exit 2, nothing run."""
    ini = branched_project(tmp_path)
    (versions(ini) / f"{C1}_change.py").unlink()
    config = write_config(
        tmp_path / "oncall.json",
        {"api": {"system": "trdrhub", "format": "alembic", "alembic_ini": str(ini)}},
        target="api",
    )
    result = run_invoke("-f", str(config), "plan", env={"DATABASE_URL": "postgresql://app@127.0.0.1:9/none"})
    assert result.code == 2, result.output
    assert f"merge revision {MERGE} joins {B2}, {C1}, but '{C1}' names no revision" in result.stderr
    assert f"{MERGE}_join.py" in result.stderr
    assert f"add the branch that has revision {C1}" in result.stderr
    assert "Traceback" not in result.stderr


def test_rolling_back_a_merge_is_refused_with_alembics_own_command(pg: TestDatabase, tmp_path: Path) -> None:
    """rollback-migration does not undo a merge (exit 2, the revision and `alembic downgrade` named);
    a branch's last revision is undone as `alembic downgrade` would (its row goes back to its parent)."""
    ini = branched_project(tmp_path)
    target = alembic_target(ini, tmp_path)
    migrate(target, pg.url, quiet())
    with pytest.raises(BadInput) as caught:
        rollback_migration(target, pg.url, quiet())
    assert MERGE in caught.value.cause
    assert rows(pg) == [MERGE]
    hinted = str(caught.value.hint).split("`")[1].split()  # the command the hint names, run as it says
    assert hinted[:2] == ["alembic", "downgrade"]
    undone = run_alembic(ini, pg.url, *hinted[1:])
    assert undone.returncode == 0, undone.stderr
    assert rows(pg) == [B2, C1]


DROP_BRANCH_C = "def downgrade() -> None:\n    op.drop_table('branch_c')"


def test_rolling_back_a_branch_revision_moves_alembic_version_as_alembic_does(
    pg: TestDatabase, pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    """Undoing C1 while B2 is applied: Alembic deletes C1's row (HEAD stays covered by B2)."""
    ini = branched_project(tmp_path, merged=False)
    c1 = versions(ini) / f"{C1}_change.py"
    c1.write_text(
        c1.read_text().replace("def downgrade() -> None:\n    pass", DROP_BRANCH_C), encoding="utf-8"
    )
    target = alembic_target(ini, tmp_path)
    by_alembic = second_database(pg_server)
    assert run_alembic(ini, by_alembic.url, "upgrade", "heads").returncode == 0
    assert run_alembic(ini, by_alembic.url, "downgrade", f"{C1}@-1").returncode == 0
    migrate(target, pg.url, quiet())
    rollback_migration(target, pg.url, quiet())  # the last applied (parents-first order): C1
    assert rows(pg) == rows(by_alembic) == [B2]
    assert not pg.scalar("SELECT to_regclass('branch_c') IS NOT NULL")
    state = status(target, pg.url).state
    assert state.problems == []
    assert [m.version for m in state.pending] == [C1]


def test_baseline_and_resolve_of_a_branch_keep_the_other_branchs_row(
    pg: TestDatabase, pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    """Alembic applied the B branch; branch_c was made by hand. baseline --to C1 records C1 and
    leaves the rows `alembic upgrade C1` leaves (B2 and C1); resolve --rolled-back C1 takes C1's row
    away again, as `alembic downgrade` would, and resolve --applied puts it back."""
    ini = branched_project(tmp_path, merged=False)
    target = alembic_target(ini, tmp_path)
    by_alembic = second_database(pg_server)
    for database in (pg, by_alembic):
        done = run_alembic(ini, database.url, "upgrade", B2)
        assert done.returncode == 0, done.stderr
    assert run_alembic(ini, by_alembic.url, "upgrade", C1).returncode == 0
    pg.execute("CREATE TABLE branch_c (id SERIAL NOT NULL, PRIMARY KEY (id))")  # what C1 makes
    baseline(target, pg.url, quiet(), to=C1)
    assert rows(pg) == rows(by_alembic) == [B2, C1]
    assert status(target, pg.url, check=True).code == 0
    assert verify(target, pg.url).code == 0
    resolve(target, pg.url, quiet(), C1, applied=False)
    assert rows(pg) == [B2]
    resolve(target, pg.url, quiet(), C1, applied=True)
    assert rows(pg) == [B2, C1]
    assert verify(target, pg.url).code == 0
