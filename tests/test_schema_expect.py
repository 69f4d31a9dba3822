"""The expected schema derived from migration SQL: types, keys, indexes, seed rows, and folding."""

from __future__ import annotations

import pytest

from oncall.errors import BadInput
from oncall.schema.expect import Expectation, canonical_default, expect
from verify_support import SEEDS


def one(sql: str, **kwargs: str) -> Expectation:
    return expect([("0001_test.sql", sql)], **kwargs)


def files(*sqls: str) -> Expectation:
    return expect([(f"{i:04d}_f.sql", sql) for i, sql in enumerate(sqls, 1)])


def seed(name: str) -> Expectation:
    return expect((p.name, p.read_text()) for p in sorted(SEEDS[name].glob("*.sql")))


def test_seed_001_declares_tables_columns_keys_indexes_and_rows() -> None:
    """Seed 001 expects ai_usage_logs and admin_settings as the catalog will report them."""
    exp = seed("turbo-response")
    assert set(exp.tables) == {("public", "cases"), ("public", "ai_usage_logs"), ("public", "admin_settings")}
    logs = exp.tables[("public", "ai_usage_logs")].columns
    assert logs["id"].type == "integer"
    assert logs["id"].serial
    assert logs["id"].not_null
    assert logs["analysis_type"].type == "character varying(50)"
    assert logs["estimated_cost"].type == "numeric(10,4)"
    assert logs["model_used"].default == "'gpt-4'"
    assert logs["created_at"].type == "timestamp with time zone"
    assert not logs["case_id"].not_null
    fks = [c for c in exp.constraints if c.kind == "foreign key"]
    assert [(c.name, c.columns, c.ref_table, c.ref_columns) for c in fks] == [
        ("ai_usage_logs_case_id_fkey", ("case_id",), "cases", ("id",))
    ]
    unique = [c for c in exp.constraints if c.kind == "unique"]
    assert [(c.name, c.columns) for c in unique] == [("admin_settings_setting_key_key", ("setting_key",))]
    assert set(exp.indexes) == {
        ("public", "idx_cases_status"),
        ("public", "idx_ai_usage_logs_case_id"),
        ("public", "idx_ai_usage_logs_created_at"),
    }
    assert [(r.table, r.key) for r in exp.rows] == [("admin_settings", ("setting_key",))] * 2
    assert [r.values for r in exp.rows] == [
        {"setting_key": "cap_warning_threshold", "setting_value": "0.8"},
        {"setting_key": "monthly_spending_cap", "setting_value": None},
    ]


def test_seed_000_references_resolve_to_the_referenced_tables() -> None:
    """Seed 000's inline REFERENCES name the referenced table and column."""
    exp = seed("trdrhub")
    names = {c.name: (c.ref_table, c.ref_columns) for c in exp.constraints if c.kind == "foreign key"}
    assert names["ai_usage_records_tenant_id_fkey"] == ("companies", ("id",))
    assert names["ai_assist_events_lc_session_id_fkey"] == ("validation_sessions", ("id",))
    assert exp.tables[("public", "ai_assist_events")].columns["input_data"].type == "jsonb"
    assert exp.tables[("public", "ai_assist_events")].columns["fallback_used"].type == "boolean"
    assert exp.tables[("public", "users")].columns["email"].type == "character varying(255)"


@pytest.mark.parametrize(
    ("written", "catalog"),
    [
        ("varchar(50)", "character varying(50)"),
        ("VARCHAR", "character varying"),
        ("timestamptz", "timestamp with time zone"),
        ("TIMESTAMP", "timestamp without time zone"),
        ("timestamp(3) with time zone", "timestamp(3) with time zone"),
        ("int8", "bigint"),
        ("INT", "integer"),
        ("smallint", "smallint"),
        ("bool", "boolean"),
        ("float", "double precision"),
        ("real", "real"),
        ("decimal(5, 2)", "numeric(5,2)"),
        ("numeric", "numeric"),
        ("char(2)", "character(2)"),
        ("uuid", "uuid"),
        ("jsonb", "jsonb"),
        ("text[]", "text[]"),
        ("integer[]", "integer[]"),
        ("bigserial", "bigint"),
        ("time", "time without time zone"),
        ("bytea", "bytea"),
    ],
    ids=lambda v: v,
)
def test_types_are_spelled_as_format_type_prints_them(written: str, catalog: str) -> None:
    """A column type is normalised to the catalog's spelling."""
    exp = one(f"CREATE TABLE t (c {written})")
    assert exp.tables[("public", "t")].columns["c"].type == catalog


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("now()", "now()"),
        ("CURRENT_TIMESTAMP", "now()"),
        ("0", "0"),
        ("FALSE", "false"),
        ("'gpt-4'", "'gpt-4'::character varying"),
        ("-1", "'-1'::integer"),
        ("'{}'::jsonb", "'{}'::jsonb"),
        ("now() + interval '1 day'", "(now() + '1 day'::interval)"),
    ],
    ids=lambda v: v,
)
def test_defaults_compare_equal_across_spellings(ours: str, theirs: str) -> None:
    """A default written in the migration equals the same default as pg_get_expr prints it."""
    assert canonical_default(ours) == canonical_default(theirs)


def test_different_defaults_stay_different() -> None:
    """Normalisation does not make unequal defaults equal."""
    assert canonical_default("'gpt-4'") != canonical_default("'gpt-3'::character varying")
    assert canonical_default("0") != canonical_default("1")


def test_quoted_identifiers_keep_their_case_and_spaces() -> None:
    """Quoted names are kept exactly, and shown quoted."""
    exp = one('CREATE TABLE "Audit Log" ("When" timestamptz NOT NULL, id int PRIMARY KEY);'
              'CREATE INDEX "Audit When" ON "Audit Log" ("When");')  # fmt: skip
    table = exp.tables[("public", "Audit Log")]
    assert list(table.columns) == ["When", "id"]
    assert exp.indexes[("public", "Audit When")].columns == ("When",)
    assert exp.constraints[0].name == "Audit Log_pkey"


def test_schema_qualified_names_are_respected() -> None:
    """Objects in another schema are keyed by that schema; unnamed indexes get PostgreSQL's names."""
    exp = one(
        "CREATE SCHEMA billing;"
        "CREATE TABLE billing.invoices (id bigserial PRIMARY KEY, company_id int REFERENCES public.cos(id));"
        "CREATE TABLE cos (id int PRIMARY KEY);"
        "CREATE INDEX ON billing.invoices (company_id);"
    )
    assert ("billing", "invoices") in exp.tables
    assert ("billing", "invoices_company_id_idx") in exp.indexes
    fk = next(c for c in exp.constraints if c.kind == "foreign key")
    assert (fk.schema, fk.table, fk.ref_schema, fk.ref_table) == ("billing", "invoices", "public", "cos")


def test_search_path_set_by_a_migration_moves_unqualified_names() -> None:
    """SET search_path in a file decides the schema of the unqualified names after it."""
    exp = one("SET search_path TO app, public; CREATE TABLE t (id int);")
    assert list(exp.tables) == [("app", "t")]


def test_inline_and_table_level_constraints() -> None:
    """PRIMARY KEY, UNIQUE and FOREIGN KEY are read both inline and as table constraints."""
    exp = one(
        "CREATE TABLE parent (a int, b int, PRIMARY KEY (a, b));"
        "CREATE TABLE child (id int PRIMARY KEY, code text UNIQUE, a int, b int, "
        "  CONSTRAINT child_ab_fk FOREIGN KEY (a, b) REFERENCES parent, UNIQUE (a, b));"
    )
    kinds = {(c.kind, c.table, c.name, c.columns, c.ref_columns) for c in exp.constraints}
    assert kinds == {
        ("primary key", "parent", "parent_pkey", ("a", "b"), ()),
        ("primary key", "child", "child_pkey", ("id",), ()),
        ("unique", "child", "child_code_key", ("code",), ()),
        ("foreign key", "child", "child_ab_fk", ("a", "b"), ("a", "b")),
        ("unique", "child", "child_a_b_key", ("a", "b"), ()),
    }
    parent = exp.tables[("public", "parent")].columns
    assert parent["a"].not_null
    assert parent["b"].not_null


def test_create_table_if_not_exists_keeps_the_existing_table() -> None:
    """CREATE TABLE IF NOT EXISTS of a table an earlier file made changes nothing, as on the server."""
    exp = files(
        "CREATE TABLE t (id int PRIMARY KEY, a text)",
        "CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY, b int NOT NULL);"
        "CREATE INDEX IF NOT EXISTS i ON t (a)",
    )
    assert list(exp.tables[("public", "t")].columns) == ["id", "a"]
    assert [c.name for c in exp.constraints] == ["t_pkey"]
    assert "kept the existing table" in exp.notes[0]


def test_alter_table_is_folded_into_the_end_state() -> None:
    """ADD/DROP COLUMN, TYPE, NOT NULL, DEFAULT, RENAME and DROP give the state after the last file."""
    exp = files(
        "CREATE TABLE t (id int PRIMARY KEY, a varchar(10), b int NOT NULL, gone int);"
        "CREATE INDEX t_gone ON t (gone); CREATE INDEX t_a ON t (a); CREATE TABLE old (id int);"
        "CREATE TABLE r (id int PRIMARY KEY, t_id int REFERENCES t(id)); CREATE INDEX r_t ON r (t_id);",
        "ALTER TABLE t ADD COLUMN c boolean NOT NULL DEFAULT false, DROP COLUMN gone,"
        "  ALTER COLUMN a TYPE text, ALTER COLUMN a SET NOT NULL, ALTER COLUMN b DROP NOT NULL,"
        "  ALTER COLUMN b SET DEFAULT 7;"
        "ALTER TABLE t RENAME COLUMN a TO title; ALTER TABLE t RENAME TO things;"
        "ALTER INDEX t_a RENAME TO things_title; DROP TABLE old; DROP TABLE r; ",
    )
    assert set(exp.tables) == {("public", "things")}
    cols = exp.tables[("public", "things")].columns
    assert list(cols) == ["id", "title", "b", "c"]
    assert (cols["title"].type, cols["title"].not_null) == ("text", True)
    assert (cols["b"].not_null, cols["b"].default) == (False, "7")
    assert (cols["c"].type, cols["c"].default) == ("boolean", "FALSE")
    assert set(exp.indexes) == {("public", "things_title")}
    assert exp.indexes[("public", "things_title")].columns == ("title",)
    assert exp.indexes[("public", "things_title")].table == "things"
    assert [(c.table, c.kind) for c in exp.constraints] == [("things", "primary key")]


def test_drop_index_and_constraint_are_folded() -> None:
    """DROP INDEX and ALTER TABLE DROP CONSTRAINT remove the expectation."""
    exp = files(
        "CREATE TABLE t (id int PRIMARY KEY, u text UNIQUE); CREATE INDEX i ON t (u);",
        "DROP INDEX IF EXISTS i; ALTER TABLE t DROP CONSTRAINT t_u_key;",
    )
    assert exp.indexes == {}
    assert [c.name for c in exp.constraints] == ["t_pkey"]


def test_rows_follow_later_updates_and_deletes() -> None:
    """An UPDATE keeps only the row's key as expected; a DELETE forgets the table's rows."""
    exp = files(
        "CREATE TABLE s (k text PRIMARY KEY, v text); INSERT INTO s VALUES ('a', '1'), ('b', '2');"
        "CREATE TABLE z (k text); INSERT INTO z (k) VALUES ('x');",
        "UPDATE s SET v = '3' WHERE k = 'a'; DELETE FROM z;",
    )
    assert [(r.table, r.key, r.values_known) for r in exp.rows] == [("s", ("k",), False)] * 2


def test_rows_with_computed_values_are_noted_not_expected() -> None:
    """INSERT of a computed value cannot be expected literally; it is noted instead."""
    exp = one("CREATE TABLE s (k text, at timestamptz); INSERT INTO s VALUES ('a', now());")
    assert exp.rows == []
    assert "computed" in exp.notes[0]


def test_a_file_that_does_not_parse_is_bad_input_naming_it() -> None:
    """A syntax error is exit 2 with the file named."""
    with pytest.raises(BadInput) as err:
        one("CREATE TABLE t (id int,,)")
    assert "0001_test.sql:1" in err.value.cause
    assert err.value.code == 2


def test_only_keeps_the_named_tables_and_rejects_unknown_ones() -> None:
    """--only narrows the expectation to named tables; an unknown name is bad input."""
    exp = seed("turbo-response")
    narrowed = exp.only(["admin_settings"])
    assert set(narrowed.tables) == {("public", "admin_settings")}
    assert len(narrowed.rows) == 2
    assert narrowed.indexes == {}
    with pytest.raises(BadInput) as err:
        exp.only(["nope"])
    assert "nope" in err.value.cause


def test_other_drop_statements_are_ignored_and_drop_schema_cascades() -> None:
    """DROP FUNCTION/TYPE change no expectation; DROP SCHEMA ... CASCADE drops its tables."""
    exp = files(
        "CREATE SCHEMA s; CREATE TABLE s.a (id int); CREATE TABLE b (id int); CREATE TYPE mood AS ENUM ('x');"
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1';",
        "DROP FUNCTION f(); DROP TYPE mood; DROP SCHEMA s CASCADE;",
    )
    assert list(exp.tables) == [("public", "b")]


def test_set_schema_moves_the_table_and_its_indexes() -> None:
    """ALTER TABLE ... SET SCHEMA moves the table, its keys and its indexes."""
    exp = files(
        "CREATE TABLE t (id int PRIMARY KEY, v text); CREATE INDEX t_v ON t (v);",
        "ALTER TABLE t SET SCHEMA archive;",
    )
    assert list(exp.tables) == [("archive", "t")]
    assert list(exp.indexes) == [("archive", "t_v")]
    assert [(c.schema, c.table) for c in exp.constraints] == [("archive", "t")]


def test_add_constraint_using_index_turns_the_index_into_the_constraint() -> None:
    """UNIQUE USING INDEX (the zero-downtime pattern) expects a constraint, not the index."""
    exp = files(
        "CREATE TABLE t (id int, email text); CREATE UNIQUE INDEX CONCURRENTLY t_email_idx ON t (email);",
        "ALTER TABLE t ADD CONSTRAINT t_email_key UNIQUE USING INDEX t_email_idx;",
    )
    assert exp.indexes == {}
    assert [(c.kind, c.name, c.columns) for c in exp.constraints] == [("unique", "t_email_key", ("email",))]


def test_generated_columns_numeric_precision_and_default_null() -> None:
    """A stored generated column's expression, numeric(10) and DEFAULT NULL match the catalog's view."""
    exp = one("CREATE TABLE t (a int, b int GENERATED ALWAYS AS (a * 2) STORED, n numeric(10) DEFAULT NULL)")
    cols = exp.tables[("public", "t")].columns
    assert cols["b"].default == "a * 2"
    assert cols["n"].type == "numeric(10,0)"
    assert canonical_default(cols["n"].default) is None
