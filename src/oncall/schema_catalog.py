"""The live schema, read from pg_catalog in a constant number of queries whatever its size.

`read_catalog(conn, expectation)` issues at most three statements:

1. every expected relation with its columns, constraints and indexes, as one JSON document per
   relation (names passed as two text arrays, so schema-qualified names are matched exactly);
2. what failed DDL leaves behind in the schemas we look at: INVALID (or not ready) indexes and
   NOT VALID constraints, expected or not;
3. only when the migrations inserted rows: one SELECT per expected row, UNION ALLed into a single
   statement, that looks each row up by its key and returns what the row holds now.

It only reads: the caller owns the (READ ONLY) transaction and its timeouts. Query 3 is the one
place that reads a user table (settings-sized tables, by key), which takes the ACCESS SHARE lock any
SELECT takes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oncall.schema_expect import Expectation, QName, Row

if TYPE_CHECKING:
    import psycopg

RELATIONS_SQL = """
SELECT n.nspname, c.relname, c.relkind,
  (SELECT coalesce(json_agg(json_build_object(
            'name', a.attname,
            'type', format_type(a.atttypid, a.atttypmod),
            'not_null', a.attnotnull,
            'default', pg_get_expr(d.adbin, d.adrelid),
            'identity', a.attidentity <> '') ORDER BY a.attnum), '[]')
     FROM pg_attribute a
     LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
  (SELECT coalesce(json_agg(json_build_object(
            'name', k.conname,
            'type', k.contype,
            'valid', k.convalidated,
            'columns', (SELECT array_agg(a.attname ORDER BY u.ord)
                          FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, ord)
                          JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum),
            'ref_schema', rn.nspname,
            'ref_table', r.relname,
            'ref_columns', (SELECT array_agg(a.attname ORDER BY u.ord)
                              FROM unnest(k.confkey) WITH ORDINALITY AS u(attnum, ord)
                              JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum))
            ORDER BY k.conname), '[]')
     FROM pg_constraint k
     LEFT JOIN pg_class r ON r.oid = k.confrelid
     LEFT JOIN pg_namespace rn ON rn.oid = r.relnamespace
    WHERE k.conrelid = c.oid AND k.contype IN ('p', 'u', 'f')) AS constraints,
  (SELECT coalesce(json_agg(json_build_object(
            'name', ic.relname,
            'unique', i.indisunique,
            'valid', i.indisvalid AND i.indisready,
            'method', am.amname,
            'columns', (SELECT array_agg(pg_get_indexdef(i.indexrelid, k, true) ORDER BY k)
                          FROM generate_series(1, i.indnkeyatts) AS k),
            'predicate', pg_get_expr(i.indpred, i.indrelid, true))
            ORDER BY ic.relname), '[]')
     FROM pg_index i
     JOIN pg_class ic ON ic.oid = i.indexrelid
     JOIN pg_am am ON am.oid = ic.relam
    WHERE i.indrelid = c.oid) AS indexes
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (n.nspname, c.relname) IN (SELECT s, t FROM unnest(%s::text[], %s::text[]) AS w(s, t))
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
"""

LEFTOVERS_SQL = """
SELECT 'index' AS kind, n.nspname, ic.relname, t.relname
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = ic.relnamespace
 WHERE NOT (i.indisvalid AND i.indisready) AND n.nspname = ANY(%s::text[])
UNION ALL
SELECT 'constraint', n.nspname, k.conname, t.relname
  FROM pg_constraint k
  JOIN pg_class t ON t.oid = k.conrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE NOT k.convalidated AND n.nspname = ANY(%s::text[])
ORDER BY 1, 2, 3
"""


@dataclass
class FoundColumn:
    name: str
    type: str
    not_null: bool
    default: str | None
    identity: bool


@dataclass
class FoundConstraint:
    name: str
    kind: str  # "primary key" | "unique" | "foreign key"
    columns: tuple[str, ...]
    valid: bool
    ref_schema: str | None
    ref_table: str | None
    ref_columns: tuple[str, ...]


@dataclass
class FoundIndex:
    name: str
    unique: bool
    valid: bool
    method: str
    columns: tuple[str, ...]
    predicate: str | None


@dataclass
class FoundTable:
    schema: str
    name: str
    relkind: str
    columns: dict[str, FoundColumn]
    constraints: list[FoundConstraint]
    indexes: dict[str, FoundIndex]


@dataclass
class Leftover:
    """An INVALID index or a NOT VALID constraint: what an interrupted or failed DDL leaves behind."""

    kind: str  # "index" | "constraint"
    schema: str
    name: str
    table: str


@dataclass
class FoundRow:
    """An expected row looked up by its key: None when absent, else the row's values as text."""

    values: dict[str, str | None]


@dataclass
class Catalog:
    tables: dict[QName, FoundTable] = field(default_factory=dict)
    leftovers: list[Leftover] = field(default_factory=list)
    rows: dict[int, FoundRow | None] = field(default_factory=dict)
    queries: int = 0


_CONSTRAINT_KINDS = {"p": "primary key", "u": "unique", "f": "foreign key"}


def relations_of(exp: Expectation) -> list[QName]:
    """Every relation the expectation mentions: its tables, index tables, seed row tables."""
    keys: set[QName] = set(exp.tables)
    keys.update((i.schema, i.table) for i in exp.indexes.values())
    keys.update((c.schema, c.table) for c in exp.constraints)
    keys.update((r.schema, r.table) for r in exp.rows)
    return sorted(keys)


def read_catalog(conn: psycopg.Connection[Any], exp: Expectation) -> Catalog:
    """Read what the expectation needs from the live database in at most three statements."""
    catalog = Catalog()
    keys = relations_of(exp)
    schemas = sorted({exp.default_schema, *(k[0] for k in keys)})
    with conn.cursor() as cur:
        if keys:
            cur.execute(RELATIONS_SQL, ([k[0] for k in keys], [k[1] for k in keys]))
            catalog.queries += 1
            for schema, name, relkind, columns, constraints, indexes in cur.fetchall():
                catalog.tables[(schema, name)] = _table(schema, name, relkind, columns, constraints, indexes)
        cur.execute(LEFTOVERS_SQL, (schemas, schemas))
        catalog.queries += 1
        catalog.leftovers = [Leftover(*row) for row in cur.fetchall()]
        checkable = [(i, row) for i, row in enumerate(exp.rows) if _row_checkable(row, catalog)]
        if checkable:
            query, params = _rows_query(checkable)
            cur.execute(query, params)
            catalog.queries += 1
            for index, doc in cur.fetchall():
                catalog.rows[index] = None if doc is None else FoundRow(_as_json(doc))
    return catalog


def _as_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _table(schema: str, name: str, relkind: str, *parts: Any) -> FoundTable:
    columns, constraints, indexes = parts
    found_columns = {
        c["name"]: FoundColumn(c["name"], c["type"], c["not_null"], c["default"], c["identity"])
        for c in _as_json(columns)
    }
    found_constraints = [
        FoundConstraint(
            k["name"],
            _CONSTRAINT_KINDS[k["type"]],
            tuple(k["columns"] or ()),
            k["valid"],
            k["ref_schema"],
            k["ref_table"],
            tuple(k["ref_columns"] or ()),
        )
        for k in _as_json(constraints)
    ]
    found_indexes = {
        i["name"]: FoundIndex(
            i["name"], i["unique"], i["valid"], i["method"], tuple(i["columns"] or ()), i["predicate"]
        )
        for i in _as_json(indexes)
    }
    return FoundTable(schema, name, relkind, found_columns, found_constraints, found_indexes)


def _row_checkable(row: Row, catalog: Catalog) -> bool:
    table = catalog.tables.get((row.schema, row.table))
    return table is not None and all(c in table.columns for c in row.values)


def _rows_query(rows: list[tuple[int, Row]]) -> tuple[Any, list[Any]]:
    """One statement: for each expected row, the row found by its key (as JSON of text values)."""
    from psycopg import sql

    parts = []
    params: list[Any] = []
    for index, row in rows:
        shown = sql.SQL(", ").join(
            sql.SQL("{}, {}::text").format(sql.Literal(c), sql.Identifier(c)) for c in row.values
        )
        where = sql.SQL(" AND ").join(
            sql.SQL("{}::text IS NOT DISTINCT FROM %s").format(sql.Identifier(c)) for c in row.key
        )
        params.extend(row.values[c] for c in row.key)
        parts.append(
            sql.SQL("SELECT {}::int, (SELECT json_build_object({}) FROM {} WHERE {} LIMIT 1)").format(
                sql.Literal(index), shown, sql.Identifier(row.schema, row.table), where
            )
        )
    return sql.SQL("\nUNION ALL\n").join(parts), params
