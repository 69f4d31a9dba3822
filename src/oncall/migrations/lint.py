"""A squawk-like pass over migration statements: risky locks, table rewrites, non-robust DDL.

Rule names follow squawk's so that a reader can look them up there. A table counts as *existing*
unless an earlier statement of the same run created it: indexing or constraining a table created a
moment ago locks nothing anyone is waiting for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oncall.migrations.statements import Statement, _walk

# Defaults that are evaluated once for the whole table (no rewrite since PostgreSQL 11).
_STABLE_DEFAULT_FUNCS = {"now", "current_timestamp", "statement_timestamp", "transaction_timestamp"}

# How many line numbers an info summary lists before "...".
_LISTED_LINES = 8


@dataclass(frozen=True)
class LintFinding:
    """One lint finding: the rule, the file line, and what to do instead."""

    rule: str
    line: int
    message: str
    severity: str = "warning"
    # "oncall" for our own pass, "squawk" for findings of `plan --squawk` (oncall.migrations.squawk)
    source: str = "oncall"

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "line": self.line,
            "message": self.message,
            "severity": self.severity,
            "source": self.source,
        }


def _constraints(column: dict[str, Any]) -> list[dict[str, Any]]:
    return list(column.get("constraints") or ())


def _contype(constraint: dict[str, Any]) -> str:
    return str(constraint.get("contype", ""))


def _subtype(cmd: dict[str, Any]) -> str:
    return str(cmd.get("subtype", ""))


def _volatile_default(expr: Any) -> bool:
    for call in _walk(expr, "FuncCall"):
        names = [part.get("sval", "") for part in call.get("funcname") or ()]
        if names and names[-1].lower() not in _STABLE_DEFAULT_FUNCS:
            return True
    return False


def _alter_table(statement: Statement, table: str, new_table: bool) -> list[LintFinding]:
    findings: list[LintFinding] = []
    line = statement.line
    for cmd in statement.node.get("cmds") or ():
        sub = _subtype(cmd)
        definition = cmd.get("def") or {}
        if sub == "AT_AddColumn":
            constraints = _constraints(definition)
            types = {_contype(c) for c in constraints}
            column = definition.get("colname")
            if "CONSTR_NOTNULL" in types and "CONSTR_DEFAULT" not in types and not new_table:
                findings.append(
                    LintFinding(
                        "adding-required-field",
                        line,
                        f"ADD COLUMN {column} NOT NULL without a DEFAULT fails on a non-empty {table} and "
                        "breaks inserts from the running app; add a DEFAULT or make it nullable first",
                    )
                )
            for constraint in constraints:
                if _contype(constraint) == "CONSTR_DEFAULT" and _volatile_default(constraint.get("raw_expr")):
                    findings.append(
                        LintFinding(
                            "adding-field-with-default",
                            line,
                            f"ADD COLUMN {column} with a volatile DEFAULT rewrites {table} under "
                            "ACCESS EXCLUSIVE; add the column without it, then backfill in batches",
                        )
                    )
            if not cmd.get("missing_ok"):
                findings.append(
                    LintFinding(
                        "prefer-robust-stmts",
                        line,
                        f"ADD COLUMN {column} without IF NOT EXISTS fails when rerun after a partial apply",
                        "info",
                    )
                )
        elif sub == "AT_AddConstraint" and not new_table:
            kind = _contype(definition)
            if kind in ("CONSTR_FOREIGN", "CONSTR_CHECK") and not definition.get("skip_validation"):
                label = "FOREIGN KEY" if kind == "CONSTR_FOREIGN" else "CHECK"
                findings.append(
                    LintFinding(
                        "constraint-missing-not-valid",
                        line,
                        f"{label} {definition.get('conname') or ''} on {table} scans the table while "
                        "blocking writes; add it NOT VALID, then VALIDATE CONSTRAINT in a later migration",
                    )
                )
            if kind in ("CONSTR_UNIQUE", "CONSTR_PRIMARY") and not definition.get("indexname"):
                findings.append(
                    LintFinding(
                        "disallowed-unique-constraint",
                        line,
                        f"adding a UNIQUE/PRIMARY KEY constraint builds its index on {table} under ACCESS "
                        "EXCLUSIVE; CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX",
                    )
                )
        elif sub == "AT_AlterColumnType" and not new_table:
            findings.append(
                LintFinding(
                    "changing-column-type",
                    line,
                    f"ALTER COLUMN {cmd.get('name')} TYPE usually rewrites {table} under ACCESS EXCLUSIVE",
                )
            )
        elif sub == "AT_SetNotNull" and not new_table:
            findings.append(
                LintFinding(
                    "adding-not-nullable-field",
                    line,
                    f"SET NOT NULL on {table}.{cmd.get('name')} scans the table under ACCESS EXCLUSIVE; "
                    "add a CHECK (... IS NOT NULL) NOT VALID, validate it, then SET NOT NULL",
                )
            )
    return findings


def lint(statements: list[Statement], *, created_before: set[str] | None = None) -> list[LintFinding]:
    """Findings for a file's statements.

    `created_before` holds what earlier files of the run create (see `new_relations`).
    """
    created = set(created_before or ())
    findings: list[LintFinding] = []
    for statement in statements:
        kind, node, line = statement.kind, statement.node, statement.line
        table = statement.target_table
        if statement.is_transaction_control:
            findings.append(
                LintFinding(
                    "transaction-nesting",
                    line,
                    "BEGIN/COMMIT in the file: oncall runs each file in its own transaction; remove it",
                    "error",
                )
            )
        elif kind == "CreateStmt":
            if not node.get("if_not_exists"):
                findings.append(
                    LintFinding(
                        "prefer-robust-stmts",
                        line,
                        f"CREATE TABLE {table} without IF NOT EXISTS fails with 'relation already exists' "
                        "when rerun after a partial apply",
                        "info",
                    )
                )
        elif kind == "IndexStmt":
            new_table = table in created
            if not node.get("concurrent") and not new_table:
                findings.append(
                    LintFinding(
                        "require-concurrent-index-creation",
                        line,
                        f"CREATE INDEX on existing table {table} blocks its writes for the whole build; "
                        "use CREATE INDEX CONCURRENTLY (the file then runs outside a transaction)",
                    )
                )
            if not node.get("if_not_exists"):
                findings.append(
                    LintFinding(
                        "prefer-robust-stmts",
                        line,
                        f"CREATE INDEX {node.get('idxname') or ''} without IF NOT EXISTS fails on rerun",
                        "info",
                    )
                )
        elif kind == "AlterTableStmt" and table:
            findings.extend(_alter_table(statement, table, table in created))
        elif kind == "DropStmt" and node.get("removeType") == "OBJECT_INDEX":
            if not node.get("concurrent") and not all(name in created for name in _dropped_names(node)):
                findings.append(
                    LintFinding(
                        "require-concurrent-index-deletion",
                        line,
                        "DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on its table",
                    )
                )
        elif (
            kind == "ClusterStmt"
            or (kind == "VacuumStmt" and any(o.get("defname") == "full" for o in node.get("options") or ()))
        ) and not touches_only(statement, created):
            findings.append(
                LintFinding(
                    "prefer-repack", line, "VACUUM FULL / CLUSTER hold ACCESS EXCLUSIVE; use pg_repack"
                )
            )
        created |= new_relations([statement], created)
    return findings


def new_relations(statements: list[Statement], created_before: set[str]) -> set[str]:
    """The tables these statements create, and the indexes they build on tables created in the run.

    Locking rules skip both: nobody reads a table created earlier in the same run, so indexing it,
    dropping its indexes or rewriting it blocks nothing. An index built on an existing table stays
    out: dropping it still locks that table.
    """
    created = set(created_before)
    for statement in statements:
        for made in statement.creates:
            if made.kind == "table" or (made.kind == "index" and statement.target_table in created):
                created.add(made.name)
    return created


def touches_only(statement: Statement, created: set[str]) -> bool:
    """Whether every relation the statement names (a DROP's objects too) is in `created`."""
    names = set(statement.relations)
    if statement.kind == "DropStmt":
        names.update(_dropped_names(statement.node))
    return bool(names) and names <= created


def _dropped_names(node: dict[str, Any]) -> list[str]:
    """The (unqualified) names a DROP INDEX / DROP TABLE lists."""
    names = []
    for item in node.get("objects") or ():
        parts = item.get("items") if isinstance(item, dict) else item
        if isinstance(parts, list) and parts:
            names.append(str(parts[-1].get("sval", "")))
    return names


def lint_lines(file_name: str, findings: list[LintFinding], *, verbose: bool = False) -> list[str]:
    """The plan's lint lines for one file: each warning and error, info one line per rule.

    A file of 200 CREATE TABLEs without IF NOT EXISTS says so once, with the lines; `verbose`
    lists every finding.
    """
    lines: list[str] = []
    infos: dict[str, list[LintFinding]] = {}
    for finding in findings:
        if finding.severity == "info" and not verbose:
            infos.setdefault(_rule(finding), []).append(finding)
        else:
            lines.append(
                f"lint {finding.severity}: {file_name}:{finding.line} [{_rule(finding)}] {finding.message}"
            )
    for rule, group in infos.items():
        first = group[0]
        if len(group) == 1:
            lines.append(f"lint info: {file_name}:{first.line} [{rule}] {first.message}")
            continue
        at = ", ".join(str(f.line) for f in group[:_LISTED_LINES]) + (
            ", ..." if len(group) > _LISTED_LINES else ""
        )
        lines.append(
            f"lint info: {file_name} [{rule}] {len(group)} statements (lines {at}), e.g. line "
            f"{first.line}: {first.message}"
        )
    return lines


def _rule(finding: LintFinding) -> str:
    """The rule as printed: squawk's own carry its name, so a reader knows whose advice it is."""
    return f"squawk {finding.rule}" if finding.source == "squawk" else finding.rule
