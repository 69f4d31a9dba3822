"""The live schema, read from pg_catalog in a constant number of queries whatever its size.

`read_catalog(conn, expectation)` issues at most three statements:

1. every expected relation with its columns, constraints and indexes: one set-based UNION ALL of
   flat rows (names passed as one JSON array of {s, t} pairs, so schema-qualified and quoted names
   match exactly);
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

from oncall.schema.expect import Expectation, QName, Row

if TYPE_CHECKING:
    import psycopg

# Set-based on purpose: one pass over pg_attribute, pg_constraint and pg_index for all expected
# relations at once, rather than correlated subqueries per relation. Column numbers travel as int2[]
# and are named from the column rows; pg_get_indexdef is called only for indexes that have an
# expression column. A default is deparsed without its table as context (relid 0) unless it is a
# generated column's expression: a DEFAULT cannot name a column, and skipping the table lookup
# halves what deparsing costs on a fresh connection, where every lookup misses the catalog cache.
RELATIONS_SQL = """
WITH rel AS MATERIALIZED (
  SELECT c.oid, n.nspname, c.relname, c.relkind
    FROM json_to_recordset(%s::json) AS w(s text, t text)
    JOIN pg_namespace n ON n.nspname = w.s
    JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.t
   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
)
SELECT 0 AS part, r.oid AS relid, r.nspname::text AS t1, r.relname::text AS t2, r.relkind::text AS t3,
       NULL::text AS t4, NULL::bool AS b1, NULL::bool AS b2, NULL::int2[] AS nums, NULL::text[] AS names
  FROM rel r
UNION ALL
SELECT 1, a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod),
       pg_get_expr(d.adbin, CASE WHEN a.attgenerated <> '' THEN d.adrelid ELSE 0 END),
       NULL, a.attnotnull, a.attidentity <> '', ARRAY[a.attnum], NULL
  FROM rel r
  JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON a.atthasdef AND d.adrelid = a.attrelid AND d.adnum = a.attnum
UNION ALL
SELECT 2, k.conrelid, k.conname, k.contype::text, rn.nspname, rc.relname, k.convalidated, NULL, k.conkey,
       CASE WHEN k.contype = 'f' THEN ARRAY(
         SELECT fa.attname::text FROM unnest(k.confkey) WITH ORDINALITY AS u(n, o)
           JOIN pg_attribute fa ON fa.attrelid = k.confrelid AND fa.attnum = u.n ORDER BY u.o) END
  FROM rel r
  JOIN pg_constraint k ON k.conrelid = r.oid AND k.contype IN ('p', 'u', 'f')
  LEFT JOIN pg_class rc ON rc.oid = k.confrelid
  LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
UNION ALL
SELECT 3, i.indrelid, ic.relname, am.amname, pg_get_expr(i.indpred, i.indrelid, true), NULL,
       i.indisunique, i.indisvalid AND i.indisready, (i.indkey::int2[])[0:i.indnkeyatts - 1],
       CASE WHEN 0 = ANY ((i.indkey::int2[])[0:i.indnkeyatts - 1]) THEN ARRAY(
         SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnkeyatts) AS k ORDER BY k)
       END
  FROM rel r
  JOIN pg_index i ON i.indrelid = r.oid
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_am am ON am.oid = ic.relam
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


@dataclass(slots=True)
class FoundColumn:
    name: str
    type: str
    not_null: bool
    default: str | None
    identity: bool


@dataclass(slots=True)
class FoundConstraint:
    name: str
    kind: str  # "primary key" | "unique" | "foreign key"
    columns: tuple[str, ...]
    valid: bool
    ref_schema: str | None
    ref_table: str | None
    ref_columns: tuple[str, ...]


@dataclass(slots=True)
class FoundIndex:
    name: str
    unique: bool
    valid: bool
    method: str
    columns: tuple[str, ...]
    predicate: str | None


@dataclass(slots=True)
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
            # One JSON parameter rather than two text[]: psycopg dumps lists element by element in
            # Python, json.dumps does it in C (a measurable part of the query at 1,000 relations).
            cur.execute(RELATIONS_SQL, (json.dumps([{"s": s, "t": t} for s, t in keys]),))
            catalog.queries += 1
            catalog.tables = _tables(cur.fetchall())
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


def _tables(rows: list[tuple[Any, ...]]) -> dict[QName, FoundTable]:
    """Assemble the flat rows of RELATIONS_SQL (part 0 relation, 1 column, 2 constraint, 3 index)."""
    by_oid: dict[int, FoundTable] = {}
    attnames: dict[int, dict[int, str]] = {}
    later = []
    # UNION ALL returns the parts in order, so relations and columns come before what names columns
    # by number; rows of parts 2 and 3 are kept for a second pass in case they ever do not.
    for row in rows:
        part, relid, t1, t2, t3, _, b1, b2, nums, _ = row
        if part == 1:
            by_oid[relid].columns[t1] = FoundColumn(t1, t2, b1, t3, b2)
            attnames[relid][nums[0]] = t1
        elif part == 0:
            by_oid[relid] = FoundTable(t1, t2, t3, {}, [], {})
            attnames[relid] = {}
        else:
            later.append(row)
    for part, relid, t1, t2, t3, t4, b1, b2, nums, names in later:
        table = by_oid[relid]
        named = attnames[relid]
        if part == 2:
            columns = _names(named, nums)
            table.constraints.append(
                FoundConstraint(t1, _CONSTRAINT_KINDS[t2], columns, b1, t3, t4, tuple(names or ()))
            )
        else:
            columns = tuple(names) if names else _names(named, nums)
            table.indexes[t1] = FoundIndex(t1, b1, b2, t2, columns, t3)
    for table in by_oid.values():
        if len(table.constraints) > 1:
            table.constraints.sort(key=lambda c: c.name)
    return {(t.schema, t.name): t for t in by_oid.values()}


def _names(named: dict[int, str], nums: list[int] | None) -> tuple[str, ...]:
    """Column numbers to names (#n for a number the column rows did not name)."""
    try:
        return tuple([named[n] for n in nums or ()])
    except KeyError:
        return tuple([named.get(n, f"#{n}") for n in nums or ()])


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
