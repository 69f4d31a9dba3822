"""Which statements still need the look at pg_locks: not those on tables the run surely created."""

from __future__ import annotations

from oncall.migrations.new_tables import statements_to_watch, tables_after
from oncall.migrations.statements import split


def watched(sql: str, before: frozenset[tuple[str | None, str]] = frozenset()) -> list[int]:
    return [s.line for s in statements_to_watch(split(sql), before)]


def test_index_on_a_table_created_a_statement_earlier_is_not_watched() -> None:
    """CREATE TABLE t then CREATE INDEX ON t: nobody else can hold a lock on t."""
    assert watched("CREATE TABLE t (id int);\nCREATE INDEX ON t (id);") == []


def test_index_on_an_existing_table_is_watched() -> None:
    """An index on a table the run did not create needs the look (it takes SHARE on it)."""
    assert watched("CREATE TABLE t (id int);\nCREATE INDEX ON cases (id);") == [2]


def test_create_if_not_exists_does_not_make_a_table_new() -> None:
    """IF NOT EXISTS may have kept an existing table with readers, so its index is still watched."""
    assert watched("CREATE TABLE IF NOT EXISTS t (id int);\nCREATE INDEX ON t (id);") == [2]


def test_tables_of_earlier_files_count_and_a_drop_forgets_them() -> None:
    """A table created by an earlier file is new; after DROP TABLE the name is not."""
    before = tables_after(split("CREATE TABLE t (id int); CREATE TABLE u (id int)"), frozenset())
    assert before == {(None, "t"), (None, "u")}
    assert watched("ALTER TABLE t ADD COLUMN x int;\nDROP TABLE u;\nCREATE INDEX ON u (id);", before) == [3]


def test_a_schema_qualified_table_is_new_only_under_the_same_name() -> None:
    """app.t created in the run says nothing about an unqualified t."""
    assert watched("CREATE TABLE app.t (id int);\nCREATE INDEX ON app.t (id);\nCREATE INDEX ON t (id);") == [
        3
    ]
