"""Ledger SQL is composed by psycopg.sql: what a ledger row records is what the file says, byte for byte."""

from __future__ import annotations

from pathlib import Path

from psycopg import sql

from fix_pg import TestDatabase
from migrate_support import make_set, quiet, target
from oncall.migrations.alembic_heads import Op, moves_sql, stamp_ops
from oncall.migrations.ledger import sql_text
from oncall.migrations.run import migrate

# A statement whose text holds a backslash: hand-quoted '...' means something else to a server
# whose standard_conforming_strings is off (an old default some providers still set per role).
WITH_BACKSLASH = "CREATE TABLE paths (p text DEFAULT 'C:\\temp\\new');\n"


def test_a_supabase_ledger_row_keeps_backslashes_when_standard_strings_are_off(
    pg: TestDatabase, tmp_path: Path
) -> None:
    """supabase_migrations records the statement text exactly, whatever standard_conforming_strings is."""
    pg.execute("ALTER ROLE app SET standard_conforming_strings = off")
    try:
        folder = make_set(tmp_path / "supabase" / "migrations", {"20250101120000_paths.sql": WITH_BACKSLASH})
        migrate(target(folder, tmp_path), pg.url, quiet())
    finally:
        pg.execute("ALTER ROLE app RESET standard_conforming_strings")
    recorded = pg.scalar("SELECT statements[1] FROM supabase_migrations.schema_migrations")
    assert recorded == WITH_BACKSLASH.strip().rstrip(";")


def test_every_alembic_move_is_one_builders_sql() -> None:
    """Upgrade, downgrade to base, first revision and stamp come from moves_sql alone."""
    table = sql_text(sql.Identifier("s", "alembic_version"))
    assert moves_sql("s", ["a"], [Op("update", "a", "b")], expect=None) == (
        f"UPDATE {table} SET version_num = 'b' WHERE {table}.version_num = 'a'"
    )
    assert (
        moves_sql("s", ["a"], [Op("delete", "a")], expect=None)
        == f"DELETE FROM {table} WHERE version_num = 'a'"
    )
    assert (
        moves_sql("s", [], [Op("insert", "a")], expect=None)
        == f"INSERT INTO {table} (version_num) VALUES ('a')"
    )
    assert moves_sql("s", ["x", "y"], stamp_ops(["x", "y"], "a"), expect=None) == (
        f"DELETE FROM {table};\nINSERT INTO {table} (version_num) VALUES ('a')"
    )


def test_a_sql_template_renders_what_psycopg_composes_whole() -> None:
    """The per-migration SQL is composed once and filled per file: the text must not change by it."""
    from oncall.migrations.ledger import SqlTemplate

    text = "INSERT INTO {table} (v, n, d) VALUES ({version}, {name}, {done}) -- {mode}"
    fixed = {"table": sql.Identifier('we"ird {schema}', "t"), "mode": sql.Literal("transaction")}
    template = SqlTemplate(text, **fixed)
    for version, name, done in [
        ("0001_a", "a", 2),
        ("it's", "C:\\temp\\new", None),
        ("ünïcode", "", -1),
    ]:
        whole = sql.SQL(text).format(
            version=sql.Literal(version), name=sql.Literal(name), done=sql.Literal(done), **fixed
        )
        assert template.render(version=version, name=name, done=done) == sql_text(whole)
