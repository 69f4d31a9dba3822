"""Bugs found on real migration sets (issue 14): URL options, a ledger schema made later, psql scripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from fix_pg import TestDatabase
from migrate_support import make_set, quiet, target
from oncall.db.connect import connect, parse_database_url
from oncall.errors import BadInput, CheckFailed
from oncall.migrations import discover
from oncall.migrations.run import migrate, status


def test_options_in_the_url_reach_the_server_as_libpq_reads_them(pg: TestDatabase) -> None:
    """`?options=-c%20search_path%3Dstorage,public` sets search_path (it used to become "+search_path")."""
    url = parse_database_url(pg.url + "?options=-c%20search_path%3Dstorage,public")
    assert url.params["options"] == "-c search_path=storage,public"
    conn = connect(url)
    try:
        row = conn.execute("SHOW search_path").fetchone()
    finally:
        conn.close()
    assert row == ("storage,public",)


def test_plus_in_a_url_parameter_stays_a_plus_as_in_libpq() -> None:
    url = parse_database_url("postgresql://u:p@127.0.0.1/db?application_name=a+b")
    assert url.params["application_name"] == "a+b"
    assert url.conninfo().endswith("?application_name=a%2Bb")


@pytest.mark.parametrize(
    "files",
    [
        {
            "001_public.sql": "CREATE TABLE t (id int);",
            "002_storage.sql": "CREATE SCHEMA IF NOT EXISTS storage;",
        },
        {"001_storage.sql": "CREATE SCHEMA storage;\nCREATE TABLE storage.objects (id int);"},
    ],
    ids=["later-migration", "first-migration"],
)
def test_ledger_in_a_schema_that_a_migration_creates(files: dict[str, str], pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """schema: storage, created by the set itself: the ledger is created where it can be."""
    t = target(make_set(tmp_path / "set", files), tmp_path, schema="storage")
    result = migrate(t, pg.url, quiet())
    assert [a["version"] for a in result.applied] == [Path(n).stem for n in files]
    assert pg.scalar("SELECT count(*) FROM storage.oncall_migrations") == len(files)
    assert status(t, pg.url, check=True).code == 0


def test_a_failure_of_the_ledger_itself_does_not_blame_the_migration_file(
    pg: TestDatabase, tmp_path: Path
) -> None:
    """A file that makes the ledger unusable: the error says the ledger failed, not `001_x.sql:1`."""
    folder = make_set(tmp_path / "set", {"001_x.sql": "CREATE TABLE oncall_migrations (id int);"})
    with pytest.raises(CheckFailed) as caught:
        migrate(target(folder, tmp_path), pg.url, quiet())
    assert caught.value.cause.startswith("recording 001_x in the ledger failed on ")
    assert "001_x.sql:" not in caught.value.cause
    assert (caught.value.hint or "").startswith("the migration file is not at fault")
    assert pg.scalar("SELECT to_regclass('oncall_migrations')") is None


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("CREATE TABLE a (id int);\n\\i other.sql\n", "001_x.sql:2: psql meta-command \\i"),
        ("\\set ON_ERROR_STOP on\nCREATE TABLE a (id int);\n", "001_x.sql:1: psql meta-command \\set"),
        (
            "CREATE TABLE a (id int);\nCOPY a (id) FROM stdin;\n1\n2\n\\.\n",
            "001_x.sql:2: COPY ... FROM stdin",
        ),
        ("CREATE TABLE a (id int);\nCOPY a (id) FROM STDIN;\n", "001_x.sql:2: COPY ... FROM stdin"),
    ],
)
def test_psql_scripts_are_named_as_such(sql: str, named: str, tmp_path: Path) -> None:
    folder = make_set(tmp_path / "set", {"001_x.sql": sql})
    with pytest.raises(BadInput) as caught:
        discover(target(folder, tmp_path))
    assert caught.value.code == 2
    assert caught.value.cause.startswith(str(folder / named))
    assert caught.value.cause.endswith(": oncall runs SQL, not psql scripts")
