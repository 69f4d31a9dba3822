"""Read a service's recent Render logs and name the cause: `triage(target, since)`.

Known signatures: `oncall.runbook.signatures` (first match per line wins, most specific first):
missing columns and relations, pooler prepared-statement clashes, no connection slots left,
password failures, an IPv6-only database host, a host that does not resolve, a localhost refusal
(DATABASE_URL unset), other refusals, Alembic's missing revision and multiple heads, a missing
Python/Node module, out of memory, no open port. Each finding keeps the raw lines it is based on
(the newest `LINES_PER_FINDING`) and proposes the next command.

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
from oncall.errors import BadInput, OncallError
from oncall.migrations.files import discover
from oncall.migrations.run import status
from oncall.output import visible_controls
from oncall.render.client import RenderClient, parse_time, service_ref
from oncall.render.ops import client_for, service_of
from oncall.runbook.signatures import SCHEMA_SIGNATURES, classify, describe

__all__ = ["Finding", "TriageResult", "classify", "creating_migration", "parse_since", "triage"]


# How many of the raw lines behind a finding are kept and shown (the newest ones).
LINES_PER_FINDING = 5
# Render pages logs 100 lines at a time: the default window reads at most 20 pages.
DEFAULT_MAX_LINES = 2000

# Terminal escape sequences a log line may carry (colours, cursor moves, window titles): CSI, OSC
# (ended by BEL or by ESC and a backslash), and the two-byte ESC forms.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")


def log_text(message: str) -> str:
    """A log line as plain data: escape sequences removed, other control characters made visible.

    The service writes its logs; a line must not colour, move or retitle the on-call engineer's
    terminal, nor hide what comes before it (a carriage return). Rich markup in it is escaped where
    it is printed, not here: JSON and the report keep the text as the service wrote it.
    """
    return visible_controls(_ANSI.sub("", message))


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
    lines: list[dict[str, Any]] = field(default_factory=list)  # the newest raw lines it is based on

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
            "lines": self.lines,
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
    if relation and rel != relation:  # no relation: the error named only the column (SELECT form)
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
    wanted_rel, wanted_col = (_bare(relation) if relation else ""), column.lower()
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
    max_lines: int = DEFAULT_MAX_LINES,
) -> TriageResult:
    """Fetch the service's logs of the last `since` (newest `max_lines`) and say what is wrong."""
    window = parse_since(since)
    if max_lines < 1:
        raise BadInput(f"--max-lines {max_lines} is not positive", "pass --max-lines 2000 or another count")
    with client_for(client) as api:
        service = service_of(target, api)
        end = _dt.datetime.now(_dt.UTC)
        pages = -(-max_lines // 100)  # Render's pages hold at most 100 lines
        entries = api.logs(
            str(service["ownerId"]), str(service["id"]), start=end - window, end=end, max_pages=pages
        )[:max_lines]
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
            cause, hint, command = describe(signature, key, target, service)
            finding = findings[hit] = Finding(
                signature, key, cause, hint, sample=message[:300], command=command
            )
            finding.first_seen = entry.get("timestamp")
        finding.count += 1
        finding.last_seen = entry.get("timestamp")
        finding.lines = [*finding.lines, {"timestamp": entry.get("timestamp"), "message": message[:1000]}][
            -LINES_PER_FINDING:
        ]
    ordered = sorted(findings.values(), key=lambda f: f.last_seen or "", reverse=True)
    ledger_note = _attach_migrations(target, ordered, check_ledger)
    ok = not ordered
    note = None if ordered else f"no known signature in {len(entries)} log line(s) of the last {since}"
    if len(entries) >= max_lines:
        capped = f"read the newest {max_lines} lines of the window only; --max-lines reads more"
        note = capped if note is None else f"{note}; {capped}"
    return TriageResult(ok, 0 if ok else 1, service, since, len(entries), ordered, calls, note, ledger_note)


def _attach_migrations(target: Target, findings: list[Finding], check_ledger: bool) -> str | None:
    """Name the migration behind each schema finding; returns why the ledger was not read, if so."""
    schema_findings = [f for f in findings if f.signature in SCHEMA_SIGNATURES]
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
            finding.command = None  # nothing here to migrate
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
