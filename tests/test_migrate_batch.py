"""Consecutive transactional migrations on new tables go in one query, each still its own transaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate_support import make_set, quiet, target
from oncall.errors import OncallError
from oncall.migrations import migrate


def five(third: str) -> dict[str, str]:
    files = {f"00{i}_t{i}.sql": f"CREATE TABLE t{i} (id bigint PRIMARY KEY);\n" for i in range(1, 6)}
    files["003_t3.sql"] = third
    return files


def test_new_table_migrations_share_one_round_trip(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Five files creating tables: one query for all, five ledger rows, five tables."""
    folder = make_set(tmp_path / "set", five("CREATE TABLE t3 (id bigint PRIMARY KEY);\n"))
    result = migrate(target(folder, tmp_path), pg.url, quiet())
    assert [a["round_trips"] for a in result.applied] == [1, 0, 0, 0, 0]
    assert {a["batch"] for a in result.applied} == {5}
    assert [r[0] for r in pg.execute("SELECT version FROM oncall_migrations ORDER BY 1")] == [
        f"00{i}_t{i}" for i in range(1, 6)
    ]
    assert pg.scalar("SELECT count(*) FROM pg_class WHERE relname ~ '^t[1-5]$'") == 5


def test_an_error_in_the_third_of_five_keeps_two_and_touches_none_after(  # type: ignore[no-untyped-def]
    pg, tmp_path: Path
) -> None:
    """The first two commit and are reported applied; the third rolls back and is named; 4-5 never run."""
    folder = make_set(tmp_path / "set", five("CREATE TABLE t3 (id bigint PRIMARY KEY);\nSELECT 1 / 0;\n"))
    out = quiet()
    with pytest.raises(OncallError) as failed:
        migrate(target(folder, tmp_path), pg.url, out)
    assert "003_t3.sql:2" in str(failed.value)
    assert "division by zero" in str(failed.value)
    said = out.stdout.getvalue()  # type: ignore[attr-defined]
    assert "applied  001_t1 in" in said
    assert "applied  002_t2 in" in said
    assert said.count("(one query for 5 migrations)") == 2
    assert "applied  003_t3" not in said
    assert [r[0] for r in pg.execute("SELECT version FROM oncall_migrations ORDER BY 1")] == [
        "001_t1",
        "002_t2",
    ]
    present = {r[0] for r in pg.execute("SELECT relname FROM pg_class WHERE relname ~ '^t[1-5]$'")}
    assert present == {"t1", "t2"}


def test_an_error_in_the_first_leaves_no_ledger_and_names_the_file(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The first migration creates the ledger in its transaction: its failure leaves nothing."""
    files = five("CREATE TABLE t3 (id bigint PRIMARY KEY);\n")
    files["001_t1.sql"] = "CREATE TABLE t1 (id bigint REFERENCES missing (id));\n"
    folder = make_set(tmp_path / "set", files)
    with pytest.raises(OncallError) as failed:
        migrate(target(folder, tmp_path), pg.url, quiet())
    assert "001_t1.sql:1" in str(failed.value)
    assert pg.scalar("SELECT to_regclass('oncall_migrations')") is None
    assert pg.scalar("SELECT count(*) FROM pg_class WHERE relname ~ '^t[1-5]$'") == 0
