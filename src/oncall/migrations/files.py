"""Migrations: discover the files of a target, read the ledger, and the public API of the migrate room.

Stable API (other modules rely on these names):

    discover(target) -> list[Migration]
        The target's `*.sql` files in name order, each parsed with pglast (a syntax error is
        BadInput naming file:line). Migration has `version` (file stem), `name`, `path`,
        `checksum` (sha256 hex of the file's bytes), `sql`, `statements`, `no_transaction`,
        `no_transaction_reasons`, `revision`, `down_revision`.

    read_state(conn, target, migrations) -> LedgerState
        Read-only (plain SELECTs; works inside a READ ONLY transaction; never creates the ledger).
        `.applied`, `.pending`, `.edited`, `.partial` (lists of Migration), `.alembic_versions`
        (list[str], or None when the table is absent or the target is not Alembic-managed),
        `.unknown` (LedgerRow list: ledger rows without a file), `.problems` (drift found, as
        Drift errors whose details["kind"] is alembic-heads, alembic-unknown, alembic-behind,
        edited, unknown-file or recorded-twice), `.as_dict()`.

    plan(target, url, *, to=None) -> Plan                              (oncall.migrations.run)
    migrate(target, url, out, *, dry_run=False, yes=False, to=None,
            lock_wait=None, ...) -> MigrateResult                      (oncall.migrations.run)
    baseline(target, url, out, *, to, dry_run=False, yes=False) -> AdminResult  (oncall.migrations.admin)
    resolve(target, url, out, version, *, applied, dry_run=False, yes=False) -> AdminResult
    status(target, url, *, check=False) -> StatusResult

    `url` is a DatabaseURL, a raw URL string, or None (read from the target's variable).
    MigrateResult has `.ok`, `.code`, `.applied` (dicts: version, duration_ms, transaction_mode,
    attempts, round_trips, statements), `.plan`, `.as_dict()` (also `planned`: the versions the
    run set out to apply); errors are raised as oncall.errors exceptions.

File headers (SQL comments anywhere in the file, one per line):

    -- oncall:revision: 20251116_add_ai_usage_and_events   Alembic revision id (default: the stem)
    -- oncall:down_revision: 20251001_baseline             its parent; `none` for the first one
                                                           (default: the previous file's revision)
    -- oncall:no-transaction                               run statement by statement, outside a
                                                           transaction (detected automatically for
                                                           CREATE INDEX CONCURRENTLY and friends)
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncall.config import Target
from oncall.errors import BadInput, Drift
from oncall.migrations.ledger import ALEMBIC_VERSION_LENGTH, LedgerRow, existing, read_alembic, read_rows
from oncall.migrations.parse_cache import load_or_build
from oncall.migrations.statements import Statement, enum_value_uses, split_cached

if TYPE_CHECKING:
    import psycopg

_HEADER = re.compile(r"^\s*--\s*oncall:([A-Za-z_-]+)\s*(?::\s*(.*?))?\s*$", re.MULTILINE)
_KNOWN_HEADERS = ("revision", "down_revision", "no-transaction")
_NONE_WORDS = ("", "none", "null", "-")


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: str
    name: str
    path: Path
    checksum: str
    sql: str
    revision: str | None
    down_revision: str | None
    no_transaction_header: bool = False
    # Where parsed statements are cached by content (oncall.migrations.parse_cache); None parses every time.
    state_dir: Path | None = field(default=None, compare=False, repr=False)

    @cached_property
    def statements(self) -> list[Statement]:
        return split_cached(self.sql, source=self.path, state_dir=self.state_dir)

    def no_transaction_reasons(self, server_version_num: int = 160000) -> list[str]:
        """Why the file must run outside a transaction: the header, and each statement that says so."""
        reasons = ["header -- oncall:no-transaction"] if self.no_transaction_header else []
        for statement in self.statements:
            why = statement.no_transaction_reason(server_version_num)
            if why:
                reasons.append(f"{why} at line {statement.line}")
        if server_version_num >= 120000:  # before 12, ADD VALUE itself is a reason (above)
            reasons.extend(enum_value_uses(self.statements))
        return reasons

    @property
    def no_transaction(self) -> bool:
        return bool(self.no_transaction_reasons())

    def mode(self, server_version_num: int = 160000) -> str:
        return "none" if self.no_transaction_reasons(server_version_num) else "transaction"

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "name": self.name,
            "path": str(self.path),
            "checksum": self.checksum,
            "revision": self.revision,
            "down_revision": self.down_revision,
            "transaction_mode": self.mode(),
        }


def _headers(sql: str, path: Path) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for match in _HEADER.finditer(sql):
        key = match.group(1).lower()
        if key not in _KNOWN_HEADERS:
            raise BadInput(
                f"unknown header '-- oncall:{key}' in {path}",
                f"known headers: {', '.join('-- oncall:' + k for k in _KNOWN_HEADERS)} (see docs/migrate.md)",
            )
        found[key] = match.group(2)
    return found


def _refuse_nul(path: Path, data: bytes) -> None:
    """A NUL byte cannot reach the server: libpq ends the query there, so the rest of the file (its
    ledger row, its COMMIT) would silently not run. Refused before anything is sent."""
    offset = data.find(b"\0")
    if offset >= 0:
        raise BadInput(
            f"{path} contains a NUL byte at byte offset {offset}",
            "remove it (often a file saved as UTF-16, or a copy-paste from a binary); nothing was sent "
            "to the database",
            file=str(path),
            offset=offset,
        )


def _name_of(stem: str) -> str:
    """20251116_add_ai_usage_and_events -> add_ai_usage_and_events (the stem if it has no number)."""
    head, _, rest = stem.partition("_")
    return rest if head.isdigit() and rest else stem


def _read_migration(path: Path) -> bytes:
    """The bytes of one migration file; BadInput naming the path when it is not a readable file.

    Checked before opening: a directory or dangling symlink named *.sql would fail with a traceback,
    and opening a FIFO would block the run forever waiting for a writer.
    """
    hint = "make it a regular, readable .sql file, or move it out of the migrations folder"
    if path.is_symlink() and not path.exists():
        raise BadInput(f"migration {path} is a symlink to {os.readlink(path)}, which does not exist", hint)
    if path.is_dir():
        raise BadInput(f"migration {path} is a directory, not a file", hint)
    if not path.is_file():
        raise BadInput(f"migration {path} is not a regular file (a FIFO, socket or device?)", hint)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadInput(f"migration {path} cannot be read: {exc.strerror or exc}", hint) from None


def discover(target: Target) -> list[Migration]:
    """The target's migration files in name order, parsed, with Alembic revisions chained."""
    folder = target.migrations_dir
    if not folder.is_dir():
        raise BadInput(
            f"migrations directory {folder} does not exist (target {target.name})",
            "set migrations: to a folder of .sql files in invoke.yaml",
        )
    migrations: list[Migration] = []
    previous: str | None = None
    for path in sorted(folder.glob("*.sql")):
        data = _read_migration(path)
        _refuse_nul(path, data)
        try:
            sql = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInput(f"{path} is not UTF-8 text", "save the migration as UTF-8") from exc
        headers = _headers(sql, path)
        revision = headers.get("revision") or (path.stem if target.is_alembic else None)
        if "down_revision" in headers:
            raw_down = headers["down_revision"] or ""
            down = None if raw_down.lower() in _NONE_WORDS else raw_down
        else:
            down = previous if target.is_alembic else None
        migration = Migration(
            version=path.stem,
            name=_name_of(path.stem),
            path=path,
            checksum=hashlib.sha256(data).hexdigest(),
            sql=sql,
            revision=revision,
            down_revision=down,
            no_transaction_header="no-transaction" in headers,
            state_dir=target.state_dir,
        )
        # Parse now so that a syntax error surfaces before any write. Content that parsed before (with
        # the same pglast) still parses: for an unchanged file this reads a marker, not its statements.
        load_or_build(target.state_dir, "parses", sql, lambda m=migration: len(m.statements))  # type: ignore[misc]
        migrations.append(migration)
        previous = revision or previous
    if target.is_alembic:
        _check_alembic_chain(migrations)
    return migrations


def _check_alembic_chain(migrations: list[Migration]) -> None:
    """Alembic sets must form one line: each file's down_revision is the previous file's revision."""
    previous: str | None = None
    for migration in migrations:
        revision = migration.revision or ""
        if len(revision) > ALEMBIC_VERSION_LENGTH:
            raise BadInput(
                f"revision {revision!r} of {migration.path.name} is {len(revision)} characters; "
                f"alembic_version.version_num holds at most {ALEMBIC_VERSION_LENGTH}",
                "shorten the revision in its '-- oncall:revision:' header",
            )
        if migration.down_revision != previous:
            raise BadInput(
                f"{migration.path.name} has down_revision {migration.down_revision!r}, "
                f"but the file before it has revision {previous!r}",
                "Alembic sets must be linear: fix the '-- oncall:down_revision:' header",
            )
        previous = revision


def find(migrations: list[Migration], version: str) -> Migration:
    """The migration named by file stem, revision, or file name; BadInput listing the known ones."""
    for migration in migrations:
        if version in (migration.version, migration.revision, migration.path.name):
            return migration
    known = ", ".join(m.version for m in migrations) or "(none)"
    raise BadInput(f"no migration {version!r}", f"known versions: {known}")


@dataclass
class LedgerState:
    """What the database says about each migration file."""

    target: str
    migrations: list[Migration]
    applied: list[Migration] = field(default_factory=list)
    pending: list[Migration] = field(default_factory=list)
    edited: list[Migration] = field(default_factory=list)
    partial: list[Migration] = field(default_factory=list)
    unknown: list[LedgerRow] = field(default_factory=list)
    alembic_versions: list[str] | None = None
    ledger_exists: bool = False
    rows: dict[str, LedgerRow] = field(default_factory=dict)
    applied_by_alembic: list[str] = field(default_factory=list)
    problems: list[Drift] = field(default_factory=list)

    def status_of(self, migration: Migration) -> str:
        if migration in self.edited:
            return "edited"
        if migration in self.partial:
            return "partial"
        if migration in self.applied:
            return "applied"
        return "pending"

    def as_dict(self) -> dict[str, Any]:
        items = []
        for migration in self.migrations:
            row = self.rows.get(migration.version)
            items.append(
                {
                    **migration.as_dict(),
                    "status": self.status_of(migration),
                    "applied_at": row.applied_at.isoformat() if row and row.applied_at else None,
                    "applied_by": row.applied_by if row else None,
                    "duration_ms": row.duration_ms if row else None,
                    "recorded_checksum": row.checksum if row else None,
                    "statements_done": row.statements_done if row else 0,
                    "source": "alembic_version"
                    if migration.version in self.applied_by_alembic and not row
                    else ("ledger" if row else None),
                }
            )
        return {
            "target": self.target,
            "migrations": items,
            "applied": [m.version for m in self.applied],
            "pending": [m.version for m in self.pending],
            "edited": [m.version for m in self.edited],
            "partial": [m.version for m in self.partial],
            "unknown": [r.as_dict() for r in self.unknown],
            "alembic_versions": self.alembic_versions,
            "ledger_exists": self.ledger_exists,
            "problems": [p.as_dict() for p in self.problems],
        }


def _ancestors(migrations: list[Migration], revision: str) -> list[str]:
    """Revisions from the first one up to and including `revision` (linear chain)."""
    chain = [m.revision for m in migrations if m.revision]
    return chain[: chain.index(revision) + 1] if revision in chain else []


def alembic_problems(migrations: list[Migration], versions: list[str], where: str) -> list[Drift]:
    """Drift in alembic_version: several rows (the seed's two heads), or a revision we do not know."""
    known = [m.revision for m in migrations if m.revision]
    problems: list[Drift] = []
    unknown = [v for v in versions if v not in known]
    if unknown:
        problems.append(
            Drift(
                f"alembic_version on {where} holds {', '.join(unknown)}, which no file in this set defines",
                "deploy the code that has that revision, or fix alembic_version by hand after checking "
                "which schema the database really has",
                kind="alembic-unknown",
                alembic_versions=versions,
            )
        )
        return problems
    if len(versions) > 1:
        ordered = sorted(versions, key=known.index)
        newest = ordered[-1]
        older = ordered[:-1]
        lineage = _ancestors(migrations, newest)
        if all(v in lineage for v in older):
            deletes = "; ".join(f"DELETE FROM alembic_version WHERE version_num = '{v}'" for v in older)
            problems.append(
                Drift(
                    f"alembic_version on {where} holds {len(versions)} rows ({', '.join(ordered)}); "
                    f"{', '.join(older)} is an ancestor of {newest}, so Alembic sees two heads "
                    "(what INSERT ... ON CONFLICT DO NOTHING leaves behind)",
                    f"after checking that the tables of {newest} exist (invoke verify), run: {deletes};",
                    kind="alembic-heads",
                    alembic_versions=versions,
                    fix=deletes + ";",
                )
            )
    return problems


def _recorded_twice(rows: list[LedgerRow]) -> list[str]:
    """Versions with more than one ledger row (the primary key forbids it; a ledger without one may not)."""
    seen: set[str] = set()
    twice: list[str] = []
    for row in rows:
        if row.version in seen and row.version not in twice:
            twice.append(row.version)
        seen.add(row.version)
    return twice


def read_state(conn: psycopg.Connection[Any], target: Target, migrations: list[Migration]) -> LedgerState:
    """Compare the files with the ledger (and alembic_version); SELECTs only, creates nothing."""
    ledger_exists, alembic_exists = existing(conn, target.schema)
    rows = read_rows(conn, target.schema, exists=ledger_exists)
    state = LedgerState(target=target.name, migrations=migrations, ledger_exists=rows is not None)
    state.rows = {row.version: row for row in rows or []}
    if target.is_alembic:
        state.alembic_versions = read_alembic(conn, target.schema, exists=alembic_exists)
    info = conn.info
    where = f"{info.host}/{info.dbname}"
    twice = _recorded_twice(rows or [])
    if twice:
        state.problems.append(
            Drift(
                f"the ledger on {where} records {', '.join(twice)} more than once: a migration was applied "
                "twice (or the ledger lost its primary key)",
                "check what the second apply changed, delete the extra row by hand, and restore the primary "
                "key on oncall_migrations.version; oncall never merges two applies",
                kind="recorded-twice",
                versions=twice,
            )
        )

    alembic_applied: set[str] = set()
    if state.alembic_versions:
        state.problems.extend(alembic_problems(migrations, state.alembic_versions, where))
        known = [m.revision for m in migrations if m.revision]
        for version in state.alembic_versions:
            alembic_applied.update(_ancestors(migrations, version) if version in known else [])

    files = {m.version for m in migrations}
    state.unknown = [row for version, row in state.rows.items() if version not in files]
    if state.unknown:
        names = ", ".join(r.version for r in state.unknown)
        state.problems.append(
            Drift(
                f"the ledger on {where} records {names}, but no such file is in {target.migrations_dir}",
                f"restore the file, or if it was really undone: invoke resolve {state.unknown[0].version} "
                "--rolled-back",
                kind="unknown-file",
                unknown=[r.version for r in state.unknown],
            )
        )

    for migration in migrations:
        row = state.rows.get(migration.version)
        by_alembic = migration.revision in alembic_applied
        if row is not None and row.is_applied:
            state.applied.append(migration)
            if row.checksum != migration.checksum:
                state.edited.append(migration)
        elif by_alembic:
            state.applied.append(migration)
            state.applied_by_alembic.append(migration.version)
        else:
            if row is not None and row.outcome == "partial":
                state.partial.append(migration)
            state.pending.append(migration)

    if state.edited:
        first = state.edited[0]
        state.problems.append(
            Drift(
                f"{first.path.name} was edited after it was applied on {where} "
                f"(sha256 {state.rows[first.version].checksum[:12]} recorded, {first.checksum[:12]} on disk)",
                "restore the applied content, or record the new content with: "
                f"invoke resolve {first.version} --applied (only if the database already matches it)",
                kind="edited",
                edited=[m.version for m in state.edited],
            )
        )
    if target.is_alembic and len(state.alembic_versions or []) <= 1:
        head = state.alembic_versions[0] if state.alembic_versions else None
        behind = [
            m.version
            for m in state.applied
            if m.version not in state.applied_by_alembic and m.revision not in alembic_applied
        ]
        if behind:
            state.problems.append(
                Drift(
                    f"the ledger on {where} records {', '.join(behind)} as applied but alembic_version "
                    f"is at {head or '(empty)'}",
                    f"check the schema (invoke verify), then invoke resolve {behind[-1]} --applied to move "
                    "alembic_version, or --rolled-back to forget the ledger row",
                    kind="alembic-behind",
                    behind=behind,
                )
            )
    return state
