"""One ledger adapter per format: read the tool's own table, and write it exactly as the tool does.

What the team's tool recorded counts as applied, so adopting oncall on a live database needs no
baseline. What oncall applies is recorded in the tool's table in the same transaction as the
migration and oncall's own row, so `prisma migrate deploy`, `migrate up`, `dbmate up`, `diesel
migration run`, `flyway migrate`, `supabase db push` or drizzle's migrator find nothing left to do.
A failed or dirty row in the tool's table is drift (exit 5) with the tool's own repair command.

Readers only SELECT (they run inside READ ONLY transactions); the SQL that writes is returned as
text and appended to the migration's one-round-trip transaction by the runner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from psycopg import sql

from oncall.errors import Drift
from oncall.migrations.ledger import sql_text, table_id
from oncall.migrations.sources.base import ToolFacts
from oncall.migrations.sources.readers import flyway_version_key

if TYPE_CHECKING:
    import psycopg

    from oncall.migrations.statements import Statement

# Time since BEGIN, i.e. how long the migration's statements took, measured inside its transaction.
_ELAPSED_MS = sql.SQL("round(extract(epoch FROM clock_timestamp() - now()) * 1000)::integer")


class Recordable(Protocol):
    """What an adapter needs of a migration (oncall.migrations.Migration is one)."""

    @property
    def version(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def tool(self) -> ToolFacts | None: ...
    @property
    def statements(self) -> list[Statement]: ...


@dataclass
class ToolLedgerState:
    """What the tool's table says: which migrations (by oncall version) it counts as applied."""

    table: str
    exists: bool
    applied: set[str] = field(default_factory=set)
    problems: list[Drift] = field(default_factory=list)


def _facts(migration: Recordable) -> ToolFacts:
    facts = migration.tool
    if facts is None:
        raise ValueError(f"{migration.version} carries no tool facts")
    return facts


def _exists(conn: psycopg.Connection[Any], table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])


def _columns(conn: psycopg.Connection[Any], table: str) -> set[str]:
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) "
        "AND attnum > 0 AND NOT attisdropped",
        (table,),
    ).fetchall()
    return {str(r[0]) for r in rows}


class ToolLedger:
    """Base adapter: a table keyed by the tool's version, one INSERT per migration."""

    format = ""
    table_name = ""
    has_downs = False

    def __init__(self, schema: str) -> None:
        self.schema = schema

    @property
    def ident(self) -> sql.Identifier:
        return table_id(self.schema, self.table_name)

    @property
    def table(self) -> str:
        """The quoted schema.table, as to_regclass reads it."""
        return sql_text(self.ident)

    def _sql(self, template: str, *args: sql.Composable, **kwargs: sql.Composable) -> str:
        """`template` with {table} as this ledger's table and the other fields composed by psycopg."""
        return sql_text(sql.SQL(template).format(*args, table=self.ident, **kwargs))

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.table_name}"

    def create_sql(self) -> str:
        raise NotImplementedError

    def read(
        self, conn: psycopg.Connection[Any], migrations: Sequence[Recordable], where: str
    ) -> ToolLedgerState:
        state = ToolLedgerState(table=self.label, exists=_exists(conn, self.table))
        if state.exists:
            self._read_rows(conn, migrations, state, where)
        return state

    def _read_rows(
        self,
        conn: psycopg.Connection[Any],
        migrations: Sequence[Recordable],
        state: ToolLedgerState,
        where: str,
    ) -> None:
        rows = conn.execute(sql.SQL("SELECT version FROM {}").format(self.ident)).fetchall()
        recorded = {str(r[0]) for r in rows}
        state.applied = {m.version for m in migrations if _facts(m).version in recorded}

    def record_sql(self, migration: Recordable, *, create: bool) -> str:
        """The statements the tool runs after applying `migration` (creating its table first if asked)."""
        parts = [self.create_sql()] if create else []
        parts.append(self._insert_sql(migration))
        return ";\n".join(parts)

    def _insert_sql(self, migration: Recordable) -> str:
        return self._sql("INSERT INTO {table} (version) VALUES ({})", sql.Literal(_facts(migration).version))

    def forget_sql(self, migration: Recordable, previous: Recordable | None) -> str:
        """The statements the tool runs after rolling `migration` back (`previous` is the one before it)."""
        return self._sql("DELETE FROM {table} WHERE version = {}", sql.Literal(_facts(migration).version))


class PrismaLedger(ToolLedger):
    format = "prisma"
    table_name = "_prisma_migrations"

    def create_sql(self) -> str:
        return self._sql(
            "CREATE TABLE IF NOT EXISTS {table} (\n"
            '    "id" VARCHAR(36) PRIMARY KEY NOT NULL,\n'
            '    "checksum" VARCHAR(64) NOT NULL,\n'
            '    "finished_at" TIMESTAMPTZ,\n'
            '    "migration_name" VARCHAR(255) NOT NULL,\n'
            '    "logs" TEXT,\n'
            '    "rolled_back_at" TIMESTAMPTZ,\n'
            '    "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),\n'
            '    "applied_steps_count" INTEGER NOT NULL DEFAULT 0\n'
            ")"
        )

    def _read_rows(
        self,
        conn: psycopg.Connection[Any],
        migrations: Sequence[Recordable],
        state: ToolLedgerState,
        where: str,
    ) -> None:
        rows = conn.execute(
            sql.SQL(
                "SELECT migration_name, finished_at IS NOT NULL, rolled_back_at IS NOT NULL FROM {} "
                "ORDER BY started_at"
            ).format(self.ident)
        ).fetchall()
        done = {str(name) for name, finished, rolled_back in rows if finished and not rolled_back}
        failed = [str(name) for name, finished, rolled_back in rows if not finished and not rolled_back]
        state.applied = {m.version for m in migrations if _facts(m).version in done}
        if failed:
            state.problems.append(
                Drift(
                    f"_prisma_migrations on {where} records a failed migration {failed[0]} "
                    "(started, never finished, not rolled back)",
                    f"fix the database, then: npx prisma migrate resolve --rolled-back {failed[0]} "
                    f"(or --applied {failed[0]} if its changes are complete)",
                    kind="tool-failed",
                    tool="prisma",
                    failed=failed,
                )
            )

    def _insert_sql(self, migration: Recordable) -> str:
        facts = _facts(migration)
        return self._sql(
            "INSERT INTO {table} (id, checksum, finished_at, migration_name, logs, rolled_back_at, "
            "started_at, applied_steps_count) VALUES (gen_random_uuid()::text, "
            "{checksum}, clock_timestamp(), {version}, NULL, NULL, now(), 1)",
            checksum=sql.Literal(facts.checksum),
            version=sql.Literal(facts.version),
        )


class DieselLedger(ToolLedger):
    format = "diesel"
    table_name = "__diesel_schema_migrations"
    has_downs = True

    def create_sql(self) -> str:
        return self._sql(
            "CREATE TABLE IF NOT EXISTS {table} (\n"
            "    version VARCHAR(50) PRIMARY KEY NOT NULL,\n"
            "    run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP\n"
            ")"
        )


class DbmateLedger(ToolLedger):
    format = "dbmate"
    table_name = "schema_migrations"
    has_downs = True

    def create_sql(self) -> str:
        return self._sql("CREATE TABLE IF NOT EXISTS {table} (version varchar(128) PRIMARY KEY)")

    def _read_rows(
        self,
        conn: psycopg.Connection[Any],
        migrations: Sequence[Recordable],
        state: ToolLedgerState,
        where: str,
    ) -> None:
        if "dirty" in _columns(conn, self.table):
            state.problems.append(
                Drift(
                    f"{self.label} on {where} has a dirty column: golang-migrate's table, not dbmate's",
                    "set format: golang-migrate if that is the tool, or point dbmate at another table",
                    kind="tool-table",
                    tool="dbmate",
                )
            )
            return
        super()._read_rows(conn, migrations, state, where)


class GolangMigrateLedger(ToolLedger):
    """One row: the last applied version, and whether a run stopped midway (dirty)."""

    format = "golang-migrate"
    table_name = "schema_migrations"
    has_downs = True

    def create_sql(self) -> str:
        return self._sql(
            "CREATE TABLE IF NOT EXISTS {table} (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)"
        )

    def _read_rows(
        self,
        conn: psycopg.Connection[Any],
        migrations: Sequence[Recordable],
        state: ToolLedgerState,
        where: str,
    ) -> None:
        if "dirty" not in _columns(conn, self.table):
            state.problems.append(
                Drift(
                    f"{self.label} on {where} has no dirty column: dbmate's table, not golang-migrate's",
                    "set format: dbmate if that is the tool",
                    kind="tool-table",
                    tool="golang-migrate",
                )
            )
            return
        row = conn.execute(sql.SQL("SELECT version, dirty FROM {} LIMIT 1").format(self.ident)).fetchone()
        if row is None:
            return
        version, dirty = int(row[0]), bool(row[1])
        numbers = [int(_facts(m).version) for m in migrations]
        if version not in numbers:
            # golang-migrate itself stops here: "no migration found for version N".
            below = max((n for n in numbers if n < version), default=0)
            state.problems.append(
                Drift(
                    f"schema_migrations on {where} is at version {version}, which no .up.sql file has "
                    "(the database is ahead of this code, or the file was removed)",
                    "deploy the code that has that migration, or after checking the schema: "
                    f"migrate -path DIR -database URL force {below}",
                    kind="tool-unknown",
                    tool="golang-migrate",
                    version=version,
                )
            )
        if dirty:
            before = max((n for n in numbers if n < version), default=None)
            force = f"migrate force {before}" if before is not None else "migrate drop"
            state.problems.append(
                Drift(
                    f"schema_migrations on {where} is dirty at version {version}: a golang-migrate run "
                    "stopped inside that migration",
                    f"check what of {version} ran and undo it, then: migrate -path DIR -database URL {force} "
                    f"(or `migrate force {version}` if its changes are complete)",
                    kind="tool-dirty",
                    tool="golang-migrate",
                    version=version,
                )
            )
            applied_up_to = before if before is not None else -1
        else:
            applied_up_to = version
        state.applied = {m.version for m in migrations if int(_facts(m).version) <= applied_up_to}

    def record_sql(self, migration: Recordable, *, create: bool) -> str:
        # golang-migrate keeps a single row; it replaces it after each migration.
        parts = [self.create_sql()] if create else []
        parts.append(self._sql("DELETE FROM {table}"))
        parts.append(self._single_row_sql(migration))
        return ";\n".join(parts)

    def _single_row_sql(self, migration: Recordable) -> str:
        version = sql.Literal(int(_facts(migration).version))
        return self._sql("INSERT INTO {table} (version, dirty) VALUES ({}, false)", version)

    def forget_sql(self, migration: Recordable, previous: Recordable | None) -> str:
        parts = [self._sql("DELETE FROM {table}")]
        if previous is not None:
            parts.append(self._single_row_sql(previous))
        return ";\n".join(parts)


class FlywayLedger(ToolLedger):
    format = "flyway"
    table_name = "flyway_schema_history"

    def create_sql(self) -> str:
        return self._sql(
            "CREATE TABLE IF NOT EXISTS {table} (\n"
            "    installed_rank INT NOT NULL,\n"
            "    version VARCHAR(50),\n"
            "    description VARCHAR(200) NOT NULL,\n"
            "    type VARCHAR(20) NOT NULL,\n"
            "    script VARCHAR(1000) NOT NULL,\n"
            "    checksum INTEGER,\n"
            "    installed_by VARCHAR(100) NOT NULL,\n"
            "    installed_on TIMESTAMP NOT NULL DEFAULT now(),\n"
            "    execution_time INTEGER NOT NULL,\n"
            "    success BOOLEAN NOT NULL,\n"
            "    CONSTRAINT flyway_schema_history_pk PRIMARY KEY (installed_rank)\n"
            ");\n"
            "CREATE INDEX IF NOT EXISTS flyway_schema_history_s_idx ON {table} (success)"
        )

    def _read_rows(
        self,
        conn: psycopg.Connection[Any],
        migrations: Sequence[Recordable],
        state: ToolLedgerState,
        where: str,
    ) -> None:
        rows = conn.execute(
            sql.SQL("SELECT version, type, success, script, checksum FROM {} ORDER BY installed_rank").format(
                self.ident
            )
        ).fetchall()
        applied: set[tuple[int, ...]] = set()
        baseline: tuple[int, ...] | None = None
        failed: list[str] = []
        # A repeatable counts as applied when its latest successful run had today's checksum.
        repeatable: dict[str, str] = {}
        for version, kind, success, script, checksum in rows:
            if not success:
                failed.append(f"{version or 'repeatable'} ({script})")
            elif version is None:
                repeatable[str(script)] = str(checksum)
            elif kind == "BASELINE":
                key = flyway_version_key(str(version))
                baseline = max(baseline or key, key)
            elif kind != "UNDO_SQL":
                applied.add(flyway_version_key(str(version)))
        for migration in migrations:
            facts = _facts(migration)
            if facts.repeatable:
                if repeatable.get(facts.script) == facts.checksum:
                    state.applied.add(migration.version)
                continue
            key = flyway_version_key(facts.version)
            if key in applied or (baseline is not None and key <= baseline):
                state.applied.add(migration.version)
        if failed:
            state.problems.append(
                Drift(
                    f"flyway_schema_history on {where} records a failed migration: {failed[0]}",
                    "undo what it did, then remove the failed row with: flyway repair",
                    kind="tool-failed",
                    tool="flyway",
                    failed=failed,
                )
            )

    def _insert_sql(self, migration: Recordable) -> str:
        facts = _facts(migration)
        return self._sql(
            "INSERT INTO {table} (installed_rank, version, description, type, script, checksum, "
            "installed_by, installed_on, execution_time, success) SELECT "
            "coalesce(max(installed_rank), 0) + 1, {version}, {description}, 'SQL', {script}, "
            "{checksum}, current_user, now(), {elapsed}, true FROM {table}",
            version=sql.Literal(facts.version or None),
            description=sql.Literal(facts.description[:200]),
            script=sql.Literal(facts.script),
            checksum=sql.Literal(int(facts.checksum)),
            elapsed=_ELAPSED_MS,
        )


class SupabaseLedger(ToolLedger):
    format = "supabase"
    table_name = "schema_migrations"

    def __init__(self, schema: str) -> None:
        super().__init__("supabase_migrations")

    def create_sql(self) -> str:
        return self._sql(
            "CREATE SCHEMA IF NOT EXISTS {schema};\n"
            "CREATE TABLE IF NOT EXISTS {table} "
            "(version text NOT NULL PRIMARY KEY, statements text[], name text)",
            schema=sql.Identifier(self.schema),
        )

    def _insert_sql(self, migration: Recordable) -> str:
        facts = _facts(migration)
        statements = sql.SQL(", ").join(sql.Literal(s.text) for s in migration.statements)
        return self._sql(
            "INSERT INTO {table} (version, name, statements) "
            "VALUES ({version}, {name}, ARRAY[{statements}]::text[])",
            version=sql.Literal(facts.version),
            name=sql.Literal(facts.description),
            statements=statements,
        )


class DrizzleLedger(ToolLedger):
    """drizzle.__drizzle_migrations: drizzle applies every journal entry newer than its last created_at."""

    format = "drizzle"
    table_name = "__drizzle_migrations"

    def __init__(self, schema: str) -> None:
        super().__init__("drizzle")

    def create_sql(self) -> str:
        return self._sql(
            "CREATE SCHEMA IF NOT EXISTS drizzle;\n"
            "CREATE TABLE IF NOT EXISTS {table} "
            "(id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)"
        )

    def _read_rows(
        self,
        conn: psycopg.Connection[Any],
        migrations: Sequence[Recordable],
        state: ToolLedgerState,
        where: str,
    ) -> None:
        latest = sql.SQL("SELECT created_at FROM {} ORDER BY created_at DESC LIMIT 1").format(self.ident)
        row = conn.execute(latest).fetchone()
        if row is None or row[0] is None:
            return
        last = int(row[0])
        state.applied = {m.version for m in migrations if _facts(m).when_ms <= last}

    def _insert_sql(self, migration: Recordable) -> str:
        facts = _facts(migration)
        return self._sql(
            "INSERT INTO {table} (hash, created_at) VALUES ({}, {})",
            sql.Literal(facts.checksum),
            sql.Literal(int(facts.when_ms)),
        )

    def forget_sql(self, migration: Recordable, previous: Recordable | None) -> str:
        """Remove the rows that make drizzle count `migration` as applied.

        The table has no version column: drizzle counts every journal entry up to the newest
        created_at as applied, so the migration is pending again only once no row reaches its `when`.
        Rows of newer migrations go too; those oncall still records then read as tool-behind drift,
        which is true (drizzle would run them again).
        """
        return self._sql(
            "DELETE FROM {table} WHERE created_at >= {}", sql.Literal(int(_facts(migration).when_ms))
        )


_ADAPTERS: dict[str, type[ToolLedger]] = {
    cls.format: cls
    for cls in (
        PrismaLedger,
        DieselLedger,
        DbmateLedger,
        GolangMigrateLedger,
        FlywayLedger,
        SupabaseLedger,
        DrizzleLedger,
    )
}


def ledger_for(fmt: str, schema: str) -> ToolLedger | None:
    """The adapter of a format's own ledger table; None for oncall (its ledger is oncall_migrations)."""
    cls = _ADAPTERS.get(fmt)
    return cls(schema) if cls else None
