"""Read a service's recent Render logs and name the cause: `triage(target, since)`.

Known signatures (first match per line wins, most specific first):

    missing_column     column "Y" of relation "X" does not exist
    missing_relation   relation "X" does not exist
    database_refused   connection refused to the database (libpq, psycopg, node-postgres, SQLAlchemy)
    out_of_memory      out of memory (Render's "Ran out of memory", V8 heap, MemoryError, OOM kill)
    port_not_bound     Render found no open port (the app did not bind $PORT, or bound 127.0.0.1)

For a missing relation or column, the migration in the target's `sql/` set that creates it is
found by parsing the files with pglast (`oncall.migrations.discover`), and whether it is still
pending is read from the ledger when the target's database is reachable. The finding then names
the command to run: `invoke migrate --target NAME`.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from oncall.config import Target
from oncall.durations import parse_duration
from oncall.errors import OncallError
from oncall.migrations.files import discover
from oncall.migrations.run import status
from oncall.render.client import RenderClient, parse_time, service_ref
from oncall.render.ops import client_for, service_of

_COLUMN = re.compile(r'column "(?P<column>[^"]+)" of relation "(?P<relation>[^"]+)" does not exist')
_RELATION = re.compile(r'relation "(?P<relation>[^"]+)" does not exist')
_DB_REFUSED = re.compile(
    r"(?i)(ECONNREFUSED[^\n]*:(?:5432|6543)\b"
    r"|connection to server at [^\n]*failed: Connection refused"
    r"|could not connect to server: Connection refused"
    r"|psycopg2?\.OperationalError[^\n]*Connection refused"
    r"|(?:postgres|database|db)[^\n]{0,80}connection refused)"
)
_OOM = re.compile(
    r"(?i)(ran out of memory|JavaScript heap out of memory|\bMemoryError\b|out of memory"
    r"|Killed process \d+|OOMKilled)"
)
_PORT = re.compile(
    r"(?i)(no open ports detected|Port scan timeout reached|bind your service to at least one port"
    r"|EADDRINUSE)"
)

# Terminal escape sequences a log line may carry (colours, cursor moves, window titles): CSI, OSC
# (ended by BEL or by ESC and a backslash), and the two-byte ESC forms.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
# Every other control character but tab: C0, DEL and C1.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def log_text(message: str) -> str:
    """A log line as plain data: escape sequences removed, other control characters made visible.

    The service writes its logs; a line must not colour, move or retitle the on-call engineer's
    terminal, nor hide what comes before it (a carriage return). Rich markup in it is escaped where
    it is printed, not here: JSON and the report keep the text as the service wrote it.
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", _ANSI.sub("", message))


def parse_since(text: str) -> _dt.timedelta:
    """'30m', '2h', '90s', '1d' -> timedelta; nan, 0, negative or absurd (99999999999d) is BadInput."""
    return _dt.timedelta(seconds=parse_duration(text, "--since", allow_zero=False, example="30m"))


@dataclass
class Finding:
    """One recognised signature, with how often and when it was seen, and what to do."""

    signature: str
    key: str  # the relation, column, or "" for signatures without an object
    cause: str
    hint: str
    count: int = 0
    first_seen: str | None = None
    last_seen: str | None = None
    sample: str = ""
    migration: str | None = None
    migration_state: str | None = None  # pending | applied | unknown (database not reachable)
    command: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "signature": self.signature,
            "object": self.key or None,
            "cause": self.cause,
            "hint": self.hint,
            "count": self.count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "sample": self.sample,
            "migration": self.migration,
            "migration_state": self.migration_state,
            "command": self.command,
        }


@dataclass
class TriageResult:
    ok: bool
    code: int
    service: dict[str, Any]
    since: str
    lines: int
    findings: list[Finding] = field(default_factory=list)
    api_calls: int = 0
    note: str | None = None
    ledger_note: str | None = None  # why the ledger could not be read, when it could not

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "code": self.code,
            "service": service_ref(self.service),
            "since": self.since,
            "lines": self.lines,
            "findings": [f.as_dict() for f in self.findings],
            "api_calls": self.api_calls,
            "note": self.note,
            "ledger_note": self.ledger_note,
        }


def classify(message: str) -> tuple[str, str] | None:
    """(signature, object) for a log line that matches a known signature, else None."""
    if m := _COLUMN.search(message):
        return "missing_column", f"{m.group('relation')}.{m.group('column')}"
    if m := _RELATION.search(message):
        return "missing_relation", m.group("relation")
    if _DB_REFUSED.search(message):
        return "database_refused", ""
    if _OOM.search(message):
        return "out_of_memory", ""
    if _PORT.search(message):
        return "port_not_bound", ""
    return None


def _describe(signature: str, key: str, target: Target) -> tuple[str, str]:
    if signature == "missing_relation":
        return (
            f'the backend queries table "{key}", which does not exist in its database',
            f"create it: invoke migrate --target {target.name} (then invoke restart)",
        )
    if signature == "missing_column":
        return (
            f"the backend uses column {key}, which does not exist in its database",
            f"add it: invoke migrate --target {target.name} (then invoke restart)",
        )
    if signature == "database_refused":
        return (
            "the backend cannot reach its database: connection refused",
            f"check the service's DATABASE_URL (host, port 5432 vs 6543) and the database; "
            f"`invoke doctor --target {target.name}` tests the same URL from here",
        )
    if signature == "out_of_memory":
        return (
            "the backend ran out of memory and was killed",
            "look for a memory spike in the dashboard's Metrics; a larger plan or fewer workers helps",
        )
    return (
        "Render found no open port: the app did not bind $PORT on 0.0.0.0",
        "start the server on host 0.0.0.0 and port $PORT (Render sets PORT, default 10000)",
    )


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _walk(child)
    elif isinstance(value, list | tuple):
        for child in value:
            yield from _walk(child)


def _bare(name: str) -> str:
    return name.rsplit(".", maxsplit=1)[-1].strip('"').lower()


def _adds_column(node: dict[str, Any], relation: str, column: str) -> bool:
    kind = node.get("@")
    rel = _bare(str((node.get("relation") or {}).get("relname", "")))
    if rel != relation:
        return False
    if kind == "CreateStmt":
        return any(
            c.get("@") == "ColumnDef" and c.get("colname") == column for c in node.get("tableElts") or ()
        )
    if kind == "AlterTableStmt":
        for cmd in node.get("cmds") or ():
            # libpg_query's JSON names the enum as a string; pglast's AST as {"name": ...}.
            raw = cmd.get("subtype")
            sub = raw.get("name") if isinstance(raw, dict) else raw
            definition = cmd.get("def_") or cmd.get("def") or {}
            if sub == "AT_AddColumn" and definition.get("colname") == column:
                return True
    return False


def creating_migration(target: Target, signature: str, key: str) -> Any:
    """The first migration of the target whose SQL creates the relation (or adds the column)."""
    if signature == "missing_relation":
        wanted = _bare(key)
        for migration in discover(target):
            for statement in migration.statements:
                if any(obj.name.lower() == wanted for obj in statement.creates):
                    return migration
        return None
    relation, _, column = key.rpartition(".")
    wanted_rel, wanted_col = _bare(relation), column.lower()
    for migration in discover(target):
        for statement in migration.statements:
            if any(_adds_column(node, wanted_rel, wanted_col) for node in _walk(statement.node)):
                return migration
    return None


def _pending_state(target: Target, versions: Iterable[str]) -> tuple[dict[str, str], str | None]:
    """applied/pending per version from the ledger; 'unknown' (and why) when it cannot be read."""
    wanted = list(versions)
    try:
        state = status(target, None).state
    except OncallError as exc:
        return dict.fromkeys(wanted, "unknown"), exc.cause
    pending = {m.version for m in state.pending}
    return {v: "pending" if v in pending else "applied" for v in wanted}, None


def triage(
    target: Target,
    since: str = "30m",
    *,
    client: RenderClient | None = None,
    check_ledger: bool = True,
) -> TriageResult:
    """Fetch the service's logs of the last `since` and return what they say is wrong."""
    window = parse_since(since)
    with client_for(client) as api:
        service = service_of(target, api)
        end = _dt.datetime.now(_dt.UTC)
        entries = api.logs(str(service["ownerId"]), str(service["id"]), start=end - window, end=end)
        calls = api.total_calls
    findings: dict[tuple[str, str], Finding] = {}
    # Oldest first, so first_seen/last_seen read naturally.
    for entry in sorted(entries, key=lambda e: parse_time(e.get("timestamp")) or end):
        message = log_text(str(entry.get("message", "")))
        hit = classify(message)
        if hit is None:
            continue
        signature, key = hit
        finding = findings.get(hit)
        if finding is None:
            cause, hint = _describe(signature, key, target)
            finding = findings[hit] = Finding(signature, key, cause, hint, sample=message[:300])
            finding.first_seen = entry.get("timestamp")
        finding.count += 1
        finding.last_seen = entry.get("timestamp")
    ordered = sorted(findings.values(), key=lambda f: f.last_seen or "", reverse=True)
    ledger_note = _attach_migrations(target, ordered, check_ledger)
    ok = not ordered
    note = None if ordered else f"no known signature in {len(entries)} log line(s) of the last {since}"
    return TriageResult(ok, 0 if ok else 1, service, since, len(entries), ordered, calls, note, ledger_note)


def _attach_migrations(target: Target, findings: list[Finding], check_ledger: bool) -> str | None:
    """Name the migration behind each schema finding; returns why the ledger was not read, if so."""
    schema_findings = [f for f in findings if f.signature in ("missing_relation", "missing_column")]
    if not schema_findings:
        return None
    files: dict[str, str] = {}  # version -> folder/file, as the user finds it (a .sql or an Alembic .py)
    for finding in schema_findings:
        migration = creating_migration(target, finding.signature, finding.key)
        if migration is None:
            finding.hint = (
                f"no migration in {target.migrations_dir.name}/ creates {finding.key}: "
                "write one, or check the backend is pointed at the right database"
            )
            continue
        finding.migration = migration.version
        files[migration.version] = f"{migration.path.parent.name}/{migration.path.name}"
        finding.command = f"invoke migrate --target {target.name}"
    versions = [f.migration for f in schema_findings if f.migration]
    states: dict[str, str] = {}
    why: str | None = "not asked to read it" if not check_ledger else None
    if check_ledger and versions:
        states, why = _pending_state(target, versions)
    for finding in schema_findings:
        if not finding.migration:
            continue
        finding.migration_state = states.get(finding.migration, "unknown")
        where = files.get(finding.migration, f"{target.migrations_dir.name}/{finding.migration}.sql")
        if finding.migration_state == "applied":
            finding.hint = (
                f"{where} creates it and the ledger says it is applied: the backend may use another "
                f"database than {target.database_url_env}; compare the service's DATABASE_URL"
            )
        else:
            state = "pending" if finding.migration_state == "pending" else "not confirmed applied"
            finding.hint = (
                f"{where} creates it ({state}): run `{finding.command}`, "
                f"then `invoke restart --target {target.name}`"
            )
    return why
