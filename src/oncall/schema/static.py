"""The static model's check: what pglast reads the applied files to declare, against the catalog.

    compare(expectation, catalog) -> list[VerifyRow]
    unchecked_by_static_model(applied) -> list[str]

verify uses it only when no shadow database can be had (docs/verify.md): the shadow replay compares
catalog to catalog (`oncall.schema.diff`). Kept apart so that a verify with a shadow never imports
the model (`oncall.schema.expect`) nor this comparison.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from oncall.migrations.files import Migration
from oncall.schema.catalog import Catalog, FoundColumn, FoundConstraint, FoundIndex
from oncall.schema.diff import invalid_index_row, leftover_hint, present_row
from oncall.schema.expect import (
    Column,
    Constraint,
    Expectation,
    Index,
    canonical_default,
    ident,
    qualified,
)
from oncall.schema.result import DIFFERS, FAIL, MISSING, OK, WARNING, VerifyRow


def _recreate_hint(source: str) -> str:
    return (
        f"{source} declares it and is recorded as applied, so invoke migrate will not bring it back: "
        "re-create it by hand from that file"
    )


# Statements the static model does not follow: what they make is named as not checkable.
_UNMODELLED = {
    "CreateFunctionStmt": "function",
    "CreateTrigStmt": "trigger",
    "ViewStmt": "view",
    "CreateTableAsStmt": "table or materialized view",
    "CreatePolicyStmt": "policy",
    "CreateEnumStmt": "enum",
    "CreateSeqStmt": "sequence",
    "CreateExtensionStmt": "extension",
    "CreateDomainStmt": "domain",
    "CompositeTypeStmt": "type",
    "DoStmt": "DO block",
}


def unchecked_by_static_model(applied: Iterable[Migration]) -> list[str]:
    """What the applied files make that the static model cannot check, as file:line kind text."""
    names = []
    for migration in applied:
        for statement in migration.statements:
            kind = _UNMODELLED.get(statement.kind)
            if kind:
                names.append(f"{kind} at {migration.path.name}:{statement.line} ({statement.first_line(50)})")
    return names


# --- the comparison ----------------------------------------------------------------------------


def compare(exp: Expectation, catalog: Catalog) -> list[VerifyRow]:
    """One row per expected object, plus warnings for undeclared columns and failed leftovers."""
    rows: list[VerifyRow] = []
    show = exp.default_schema
    invalid_reported: set[tuple[str, str, str]] = set()
    for key, table in exp.tables.items():
        name = qualified(*key, show)
        found = catalog.tables.get(key)
        if found is None:
            rows.append(
                VerifyRow("table", name, "table", "missing", MISSING, hint=_recreate_hint(table.source))
            )
            rows.extend(
                VerifyRow("column", f"{name}.{ident(c.name)}", c.describe(), "table missing", MISSING)
                for c in table.columns.values()
            )
            continue
        if found.relkind not in ("r", "p"):
            rows.append(
                VerifyRow("table", name, "table", _RELKINDS.get(found.relkind, found.relkind), DIFFERS)
            )
        else:
            rows.append(VerifyRow("table", name, "table", "table", OK))
        for column in table.columns.values():
            rows.append(_column_row(name, column, found.columns.get(column.name)))
        for extra in found.columns.values():
            if extra.name not in table.columns:
                rows.append(
                    VerifyRow(
                        "column",
                        f"{name}.{ident(extra.name)}",
                        "(not declared by the migrations)",
                        _describe_found(extra),
                        WARNING,
                        detail="extra column",
                    )
                )
    for constraint in exp.constraints:
        row, invalid = _constraint_row(exp, constraint, catalog)
        rows.append(row)
        if invalid:
            invalid_reported.add(("constraint", constraint.schema, invalid))
    for index in exp.indexes.values():
        rows.append(_index_row(exp, index, catalog))
        if rows[-1].found.startswith("INVALID"):
            invalid_reported.add(("index", index.schema, index.name))
    rows.extend(_row_rows(exp, catalog))
    for left in catalog.leftovers:
        if (left.kind, left.schema, left.name) in invalid_reported:
            continue
        bad = "INVALID" if left.kind == "index" else "NOT VALID"
        rows.append(
            VerifyRow(
                left.kind,
                qualified(left.schema, left.name, show),
                "valid",
                f"{bad} on {qualified(left.schema, left.table, show)}",
                FAIL,
                detail="left behind by a failed or interrupted DDL",
                hint=leftover_hint(
                    left.kind,
                    qualified(left.schema, left.name, show),
                    qualified(left.schema, left.table, show),
                ),
            )
        )
    return rows


_RELKINDS = {"v": "view", "m": "materialized view", "f": "foreign table", "r": "table", "p": "table"}


def _normal_type(text: str) -> str:
    lowered = text.lower()
    return lowered.removeprefix("public.").replace('"', "")


def _describe_found(col: FoundColumn) -> str:
    text = col.type + (" NOT NULL" if col.not_null else "")
    if col.identity:
        return text + " GENERATED AS IDENTITY"
    return text + (f" DEFAULT {col.default}" if col.default is not None else "")


def _column_row(table: str, column: Column, found: FoundColumn | None) -> VerifyRow:
    name = f"{table}.{ident(column.name)}"
    if found is None:
        return VerifyRow(
            "column", name, column.describe(), "missing", MISSING, hint=_recreate_hint(column.source)
        )
    problems = []
    if column.type != found.type and _normal_type(column.type) != _normal_type(found.type):
        problems.append(f"type: expected {column.type}, found {found.type}")
    if column.not_null != found.not_null:
        problems.append(
            f"nullability: expected {'NOT NULL' if column.not_null else 'NULL allowed'}, "
            f"found {'NOT NULL' if found.not_null else 'NULL allowed'}"
        )
    if column.serial:
        if not (found.default or "").startswith("nextval("):
            problems.append(f"default: expected nextval(sequence), found {found.default or 'none'}")
    elif column.identity:
        if not found.identity:
            problems.append("default: expected GENERATED AS IDENTITY, found none")
    elif column.default != found.default and canonical_default(column.default) != canonical_default(
        found.default
    ):
        problems.append(f"default: expected {column.default or 'none'}, found {found.default or 'none'}")
    if problems:
        return VerifyRow(
            "column", name, column.describe(), _describe_found(found), DIFFERS, detail="; ".join(problems)
        )
    return VerifyRow("column", name, column.describe(), _describe_found(found), OK)


def _describe_constraint(con: Constraint | FoundConstraint, show: str) -> str:
    cols = ", ".join([ident(c) for c in con.columns])
    if con.kind == "foreign key":
        ref = qualified(con.ref_schema or show, con.ref_table or "?", show)
        ref_cols = f"({', '.join([ident(c) for c in con.ref_columns])})" if con.ref_columns else ""
        return f"FOREIGN KEY ({cols}) REFERENCES {ref}{ref_cols}"
    return f"{con.kind.upper()} ({cols})"


def _constraint_matches(exp: Constraint, found: FoundConstraint) -> bool:
    if exp.kind != found.kind or exp.columns != found.columns:
        return False
    if exp.kind != "foreign key":
        return True
    if (exp.ref_schema, exp.ref_table) != (found.ref_schema, found.ref_table):
        return False
    return not exp.ref_columns or exp.ref_columns == found.ref_columns


def _constraint_row(exp: Expectation, con: Constraint, catalog: Catalog) -> tuple[VerifyRow, str | None]:
    show = exp.default_schema
    expected = _describe_constraint(con, show)
    name = con.name if con.schema == show else f"{ident(con.schema)}.{ident(con.name)}"
    table = catalog.tables.get((con.schema, con.table))
    if table is None:
        on = f" on {qualified(con.schema, con.table, show)}"
        return VerifyRow(con.kind, name, expected + on, "table missing", MISSING), None
    match = next((f for f in table.constraints if _constraint_matches(con, f)), None)
    if match is not None:
        if not match.valid:
            return (
                VerifyRow(
                    con.kind,
                    name,
                    expected,
                    f"NOT VALID ({match.name})",
                    FAIL,
                    detail="constraint exists but was never validated",
                    hint=leftover_hint(
                        "constraint", ident(match.name), qualified(con.schema, con.table, show)
                    ),
                ),
                match.name,
            )
        same = con.kind != "foreign key" or con.ref_columns == match.ref_columns
        found_text = expected if same else _describe_constraint(match, show)
        return VerifyRow(con.kind, name, expected, found_text, OK), None
    same_name = next((f for f in table.constraints if f.name == con.name), None)
    if same_name is not None:
        found = _describe_constraint(same_name, show)
        return VerifyRow(
            con.kind, name, expected, found, DIFFERS, detail=f"expected {expected}, found {found}"
        ), None
    on = f" on {qualified(con.schema, con.table, show)}"
    return VerifyRow(con.kind, name, expected + on, "missing", MISSING, hint=_recreate_hint(con.source)), None


def _index_columns_equal(expected: Sequence[str], found: Sequence[str]) -> bool:
    if len(expected) != len(found):
        return False
    for exp_col, found_col in zip(expected, found, strict=True):
        if exp_col.startswith("("):
            if canonical_default(exp_col) != canonical_default(found_col):
                return False
        elif ident(exp_col) != found_col and exp_col != found_col:
            return False
    return True


def _describe_index(unique: bool, method: str, columns: Sequence[str], table: str) -> str:
    shown = ", ".join([c if c.startswith("(") else ident(c) for c in columns])
    return f"{'UNIQUE ' if unique else ''}{method} ({shown}) on {table}"


def _index_row(exp: Expectation, index: Index, catalog: Catalog) -> VerifyRow:
    show = exp.default_schema
    name = qualified(index.schema, index.name, show)
    table_name = qualified(index.schema, index.table, show)
    expected = _describe_index(index.unique, index.method, index.columns, table_name)
    table = catalog.tables.get((index.schema, index.table))
    if table is None:
        return VerifyRow("index", name, expected, "table missing", MISSING)
    found: FoundIndex | None = table.indexes.get(index.name)
    if found is None:
        return VerifyRow("index", name, expected, "missing", MISSING, hint=_recreate_hint(index.source))
    same_shape = (index.columns, index.unique, index.method) == (found.columns, found.unique, found.method)
    if same_shape and index.predicate == found.predicate:
        # Declared and found alike (the common case): nothing to normalise, one description.
        if found.valid:
            return VerifyRow("index", name, expected, expected, OK)
        found_text = expected
    else:
        found_text = _describe_index(found.unique, found.method, found.columns, table_name)
    problems = []
    if not _index_columns_equal(index.columns, found.columns):
        problems.append(f"columns: expected ({', '.join(index.columns)}), found ({', '.join(found.columns)})")
    if index.unique != found.unique:
        problems.append(f"uniqueness: expected {'UNIQUE' if index.unique else 'not unique'}, found "
                        f"{'UNIQUE' if found.unique else 'not unique'}")  # fmt: skip
    if index.method != found.method:
        problems.append(f"method: expected {index.method}, found {found.method}")
    if (index.predicate is None) != (found.predicate is None) or (
        index.predicate and canonical_default(index.predicate) != canonical_default(found.predicate)
    ):
        problems.append(f"predicate: expected {index.predicate or 'none'}, found {found.predicate or 'none'}")
    if problems:
        return VerifyRow("index", name, expected, found_text, DIFFERS, detail="; ".join(problems))
    if not found.valid:
        return invalid_index_row(name, expected, found_text, table_name)
    return VerifyRow("index", name, expected, found_text, OK)


def _same_value(expected: str | None, found: str | None) -> bool:
    """Literal as written vs the column's text: 0.8 inserted into numeric(10,4) reads back as 0.8000."""
    if expected == found:
        return True
    if expected is None or found is None:
        return False
    try:
        return Decimal(expected) == Decimal(found)
    except ArithmeticError:
        return False


def _sql_value(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def _row_rows(exp: Expectation, catalog: Catalog) -> list[VerifyRow]:
    rows = []
    show = exp.default_schema
    for index, row in enumerate(exp.rows):
        table = qualified(row.schema, row.table, show)
        key_text = ", ".join(f"{ident(c)}={_sql_value(row.values[c])}" for c in row.key)
        name = f"{table}[{key_text}]"
        rest = [c for c in row.values if c not in row.key]
        expected = (
            ", ".join(f"{ident(c)}={_sql_value(row.values[c])}" for c in rest) if row.values_known else ""
        )
        expected = expected or "present"
        found_table = catalog.tables.get((row.schema, row.table))
        if found_table is None:
            rows.append(VerifyRow("row", name, expected, "table missing", MISSING))
            continue
        absent = [c for c in row.values if c not in found_table.columns]
        if absent:
            rows.append(VerifyRow("row", name, expected, f"column {absent[0]} missing", MISSING))
            continue
        found = catalog.rows.get(index)
        if found is None:
            rows.append(
                VerifyRow(
                    "row",
                    name,
                    expected,
                    "missing",
                    MISSING,
                    hint=f"re-insert the row: {row.source} inserts it",
                )
            )
            continue
        found_text = ", ".join(f"{ident(c)}={_sql_value(found.values.get(c))}" for c in rest) or "present"
        changed = [
            c for c in rest if row.values_known and not _same_value(row.values[c], found.values.get(c))
        ]
        rows.append(present_row(name, expected, found_text, changed))
    return rows
