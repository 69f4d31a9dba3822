"""The squawk-like lint pass that plan and migrate --dry-run print."""

from __future__ import annotations

import pytest

from oncall.migrations.lint import lint, lint_lines, new_relations
from oncall.migrations.statements import split


def rules(sql: str) -> list[str]:
    return [f.rule for f in lint(split(sql)) if f.severity != "info"]


@pytest.mark.parametrize(
    ("sql", "rule"),
    [
        ("CREATE INDEX IF NOT EXISTS ix ON cases (status)", "require-concurrent-index-creation"),
        ("ALTER TABLE cases ADD COLUMN IF NOT EXISTS x int NOT NULL", "adding-required-field"),
        (
            "ALTER TABLE cases ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES u(id)",
            "constraint-missing-not-valid",
        ),
        ("ALTER TABLE cases ADD CONSTRAINT ck CHECK (a > 0)", "constraint-missing-not-valid"),
        ("ALTER TABLE cases ALTER COLUMN a TYPE bigint", "changing-column-type"),
        ("ALTER TABLE cases ALTER COLUMN a SET NOT NULL", "adding-not-nullable-field"),
        (
            "ALTER TABLE cases ADD COLUMN IF NOT EXISTS u uuid DEFAULT gen_random_uuid()",
            "adding-field-with-default",
        ),
        ("DROP INDEX ix", "require-concurrent-index-deletion"),
        ("BEGIN", "transaction-nesting"),
    ],
    ids=[
        "index on existing table",
        "not null without default",
        "foreign key without not valid",
        "check without not valid",
        "column type change rewrites",
        "set not null scans",
        "volatile default rewrites",
        "drop index without concurrently",
        "begin inside the file",
    ],
)
def test_risky_statements_are_flagged(sql: str, rule: str) -> None:
    """Each risky pattern on an existing table yields its squawk rule."""
    assert rule in rules(sql)


def test_safe_forms_are_not_flagged() -> None:
    """NOT VALID constraints, concurrent indexes and constant defaults pass."""
    sql = (
        "ALTER TABLE cases ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES u(id) NOT VALID;"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix ON cases (status);"
        "ALTER TABLE cases ADD COLUMN IF NOT EXISTS n int NOT NULL DEFAULT 0;"
        "ALTER TABLE cases ADD COLUMN IF NOT EXISTS at timestamptz DEFAULT now()"
    )
    assert rules(sql) == []


def test_tables_created_in_the_same_run_are_not_existing_tables() -> None:
    """Indexing a table created a moment earlier blocks nobody, so it is not flagged."""
    assert (
        rules("CREATE TABLE IF NOT EXISTS fresh (id int); CREATE INDEX IF NOT EXISTS ix ON fresh (id)") == []
    )


def test_missing_if_not_exists_is_reported_as_info() -> None:
    """CREATE TABLE/INDEX without IF NOT EXISTS is a robustness note (prefer-robust-stmts)."""
    findings = lint(split("CREATE TABLE a (id int)"))
    assert [(f.rule, f.severity, f.line) for f in findings] == [("prefer-robust-stmts", "info", 1)]


def test_seed_sets_lint_clean_of_warnings() -> None:
    """Our own migrations of both seeds raise no warning-level finding."""
    from migrate_support import TRDRHUB, TURBO

    for folder in (TRDRHUB, TURBO):
        created: set[str] = set()
        for path in sorted(folder.glob("*.sql")):
            statements = split(path.read_text())
            assert [f for f in lint(statements, created_before=created) if f.severity != "info"] == []
            created.update(o.name for s in statements for o in s.creates if o.kind == "table")


def test_vacuum_full_is_flagged_but_plain_vacuum_is_not() -> None:
    """VACUUM FULL holds ACCESS EXCLUSIVE (prefer-repack); plain VACUUM does not."""
    assert rules("VACUUM FULL cases") == ["prefer-repack"]
    assert rules("VACUUM cases") == []


def run_rules(*files: str) -> list[list[str]]:
    """Warning rules per file when the files run in order in one run (as build_plan lints them)."""
    created: set[str] = set()
    found = []
    for sql in files:
        statements = split(sql)
        found.append([f.rule for f in lint(statements, created_before=created) if f.severity != "info"])
        created = new_relations(statements, created)
    return found


def test_dropping_an_index_of_a_table_created_in_the_same_file_is_not_flagged() -> None:
    """DROP INDEX on a table created a statement earlier locks nothing anyone is waiting for."""
    sql = "CREATE TABLE fresh (id int); CREATE INDEX ix ON fresh (id); DROP INDEX ix"
    assert rules(sql) == []


def test_dropping_an_index_of_a_table_created_by_an_earlier_file_is_not_flagged() -> None:
    """The same across files of one run: the first file's table has no readers yet."""
    first = "CREATE TABLE IF NOT EXISTS fresh (id int); CREATE INDEX IF NOT EXISTS fresh_ix ON fresh (id)"
    assert run_rules(first, "DROP INDEX IF EXISTS fresh_ix") == [[], []]


def test_dropping_an_index_built_in_the_run_on_an_existing_table_is_still_flagged() -> None:
    """An index new in the run but on an existing table: DROP INDEX still locks that table."""
    first = "CREATE INDEX CONCURRENTLY IF NOT EXISTS old_ix ON cases (id)"
    assert run_rules(first, "DROP INDEX IF EXISTS old_ix") == [[], ["require-concurrent-index-deletion"]]


def test_rewriting_a_table_created_in_the_run_is_not_flagged() -> None:
    """VACUUM FULL / CLUSTER of a table created earlier in the run blocks nobody."""
    assert run_rules("CREATE TABLE IF NOT EXISTS fresh (id int)", "VACUUM FULL fresh") == [[], []]


def test_lint_speaks_of_the_project_sql_only() -> None:
    """No finding message refers to oncall's own seed sets."""
    findings = lint(split("CREATE TABLE a (id int); CREATE INDEX ix ON a (id)"))
    assert findings
    assert not [f.message for f in findings if "seed" in f.message]


def test_info_findings_are_one_line_per_rule_and_file() -> None:
    """200 tables without IF NOT EXISTS give one summary line; --verbose lists all 200."""
    sql = "".join(f"CREATE TABLE t{i} (id int);\n" for i in range(200))
    findings = lint(split(sql))
    [summary] = lint_lines("0001_big.sql", findings)
    assert summary.startswith("lint info: 0001_big.sql [prefer-robust-stmts] 200 statements (lines 1, 2, 3")
    assert len(lint_lines("0001_big.sql", findings, verbose=True)) == 200


def test_warnings_are_listed_each() -> None:
    """Warnings are never folded: each keeps its own file:line."""
    findings = lint(
        split("ALTER TABLE cases ALTER COLUMN a TYPE bigint;\nALTER TABLE cases ALTER COLUMN b TYPE bigint")
    )
    assert [line.split(" [")[0] for line in lint_lines("f.sql", findings)] == [
        "lint warning: f.sql:1",
        "lint warning: f.sql:2",
    ]


def test_plan_of_a_run_lints_only_what_locks_existing_tables(  # type: ignore[no-untyped-def]
    pg, tmp_path, run_invoke
) -> None:
    """invoke plan: no locking finding for tables the run creates, robustness notes summed up."""
    from migrate_support import make_set, write_config

    tables = "".join(f"CREATE TABLE t{i} (id int);\n" for i in range(30))
    folder = make_set(
        tmp_path / "set",
        {
            "001_tables.sql": tables + "CREATE INDEX t0_ix ON t0 (id);\n",
            "002_reindex.sql": "DROP INDEX t0_ix;\nCREATE INDEX t0_id_ix ON t0 (id);\n",
        },
    )
    config = write_config(tmp_path / "c.yaml", {"mine": {"migrations": str(folder)}})
    result = run_invoke("-f", str(config), "plan", "--target", "mine", env={"DATABASE_URL": pg.url})
    assert result.code == 0, result.stderr
    lint_out = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("lint ")]
    assert lint_out == [
        "lint info: 001_tables.sql [prefer-robust-stmts] 31 statements (lines 1, 2, 3, 4, 5, 6, 7, 8, ...), "
        "e.g. line 1: CREATE TABLE t0 without IF NOT EXISTS fails with 'relation already exists' when rerun "
        "after a partial apply",
        "lint info: 002_reindex.sql:2 [prefer-robust-stmts] CREATE INDEX t0_id_ix without IF NOT EXISTS "
        "fails on rerun",
    ]


def test_plan_squawk_adds_its_rules_but_not_on_tables_the_run_creates(  # type: ignore[no-untyped-def]
    pg, tmp_path, run_invoke
) -> None:
    """plan --squawk: squawk's renaming-column on an existing table shows; nothing about the new table."""
    from migrate_support import make_set, write_config
    from oncall.migrations.squawk import squawk_binary

    if squawk_binary() is None:
        pytest.skip("squawk-cli is not installed")
    pg.execute("CREATE TABLE cases (id bigint, status text)")
    pg.execute("ALTER TABLE cases OWNER TO app")
    folder = make_set(
        tmp_path / "set",
        {
            "001_fresh.sql": "CREATE TABLE IF NOT EXISTS fresh (id bigint, code varchar(10));\n",
            "002_changes.sql": "ALTER TABLE fresh RENAME COLUMN code TO label;\n"
            "DROP TABLE IF EXISTS fresh;\n"
            "ALTER TABLE cases RENAME COLUMN status TO state;\n",
        },
    )
    config = write_config(tmp_path / "c.yaml", {"mine": {"migrations": str(folder)}})
    args = ("-f", str(config), "plan", "--squawk", "--target", "mine")
    result = run_invoke(*args, env={"DATABASE_URL": pg.url})
    assert result.code == 0, result.stderr
    lint_out = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("lint ")]
    squawk_said = [line.split(" ")[2] + " " + line.split("[")[1].split("]")[0] for line in lint_out]
    assert "002_changes.sql:3 squawk renaming-column" in squawk_said
    assert not [line for line in lint_out if "002_changes.sql:1 " in line or "002_changes.sql:2 " in line]
    assert not [line for line in lint_out if "timeout" in line]
    doc = run_invoke(*args, "--json", env={"DATABASE_URL": pg.url}).json()
    sources = {f["source"] for step in doc["steps"] for f in step["lint"]}
    assert "squawk" in sources
