"""Migration sets in each tool's layout, its ledger as the tool writes it, and its up-to-date check.

Every set has the same three migrations (widgets, orders referencing widgets, an index on
orders), written the way the team's own tool lays them out. `tool_applied_first` plays the tool
applying the first migration (its DDL and its ledger row, with the tool's own SQL); `tool_pending`
answers what the tool itself would still run, by the rule the tool applies.
"""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
import zlib
from collections.abc import Callable
from pathlib import Path

import psycopg

WIDGETS = "CREATE TABLE widgets (id bigint PRIMARY KEY, name text NOT NULL);\n"
ORDERS = "CREATE TABLE orders (id bigint PRIMARY KEY, widget_id bigint REFERENCES widgets (id));\n"
INDEX = "CREATE INDEX orders_widget_idx ON orders (widget_id);\n"
UPS = [WIDGETS, ORDERS, INDEX]
DOWNS = ["DROP TABLE widgets;\n", "DROP TABLE orders;\n", "DROP INDEX orders_widget_idx;\n"]
NAMES = ["create_widgets", "create_orders", "index_orders"]
TABLES = ["widgets", "orders", "orders_widget_idx"]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def write_oncall(root: Path) -> Path:
    folder = root / "sql"
    for i, (name, up) in enumerate(zip(NAMES, UPS, strict=True)):
        _write(folder / f"2025010{i + 1}_{name}.sql", up)
    return folder


def write_prisma(root: Path) -> Path:
    folder = root / "prisma" / "migrations"
    for i, (name, up) in enumerate(zip(NAMES, UPS, strict=True)):
        _write(folder / f"2025010{i + 1}120000_{name}" / "migration.sql", f"-- CreateTable\n{up}")
    _write(folder / "migration_lock.toml", 'provider = "postgresql"\n')
    return folder


def write_diesel(root: Path) -> Path:
    folder = root / "migrations"
    for i, (name, up, down) in enumerate(zip(NAMES, UPS, DOWNS, strict=True)):
        _write(folder / f"2025-01-0{i + 1}-120000_{name}" / "up.sql", up)
        _write(folder / f"2025-01-0{i + 1}-120000_{name}" / "down.sql", down)
    return folder


def write_golang_migrate(root: Path) -> Path:
    folder = root / "migrations"
    for i, (name, up, down) in enumerate(zip(NAMES, UPS, DOWNS, strict=True)):
        _write(folder / f"{i + 1:06d}_{name}.up.sql", up)
        _write(folder / f"{i + 1:06d}_{name}.down.sql", down)
    return folder


def write_dbmate(root: Path) -> Path:
    folder = root / "db" / "migrations"
    for i, (name, up, down) in enumerate(zip(NAMES, UPS, DOWNS, strict=True)):
        _write(folder / f"2025010{i + 1}120000_{name}.sql", f"-- migrate:up\n{up}\n-- migrate:down\n{down}")
    return folder


def write_flyway(root: Path) -> Path:
    folder = root / "db" / "migration"
    for i, (name, up) in enumerate(zip(NAMES, UPS, strict=True)):
        _write(folder / f"V{i + 1}__{name.capitalize()}.sql", up)
    return folder


def write_supabase(root: Path) -> Path:
    folder = root / "supabase" / "migrations"
    for i, (name, up) in enumerate(zip(NAMES, UPS, strict=True)):
        _write(folder / f"2025010{i + 1}120000_{name}.sql", up)
    return folder


DRIZZLE_WHEN = [1735732800000, 1735819200000, 1735905600000]


def write_drizzle(root: Path) -> Path:
    folder = root / "drizzle"
    entries = []
    for i, (name, up) in enumerate(zip(NAMES, UPS, strict=True)):
        tag = f"{i:04d}_{name}"
        # drizzle-kit separates statements with a breakpoint comment
        _write(folder / f"{tag}.sql", up.replace(";\n", ";\n--> statement-breakpoint\n"))
        entries.append({"idx": i, "version": "7", "when": DRIZZLE_WHEN[i], "tag": tag, "breakpoints": True})
    _write(
        folder / "meta" / "_journal.json",
        json.dumps({"version": "7", "dialect": "postgresql", "entries": entries}),
    )
    _write(folder / "meta" / "0000_snapshot.json", "{}")
    return folder


WRITERS: dict[str, Callable[[Path], Path]] = {
    "oncall": write_oncall,
    "prisma": write_prisma,
    "diesel": write_diesel,
    "golang-migrate": write_golang_migrate,
    "dbmate": write_dbmate,
    "flyway": write_flyway,
    "supabase": write_supabase,
    "drizzle": write_drizzle,
}
TOOL_FORMATS = [f for f in WRITERS if f != "oncall"]
WITH_DOWNS = ["diesel", "golang-migrate", "dbmate"]


# --- the tools' own ledger writes (what each tool runs after applying the first migration) ------


def flyway_crc(text: str) -> int:
    crc = 0
    for line in re.split(r"\r\n|\r|\n", text):
        crc = zlib.crc32(line.encode(), crc)
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def _first_ledger_sql(fmt: str, folder: Path) -> str:
    if fmt == "prisma":
        first = sorted(p for p in folder.iterdir() if p.is_dir())[0]
        digest = hashlib.sha256((first / "migration.sql").read_bytes()).hexdigest()
        return (
            'CREATE TABLE "_prisma_migrations" ("id" VARCHAR(36) PRIMARY KEY NOT NULL, '
            '"checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ, '
            '"migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, '
            '"rolled_back_at" TIMESTAMPTZ, "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), '
            '"applied_steps_count" INTEGER NOT NULL DEFAULT 0);'
            "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, started_at, "
            f"applied_steps_count) VALUES ('5f0c6f2e-0000-4000-8000-000000000001', '{digest}', now(), "
            f"'{first.name}', now(), 1)"
        )
    if fmt == "diesel":
        return (
            "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, "
            "run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);"
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('20250101120000')"
        )
    if fmt == "golang-migrate":
        return (
            "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);"
            "INSERT INTO schema_migrations (version, dirty) VALUES (1, false)"
        )
    if fmt == "dbmate":
        return (
            "CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY);"
            "INSERT INTO schema_migrations (version) VALUES ('20250101120000')"
        )
    if fmt == "flyway":
        crc = flyway_crc((folder / "V1__Create_widgets.sql").read_text())
        return (
            "CREATE TABLE flyway_schema_history (installed_rank INT NOT NULL, version VARCHAR(50), "
            "description VARCHAR(200) NOT NULL, type VARCHAR(20) NOT NULL, script VARCHAR(1000) NOT NULL, "
            "checksum INTEGER, installed_by VARCHAR(100) NOT NULL, "
            "installed_on TIMESTAMP NOT NULL DEFAULT now(), "
            "execution_time INTEGER NOT NULL, success BOOLEAN NOT NULL, "
            "CONSTRAINT flyway_schema_history_pk PRIMARY KEY (installed_rank));"
            "INSERT INTO flyway_schema_history VALUES (1, '1', 'Create widgets', 'SQL', "
            "'V1__Create_widgets.sql', "
            f"{crc}, current_user, now(), 12, true)"
        )
    if fmt == "supabase":
        return (
            "CREATE SCHEMA supabase_migrations;"
            "CREATE TABLE supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY, "
            "statements text[], name text);"
            "INSERT INTO supabase_migrations.schema_migrations (version, name, statements) VALUES "
            f"('20250101120000', 'create_widgets', ARRAY['{WIDGETS.strip()}'])"
        )
    if fmt == "drizzle":
        digest = hashlib.sha256((folder / "0000_create_widgets.sql").read_bytes()).hexdigest()
        return (
            "CREATE SCHEMA drizzle;"
            "CREATE TABLE drizzle.__drizzle_migrations "
            "(id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint);"
            "INSERT INTO drizzle.__drizzle_migrations (hash, created_at) "
            f"VALUES ('{digest}', {DRIZZLE_WHEN[0]})"
        )
    raise AssertionError(fmt)


def tool_applied_first(url: str, fmt: str, folder: Path) -> None:
    """What the team's tool leaves behind after applying the first migration: the table and its ledger row."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(WIDGETS.encode())
        conn.execute(_first_ledger_sql(fmt, folder).encode())


# --- each tool's own "what is left to do" rule -------------------------------------------------


def tool_pending(url: str, fmt: str, folder: Path) -> list[str]:
    """The migrations the tool would still run, decided the way the tool decides it."""
    with psycopg.connect(url) as conn:
        if fmt == "prisma":
            rows = conn.execute(
                "SELECT migration_name, checksum FROM _prisma_migrations "
                "WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL AND applied_steps_count >= 1"
            ).fetchall()
            done = dict(rows)
            return [
                d.name
                for d in sorted(p for p in folder.iterdir() if p.is_dir())
                if done.get(d.name) != hashlib.sha256((d / "migration.sql").read_bytes()).hexdigest()
            ]
        if fmt == "diesel":
            done = {r[0] for r in conn.execute("SELECT version FROM __diesel_schema_migrations")}
            versions = [d.name.split("_")[0].replace("-", "") for d in sorted(folder.iterdir())]
            return [v for v in versions if v not in done]
        if fmt == "golang-migrate":
            rows = conn.execute("SELECT version, dirty FROM schema_migrations").fetchall()
            assert len(rows) == 1, rows
            assert rows[0][1] is False, rows
            numbers = sorted({int(p.name.split("_")[0]) for p in folder.glob("*.up.sql")})
            return [str(n) for n in numbers if n > rows[0][0]]
        if fmt == "dbmate":
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            return [
                p.name.split("_")[0] for p in sorted(folder.glob("*.sql")) if p.name.split("_")[0] not in done
            ]
        if fmt == "flyway":
            rows = conn.execute(
                "SELECT installed_rank, version, script, checksum, type, success FROM flyway_schema_history "
                "ORDER BY installed_rank"
            ).fetchall()
            assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
            assert all(r[4] == "SQL" and r[5] is True for r in rows), rows
            done = {r[2]: r[3] for r in rows}
            return [
                p.name for p in sorted(folder.glob("V*.sql")) if done.get(p.name) != flyway_crc(p.read_text())
            ]
        if fmt == "supabase":
            done = {r[0] for r in conn.execute("SELECT version FROM supabase_migrations.schema_migrations")}
            return [
                p.name.split("_")[0] for p in sorted(folder.glob("*.sql")) if p.name.split("_")[0] not in done
            ]
        if fmt == "drizzle":
            row = conn.execute(
                "SELECT created_at FROM drizzle.__drizzle_migrations ORDER BY created_at DESC LIMIT 1"
            ).fetchone()
            last = row[0] if row else -1
            hashes = {r[0] for r in conn.execute("SELECT hash FROM drizzle.__drizzle_migrations")}
            journal = json.loads((folder / "meta" / "_journal.json").read_text())["entries"]
            for entry in journal:
                assert hashlib.sha256((folder / f"{entry['tag']}.sql").read_bytes()).hexdigest() in hashes
            return [e["tag"] for e in journal if e["when"] > last]
    raise AssertionError(fmt)
