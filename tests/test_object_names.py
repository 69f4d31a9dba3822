"""Names over 63 bytes: oncall names what the server stores (bytes, whole characters), never more."""

from __future__ import annotations

from pathlib import Path

import pytest

from oncall.db.names import choose_name, make_object_name, truncate_identifier
from oncall.migrations.statements import split
from oncall.schema.expect import expect
from oncall.schema.verify import verify
from verify_support import apply, make_target, write_files

# 70 bytes: 'é' and 'ü' are two bytes each, so cutting at 63 characters keeps a name that never existed.
LONG_TABLE = "commandes_" + "é" * 20 + "ü" * 9 + "_x"
LONG_COLUMN = "référence_" + "é" * 25

SQL = f"""
CREATE TABLE "{LONG_TABLE}" (
    id bigint PRIMARY KEY,
    "{LONG_COLUMN}" text UNIQUE,
    parent bigint REFERENCES "{LONG_TABLE}" (id)
);
CREATE INDEX ON "{LONG_TABLE}" (parent);
CREATE INDEX ON "{LONG_TABLE}" (parent, "{LONG_COLUMN}");
CREATE INDEX ON "{LONG_TABLE}" ((lower("{LONG_COLUMN}")));
CREATE INDEX ON "{LONG_TABLE}" ((parent + 1), (parent::text), (coalesce(parent, id)));
"""


def test_the_fixture_names_are_over_63_bytes_but_not_63_characters() -> None:
    """The names exercise the byte limit: fewer than 63 characters would fit a character slice."""
    assert len(LONG_TABLE.encode()) == 70
    assert len(LONG_TABLE) < 63


@pytest.mark.parametrize(
    ("name1", "name2", "label", "expected"),
    [
        ("t", "a_b", "idx", "t_a_b_idx"),
        ("a" * 70, None, "pkey", "a" * 58 + "_pkey"),
        ("a" * 40, "b" * 40, "key", "a" * 29 + "_" + "b" * 29 + "_key"),
        ("é" * 35, None, "pkey", "é" * 29 + "_pkey"),
    ],
    ids=["short names are kept", "a long table alone is cut", "the longer part is cut first", "no half é"],
)
def test_make_object_name_follows_the_server(
    name1: str, name2: str | None, label: str, expected: str
) -> None:
    """makeObjectName's rules: 63 bytes, the label kept, a multi-byte character never split."""
    assert make_object_name(name1, name2, label) == expected


def test_a_taken_name_gets_a_numbered_label() -> None:
    """The second unnamed index of the same columns is <table>_<cols>_idx1."""
    assert choose_name("t", "a", "idx", ["t_a_idx"]) == "t_a_idx1"


def test_identifiers_truncate_to_63_bytes_at_a_character_boundary() -> None:
    """truncate_identifier keeps whole characters only (pg_mbcliplen)."""
    assert truncate_identifier(LONG_TABLE).encode() == LONG_TABLE.encode()[:62]
    assert truncate_identifier("x" * 70) == "x" * 63


def test_names_match_pg_class_and_pg_constraint(pg) -> None:  # type: ignore[no-untyped-def]
    """Every name oncall derives for the file is the one the real server stored."""
    pg.execute(SQL)
    stored_table = pg.scalar(
        "SELECT relname FROM pg_class WHERE relname LIKE 'commandes_%' AND relkind = 'r'"
    )
    stored_indexes = {
        r[0]
        for r in pg.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'i' AND relnamespace = 'public'::regnamespace"
        )
    }
    stored_constraints = {
        r[0]
        for r in pg.execute("SELECT conname FROM pg_constraint WHERE connamespace = 'public'::regnamespace")
    }

    exp = expect([("0001_long.sql", SQL)])
    [created] = split(SQL)[0].creates
    assert created.name == stored_table == truncate_identifier(LONG_TABLE)
    assert set(exp.tables) == {("public", stored_table)}
    assert {name for _, name in exp.indexes} | {
        c.name for c in exp.constraints if c.kind != "foreign key"
    } == (stored_indexes)
    assert {c.name for c in exp.constraints} == stored_constraints


def test_verify_finds_the_long_names_it_expects(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Applied by oncall, the file verifies: no 'missing' object under a name the server never made."""
    target = make_target(write_files(tmp_path / "m", {"0001_long.sql": SQL}))
    apply(pg.url, target)
    result = verify(target, pg.url)
    assert [(r.kind, r.name) for r in result.failures] == []
