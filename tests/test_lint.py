"""The squawk-like lint pass that plan and migrate --dry-run print."""

from __future__ import annotations

import pytest

from oncall.migrations.lint import lint
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
