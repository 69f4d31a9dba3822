"""The static model of the expected schema, derived from migration SQL with PostgreSQL's parser (pglast).

verify's fallback: the expected schema is normally the catalog of a shadow replay
(oncall.schema.shadow); this model is used only when no shadow can be had, and verify then names
what the model cannot check (oncall.schema.unchecked_by_static_model).

Nobody writes expectations by hand: `expect(files)` replays the DDL of the applied migration files,
in order, into an `Expectation` — tables and their columns (type spelled the way `format_type`
reports it, NOT NULL, default), primary keys, foreign keys, unique constraints, indexes, and rows
that a migration INSERTs with literal VALUES (seed rows such as admin_settings). Later ALTER TABLE,
DROP, RENAME and `CREATE ... IF NOT EXISTS` of an existing object are folded in the way the server
would apply them, so the expectation is the state after the last file.

What is deliberately not modelled: functions, triggers, views, CHECK constraints, and anything
inside DO blocks (PL/pgSQL is opaque to the SQL parser). They are not reported, so they cannot
fail a verify falsely. Rows are expected only from INSERT ... VALUES with literal values; a later
UPDATE of such a table keeps only the row's key as expected, a DELETE or TRUNCATE drops the rows.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from oncall.db.names import choose_name, make_object_name, name_addition
from oncall.errors import BadInput

QName = tuple[str, str]

# Parser names for built-in types -> the name format_type() prints.
_TYPE_NAMES = {
    "int2": "smallint",
    "smallint": "smallint",
    "int4": "integer",
    "int": "integer",
    "integer": "integer",
    "int8": "bigint",
    "bigint": "bigint",
    "float4": "real",
    "real": "real",
    "float8": "double precision",
    "float": "double precision",
    "bool": "boolean",
    "boolean": "boolean",
    "varchar": "character varying",
    "bpchar": "character",
    "char": "character",
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
    "timetz": "time with time zone",
    "time": "time without time zone",
    "decimal": "numeric",
    "varbit": "bit varying",
}
_SERIALS = {"serial": "integer", "serial4": "integer", "bigserial": "bigint", "serial8": "bigint",
            "smallserial": "smallint", "serial2": "smallint"}  # fmt: skip
# format_type puts the precision inside these names: timestamp(3) with time zone.
_PRECISION_INSIDE = {
    "timestamp with time zone": "timestamp",
    "timestamp without time zone": "timestamp",
    "time with time zone": "time",
    "time without time zone": "time",
}
_PLAIN_IDENT = re.compile(r"[a-z_][a-z0-9_$]*")


@functools.lru_cache(maxsize=8192)
def ident(name: str) -> str:
    """An identifier as PostgreSQL would print it: quoted only when it has to be."""
    return name if _PLAIN_IDENT.fullmatch(name) else '"' + name.replace('"', '""') + '"'


def qualified(schema: str, name: str, default_schema: str = "public") -> str:
    """schema.name for display; the default schema is left out, as people write it."""
    return ident(name) if schema == default_schema else f"{ident(schema)}.{ident(name)}"


@dataclass(slots=True)
class Column:
    name: str
    type: str
    not_null: bool = False
    default: str | None = None
    serial: bool = False
    identity: bool = False
    source: str = ""

    def describe(self) -> str:
        text = self.type + (" NOT NULL" if self.not_null else "")
        if self.serial:
            return text + " DEFAULT nextval(...)"
        if self.identity:
            return text + " GENERATED AS IDENTITY"
        return text + (f" DEFAULT {self.default}" if self.default is not None else "")


@dataclass(slots=True)
class Table:
    schema: str
    name: str
    columns: dict[str, Column] = field(default_factory=dict)
    source: str = ""

    @property
    def key(self) -> QName:
        return (self.schema, self.name)


@dataclass(slots=True)
class Constraint:
    """A primary key, unique or foreign key constraint; matched by content, named for people."""

    kind: str  # "primary key" | "unique" | "foreign key"
    schema: str
    table: str
    columns: tuple[str, ...]
    name: str
    ref_schema: str | None = None
    ref_table: str | None = None
    ref_columns: tuple[str, ...] = ()
    source: str = ""


@dataclass(slots=True)
class Index:
    schema: str
    name: str
    table: str
    columns: tuple[str, ...]
    unique: bool = False
    method: str = "btree"
    predicate: str | None = None
    source: str = ""

    @property
    def key(self) -> QName:
        return (self.schema, self.name)


@dataclass(slots=True)
class Row:
    """A row a migration inserted; `key` names the columns that identify it (a unique key if known)."""

    schema: str
    table: str
    values: dict[str, str | None]
    key: tuple[str, ...] = ()
    values_known: bool = True
    source: str = ""


@dataclass
class Expectation:
    """The schema the applied migrations declare, after folding every later ALTER/DROP/RENAME."""

    default_schema: str = "public"
    tables: dict[QName, Table] = field(default_factory=dict)
    constraints: list[Constraint] = field(default_factory=list)
    indexes: dict[QName, Index] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def only(self, names: Iterable[str]) -> Expectation:
        """The part of the expectation about the named tables (`name` or `schema.name`)."""
        wanted: set[QName] = set()
        for raw in names:
            schema, _, table = raw.rpartition(".")
            key = (schema or self.default_schema, table)
            if key not in self.tables:
                known = ", ".join(qualified(s, t, self.default_schema) for s, t in sorted(self.tables))
                raise BadInput(
                    f"--only {raw}: no applied migration declares table {raw}",
                    f"choose among: {known or '(no tables expected)'}",
                )
            wanted.add(key)
        return Expectation(
            default_schema=self.default_schema,
            tables={k: v for k, v in self.tables.items() if k in wanted},
            constraints=[c for c in self.constraints if (c.schema, c.table) in wanted],
            indexes={k: v for k, v in self.indexes.items() if (v.schema, v.table) in wanted},
            rows=[r for r in self.rows if (r.schema, r.table) in wanted],
            files=list(self.files),
            notes=list(self.notes),
        )

    def object_count(self) -> int:
        columns = sum(len(t.columns) for t in self.tables.values())
        return len(self.tables) + columns + len(self.constraints) + len(self.indexes) + len(self.rows)


# --- parse trees -------------------------------------------------------------------------------


@functools.cache
def _enums() -> Any:
    """pglast's enums, imported once (an import inside each replay step cost more than the step)."""
    from pglast import enums

    return enums


def _kind(node: Any) -> str:
    return type(node).__name__


def deparse(node: Any) -> str:
    """SQL text of an expression node."""
    from pglast.stream import RawStream

    return str(RawStream()(node))


# --- expressions -------------------------------------------------------------------------------


def canonical_default(text: str | None) -> str | None:
    """A default expression reduced so that the SQL spelling and pg_get_expr's spelling compare equal.

    Casts are dropped ('gpt-4'::character varying is 'gpt-4'), a lone literal loses its quotes
    ('-1'::integer is -1), case and parentheses outside literals are ignored, and CURRENT_TIMESTAMP
    is now(), as the server treats them.

    The spellings defaults usually have (a cast literal, a number, true/false, NULL, now(),
    CURRENT_TIMESTAMP, nextval('seq'::regclass)) are reduced without the parser, whose import alone
    costs more than a warm verify; anything else is parsed (and remembered).
    """
    if text is None:
        return None
    known = _CANONICAL.get(text, _UNDECIDED)
    if known is _UNDECIDED:
        known = _quick_canonical(text)
        if known is _UNDECIDED:
            known = parsed_canonical(text)
        _CANONICAL[text] = known
    return known  # type: ignore[return-value]


_UNDECIDED = object()
# text -> canonical form; shared by every expectation in the process (the mapping is a pure function
# of the text) and primed from the expectation cache, so a warm run parses none of its own defaults.
_CANONICAL: dict[str, object] = {}
_TYPE_WORD = r'(?:"[^"]+"|[a-z_][a-z0-9_]*)'
_CAST = (
    r"::(?:character varying|double precision|bit varying"
    r"|(?:timestamp|time)(?:\(\d+\))? with(?:out)? time zone"
    rf"|{_TYPE_WORD}(?:\.{_TYPE_WORD})?)(?:\(\d+(?:,\s?\d+)?\))?(?:\[\])*"
)
_QUICK_LITERAL = re.compile(rf"'((?:[^'\\]|'')*)'(?:{_CAST})*", re.IGNORECASE)
_QUICK_NULL = re.compile(rf"null(?:{_CAST})*", re.IGNORECASE)
_QUICK_NUMBER = re.compile(r"(?:0|-?[1-9][0-9]*)(?:\.[0-9]+)?|-0\.[0-9]+")
_QUICK_NEXTVAL = re.compile(r"nextval\('((?:[^'\\]|'')*)'(?:::regclass)?\)", re.IGNORECASE)
_QUICK_WORDS = {
    "true", "false", "current_timestamp", "current_date", "current_time", "localtimestamp",
    "localtime", "current_user", "session_user", "current_role", "now()", "gen_random_uuid()",
    "uuid_generate_v4()", "clock_timestamp()", "statement_timestamp()", "transaction_timestamp()",
}  # fmt: skip
_NOW = {"current_timestamp": "now", "transaction_timestamp": "now"}


def _quick_canonical(text: str) -> object:
    """canonical_default for the common spellings without the parser, or _UNDECIDED."""
    stripped = text.strip()
    literal = _QUICK_LITERAL.fullmatch(stripped)
    if literal:
        return literal.group(1).replace("''", "'")
    if _QUICK_NUMBER.fullmatch(stripped):
        return stripped
    if _QUICK_NULL.fullmatch(stripped):
        return None
    lowered = stripped.lower()
    if lowered in _QUICK_WORDS:
        folded = lowered.removesuffix("()")
        return _NOW.get(folded, folded)
    nextval = _QUICK_NEXTVAL.fullmatch(stripped)
    if nextval:
        return f"nextval'{nextval.group(1)}'"
    return _UNDECIDED


def remember_canonical(known: dict[str, str | None]) -> None:
    """Prime canonical_default with forms computed by an earlier run (see oncall.schema.cache)."""
    _CANONICAL.update(known)


def needs_parser(text: str) -> bool:
    """Whether canonical_default of `text` needs pglast (so a cache should keep its result)."""
    return _quick_canonical(text) is _UNDECIDED


@functools.lru_cache(maxsize=4096)
def parsed_canonical(text: str) -> str | None:
    """canonical_default by PostgreSQL's parser: the reference the quick spellings must agree with."""
    from pglast import parse_sql
    from pglast.parser import ParseError
    from pglast.visitors import Visitor

    class _DropCasts(Visitor):
        def visit_TypeCast(self, ancestors: Any, node: Any) -> Any:
            return node.arg

    try:
        stmt: Any = parse_sql("SELECT " + text)[0].stmt
    except ParseError:
        return re.sub(r"\s+", " ", text.strip()).lower()
    _DropCasts()(stmt)
    out = deparse(stmt.targetList[0].val)
    literal = re.fullmatch(r"'((?:[^']|'')*)'", out)
    if literal:
        return literal.group(1).replace("''", "'")
    parts = re.split(r"('(?:[^']|'')*')", out)
    folded = "".join(p if p.startswith("'") else re.sub(r"[\s()]", "", p.lower()) for p in parts)
    if folded == "null":
        return None  # DEFAULT NULL is not stored: the catalog shows no default
    return _NOW.get(folded, folded)


def _literal(node: Any) -> tuple[bool, str | None]:
    """(is a literal, its text) for INSERT values: constants, NULL, casts of constants."""
    kind = _kind(node)
    if kind == "TypeCast":
        return _literal(node.arg)
    if kind == "A_Const":
        if node.isnull:
            return True, None
        field_of = {
            "String": "sval",
            "Integer": "ival",
            "Float": "fval",
            "Boolean": "boolval",
            "BitString": "bsval",
        }
        value = getattr(node.val, field_of.get(_kind(node.val), "sval"))
        if isinstance(value, bool):
            return True, "true" if value else "false"
        return True, str(value)
    return False, None


# --- types -------------------------------------------------------------------------------------


def type_of(type_name: Any) -> tuple[str, bool]:
    """(type as format_type prints it, is a serial) for a pglast TypeName."""
    names = [n.sval for n in type_name.names]
    if names[0] == "pg_catalog" and len(names) > 1:
        names = names[1:]
    base = names[-1].lower() if len(names) == 1 else ".".join(ident(n) for n in names)
    if base in _SERIALS:
        return _SERIALS[base], True
    pretty = _TYPE_NAMES.get(base, base if len(names) > 1 else ident(names[-1]))
    mods = []
    for mod in type_name.typmods or ():
        ok, text = _literal(mod)
        mods.append(text if ok and text is not None else deparse(mod))
    if pretty == "numeric" and len(mods) == 1:
        mods.append("0")  # format_type spells numeric(10) as numeric(10,0)
    if mods and base != "interval":
        inner = _PRECISION_INSIDE.get(pretty)
        if inner:
            pretty = pretty.replace(inner, f"{inner}({','.join(mods)})", 1)
        else:
            pretty = f"{pretty}({','.join(mods)})"
    pretty += "[]" * len(type_name.arrayBounds or ())
    return pretty, False


# --- the replay --------------------------------------------------------------------------------


class _Replay:
    """Applies one statement at a time to an Expectation, as the server would."""

    def __init__(self, default_schema: str) -> None:
        self.exp = Expectation(default_schema=default_schema)
        self.search_schema = default_schema
        self.source = ""

    # names

    def rel(self, range_var: Any) -> QName:
        return (range_var.schemaname or self.search_schema, range_var.relname)

    def show(self, key: QName) -> str:
        return qualified(key[0], key[1], self.exp.default_schema)

    def note(self, text: str) -> None:
        self.exp.notes.append(f"{self.source}: {text}")

    # statements

    def statement(self, stmt: Any) -> None:
        handler = getattr(self, "on_" + _kind(stmt), None)
        if handler is not None:
            handler(stmt)

    def on_VariableSetStmt(self, stmt: Any) -> None:
        if (stmt.name or "").lower() != "search_path" or not stmt.args:
            return
        for arg in stmt.args:
            ok, value = _literal(arg)
            if ok and value and value != "$user":
                self.search_schema = value
                return

    def on_CreateStmt(self, stmt: Any) -> None:
        key = self.rel(stmt.relation)
        if key in self.exp.tables:
            if stmt.if_not_exists:
                self.note(f"CREATE TABLE IF NOT EXISTS {self.show(key)} kept the existing table")
                return
            self.drop_table(key)
        table = Table(key[0], key[1], source=self.source)
        self.exp.tables[key] = table
        pending: list[Any] = []
        for element in stmt.tableElts or ():
            if _kind(element) == "ColumnDef":
                self.add_column(table, element)
            elif _kind(element) == "Constraint":
                pending.append(element)
        for constraint in pending:
            self.add_constraint(table, constraint, None)

    def add_column(self, table: Table, coldef: Any) -> None:
        col_type, serial = type_of(coldef.typeName)
        column = Column(
            coldef.colname,
            col_type,
            not_null=bool(coldef.is_not_null) or serial,
            serial=serial,
            source=self.source,
        )
        if coldef.identity and coldef.identity != "\x00":
            column.identity = column.not_null = True
        table.columns[column.name] = column
        for constraint in coldef.constraints or ():
            self.add_constraint(table, constraint, column)

    def add_constraint(self, table: Table, con: Any, column: Column | None) -> None:
        kind = con.contype
        if kind == _enums().ConstrType.CONSTR_NOTNULL and column is not None:
            column.not_null = True
        elif kind == _enums().ConstrType.CONSTR_NULL and column is not None:
            column.not_null = False
        elif kind == _enums().ConstrType.CONSTR_DEFAULT and column is not None:
            column.default = deparse(con.raw_expr)
        elif kind == _enums().ConstrType.CONSTR_IDENTITY and column is not None:
            column.identity = column.not_null = True
        elif kind == _enums().ConstrType.CONSTR_GENERATED and column is not None:
            # pg_attrdef holds a stored generated column's expression, so it compares as a default.
            column.default = deparse(con.raw_expr)
        elif kind in (_enums().ConstrType.CONSTR_PRIMARY, _enums().ConstrType.CONSTR_UNIQUE):
            cols = tuple(k.sval for k in con.keys or ()) or ((column.name,) if column else ())
            if con.indexname:
                # ADD CONSTRAINT ... USING INDEX: the index becomes the constraint's, under its name.
                index = self.exp.indexes.pop((table.schema, con.indexname), None)
                cols = index.columns if index is not None else cols
            primary = kind == _enums().ConstrType.CONSTR_PRIMARY
            if primary:
                for name in cols:
                    if name in table.columns:
                        table.columns[name].not_null = True
            # The server names the index first (ChooseIndexName), and the constraint takes its name.
            chosen = self.relation_name(
                table.schema,
                table.name,
                None if primary else name_addition(cols),
                "pkey" if primary else "key",
            )
            self.exp.constraints.append(
                Constraint(
                    "primary key" if primary else "unique",
                    table.schema,
                    table.name,
                    cols,
                    con.conname or chosen,
                    source=self.source,
                )
            )
        elif kind == _enums().ConstrType.CONSTR_FOREIGN:
            cols = tuple(k.sval for k in con.fk_attrs or ()) or ((column.name,) if column else ())
            ref = self.rel(con.pktable)
            ref_cols = tuple(k.sval for k in con.pk_attrs or ()) or self.primary_key_of(ref)
            self.exp.constraints.append(
                Constraint(
                    "foreign key",
                    table.schema,
                    table.name,
                    cols,
                    con.conname
                    or self.constraint_name(table.schema, table.name, name_addition(cols), "fkey"),
                    ref_schema=ref[0],
                    ref_table=ref[1],
                    ref_columns=ref_cols,
                    source=self.source,
                )
            )

    def relation_name(self, schema: str, table: str, addition: str | None, label: str) -> str:
        """The name the server picks for an unnamed index: unique among the schema's relations."""
        taken = [name for (s, name) in (*self.exp.tables, *self.exp.indexes) if s == schema]
        # A primary key or unique constraint is backed by an index of the constraint's name.
        taken += [c.name for c in self.exp.constraints if c.schema == schema and c.kind in _INDEXED]
        return choose_name(table, addition, label, taken)

    def constraint_name(self, schema: str, table: str, addition: str | None, label: str) -> str:
        """The name the server picks for an unnamed constraint: unique among the schema's constraints."""
        return choose_name(
            table, addition, label, [c.name for c in self.exp.constraints if c.schema == schema]
        )

    def primary_key_of(self, key: QName) -> tuple[str, ...]:
        for con in self.exp.constraints:
            if con.kind == "primary key" and (con.schema, con.table) == key:
                return con.columns
        return ()

    def on_IndexStmt(self, stmt: Any) -> None:
        table = self.rel(stmt.relation)
        columns = tuple(
            elem.name if elem.name else "(" + deparse(elem.expr) + ")" for elem in stmt.indexParams or ()
        )
        name = stmt.idxname or self.relation_name(
            table[0],
            table[1],
            name_addition(_index_column_names(stmt.indexParams or ())),
            "key" if stmt.unique else "idx",
        )
        key = (table[0], name)
        if key in self.exp.indexes and stmt.if_not_exists:
            self.note(f"CREATE INDEX IF NOT EXISTS {self.show(key)} kept the existing index")
            return
        self.exp.indexes[key] = Index(
            table[0],
            name,
            table[1],
            columns,
            unique=bool(stmt.unique),
            method=(stmt.accessMethod or "btree").lower(),
            predicate=deparse(stmt.whereClause) if stmt.whereClause else None,
            source=self.source,
        )

    def on_DropStmt(self, stmt: Any) -> None:
        kind = stmt.removeType
        if kind == _enums().ObjectType.OBJECT_SCHEMA:
            for schema in stmt.objects or ():
                for key in [k for k in self.exp.tables if k[0] == schema.sval]:
                    self.drop_table(key)
            return
        if kind not in (_enums().ObjectType.OBJECT_TABLE, _enums().ObjectType.OBJECT_INDEX):
            return
        for obj in stmt.objects or ():
            parts = [p.sval for p in obj]
            key = (parts[0], parts[1]) if len(parts) == 2 else (self.search_schema, parts[-1])
            if kind == _enums().ObjectType.OBJECT_TABLE:
                self.drop_table(key)
            else:
                self.exp.indexes.pop(key, None)

    def on_AlterObjectSchemaStmt(self, stmt: Any) -> None:
        if stmt.objectType != _enums().ObjectType.OBJECT_TABLE or stmt.relation is None:
            return
        old = self.rel(stmt.relation)
        table = self.exp.tables.get(old)
        if table is None:
            return
        self.rename_table(old, table.name, new_schema=stmt.newschema)

    def drop_table(self, key: QName) -> None:
        self.exp.tables.pop(key, None)
        self.exp.constraints = [
            c for c in self.exp.constraints if key not in ((c.schema, c.table), (c.ref_schema, c.ref_table))
        ]
        self.exp.indexes = {k: i for k, i in self.exp.indexes.items() if (i.schema, i.table) != key}
        self.exp.rows = [r for r in self.exp.rows if (r.schema, r.table) != key]

    def on_AlterTableStmt(self, stmt: Any) -> None:
        if stmt.objtype != _enums().ObjectType.OBJECT_TABLE:
            return
        key = self.rel(stmt.relation)
        table = self.exp.tables.get(key)
        if table is None:
            self.note(f"ALTER TABLE {self.show(key)}: table not created by an applied migration, skipped")
            return
        for cmd in stmt.cmds or ():
            sub = cmd.subtype
            column = table.columns.get(cmd.name or "")
            if sub == _enums().AlterTableType.AT_AddColumn:
                if cmd.def_.colname in table.columns and cmd.missing_ok:
                    continue
                self.add_column(table, cmd.def_)
            elif sub == _enums().AlterTableType.AT_DropColumn:
                self.drop_column(table, cmd.name)
            elif sub == _enums().AlterTableType.AT_AlterColumnType and column is not None:
                column.type, _ = type_of(cmd.def_.typeName)
            elif sub == _enums().AlterTableType.AT_SetNotNull and column is not None:
                column.not_null = True
            elif sub == _enums().AlterTableType.AT_DropNotNull and column is not None:
                column.not_null = False
            elif sub == _enums().AlterTableType.AT_ColumnDefault and column is not None:
                column.default = deparse(cmd.def_) if cmd.def_ is not None else None
                column.serial = False
            elif sub == _enums().AlterTableType.AT_AddConstraint:
                self.add_constraint(table, cmd.def_, None)
            elif sub == _enums().AlterTableType.AT_DropConstraint:
                self.exp.constraints = [
                    c for c in self.exp.constraints if not ((c.schema, c.table) == key and c.name == cmd.name)
                ]

    def drop_column(self, table: Table, name: str) -> None:
        table.columns.pop(name, None)
        key = table.key
        self.exp.constraints = [
            c
            for c in self.exp.constraints
            if not (
                ((c.schema, c.table) == key and name in c.columns)
                or ((c.ref_schema, c.ref_table) == key and name in c.ref_columns)
            )
        ]
        self.exp.indexes = {
            k: i
            for k, i in self.exp.indexes.items()
            if not ((i.schema, i.table) == key and any(_mentions(c, name) for c in i.columns))
        }
        for row in self.exp.rows:
            if (row.schema, row.table) == key:
                row.values.pop(name, None)

    def on_RenameStmt(self, stmt: Any) -> None:
        kind = stmt.renameType
        if kind == _enums().ObjectType.OBJECT_TABLE:
            self.rename_table(self.rel(stmt.relation), stmt.newname)
        elif kind == _enums().ObjectType.OBJECT_COLUMN:
            self.rename_column(self.rel(stmt.relation), stmt.subname, stmt.newname)
        elif kind == _enums().ObjectType.OBJECT_INDEX:
            old = self.rel(stmt.relation)
            index = self.exp.indexes.pop(old, None)
            if index is not None:
                index.name = stmt.newname
                self.exp.indexes[index.key] = index
        elif kind == _enums().ObjectType.OBJECT_TABCONSTRAINT:
            key = self.rel(stmt.relation)
            for con in self.exp.constraints:
                if (con.schema, con.table) == key and con.name == stmt.subname:
                    con.name = stmt.newname

    def rename_table(self, old: QName, new_name: str, *, new_schema: str | None = None) -> None:
        """RENAME TO, or SET SCHEMA (which moves the table's indexes and constraints along)."""
        table = self.exp.tables.pop(old, None)
        if table is None:
            return
        schema = new_schema or old[0]
        table.schema, table.name = schema, new_name
        self.exp.tables[table.key] = table
        for con in self.exp.constraints:
            if (con.schema, con.table) == old:
                con.schema, con.table = schema, new_name
            if (con.ref_schema, con.ref_table) == old:
                con.ref_schema, con.ref_table = schema, new_name
        for key, index in list(self.exp.indexes.items()):
            if (index.schema, index.table) == old:
                del self.exp.indexes[key]
                index.schema, index.table = schema, new_name
                self.exp.indexes[index.key] = index
        for row in self.exp.rows:
            if (row.schema, row.table) == old:
                row.schema, row.table = schema, new_name

    def rename_column(self, key: QName, old: str, new: str) -> None:
        table = self.exp.tables.get(key)
        if table is None or old not in table.columns:
            return
        table.columns = {(new if n == old else n): c for n, c in table.columns.items()}
        table.columns[new].name = new
        for con in self.exp.constraints:
            if (con.schema, con.table) == key:
                con.columns = tuple(new if c == old else c for c in con.columns)
            if (con.ref_schema, con.ref_table) == key:
                con.ref_columns = tuple(new if c == old else c for c in con.ref_columns)
        for index in self.exp.indexes.values():
            if (index.schema, index.table) == key:
                index.columns = tuple(new if c == old else c for c in index.columns)
        for row in self.exp.rows:
            if (row.schema, row.table) == key and old in row.values:
                row.values[new] = row.values.pop(old)
                row.key = tuple(new if c == old else c for c in row.key)

    def on_InsertStmt(self, stmt: Any) -> None:
        key = self.rel(stmt.relation)
        table = self.exp.tables.get(key)
        select = stmt.selectStmt
        if table is None or select is None or not select.valuesLists:
            return
        names = [t.name for t in stmt.cols or ()] or list(table.columns)
        for values in select.valuesLists:
            literals = [_literal(v) for v in values]
            if not all(ok for ok, _ in literals) or len(literals) != len(names):
                self.note(f"INSERT INTO {self.show(key)}: a row with computed values is not checked")
                continue
            self.exp.rows.append(
                Row(
                    key[0],
                    key[1],
                    dict(zip(names, [v for _, v in literals], strict=True)),
                    source=self.source,
                )
            )

    def on_UpdateStmt(self, stmt: Any) -> None:
        key = self.rel(stmt.relation)
        for row in self.exp.rows:
            if (row.schema, row.table) == key:
                row.values_known = False

    def on_DeleteStmt(self, stmt: Any) -> None:
        self.forget_rows([self.rel(stmt.relation)])

    def on_TruncateStmt(self, stmt: Any) -> None:
        self.forget_rows([self.rel(r) for r in stmt.relations or ()])

    def forget_rows(self, keys: Sequence[QName]) -> None:
        self.exp.rows = [r for r in self.exp.rows if (r.schema, r.table) not in keys]

    def finish(self) -> Expectation:
        """Give each expected row its identifying key: a unique key whose columns were all inserted."""
        for row in self.exp.rows:
            candidates = [
                c.columns
                for c in self.exp.constraints
                if c.kind in ("primary key", "unique")
                and (c.schema, c.table) == (row.schema, row.table)
                and set(c.columns) <= set(row.values)
            ]
            candidates += [
                i.columns
                for i in self.exp.indexes.values()
                if i.unique
                and i.predicate is None
                and (i.schema, i.table) == (row.schema, row.table)
                and set(i.columns) <= set(row.values)
            ]
            row.key = min(candidates, key=len) if candidates else tuple(row.values)
        return self.exp


def _mentions(index_column: str, column: str) -> bool:
    if not index_column.startswith("("):
        return index_column == column
    return re.search(rf"\b{re.escape(column)}\b", index_column) is not None


_INDEXED = ("primary key", "unique")

# FigureColnameInternal (parse_target.c): expressions the server names by a keyword.
_KEYWORD_NAMES = {"CoalesceExpr": "coalesce", "A_ArrayExpr": "array", "RowExpr": "row"}


def _figure_colname(expr: Any) -> tuple[str | None, int]:
    """The server's FigureColnameInternal for the usual index expressions: (name, strength)."""
    kind = _kind(expr)
    if kind == "ColumnRef":
        last = (expr.fields or ())[-1:]
        return (last[0].sval, 2) if last and _kind(last[0]) == "String" else (None, 0)
    if kind == "FuncCall":
        return str(expr.funcname[-1].sval), 2
    if kind == "A_Expr" and expr.kind == _enums().A_Expr_Kind.AEXPR_NULLIF:
        return "nullif", 2
    if kind == "TypeCast":
        name, strength = _figure_colname(expr.arg)
        if strength <= 1 and expr.typeName is not None:
            return str(expr.typeName.names[-1].sval), 1
        return name, strength
    if kind == "CollateClause":
        return _figure_colname(expr.arg)
    if kind == "CaseExpr":
        name, strength = _figure_colname(expr.defresult) if expr.defresult is not None else (None, 0)
        return (name, strength) if strength > 1 else ("case", 1)
    if kind == "MinMaxExpr":
        return ("greatest" if expr.op == _enums().MinMaxOp.IS_GREATEST else "least"), 2
    if kind in _KEYWORD_NAMES:
        return _KEYWORD_NAMES[kind], 2
    return None, 0


def _index_column_names(params: Iterable[Any]) -> list[str]:
    """ChooseIndexColumnNames: an expression named as a SELECT column would be (lower(x) is
    "lower"), else "expr"; a repeated name numbered (a, a1, a2...)."""
    chosen: list[str] = []
    for param in params:
        base = param.name or _figure_colname(param.expr)[0] or "expr"
        name, attempt = base, 0
        while name in chosen:
            attempt += 1
            name = make_object_name(base, None, str(attempt))
        chosen.append(name)
    return chosen


def expect(files: Iterable[tuple[str, str]], *, default_schema: str = "public") -> Expectation:
    """Replay (file name, SQL text) pairs, in the given order, into the expected end state.

    Each file is parsed here with pglast's AST (not reused from the migrations module) so that this
    module depends on PostgreSQL's parse tree only, and can deparse defaults and index expressions.
    Raises BadInput naming file:line when the SQL does not parse.
    """
    from pglast import parse_sql
    from pglast.parser import ParseError

    replay = _Replay(default_schema)
    for name, sql in files:
        replay.source = name
        replay.search_schema = default_schema
        try:
            statements = parse_sql(sql)
        except ParseError as exc:
            offset = int(exc.args[1]) if len(exc.args) > 1 else 0
            line = sql.count("\n", 0, max(0, offset)) + 1
            raise BadInput(
                f"syntax error in {name}:{line}: {exc.args[0] if exc.args else exc}",
                "fix the SQL; verify derives its expectations from the files with PostgreSQL's parser",
            ) from exc
        for raw in statements:
            replay.statement(raw.stmt)
        replay.exp.files.append(name)
    return replay.finish()
