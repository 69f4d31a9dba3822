"""A schema as PostgreSQL itself describes it: every object kind, read from pg_catalog in one query.

    read_snapshot(conn, schemas=None, default_schema="public") -> Snapshot
    read_seed_rows(conn, snapshot) -> list[CatalogObject]          (the shadow side: rows the migrations left)
    lookup_rows(conn, rows) -> dict[int, dict | None]               (the live side: those rows by key)

The same reader runs on the shadow database (into which the applied migrations were replayed)
and on the live database, so both sides are spelled by the same server functions:
`format_type`, `pg_get_expr`, `pg_get_constraintdef`, `pg_get_indexdef`, `pg_get_viewdef`,
`pg_get_functiondef`, `pg_get_triggerdef`. What a migration wrote as `'12 months'` or
`lower(actor_id)` before a rename is compared as the server stored it, not as it was written.

Kinds: schema, extension, enum, domain, type (composite), table (with its RLS switches), column
(type, NOT NULL, default, collation, identity, generated), constraint (every contype but the NOT NULL
rows PostgreSQL 18 adds, which the column's NOT NULL already covers), index, view, materialized
view, sequence, function, procedure, aggregate, trigger, policy, and row (seed rows).

Objects that belong to an extension are the extension's business and are not listed one by one.
The ledger tables of oncall and of the migration tools are not part of the schema.
Constant in object count: one statement for the catalog, one for seed rows.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psycopg import sql

from oncall.db.shared import RUNS_TABLE, STATE_TABLE

if TYPE_CHECKING:
    from collections.abc import Iterable

    import psycopg

# Tables that record which migrations ran, for oncall and the tools whose ledgers it reads, and
# oncall's own shared run history and alert state (oncall.db.shared): none is the team's schema.
LEDGER_TABLES = (
    "oncall_migrations",
    RUNS_TABLE,
    STATE_TABLE,
    "alembic_version",
    "_prisma_migrations",
    "__diesel_schema_migrations",
    "schema_migrations",
    "flyway_schema_history",
    "__drizzle_migrations",
    "goose_db_version",
)
# A seeded table with more rows than this is data, not seed: it is named as not checkable.
MAX_SEED_ROWS = 1000

SNAPSHOT_SQL = r"""
WITH ext AS MATERIALIZED (
  SELECT classid, objid FROM pg_depend WHERE deptype = 'e'
), ns AS MATERIALIZED (
  SELECT n.oid, n.nspname::text AS nspname FROM pg_namespace n
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
     AND n.nspname !~ '^pg_(toast_)?temp_'
     AND (%(schemas)s::text[] IS NULL OR n.nspname = ANY (%(schemas)s::text[]))
     AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_namespace'::regclass AND ext.objid = n.oid)
), rel AS MATERIALIZED (
  SELECT c.oid, ns.nspname, c.relname::text AS relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity
    FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
     AND NOT (c.relname = ANY (%(ledgers)s::text[]))
     AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_class'::regclass AND ext.objid = c.oid)
)
SELECT coalesce(json_agg(json_build_array(o.kind, o.schema, o.name, o.tbl, o.def)), '[]')
  FROM (
SELECT 'schema' AS kind, nspname AS schema, nspname AS name, NULL::text AS tbl, '{}'::json AS def FROM ns
UNION ALL
SELECT 'extension', n.nspname::text, e.extname::text, NULL, json_build_object('version', e.extversion)
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname <> 'plpgsql'
UNION ALL
SELECT 'table', r.nspname, r.relname, NULL,
       json_build_object('partitioned', r.relkind = 'p', 'foreign', r.relkind = 'f',
                          'rls', r.relrowsecurity, 'force_rls', r.relforcerowsecurity)
  FROM rel r WHERE r.relkind IN ('r', 'p', 'f')
UNION ALL
SELECT 'column', r.nspname, a.attname::text, r.relname,
       json_build_object(
         'type', format_type(a.atttypid, a.atttypmod), 'not_null', a.attnotnull,
         'default', CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, 0) END,
         'generated', CASE WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid) END,
         'identity', CASE a.attidentity WHEN 'a' THEN 'ALWAYS' WHEN 'd' THEN 'BY DEFAULT' END,
         'collation', CASE WHEN a.attcollation <> ty.typcollation THEN co.collname::text END,
         'position', a.attnum)
  FROM rel r
  JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_type ty ON ty.oid = a.atttypid
  LEFT JOIN pg_collation co ON co.oid = a.attcollation
  LEFT JOIN pg_attrdef d ON a.atthasdef AND d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE r.relkind IN ('r', 'p', 'f')
UNION ALL
SELECT 'constraint', r.nspname, k.conname::text, r.relname,
       json_build_object(
         'type', k.contype::text, 'def', pg_get_constraintdef(k.oid, true), 'valid', k.convalidated,
         'columns', (SELECT json_agg(a.attname ORDER BY u.o) FROM unnest(k.conkey) WITH ORDINALITY AS u(n, o)
                       JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n))
  FROM rel r JOIN pg_constraint k ON k.conrelid = r.oid
 WHERE k.contype <> 'n'
UNION ALL
SELECT 'index', r.nspname, ic.relname::text, r.relname,
       json_build_object('def', pg_get_indexdef(i.indexrelid), 'valid', i.indisvalid AND i.indisready)
  FROM rel r JOIN pg_index i ON i.indrelid = r.oid JOIN pg_class ic ON ic.oid = i.indexrelid
UNION ALL
SELECT CASE r.relkind WHEN 'v' THEN 'view' ELSE 'materialized view' END, r.nspname, r.relname, NULL,
       json_build_object('def', pg_get_viewdef(r.oid, true))
  FROM rel r WHERE r.relkind IN ('v', 'm')
UNION ALL
SELECT 'sequence', r.nspname, r.relname, NULL,
       json_build_object('type', format_type(s.seqtypid, NULL), 'start', s.seqstart,
                          'increment', s.seqincrement, 'min', s.seqmin, 'max', s.seqmax,
                          'cache', s.seqcache, 'cycle', s.seqcycle)
  FROM rel r JOIN pg_sequence s ON s.seqrelid = r.oid
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END,
       ns.nspname, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', NULL,
       json_build_object('def', CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) END,
                          'result', pg_get_function_result(p.oid))
  FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
 WHERE NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_proc'::regclass AND ext.objid = p.oid)
UNION ALL
SELECT 'trigger', r.nspname, t.tgname::text, r.relname,
       json_build_object('def', pg_get_triggerdef(t.oid, true), 'enabled', t.tgenabled::text)
  FROM rel r JOIN pg_trigger t ON t.tgrelid = r.oid
 WHERE NOT t.tgisinternal
UNION ALL
SELECT 'policy', r.nspname, p.polname::text, r.relname,
       json_build_object(
         'command', p.polcmd::text, 'permissive', p.polpermissive,
         'roles', (SELECT json_agg(CASE WHEN o = 0 THEN 'public' ELSE pg_get_userbyid(o)::text END
                                    ORDER BY 1)
                     FROM unnest(p.polroles) AS o),
         'using', pg_get_expr(p.polqual, p.polrelid, true),
         'check', pg_get_expr(p.polwithcheck, p.polrelid, true))
  FROM rel r JOIN pg_policy p ON p.polrelid = r.oid
UNION ALL
SELECT CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain' WHEN 'r' THEN 'range' ELSE 'type' END,
       ns.nspname, t.typname::text, NULL,
       CASE t.typtype
         WHEN 'e' THEN json_build_object('labels',
           (SELECT json_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid))
         WHEN 'd' THEN json_build_object(
           'base', format_type(t.typbasetype, t.typtypmod), 'not_null', t.typnotnull,
           'default', t.typdefault,
           'checks', (SELECT json_agg(pg_get_constraintdef(k.oid, true) ORDER BY k.conname)
                        FROM pg_constraint k WHERE k.contypid = t.oid AND k.contype = 'c'))
         WHEN 'c' THEN json_build_object('attributes',
           (SELECT json_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum)
              FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped))
         ELSE json_build_object('subtype',
           (SELECT format_type(rg.rngsubtype, NULL) FROM pg_range rg WHERE rg.rngtypid = t.oid))
       END
  FROM pg_type t JOIN ns ON ns.oid = t.typnamespace
 WHERE t.typtype IN ('e', 'd', 'r', 'c')
   AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE t.typtype = 'c' AND c.oid = t.typrelid AND c.relkind <> 'c')
   AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_type'::regclass AND ext.objid = t.oid)
) AS o
"""

# The fields that make two objects of a kind the same; others (a column's position, an extension's
# version, a constraint's column list) are shown or used, not compared.
COMPARED: dict[str, tuple[str, ...]] = {
    "table": ("partitioned", "foreign", "rls", "force_rls"),
    "column": ("type", "not_null", "default", "generated", "identity", "collation"),
    "constraint": ("type", "def", "valid"),
    "index": ("def", "valid"),
    "view": ("def",),
    "materialized view": ("def",),
    "sequence": ("type", "start", "increment", "min", "max", "cache", "cycle"),
    "function": ("def",),
    "procedure": ("def",),
    "aggregate": ("result",),
    "trigger": ("def", "enabled"),
    "policy": ("command", "permissive", "roles", "using", "check"),
    "enum": ("labels",),
    "domain": ("base", "not_null", "default", "checks"),
    "type": ("attributes",),
    "range": ("subtype",),
    "row": ("values",),
}
# Kinds that share one name space, so that a constraint that changed type is "differs", not two rows.
_FAMILY = {"function": "routine", "procedure": "routine", "aggregate": "routine"}
_ORDER = (
    "schema",
    "extension",
    "enum",
    "domain",
    "type",
    "range",
    "sequence",
    "table",
    "column",
    "constraint",
    "index",
    "view",
    "materialized view",
    "function",
    "procedure",
    "aggregate",
    "trigger",
    "policy",
    "row",
)
KIND_ORDER = {kind: i for i, kind in enumerate(_ORDER)}
_VOLATILE = re.compile(
    r"nextval\(|now\(\)|current_(timestamp|date|time)|localtime|clock_timestamp|statement_timestamp|"
    r"transaction_timestamp|timeofday|random|uuid",
    re.IGNORECASE,
)


@dataclass(slots=True)
class CatalogObject:
    """One object as the catalog describes it; `table` is set for objects that live on a table."""

    kind: str
    schema: str
    name: str
    table: str | None
    fields: dict[str, Any]
    # Computed once: a verify looks objects up by key several times each, thousands of them.
    key: tuple[str, str, str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.key = (_FAMILY.get(self.kind, self.kind), self.schema, self.table or "", self.name)

    def compared(self) -> dict[str, Any]:
        return {f: self.fields.get(f) for f in COMPARED.get(self.kind, ())}


@dataclass
class Snapshot:
    """Every object of a database's schemas, as read by `read_snapshot` (and seed rows, when read)."""

    objects: dict[tuple[str, str, str, str], CatalogObject] = field(default_factory=dict)
    server_version: int = 0
    # What the reader names but could not check (tables with too many rows to be seed data).
    unchecked: list[str] = field(default_factory=list)

    def add(self, obj: CatalogObject) -> None:
        self.objects[obj.key] = obj

    @property
    def schemas(self) -> list[str]:
        return sorted({o.schema for o in self.objects.values()})

    def tables(self) -> set[tuple[str, str]]:
        return {(o.schema, o.name) for o in self.objects.values() if o.kind == "table"}

    def only(self, tables: Iterable[tuple[str, str]]) -> Snapshot:
        """The objects of these tables (the tables, their columns, keys, indexes, triggers, rows)."""
        wanted = set(tables)
        kept = Snapshot(server_version=self.server_version)
        for obj in self.objects.values():
            owner = (obj.schema, obj.table if obj.table is not None else obj.name)
            if owner in wanted and (obj.table is not None or obj.kind == "table"):
                kept.add(obj)
        return kept

    def sorted_objects(self) -> list[CatalogObject]:
        return sorted(self.objects.values(), key=display_order)

    def sorted_rows(self) -> list[CatalogObject]:
        """The seed rows, in the order of sorted_objects."""
        return sorted((o for o in self.objects.values() if o.kind == "row"), key=display_order)


def display_order(obj: CatalogObject) -> tuple[int, str, str, str]:
    """Kind by kind (schemas first, rows last), then by name: how verify lists objects."""
    return (KIND_ORDER.get(obj.kind, 99), obj.schema, obj.table or "", obj.name)


def read_snapshot(
    conn: psycopg.Connection[Any], schemas: list[str] | None = None, *, ledgers: Iterable[str] = LEDGER_TABLES
) -> Snapshot:
    """Every object in `schemas` (all user schemas when None), in one statement."""
    snapshot = Snapshot(server_version=conn.info.server_version)
    # One JSON document rather than a row per object: one json.loads in C instead of one per row.
    row = conn.execute(SNAPSHOT_SQL, {"schemas": schemas, "ledgers": list(ledgers)}).fetchone()
    for kind, schema, name, table, definition in row[0] if row else []:
        snapshot.add(CatalogObject(kind, schema, name, table, definition or {}))
    return snapshot


# --- seed rows -------------------------------------------------------------------------------------


def _columns_of(snapshot: Snapshot) -> dict[tuple[str, str], list[CatalogObject]]:
    columns: dict[tuple[str, str], list[CatalogObject]] = {}
    for obj in snapshot.objects.values():
        if obj.kind == "column" and obj.table is not None:
            columns.setdefault((obj.schema, obj.table), []).append(obj)
    for cols in columns.values():
        cols.sort(key=lambda c: c.fields.get("position") or 0)
    return columns


def _stable(column: CatalogObject) -> bool:
    """A column whose value does not depend on when or where the row was inserted."""
    if column.fields.get("identity"):
        return False
    default = column.fields.get("default") or ""
    return not _VOLATILE.search(default)


def _row_key(snapshot: Snapshot, table: tuple[str, str], stable: list[str]) -> list[str]:
    """The primary key, else a unique key, made only of stable columns; else every stable column."""
    candidates = [
        o
        for o in snapshot.objects.values()
        if o.kind == "constraint" and (o.schema, o.table) == table and o.fields.get("type") in ("p", "u")
    ]
    candidates.sort(key=lambda o: (o.fields.get("type") != "p", o.name))
    for con in candidates:
        cols = list(con.fields.get("columns") or [])
        if cols and all(c in stable for c in cols):
            return cols
    return stable


def read_seed_rows(conn: psycopg.Connection[Any], snapshot: Snapshot) -> None:
    """Add the rows the migrations left in (the shadow's) tables to `snapshot`, as `row` objects.

    A row is named by its key (see `_row_key`) and holds the text of its other stable columns:
    a serial id or a `DEFAULT now()` differs between a replay and the live database, so it is
    neither a key nor compared.
    """
    columns = _columns_of(snapshot)
    tables = sorted(t for t in snapshot.tables() if t in columns)
    if not tables:
        return
    parts = [
        sql.SQL("(SELECT {}::int, json_build_array({}) FROM {} LIMIT {})").format(
            sql.Literal(i),
            sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c.name)) for c in columns[t]),
            sql.Identifier(*t),
            sql.Literal(MAX_SEED_ROWS + 1),
        )
        for i, t in enumerate(tables)
    ]
    found: dict[int, list[list[str | None]]] = {}
    for index, values in conn.execute(sql.SQL("\nUNION ALL\n").join(parts)).fetchall():
        found.setdefault(index, []).append(values)
    for index, rows in found.items():
        table = tables[index]
        if len(rows) > MAX_SEED_ROWS:
            snapshot.unchecked.append(f"rows of {table[0]}.{table[1]} (more than {MAX_SEED_ROWS})")
            continue
        _add_rows(snapshot, table, columns[table], rows)


def _add_rows(
    snapshot: Snapshot, table: tuple[str, str], columns: list[CatalogObject], rows: list[list[str | None]]
) -> None:
    names = [c.name for c in columns]
    stable = [c.name for c in columns if _stable(c)]
    key = _row_key(snapshot, table, stable)
    if not key:
        snapshot.unchecked.append(f"rows of {table[0]}.{table[1]} (no column a row can be found by)")
        return
    for values in rows:
        row = dict(zip(names, values, strict=True))
        name = ", ".join(f"{ident_sql(c)}={literal(row[c])}" for c in key)
        snapshot.add(
            CatalogObject(
                "row",
                table[0],
                name,
                table[1],
                {"key": {c: row[c] for c in key}, "values": {c: row[c] for c in stable if c not in key}},
            )
        )


def lookup_rows(
    conn: psycopg.Connection[Any], rows: list[CatalogObject]
) -> dict[int, dict[str, str | None] | None]:
    """Each expected row looked up by its key in one statement: index -> its values as text, or None."""
    if not rows:
        return {}
    parts = []
    params: list[Any] = []
    for index, row in enumerate(rows):
        key: dict[str, Any] = row.fields["key"]
        values: dict[str, Any] = row.fields["values"]
        shown = sql.SQL(", ").join(
            sql.SQL("{}, {}::text").format(sql.Literal(c), sql.Identifier(c)) for c in values
        )
        where = sql.SQL(" AND ").join(
            sql.SQL("{}::text IS NOT DISTINCT FROM %s").format(sql.Identifier(c)) for c in key
        )
        params.extend(key.values())
        body = sql.SQL("json_build_object({})").format(shown) if values else sql.SQL("'{}'::json")
        parts.append(
            sql.SQL("SELECT {}::int, (SELECT {} FROM {} WHERE {} LIMIT 1)").format(
                sql.Literal(index), body, sql.Identifier(row.schema, row.table or ""), where
            )
        )
    result: dict[int, dict[str, str | None] | None] = {}
    for index, doc in conn.execute(sql.SQL("\nUNION ALL\n").join(parts), params).fetchall():
        result[index] = doc
    return result


_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")


@functools.lru_cache(maxsize=8192)
def ident_sql(name: str) -> str:
    """An identifier as PostgreSQL prints it: quoted only when it has to be (cached: verify names
    the same tables and columns thousands of times)."""
    return name if _PLAIN.fullmatch(name) else '"' + name.replace('"', '""') + '"'


def literal(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


# --- the cache's JSON form -------------------------------------------------------------------------


def encode(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "server_version": snapshot.server_version,
        "unchecked": snapshot.unchecked,
        "objects": [[o.kind, o.schema, o.name, o.table, o.fields] for o in snapshot.objects.values()],
    }


def decode(doc: Any) -> Snapshot:
    try:
        snapshot = Snapshot(server_version=int(doc["server_version"]), unchecked=list(doc["unchecked"]))
        for kind, schema, name, table, fields in doc["objects"]:
            snapshot.add(CatalogObject(kind, schema, name, table, dict(fields)))
    except (TypeError, KeyError, ValueError) as exc:
        raise ValueError(f"not a cached snapshot: {exc}") from exc
    return snapshot
