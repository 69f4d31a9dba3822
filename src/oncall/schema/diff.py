"""Catalog against catalog: the expected snapshot (the shadow's) compared with the live one.

    compare_snapshots(expected, found, rows_found, default_schema=..., files=...) -> list[VerifyRow]

One row per expected object: `ok`, `missing` (with the applied file that mentions it, since migrate
will not bring back what the ledger says is applied), `differs` (each field that differs, expected
and found), `fail` (an INVALID index, a NOT VALID constraint). A seed row whose other columns were
changed is a `warning` (admins edit settings). An object in the live schemas that the migrations
did not create is a `warning`, never a failure, unless it is what failed DDL leaves behind (an
INVALID index, a NOT VALID constraint), which fails wherever it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from oncall.schema.result import DIFFERS, FAIL, MISSING, OK, WARNING, VerifyRow
from oncall.schema.snapshot import CatalogObject, Snapshot, display_order, ident_sql, literal

_CONSTRAINT_KINDS = {
    "p": "primary key",
    "u": "unique",
    "f": "foreign key",
    "c": "check",
    "x": "exclusion",
    "t": "constraint trigger",
}
_TRIGGER_STATES = {"O": "enabled", "D": "disabled", "R": "enabled on replicas only", "A": "enabled always"}
# Extras of these kinds are not worth a warning: a live database has schemas and extensions of its
# platform (Supabase's auth, graphql, ...) that no migration of the team made.
_NO_EXTRA_WARNING = ("schema", "extension", "row")
_TABLE_LEVEL = ("column", "constraint", "index", "trigger", "policy", "row")


def display_kind(obj: CatalogObject) -> str:
    if obj.kind == "constraint":
        return _CONSTRAINT_KINDS.get(str(obj.fields.get("type")), "constraint")
    return obj.kind


def _qualified(schema: str, name: str, show: str) -> str:
    return ident_sql(name) if schema == show else f"{ident_sql(schema)}.{ident_sql(name)}"


def display_name(obj: CatalogObject, show: str) -> str:
    """How people name the object: table.column, index name, trigger on table, table[key]."""
    table = _qualified(obj.schema, obj.table or "", show)
    if obj.kind == "column":
        return f"{table}.{ident_sql(obj.name)}"
    if obj.kind == "row":
        return f"{table}[{obj.name}]"
    if obj.kind in ("trigger", "policy"):
        return f"{ident_sql(obj.name)} on {table}"
    if obj.kind in ("function", "procedure", "aggregate"):
        return obj.name if obj.schema == show else f"{ident_sql(obj.schema)}.{obj.name}"
    return _qualified(obj.schema, obj.name, show)


def describe(obj: CatalogObject) -> str:
    """The object's definition in one line, as PostgreSQL spells it."""
    f = obj.fields
    match obj.kind:
        case "column":
            return _describe_column(f)
        case "table":
            extras = [
                name
                for name, on in (
                    ("partitioned", f.get("partitioned")),
                    ("foreign", f.get("foreign")),
                    ("ROW LEVEL SECURITY", f.get("rls")),
                    ("FORCE ROW LEVEL SECURITY", f.get("force_rls")),
                )
                if on
            ]
            return "table" + (f" ({', '.join(extras)})" if extras else "")
        case "constraint":
            return str(f.get("def"))
        case "index":
            return str(f.get("def", "")).removeprefix("CREATE ")
        case "view" | "materialized view" | "function" | "procedure":
            return _one_line(str(f.get("def") or ""))
        case "trigger":
            return str(f.get("def")) + ("" if f.get("enabled") != "D" else " (DISABLED)")
        case "policy":
            return _describe_policy(f)
        case "enum":
            return "ENUM (" + ", ".join(literal(v) for v in f.get("labels") or []) + ")"
        case "sequence":
            return (
                f"{f.get('type')} START {f.get('start')} INCREMENT {f.get('increment')} "
                f"MINVALUE {f.get('min')} "
                f"MAXVALUE {f.get('max')} CACHE {f.get('cache')}{' CYCLE' if f.get('cycle') else ''}"
            )
        case "row":
            values: Mapping[str, Any] = f.get("values") or {}
            return ", ".join(f"{ident_sql(c)}={literal(v)}" for c, v in values.items()) or "present"
        case "extension" | "schema":
            return obj.kind
    return ", ".join(f"{k}={v}" for k, v in obj.compared().items()) or obj.kind


def _one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _describe_column(f: Mapping[str, Any]) -> str:
    text = str(f.get("type"))
    if f.get("collation"):
        text += f' COLLATE "{f["collation"]}"'
    if f.get("not_null"):
        text += " NOT NULL"
    if f.get("identity"):
        text += f" GENERATED {f['identity']} AS IDENTITY"
    elif f.get("generated"):
        text += f" GENERATED ALWAYS AS ({f['generated']}) STORED"
    elif f.get("default") is not None:
        text += f" DEFAULT {f['default']}"
    return text


def _describe_policy(f: Mapping[str, Any]) -> str:
    commands = {"r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE", "*": "ALL"}
    mode = "PERMISSIVE" if f.get("permissive") else "RESTRICTIVE"
    text = f"{mode} FOR {commands.get(str(f.get('command')), '?')}"
    text += " TO " + ", ".join(f.get("roles") or ["public"])
    if f.get("using"):
        text += f" USING ({f['using']})"
    if f.get("check"):
        text += f" WITH CHECK ({f['check']})"
    return text


def _field_problem(kind: str, name: str, expected: Any, found: Any) -> str:
    if name == "not_null":
        return (
            f"nullability: expected {'NOT NULL' if expected else 'NULL allowed'}, "
            f"found {'NOT NULL' if found else 'NULL allowed'}"
        )
    if name == "valid":
        shown = {True: "valid", False: "NOT VALID"}
        return f"validity: expected {shown[bool(expected)]}, found {shown[bool(found)]}"
    if name == "def" and kind in ("function", "procedure", "view", "materialized view"):
        return _first_difference(str(expected or ""), str(found or ""))
    if name == "enabled":
        expected, found = _TRIGGER_STATES.get(expected, expected), _TRIGGER_STATES.get(found, found)
    label = {"def": "definition", "rls": "row level security", "force_rls": "forced row level security"}
    shown_expected = "none" if expected is None else expected
    shown_found = "none" if found is None else found
    return f"{label.get(name, name)}: expected {shown_expected}, found {shown_found}"


def _first_difference(expected: str, found: str, context: int = 30) -> str:
    """Where two definitions part (whitespace-insensitive): a little of each from that point."""
    a, b = " ".join(expected.split()), " ".join(found.split())
    at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    start = max(at - 10, 0)

    def piece(text: str) -> str:
        cut = text[start : at + context]
        return ("..." if start else "") + cut + ("..." if at + context < len(text) else "")

    return f"definition differs: expected {piece(a)!r}, found {piece(b)!r}"


def source_of(names: Sequence[str], files: Sequence[tuple[str, str]]) -> str | None:
    """The last applied file that mentions all of `names`: where to re-create a missing object from."""
    needles = [n.split("(")[0].lower() for n in names if n]
    return next((file for file, text in reversed(files) if all(n in text.lower() for n in needles)), None)


def _recreate_hint(obj: CatalogObject, files: Sequence[tuple[str, str]]) -> str:
    # A column or a row is found by its table and its own name; an index or a key by its name.
    names = [obj.table or ""] if obj.kind == "row" else [obj.name]
    if obj.kind == "column":
        names.append(obj.table or "")
    source = source_of(names, files)
    if obj.kind == "row":
        return (
            f"re-insert the row: {source} inserts it" if source else "re-insert the row the migrations insert"
        )
    where = source or "an applied migration"
    return (
        f"{where} declares it and is recorded as applied, so invoke migrate will not bring it back: "
        "re-create it by hand from that file"
    )


def leftover_hint(kind: str, name: str, table: str) -> str:
    if kind == "index":
        return f"DROP INDEX CONCURRENTLY {name}; then run the migration that creates it again"
    return f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}; (fix the rows it rejects first)"


def compare_snapshots(
    expected: Snapshot,
    found: Snapshot,
    rows_found: Mapping[int, Mapping[str, str | None] | None],
    *,
    default_schema: str,
    files: Sequence[tuple[str, str]] = (),
) -> list[VerifyRow]:
    """One VerifyRow per expected object, then the extras; `rows_found` from lookup_rows(expected rows)."""
    show = default_schema
    out: list[VerifyRow] = []
    live_tables = found.tables()
    row_index = 0
    for obj in expected.sorted_objects():
        if obj.kind == "row":
            out.append(_row_row(obj, rows_found.get(row_index), live_tables, show, files))
            row_index += 1
            continue
        out.append(_object_row(obj, found.objects.get(obj.key), live_tables, show, files))
    extras = [
        obj
        for key, obj in found.objects.items()
        if key not in expected.objects and obj.kind not in _NO_EXTRA_WARNING
    ]
    out.extend(_extra_row(obj, show) for obj in sorted(extras, key=display_order))
    return out


def _object_row(
    obj: CatalogObject,
    match: CatalogObject | None,
    live_tables: set[tuple[str, str]],
    show: str,
    files: Sequence[tuple[str, str]],
) -> VerifyRow:
    kind, name, expected = display_kind(obj), display_name(obj, show), describe(obj)
    if match is None:
        if obj.kind in _TABLE_LEVEL and (obj.schema, obj.table) not in live_tables:
            return VerifyRow(kind, name, expected, "table missing", MISSING)
        return VerifyRow(kind, name, expected, "missing", MISSING, hint=_recreate_hint(obj, files))
    # Identical definitions (the common case) compare as whole dicts, in C, without picking fields.
    if obj.fields == match.fields:
        return VerifyRow(kind, name, expected, expected, OK)
    want, have = obj.compared(), match.compared()
    if want == have:
        return VerifyRow(kind, name, expected, expected, OK)
    problems = [field for field in want if want[field] != have[field]]
    found_text = describe(match)
    if problems == ["valid"]:
        return _invalid_row(obj, (kind, name, expected, found_text), show)
    detail = "; ".join(_field_problem(obj.kind, f, want[f], have[f]) for f in problems if f != "valid")
    return VerifyRow(kind, name, expected, found_text, DIFFERS, detail=detail)


def invalid_index_row(name: str, expected: str, found: str, table: str) -> VerifyRow:
    """The expected index exists but is INVALID: a failed concurrent build left it behind."""
    return VerifyRow(
        "index",
        name,
        expected,
        "INVALID " + found,
        FAIL,
        detail="the index exists but is INVALID (a failed CREATE INDEX CONCURRENTLY?)",
        hint=leftover_hint("index", name, table),
    )


def _invalid_row(obj: CatalogObject, shown: tuple[str, str, str, str], show: str) -> VerifyRow:
    kind, name, expected, found = shown
    table = _qualified(obj.schema, obj.table or "", show)
    if obj.kind == "index":
        return invalid_index_row(name, expected, found, table)
    return VerifyRow(
        kind,
        name,
        expected,
        found,
        FAIL,
        detail="constraint exists but was never validated",
        hint=leftover_hint("constraint", ident_sql(obj.name), table),
    )


def _row_row(
    obj: CatalogObject,
    values: Mapping[str, str | None] | None,
    live_tables: set[tuple[str, str]],
    show: str,
    files: Sequence[tuple[str, str]],
) -> VerifyRow:
    name, expected = display_name(obj, show), describe(obj)
    if (obj.schema, obj.table) not in live_tables:
        return VerifyRow("row", name, expected, "table missing", MISSING)
    if values is None:
        return VerifyRow("row", name, expected, "missing", MISSING, hint=_recreate_hint(obj, files))
    want: Mapping[str, str | None] = obj.fields.get("values") or {}
    found_text = ", ".join(f"{ident_sql(c)}={literal(values.get(c))}" for c in want) or "present"
    return present_row(name, expected, found_text, [c for c in want if want[c] != values.get(c)])


def present_row(name: str, expected: str, found: str, changed: Sequence[str]) -> VerifyRow:
    """A seeded row that is there: OK, or a warning naming the columns whose values changed."""
    if changed:
        # Settings rows are meant to be edited by people; a changed value is worth seeing, not failing.
        return VerifyRow(
            "row",
            name,
            expected,
            found,
            WARNING,
            detail=f"value changed since the migration: {', '.join(changed)}",
        )
    return VerifyRow("row", name, expected, found, OK)


def _extra_row(obj: CatalogObject, show: str) -> VerifyRow:
    kind, name = display_kind(obj), display_name(obj, show)
    table = _qualified(obj.schema, obj.table or "", show)
    if obj.kind == "index" and not obj.fields.get("valid", True):
        return VerifyRow(
            "index",
            name,
            "valid",
            f"INVALID on {table}",
            FAIL,
            detail="left behind by a failed or interrupted DDL",
            hint=leftover_hint("index", name, table),
        )
    if obj.kind == "constraint" and not obj.fields.get("valid", True):
        return VerifyRow(
            "constraint",
            name,
            "valid",
            f"NOT VALID on {table}",
            FAIL,
            detail="left behind by a failed or interrupted DDL",
            hint=leftover_hint("constraint", name, table),
        )
    return VerifyRow(
        kind, name, "(not created by the migrations)", describe(obj), WARNING, detail=f"extra {kind}"
    )
