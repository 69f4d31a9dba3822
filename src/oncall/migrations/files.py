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

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncall.config import Target
from oncall.errors import BadInput, Drift
from oncall.migrations.alembic_heads import Node, RevisionGraph
from oncall.migrations.ledger import ALEMBIC_VERSION_LENGTH, LedgerRow, existing, read_alembic, read_rows
from oncall.migrations.parse_cache import load_or_build
from oncall.migrations.sources import Layout, SourceFile, ToolFacts, survey
from oncall.migrations.sources.alembic import (
    AlembicProject,
    Revision,
    looks_like_alembic,
    project,
    read_graph,
    read_revision,
)
from oncall.migrations.sources.alembic_offline import render_downgrade, render_upgrades
from oncall.migrations.sources.ledgers import ledger_for
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
    # Other formats (oncall.migrations.sources): the down SQL, what the tool's own ledger records,
    # and what switched the transaction off (dbmate transaction:false, diesel metadata.toml, ...).
    down_sql: str | None = field(default=None, compare=False, repr=False)
    tool: ToolFacts | None = None
    no_transaction_why: str = "header -- oncall:no-transaction"
    # format: alembic: why Alembic's offline mode cannot render this revision (it reads the live
    # database); such a revision is run by Alembic itself while oncall holds the lock.
    online_only: str | None = None
    # format: alembic: every down_revision (a merge has several; down_revision is the first) and
    # the depends_on, as revision ids. Empty for other formats (down_revision alone says it).
    down_revisions: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()

    @property
    def parents(self) -> tuple[str, ...]:
        """The revisions this one follows: its down_revision(s), then its depends_on."""
        downs = self.down_revisions or ((self.down_revision,) if self.down_revision else ())
        return (*downs, *self.depends_on)

    @cached_property
    def statements(self) -> list[Statement]:
        return split_cached(self.sql, source=self.path, state_dir=self.state_dir)

    def no_transaction_reasons(self, server_version_num: int = 160000) -> list[str]:
        """Why the file must run outside a transaction: the header, and each statement that says so."""
        reasons = [self.no_transaction_why] if self.no_transaction_header else []
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
            "parents": list(self.parents),  # a merge's every down_revision, then depends_on
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


def _name_of(stem: str) -> str:
    """20251116_add_ai_usage_and_events -> add_ai_usage_and_events (the stem if it has no number)."""
    head, _, rest = stem.partition("_")
    return rest if head.isdigit() and rest else stem


def alembic_project(target: Target) -> AlembicProject | None:
    """The Alembic project a target reads (format: alembic, or auto on an Alembic folder), else None."""
    named = target.migrations_dir if target.raw.get("migrations") else None
    if target.format == "alembic":
        return project(named or (None if target.alembic_ini else target.migrations_dir), target.alembic_ini)
    if (
        target.format == "auto"
        and target.migrations_dir.is_dir()
        and looks_like_alembic(target.migrations_dir)
    ):
        return project(target.migrations_dir, target.alembic_ini)
    return None


def layout_of(target: Target) -> Layout:
    """How the target's folder was read (status shows it): the format, and what it ignores."""
    found = alembic_project(target)
    if found is not None:
        return Layout(folder=found.versions, format="alembic", detected=target.format == "auto")
    return survey(target.migrations_dir, target.format)


def discover(target: Target, *, with_sql: bool = True) -> list[Migration]:
    """The target's migrations in the order of its format, parsed, with Alembic revisions chained.

    with_sql=False (status): an Alembic project's revisions without their SQL, so that what is
    applied and pending is known from the files alone, without running Alembic.
    """
    found = alembic_project(target)
    if found is not None:
        return _from_alembic(target, found, with_sql=with_sql)
    folder = target.migrations_dir
    if not folder.is_dir():
        raise BadInput(
            f"migrations directory {folder} does not exist (target {target.name})",
            "set migrations: to a folder of .sql files in invoke.yaml",
        )
    layout = survey(folder, target.format)
    if layout.format != "oncall":
        if target.is_alembic:
            raise BadInput(
                f"target {target.name} has ledger: alembic but its migrations are in {layout.format} format",
                "ledger: alembic goes with format: oncall; a tool's own ledger is kept by its format",
            )
        return [_from_source(source, target) for source in layout.files]
    migrations: list[Migration] = []
    previous: str | None = None
    # The flat *.sql files in name order, already read (and checked to be UTF-8) by the survey.
    for source in layout.files:
        path, sql = source.path, source.sql
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
            checksum=source.checksum,
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


def _from_source(source: SourceFile, target: Target) -> Migration:
    """A migration of another format, parsed now so that a syntax error surfaces before any write."""
    migration = Migration(
        version=source.version,
        name=source.name,
        path=source.path,
        checksum=source.checksum,
        sql=source.sql,
        revision=None,
        down_revision=None,
        no_transaction_header=source.no_transaction_why is not None,
        state_dir=target.state_dir,
        down_sql=source.down_sql,
        tool=source.tool,
        no_transaction_why=source.no_transaction_why or "",
    )
    load_or_build(target.state_dir, "parses", source.sql, lambda m=migration: len(m.statements))  # type: ignore[misc]
    return migration


def _from_alembic(target: Target, found: AlembicProject, *, with_sql: bool = True) -> list[Migration]:
    """An Alembic project's revisions, parents first, each with the SQL Alembic's offline mode renders."""
    revisions = read_graph(found.versions)  # parents first: branches, merges, several heads
    for revision in revisions:
        _check_revision_length(revision.revision, revision.path.name)
    rendered = render_upgrades(found, target.alembic_command, revisions, target.state_dir) if with_sql else {}
    return [_from_revision(revision, rendered, target) for revision in revisions]


def down_sql_of(target: Target, migration: Migration) -> str | None:
    """The down SQL of a migration: kept beside it, or for Alembic rendered by `alembic downgrade --sql`."""
    found = alembic_project(target) if migration.tool and migration.tool.format == "alembic" else None
    if found is None:
        return migration.down_sql
    return render_downgrade(found, target.alembic_command, read_revision(migration.path), target.state_dir)


def _from_revision(revision: Revision, rendered: dict[str, str], target: Target) -> Migration:
    sql = "" if revision.online_only else rendered.get(revision.revision, "")
    migration = Migration(
        version=revision.revision,
        name=revision.name,
        path=revision.path,
        checksum=revision.checksum,
        sql=sql,
        revision=revision.revision,
        down_revision=revision.down_revisions[0] if revision.down_revisions else None,
        state_dir=target.state_dir,
        tool=ToolFacts("alembic", revision.revision, description=revision.message),
        online_only=revision.online_only,
        down_revisions=revision.down_revisions,
        depends_on=revision.depends_on,
    )
    load_or_build(target.state_dir, "parses", sql, lambda m=migration: len(m.statements))  # type: ignore[misc]
    return migration


def _check_revision_length(revision: str, file_name: str) -> None:
    if len(revision) > ALEMBIC_VERSION_LENGTH:
        raise BadInput(
            f"revision {revision!r} of {file_name} is {len(revision)} characters; "
            f"alembic_version.version_num holds at most {ALEMBIC_VERSION_LENGTH}",
            "shorten the revision (its '-- oncall:revision:' header, or `revision =` in the .py file)",
        )


def _check_alembic_chain(migrations: list[Migration]) -> None:
    """SQL sets with ledger: alembic form one line: each file's down_revision is the previous file's
    revision (their headers name one parent; branches and merges are for format: alembic)."""
    previous: str | None = None
    for migration in migrations:
        revision = migration.revision or ""
        _check_revision_length(revision, migration.path.name)
        if migration.down_revision != previous:
            raise BadInput(
                f"{migration.path.name} has down_revision {migration.down_revision!r}, "
                f"but the file before it has revision {previous!r}",
                "SQL sets with ledger: alembic must be linear (branches and merges need format: alembic): "
                "fix the '-- oncall:down_revision:' header",
            )
        previous = revision


def find(migrations: list[Migration], version: str) -> Migration:
    """The migration named by file stem, revision, or file name; BadInput listing the known ones."""
    for migration in migrations:
        tool_version = migration.tool.version if migration.tool else None
        if version in (migration.version, migration.revision, migration.path.name, tool_version):
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
    # Alembic sets: the revisions no file follows (`alembic heads`); migrate applies every branch.
    file_heads: list[str] = field(default_factory=list)
    ledger_exists: bool = False
    rows: dict[str, LedgerRow] = field(default_factory=dict)
    applied_by_alembic: list[str] = field(default_factory=list)
    problems: list[Drift] = field(default_factory=list)
    # The format's own ledger (oncall.migrations.sources.ledgers): its name, whether it exists, and
    # the migrations it alone records as applied.
    tool_ledger: str | None = None
    tool_ledger_exists: bool = False
    applied_by_tool: list[str] = field(default_factory=list)
    applied_in_tool: set[str] = field(default_factory=set)

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
                    "source": self._source_of(migration, row),
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
            "alembic_heads": self.file_heads,
            "ledger_exists": self.ledger_exists,
            "tool_ledger": self.tool_ledger,
            "problems": [p.as_dict() for p in self.problems],
        }

    def _source_of(self, migration: Migration, row: LedgerRow | None) -> str | None:
        if row:
            return "ledger"
        if migration.version in self.applied_by_alembic:
            return "alembic_version"
        if migration.version in self.applied_by_tool:
            return self.tool_ledger
        return None


def revision_graph(migrations: list[Migration]) -> RevisionGraph:
    """The Alembic revision graph of a set (format: alembic, or SQL files with ledger: alembic)."""
    return RevisionGraph(
        Node(m.revision, m.parents[: len(m.parents) - len(m.depends_on)], m.depends_on)
        for m in migrations
        if m.revision
    )


def file_heads(migrations: list[Migration]) -> list[str]:
    """The revisions no file names as its down_revision (`alembic heads`), in the set's order."""
    named = {down for m in migrations for down in m.parents[: len(m.parents) - len(m.depends_on)]}
    return [m.revision for m in migrations if m.revision and m.revision not in named]


def alembic_problems(migrations: list[Migration], versions: list[str], where: str) -> list[Drift]:
    """Drift in alembic_version: a revision we do not know, or a row below another row (the seed's
    two heads: Alembic would never leave a revision's row beside a row of one of its descendants).

    Several rows of revisions on different branches are what Alembic itself leaves (one per head).
    """
    known = [m.revision for m in migrations if m.revision]
    problems: list[Drift] = []
    unknown = [v for v in versions if v not in known]
    if unknown:
        problems.append(
            Drift(
                f"alembic_version on {where} holds {', '.join(unknown)}, which no file in this set defines "
                f"(revisions here: {', '.join(known) or 'none'})",
                "deploy the code that has that revision, or fix alembic_version by hand after checking "
                "which schema the database really has",
                kind="alembic-unknown",
                alembic_versions=versions,
            )
        )
        return problems
    graph = revision_graph(migrations)
    ordered = sorted(versions, key=known.index)
    older = [v for v in ordered if any(v in graph.below(other) for other in versions if other != v)]
    if older:
        newer = [v for v in ordered if v not in older]
        deletes = "; ".join(f"DELETE FROM alembic_version WHERE version_num = '{v}'" for v in older)
        problems.append(
            Drift(
                f"alembic_version on {where} holds {len(versions)} rows ({', '.join(ordered)}); "
                f"{', '.join(older)} is an ancestor of {', '.join(newer)}, so Alembic sees two heads "
                "(what INSERT ... ON CONFLICT DO NOTHING leaves behind)",
                f"after checking that the tables of {', '.join(newer)} exist (invoke verify), "
                f"run: {deletes};",
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
        state.file_heads = file_heads(migrations)
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
        # Every row stands for its revision and all below it (Alembic's own reading of the table).
        alembic_applied = revision_graph(migrations).ancestors(state.alembic_versions)

    tool_applied = _read_tool_ledger(conn, target, migrations, state, where)

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
        if row is not None and row.is_applied and _changed_repeatable(migration, row):
            state.pending.append(migration)  # a Flyway R__ script runs again when it changes
        elif row is not None and row.is_applied:
            state.applied.append(migration)
            if row.checksum != migration.checksum:
                state.edited.append(migration)
        elif by_alembic:
            state.applied.append(migration)
            state.applied_by_alembic.append(migration.version)
        elif migration.version in tool_applied:
            state.applied.append(migration)
            state.applied_by_tool.append(migration.version)
        else:
            if row is not None and row.outcome == "partial":
                state.partial.append(migration)
            state.pending.append(migration)

    _tool_behind(state, target, tool_applied, where)
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
    if target.is_alembic and not any(p.details.get("kind") == "alembic-heads" for p in state.problems):
        head = ", ".join(state.alembic_versions or [])
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


def _changed_repeatable(migration: Migration, row: LedgerRow) -> bool:
    return bool(migration.tool and migration.tool.repeatable and row.checksum != migration.checksum)


def _read_tool_ledger(
    conn: psycopg.Connection[Any], target: Target, migrations: list[Migration], state: LedgerState, where: str
) -> set[str]:
    """The versions the format's own ledger records as applied (its drift goes to state.problems)."""
    fmt = migrations[0].tool.format if migrations and migrations[0].tool else "oncall"
    adapter = ledger_for(fmt, target.schema)
    if adapter is None:
        return set()
    tool_state = adapter.read(conn, migrations, where)
    state.tool_ledger = tool_state.table
    state.tool_ledger_exists = tool_state.exists
    state.problems.extend(tool_state.problems)
    state.applied_in_tool = set(tool_state.applied)
    return tool_state.applied


def _tool_behind(state: LedgerState, target: Target, tool_applied: set[str], where: str) -> None:
    """Drift: oncall's ledger records a migration that the tool's own ledger does not (yet, or any more).

    The team's tool would run it again (or its rollback undid it behind oncall's back).
    """
    if state.tool_ledger is None:
        return
    behind = [m.version for m in state.applied if m.version in state.rows and m.version not in tool_applied]
    if behind:
        state.problems.append(
            Drift(
                f"oncall_migrations on {where} records {', '.join(behind)} as applied but "
                f"{state.tool_ledger} does not (the team's tool would run it again)",
                f"check the schema (invoke verify), then invoke resolve {behind[-1]} --applied to record it "
                f"in {state.tool_ledger}, or --rolled-back if the tool undid it",
                kind="tool-behind",
                behind=behind,
            )
        )
