"""Alembic interop: alembic_version moved exactly as Alembic does, checked with the real `alembic` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fix_invoke import RunInvoke
from fix_pg import TestDatabase
from fix_secrets import SecretScan
from migrate_support import TRDRHUB, alembic_project, quiet, sqlalchemy_url, target, write_config
from oncall.errors import Drift, Refused
from oncall.migrations.admin import baseline, resolve
from oncall.migrations.run import migrate, status
from oncall.sandbox.pg import EmbeddedPostgres

ALEMBIC = Path(sys.executable).parent / "alembic"
HEAD = "20251116_add_ai_usage_and_events"
BASE = "20251001_baseline"


def alembic(ini: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ONCALL_ALEMBIC_URL": sqlalchemy_url(url)}
    proc = subprocess.run(
        [str(ALEMBIC), "-c", str(ini), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    print(f"$ alembic {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_after_migrate_alembic_sees_one_head_and_upgrade_is_a_no_op(pg: TestDatabase, tmp_path: Path) -> None:
    """After migrate, `alembic current` shows our last revision as the only head; upgrade head is a no-op."""
    result = migrate(target(TRDRHUB, tmp_path, ledger="alembic"), pg.url, quiet())
    assert [a["version"] for a in result.applied] == [BASE, HEAD]
    ini = alembic_project(tmp_path / "alembic", TRDRHUB, with_sql=False)
    current = alembic(ini, pg.url, "current")
    assert current.returncode == 0
    assert f"{HEAD} (head)" in current.stdout
    assert pg.execute("SELECT version_num FROM alembic_version") == [(HEAD,)]
    upgrade = alembic(ini, pg.url, "upgrade", "head")
    assert upgrade.returncode == 0
    assert "Running upgrade" not in upgrade.stderr + upgrade.stdout
    assert pg.execute("SELECT version_num FROM alembic_version") == [(HEAD,)]


def test_alembic_version_table_matches_the_one_alembic_creates(
    pg: TestDatabase, pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    """Our alembic_version has Alembic's column type and primary key name (alembic_version_pkc)."""
    migrate(target(TRDRHUB, tmp_path, ledger="alembic"), pg.url, quiet(), to=BASE)
    other = f"{pg.name}_alembic"
    pg_server.create_database(other, owner="app")
    other_url = pg_server.url(other, pg.user, pg.password)
    ini = alembic_project(tmp_path / "alembic", TRDRHUB, with_sql=False)
    assert alembic(ini, other_url, "stamp", BASE).returncode == 0
    shape = (
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
        "(SELECT conname FROM pg_constraint WHERE conrelid = 'alembic_version'::regclass AND contype = 'p') "
        "FROM pg_attribute a WHERE a.attrelid = 'alembic_version'::regclass AND a.attnum > 0"
    )
    ours = pg.execute(shape)
    theirs = pg_server.admin_execute(shape, other)
    assert ours == theirs == [("version_num", "character varying(32)", True, "alembic_version_pkc")]


def test_migrate_continues_from_a_revision_alembic_stamped(pg: TestDatabase, tmp_path: Path) -> None:
    """A database Alembic manages at the baseline gets only the next revision, moved by one UPDATE."""
    ini = alembic_project(tmp_path / "alembic", TRDRHUB, with_sql=True)
    assert alembic(ini, pg.url, "upgrade", BASE).returncode == 0
    result = migrate(target(TRDRHUB, tmp_path, ledger="alembic"), pg.url, quiet())
    assert [a["version"] for a in result.applied] == [HEAD]
    assert f"{HEAD} (head)" in alembic(ini, pg.url, "current").stdout


SEED_OPTION_3_INSERT = (
    f"INSERT INTO alembic_version (version_num) VALUES ('{HEAD}') ON CONFLICT (version_num) DO NOTHING"
)


def test_seed_two_heads_state_is_refused_with_the_exact_fix(
    pg: TestDatabase, tmp_path: Path, run_invoke: RunInvoke, secret_scan: SecretScan
) -> None:
    """The seed's INSERT ... ON CONFLICT leaves two rows; migrate exits 5 with the exact DELETE to run."""
    secret_scan.add(pg.password)
    migrate(target(TRDRHUB, tmp_path, ledger="alembic"), pg.url, quiet(), to=BASE)
    pg.execute((TRDRHUB / f"{HEAD}.sql").read_text())
    pg.execute(SEED_OPTION_3_INSERT)
    assert sorted(r[0] for r in pg.execute("SELECT version_num FROM alembic_version")) == [BASE, HEAD]
    config = write_config(tmp_path / "c.yaml", {"tr": {"migrations": str(TRDRHUB), "ledger": "alembic"}})
    result = run_invoke(
        "-f", str(config), "migrate", "--target", "tr", "--json", env={"DATABASE_URL": pg.url}
    )
    assert result.code == 5
    fix = f"DELETE FROM alembic_version WHERE version_num = '{BASE}';"
    assert fix in result.stderr
    assert result.json()["error"]["details"]["fix"] == fix
    check = run_invoke("-f", str(config), "status", "--check", "--target", "tr", env={"DATABASE_URL": pg.url})
    assert check.code == 5
    assert "two heads" in check.stdout
    pg.execute(fix)
    after = run_invoke("-f", str(config), "migrate", "--target", "tr", env={"DATABASE_URL": pg.url})
    assert after.code == 0
    assert "nothing to apply" in after.stdout


def test_unknown_alembic_revision_is_drift(pg: TestDatabase, tmp_path: Path) -> None:
    """alembic_version at a revision no file defines (database ahead of the code) is refused, exit 5."""
    pg.execute("CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY)")
    pg.execute("INSERT INTO alembic_version VALUES ('ffffffffffff')")
    pg.execute("ALTER TABLE alembic_version OWNER TO app")
    with pytest.raises(Drift) as caught:
        migrate(target(TRDRHUB, tmp_path, ledger="alembic"), pg.url, quiet())
    assert caught.value.code == 5
    assert "ffffffffffff" in caught.value.cause
    assert status(target(TRDRHUB, tmp_path, ledger="alembic"), pg.url, check=True).code == 5


def test_baseline_of_existing_tables_stamps_alembic_version(pg: TestDatabase, tmp_path: Path) -> None:
    """baseline on an Alembic target checks the tables exist, records them and sets alembic_version."""
    import psycopg

    with psycopg.connect(pg.url, autocommit=True) as conn:
        for path in sorted(TRDRHUB.glob("*.sql")):
            conn.execute(path.read_bytes())
    t = target(TRDRHUB, tmp_path, ledger="alembic")
    result = baseline(t, pg.url, quiet(), to=HEAD)
    assert result.versions == [BASE, HEAD]
    assert all(item["exists"] for item in result.checked)
    assert pg.execute("SELECT version_num FROM alembic_version") == [(HEAD,)]
    assert pg.execute("SELECT outcome FROM oncall_migrations") == [("baseline",), ("baseline",)]
    ini = alembic_project(tmp_path / "alembic", TRDRHUB, with_sql=False)
    assert f"{HEAD} (head)" in alembic(ini, pg.url, "current").stdout


def test_resolve_rolled_back_moves_alembic_version_back_newest_first(
    pg: TestDatabase, tmp_path: Path
) -> None:
    """resolve --rolled-back moves alembic_version to the down-revision; an older one first is refused."""
    t = target(TRDRHUB, tmp_path, ledger="alembic")
    migrate(t, pg.url, quiet())
    with pytest.raises(Refused) as caught:
        resolve(t, pg.url, quiet(), BASE, applied=False)
    assert caught.value.code == 4
    resolve(t, pg.url, quiet(), HEAD, applied=False)
    assert pg.execute("SELECT version_num FROM alembic_version") == [(BASE,)]
    assert [m.version for m in status(t, pg.url).state.pending] == [HEAD]
