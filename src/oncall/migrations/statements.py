"""Split a migration file into statements with PostgreSQL's own parser (pglast), and classify them.

`split(sql, source=...)` returns the statements exactly as `psql -f` would send them: dollar-quoted
bodies with semicolons, comments, DO blocks and several statements per line are handled by the
parser, never by looking for ';'. Each `Statement` keeps its 1-based source line so that an error
can name `file:line`. A syntax error becomes `BadInput` naming the file, the line and the parser's
message (pglast is libpg_query, i.e. the server's grammar, so the message is the server's).

Classification answers the questions the runner and the linter ask:
- `no_transaction_reason(server_version_num)`: why the statement cannot run inside a transaction
  block (CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY, VACUUM, ALTER TYPE ... ADD VALUE
  before PostgreSQL 12, CREATE/DROP DATABASE, ALTER SYSTEM), or None;
- `is_transaction_control`: BEGIN/COMMIT/ROLLBACK written in the file itself;
- `relations`: every table the statement names (for lock diagnostics);
- `creates`: the objects (table, index, view, sequence...) the statement creates, for `baseline`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oncall.errors import BadInput
from oncall.migrations.parse_cache import load_or_build

# A cheap look at a DO body before parsing it: most DO blocks never mention COMMIT or ROLLBACK.
_TRANSACTION_WORD = re.compile(r"\b(commit|rollback)\b", re.IGNORECASE)

# Objects whose presence `baseline` can check in the catalog, by the parse node that creates them.
_CREATED_RELATION_KIND = {
    "CreateStmt": "table",
    "CreateTableAsStmt": "table",
    "ViewStmt": "view",
    "CreateSeqStmt": "sequence",
}


@dataclass(frozen=True)
class CreatedObject:
    """An object a statement creates: kind (table/index/view/sequence), schema (or None) and name."""

    kind: str
    name: str
    schema: str | None = None

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass(frozen=True)
class Statement:
    """One statement of a file: its text, where it starts, and its parse tree as a dict."""

    text: str
    line: int
    start: int
    end: int
    node: dict[str, Any] = field(repr=False, compare=False)

    @property
    def kind(self) -> str:
        """The parse node's name, e.g. CreateStmt, IndexStmt, DoStmt."""
        return str(self.node.get("@", "?"))

    @property
    def is_transaction_control(self) -> bool:
        return self.kind == "TransactionStmt"

    def no_transaction_reason(self, server_version_num: int = 160000) -> str | None:
        """Why this statement cannot run inside a transaction block, or None if it can."""
        node, kind = self.node, self.kind
        if kind == "IndexStmt" and node.get("concurrent"):
            return "CREATE INDEX CONCURRENTLY"
        if kind == "DropStmt" and node.get("concurrent"):
            return "DROP INDEX CONCURRENTLY"
        if kind == "ReindexStmt" and any(
            p.get("defname") == "concurrently" for p in node.get("params") or ()
        ):
            return "REINDEX CONCURRENTLY"
        if kind == "VacuumStmt" and node.get("is_vacuumcmd"):
            return "VACUUM"
        if kind == "AlterEnumStmt" and node.get("newVal") and not node.get("oldVal"):
            if server_version_num < 120000:
                return "ALTER TYPE ... ADD VALUE (PostgreSQL < 12)"
            return None
        if kind in ("CreatedbStmt", "DropdbStmt"):
            return "CREATE/DROP DATABASE"
        if kind == "AlterSystemStmt":
            return "ALTER SYSTEM"
        if kind == "DoStmt" and self.commits_inside:
            return "DO block that COMMITs"
        return None

    @property
    def commits_inside(self) -> bool:
        """A PL/pgSQL DO block with COMMIT or ROLLBACK in its body (a batched backfill).

        Such a block runs only outside a transaction block, sent on its own (as psql -f sends it);
        inside ours it fails with "invalid transaction termination".
        """
        if self.kind != "DoStmt":
            return False
        args = {a.get("defname"): (a.get("arg") or {}).get("sval") for a in self.node.get("args") or ()}
        body, language = args.get("as"), (args.get("language") or "plpgsql").lower()
        if language != "plpgsql" or not isinstance(body, str) or not _TRANSACTION_WORD.search(body):
            return False
        from pglast import parser

        try:
            tree = json.loads(parser.parse_plpgsql_json(self.text))
        except parser.ParseError:
            return False  # the server reports a broken body better than we can
        return bool(_walk_keys(tree, ("PLpgSQL_stmt_commit", "PLpgSQL_stmt_rollback")))

    @property
    def added_enum_value(self) -> str | None:
        """The value an `ALTER TYPE ... ADD VALUE 'x'` adds, or None."""
        if self.kind == "AlterEnumStmt" and self.node.get("newVal") and not self.node.get("oldVal"):
            return str(self.node["newVal"])
        return None

    def uses_string(self, value: str) -> bool:
        """Whether the statement has the string constant `value` (e.g. 'meh' or 'meh'::mood)."""
        return any((c.get("sval") or {}).get("sval") == value for c in _walk(self.node, "A_Const"))

    @property
    def relations(self) -> list[str]:
        """Every relation name the statement mentions (unqualified), in order, without repeats."""
        seen: list[str] = []
        for rangevar in _walk(self.node, "RangeVar"):
            name = str(rangevar.get("relname", ""))
            if name and name not in seen:
                seen.append(name)
        return seen

    @property
    def creates(self) -> list[CreatedObject]:
        """Objects this statement creates that the catalog can confirm (used by `baseline`)."""
        node, kind = self.node, self.kind
        if kind in _CREATED_RELATION_KIND:
            rel = node.get("relation") or node.get("view") or node.get("sequence") or {}
            if kind == "CreateTableAsStmt":
                rel = (node.get("into") or {}).get("rel") or {}
            if rel.get("relname"):
                return [CreatedObject(_CREATED_RELATION_KIND[kind], rel["relname"], rel.get("schemaname"))]
        if kind == "IndexStmt" and node.get("idxname"):
            schema = (node.get("relation") or {}).get("schemaname")
            return [CreatedObject("index", str(node["idxname"]), schema)]
        return []

    @property
    def target_table(self) -> str | None:
        """The table an ALTER TABLE / CREATE INDEX acts on, or None."""
        rel = self.node.get("relation")
        if self.kind in ("AlterTableStmt", "IndexStmt", "CreateStmt") and isinstance(rel, dict):
            return str(rel.get("relname")) if rel.get("relname") else None
        return None

    def first_line(self, width: int = 80) -> str:
        """The statement's first line, shortened, for progress and error messages."""
        head = self.text.strip().splitlines()[0] if self.text.strip() else ""
        return head if len(head) <= width else head[: width - 1] + "…"


def enum_value_uses(statements: list[Statement]) -> list[str]:
    """`ALTER TYPE ... ADD VALUE 'x'` followed, in the same file, by a statement that uses 'x'.

    PostgreSQL 12+ runs ADD VALUE inside a transaction, but the new value cannot be used until that
    transaction commits ("unsafe use of new value"); psql -f commits each statement, so the file
    runs there. Returned as reasons to run the file statement by statement.
    """
    reasons: list[str] = []
    for index, statement in enumerate(statements):
        value = statement.added_enum_value
        if value is None:
            continue
        user = next((later for later in statements[index + 1 :] if later.uses_string(value)), None)
        if user is not None:
            reasons.append(
                f"ALTER TYPE ... ADD VALUE '{value}' at line {statement.line} is used at line {user.line}"
            )
    return reasons


def _walk_keys(value: Any, keys: tuple[str, ...]) -> list[Any]:
    """Every value under one of `keys` in a raw (not normalised) JSON tree, such as PL/pgSQL's."""
    found: list[Any] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.extend(v for k, v in item.items() if k in keys)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _walk(value: Any, tag: str) -> list[dict[str, Any]]:
    """Every node named `tag` inside a pglast dict tree, depth first."""
    found: list[dict[str, Any]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("@") == tag:
                found.append(item)
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))
    return found


def _normalize(value: Any) -> Any:
    """libpg_query's JSON tree in the shape this package reads: each node a dict with its name at "@".

    Generic node fields come wrapped as {"CreateStmt": {...}}; typed RangeVar fields come bare, so a
    dict with a `relname` is tagged RangeVar. Enums stay strings ("AT_AddColumn"); false booleans
    and empty lists are absent, so readers use .get().
    """
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key[:1].isupper() and isinstance(inner, dict):
                return {"@": key, **{k: _normalize(v) for k, v in inner.items()}}
        tree = {k: _normalize(v) for k, v in value.items()}
        if "relname" in tree and "@" not in tree:
            tree["@"] = "RangeVar"
        return tree
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    return value


def line_of(text: str, offset: int) -> int:
    """1-based line number of a character offset in `text`."""
    return text.count("\n", 0, max(0, offset)) + 1


_PSQL_META = re.compile(r"^[ \t]*(\\[A-Za-z!?][A-Za-z]*)", re.MULTILINE)
_COPY_FROM_STDIN = re.compile(r"^[ \t]*COPY\b[^;]*?\bFROM\s+STDIN\b", re.IGNORECASE | re.MULTILINE)


def _psql_only(source: str | Path, line: int, what: str) -> BadInput:
    return BadInput(
        f"{source}:{line}: {what}: oncall runs SQL, not psql scripts",
        "inline what the meta-command does (or load the rows with INSERT ... VALUES), "
        "or run this file with psql -v ON_ERROR_STOP=1 -f",
        file=str(source),
        line=line,
    )


def psql_script_error(sql: str, source: str | Path) -> BadInput | None:
    """A psql meta-command (\\i, \\set, ...) or COPY ... FROM stdin in a file the parser rejected."""
    found = []
    meta = _PSQL_META.search(sql)
    if meta:
        found.append((line_of(sql, meta.start()), f"psql meta-command {meta.group(1)}"))
    copy = _COPY_FROM_STDIN.search(sql)
    if copy:
        found.append((line_of(sql, copy.start()), "COPY ... FROM stdin (psql sends its rows)"))
    if not found:
        return None
    line, what = min(found)
    return _psql_only(source, line, what)


def split(sql: str, *, source: str | Path = "<sql>") -> list[Statement]:
    """Parse `sql` and return its statements in order; BadInput names file:line on a syntax error."""
    from pglast import parser

    try:
        # The JSON form is several times faster than building pglast's Python AST and serialising it.
        tree = json.loads(parser.parse_sql_json(sql))
    except parser.ParseError as exc:
        message = str(exc.args[0]) if exc.args else str(exc)
        offset = int(exc.args[1]) if len(exc.args) > 1 else 0
        psql = psql_script_error(sql, source)
        if psql is not None:
            raise psql from exc
        raise BadInput(
            f"syntax error in {source}:{line_of(sql, offset)}: {message}",
            "fix the SQL in that file; nothing was sent to the database",
            file=str(source),
            line=line_of(sql, offset),
            server_message=message,
        ) from exc
    for item in tree.get("stmts", []):
        copy = item.get("stmt", {}).get("CopyStmt")
        if copy and copy.get("is_from") and not copy.get("filename"):
            start = len(
                sql.encode("utf-8")[: int(item.get("stmt_location", 0))].decode("utf-8", errors="ignore")
            )
            raise _psql_only(source, line_of(sql, start), "COPY ... FROM stdin (psql sends its rows)")
    # libpg_query's locations count bytes; ours count characters (as the server's error positions do).
    data = sql.encode("utf-8")
    ascii_only = len(data) == len(sql)

    def chars(byte_offset: int) -> int:
        return byte_offset if ascii_only else len(data[:byte_offset].decode("utf-8", errors="ignore"))

    statements = []
    for item in tree.get("stmts", []):
        start_b = int(item.get("stmt_location", 0))
        length_b = int(item.get("stmt_len", 0))
        end_b = start_b + length_b if length_b else len(data)
        start, end = chars(start_b), chars(end_b)
        text = sql[start:end]
        # stmt_location points at the first token after the previous ';', which may be a comment
        # or blank lines; the line reported is that of the statement's first real character.
        lead = len(text) - len(text.lstrip())
        statements.append(
            Statement(
                text=text.strip(),
                line=line_of(sql, start + lead),
                start=start,
                end=end,
                node=_normalize(item.get("stmt", {})),
            )
        )
    return statements


def split_cached(sql: str, *, source: str | Path = "<sql>", state_dir: Path | None) -> list[Statement]:
    """`split`, reusing the statements of the same content from an earlier run (parse_cache).

    A run whose files are unchanged never imports pglast; a new or edited file is parsed (and a
    syntax error raised) exactly as by `split`, and errors are never cached.
    """
    return load_or_build(
        state_dir,
        "statements",
        sql,
        lambda: split(sql, source=source),
        encode=lambda statements: [[s.text, s.line, s.start, s.end, s.node] for s in statements],
        decode=_decode_statements,
    )


def _decode_statements(raw: Any) -> list[Statement]:
    """Statements from their cached form; ValueError for anything else (the entry is then rebuilt)."""
    if not isinstance(raw, list):
        raise ValueError("cached statements must be a list")
    statements = []
    for text, line, start, end, node in raw:
        if not (isinstance(text, str) and isinstance(node, dict)) or not all(
            type(n) is int for n in (line, start, end)
        ):
            raise ValueError("malformed cached statement")
        statements.append(Statement(text=text, line=line, start=start, end=end, node=node))
    return statements


def statement_at(statements: list[Statement], offset: int) -> Statement | None:
    """The statement that contains character `offset` of the file, or None."""
    for statement in statements:
        if statement.start <= offset < max(statement.end, statement.start + 1):
            return statement
    return None
