"""The pglast statement splitter and classifier."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fix_pg import TestDatabase
from migrate_support import TURBO
from oncall.errors import BadInput
from oncall.migrations.parse_cache import cache_key
from oncall.migrations.statements import split, split_cached
from oncall.sandbox.pg import bin_dir

TRICKY = """\
-- leading comment; with a semicolon
CREATE TABLE t1 (id int PRIMARY KEY, note text DEFAULT 'a;b');   /* block ; comment */
CREATE FUNCTION f() RETURNS int AS $body$
BEGIN
    RETURN 1; -- semicolon inside the body
END;
$body$ LANGUAGE plpgsql;
DO $$ BEGIN PERFORM 1; PERFORM 2; END $$; CREATE TABLE t2 (id int);
INSERT INTO t1 VALUES (1, E'it''s; fine');
"""


def test_split_keeps_dollar_quoted_bodies_and_comments_intact() -> None:
    """Semicolons inside strings, comments, function bodies and DO blocks do not split statements."""
    statements = split(TRICKY)
    assert [s.kind for s in statements] == [
        "CreateStmt",
        "CreateFunctionStmt",
        "DoStmt",
        "CreateStmt",
        "InsertStmt",
    ]
    assert [s.line for s in statements] == [2, 3, 8, 8, 9]
    assert "RETURN 1; -- semicolon inside the body" in statements[1].text


def test_seed_file_splits_into_its_seven_statements() -> None:
    """The turbo-response seed migration (function body, DO block, INSERT) splits as psql runs it."""
    statements = split((TURBO / "20251110_add_usage_tracking.sql").read_text())
    assert [s.kind for s in statements] == [
        "CreateStmt",
        "IndexStmt",
        "IndexStmt",
        "CreateStmt",
        "CreateFunctionStmt",
        "DoStmt",
        "InsertStmt",
    ]


def test_statements_run_one_by_one_match_psql_f(pg: TestDatabase, tmp_path: Path) -> None:
    """Running the split statements one at a time leaves the same objects as `psql -f` of the file."""
    import psycopg

    path = tmp_path / "tricky.sql"
    path.write_text(TRICKY)
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA ours")
        conn.execute("CREATE SCHEMA theirs")
        conn.execute("SET search_path = ours")
        for statement in split(TRICKY):
            conn.execute(statement.text.encode())
    env = {"PGPASSWORD": pg.password, "PGOPTIONS": "-c search_path=theirs"}
    subprocess.run(
        [
            str(bin_dir() / "psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            str(pg.server.port),
            "-U",
            pg.user,
            "-d",
            pg.name,
            "-f",
            str(path),
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )

    def objects(schema: str) -> list[tuple[str, str]]:
        return pg.execute(
            "SELECT c.relname, c.relkind::text FROM pg_class c "
            f"JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = '{schema}' ORDER BY 1"
        ) + pg.execute(
            f"SELECT p.proname, 'f' FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            f"WHERE n.nspname = '{schema}'"
        )

    assert objects("ours") == objects("theirs")
    assert pg.scalar("SELECT note FROM ours.t1") == pg.scalar("SELECT note FROM theirs.t1")


def test_syntax_error_names_file_line_and_parser_message() -> None:
    """A syntax error is BadInput (exit 2) naming file:line and PostgreSQL's own message."""
    with pytest.raises(BadInput) as caught:
        split("CREATE TABLE a (id int);\n\nCREATE TABEL b (id int);\n", source="m/001.sql")
    assert "m/001.sql:3" in caught.value.cause
    assert 'syntax error at or near "TABEL"' in caught.value.cause
    assert caught.value.code == 2


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("CREATE INDEX CONCURRENTLY ix ON t (a)", "CREATE INDEX CONCURRENTLY"),
        ("DROP INDEX CONCURRENTLY ix", "DROP INDEX CONCURRENTLY"),
        ("REINDEX TABLE CONCURRENTLY t", "REINDEX CONCURRENTLY"),
        ("VACUUM t", "VACUUM"),
        ("CREATE INDEX ix ON t (a)", None),
        ("ANALYZE t", None),
    ],
    ids=[
        "create index concurrently",
        "drop index concurrently",
        "reindex concurrently",
        "vacuum",
        "plain create index",
        "analyze",
    ],
)
def test_statements_that_cannot_run_in_a_transaction_are_detected(sql: str, reason: str | None) -> None:
    """Each statement PostgreSQL refuses inside a transaction block is classified as such."""
    assert split(sql)[0].no_transaction_reason() == reason


def test_enum_add_value_needs_no_transaction_only_before_12() -> None:
    """ALTER TYPE ... ADD VALUE runs in a transaction since PostgreSQL 12, not before."""
    statement = split("ALTER TYPE mood ADD VALUE 'meh'")[0]
    assert statement.no_transaction_reason(110000) == "ALTER TYPE ... ADD VALUE (PostgreSQL < 12)"
    assert statement.no_transaction_reason(160000) is None


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("DO $$ BEGIN UPDATE t SET a = 1; COMMIT; END $$", "DO block that COMMITs"),
        ("DO $$ BEGIN LOOP EXIT; END LOOP; ROLLBACK; END $$ LANGUAGE plpgsql", "DO block that COMMITs"),
        ("DO $$ BEGIN RAISE NOTICE 'commit later'; END $$", None),
        ("DO $$ BEGIN PERFORM 1; -- no commit here\nEND $$", None),
        ("DO $$ BEGIN PERFORM 1; END $$", None),
    ],
    ids=[
        "commit in a loop body",
        "rollback",
        "the word in a string",
        "the word in a comment",
        "no transaction control",
    ],
)
def test_a_do_block_that_commits_is_found_in_its_plpgsql_parse_tree(sql: str, reason: str | None) -> None:
    """COMMIT/ROLLBACK as PL/pgSQL statements count; the word in a string or comment does not."""
    assert split(sql)[0].no_transaction_reason() == reason


def test_a_new_enum_value_counts_only_when_a_later_statement_uses_it() -> None:
    """ADD VALUE 'x' followed by a use of 'x' is a reason; an earlier use or another value is not."""
    from oncall.migrations.statements import enum_value_uses

    used_later = split("ALTER TYPE mood ADD VALUE 'meh';\nUPDATE t SET m = 'meh'::mood;")
    assert enum_value_uses(used_later) == ["ALTER TYPE ... ADD VALUE 'meh' at line 1 is used at line 2"]
    used_before = split("UPDATE t SET m = 'meh';\nALTER TYPE mood ADD VALUE 'meh';")
    assert enum_value_uses(used_before) == []
    other_value = split("ALTER TYPE mood ADD VALUE 'meh';\nUPDATE t SET m = 'ok';")
    assert enum_value_uses(other_value) == []


def test_created_objects_and_relations_are_read_from_the_parse_tree() -> None:
    """`creates` lists tables and indexes a statement makes; `relations` every table it names."""
    table, index = split(
        "CREATE TABLE s.a (id int REFERENCES b(id)); CREATE UNIQUE INDEX IF NOT EXISTS ix_a ON s.a (id)"
    )
    assert [(o.kind, o.qualified) for o in table.creates] == [("table", "s.a")]
    assert [(o.kind, o.qualified) for o in index.creates] == [("index", "s.ix_a")]
    assert table.relations == ["a", "b"]


def test_non_ascii_text_keeps_statement_boundaries() -> None:
    """Byte offsets from the parser are turned into character offsets, so accents do not shift text."""
    first, second = split("-- café, naïve\nCREATE TABLE ümlaut (note text DEFAULT 'é');\nSELECT 'ß';\n")
    assert first.text == "CREATE TABLE ümlaut (note text DEFAULT 'é')"
    assert second.text == "SELECT 'ß'"
    assert (first.line, second.line) == (2, 3)


def test_cached_split_of_unchanged_content_never_imports_pglast(tmp_path: Path) -> None:
    """A second process splitting the same content reads the cache and leaves pglast unimported."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from oncall.migrations.statements import split_cached\n"
        f"folder = Path({str(tmp_path)!r})\n"
        "statements = split_cached((folder / 'f.sql').read_text(), state_dir=folder)\n"
        "print(len(statements), [s.kind for s in statements], 'pglast' in sys.modules)\n"
    )
    (tmp_path / "f.sql").write_text(TRICKY)

    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    kinds = [s.kind for s in split(TRICKY)]
    assert run() == f"5 {kinds} True"
    assert run() == f"5 {kinds} False"


def test_cached_statements_equal_freshly_parsed_ones(tmp_path: Path) -> None:
    """Text, line, offsets and parse tree read back from the cache are those `split` returns."""
    split_cached(TRICKY, state_dir=tmp_path)
    cached = split_cached(TRICKY, state_dir=tmp_path)
    fresh = split(TRICKY)
    assert [(s.text, s.line, s.start, s.end, s.node) for s in cached] == [
        (s.text, s.line, s.start, s.end, s.node) for s in fresh
    ]


def test_malformed_cache_entry_is_parsed_again(tmp_path: Path) -> None:
    """An entry of the wrong shape (foreign or torn) is ignored and replaced by a fresh parse."""
    entry = tmp_path / "cache" / cache_key("statements", TRICKY)
    entry.parent.mkdir(parents=True)
    for bad in ('[["CREATE TABLE x ()", "one", 0, 1, {}]]', '{"stmts": []}', "[[1, 2]]"):
        entry.write_text(bad)
        assert [s.kind for s in split_cached(TRICKY, state_dir=tmp_path)] == [s.kind for s in split(TRICKY)]
        assert entry.read_text() != bad


def test_syntax_error_is_raised_on_every_run_and_never_cached(tmp_path: Path) -> None:
    """A file that does not parse fails each time with file:line; nothing is stored for it."""
    for _ in range(2):
        with pytest.raises(BadInput) as caught:
            split_cached("CREATE TABEL b (id int);\n", source="m/002.sql", state_dir=tmp_path)
        assert "m/002.sql:1" in caught.value.cause
    assert not list(tmp_path.glob("cache/statements-*"))
