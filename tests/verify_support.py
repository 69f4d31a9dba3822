"""Helpers for the verify tests: targets over a folder of SQL files, and applying them for real.

`apply` runs each file as the non-superuser `app` (the whole file text in one execute, as psql -f
would) and records it the way oncall's migrate records it: a ledger row built with
`oncall.ledger`'s own SQL, and for Alembic targets alembic_version moved from the down-revision.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import psycopg

from oncall.config import Target
from oncall.ledger import alembic_move_sql, create_ledger_sql, read_alembic, upsert_row_sql
from oncall.migrations import discover

REPO = Path(__file__).resolve().parents[1]
SEEDS = {"turbo-response": REPO / "sql" / "turbo-response", "trdrhub": REPO / "sql" / "trdrhub"}


def make_target(folder: Path, *, ledger: str = "oncall", name: str = "t", schema: str = "public") -> Target:
    return Target(name=name, system=name, migrations_dir=folder, ledger=ledger, schema=schema)


def copy_seed(seed: str, dest: Path) -> Path:
    """A private copy of a seed set, so a test may edit a file."""
    folder = dest / seed
    shutil.copytree(SEEDS[seed], folder)
    return folder


def write_files(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def apply(url: str, target: Target, *, upto: int | None = None) -> list[str]:
    """Apply the target's files (the first `upto` of them) and record them; returns their names."""
    migrations = discover(target)[:upto]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(create_ledger_sql(target.schema).encode())
        for migration in migrations:
            with conn.transaction():
                conn.execute(migration.sql.encode())
                conn.execute(
                    upsert_row_sql(
                        target.schema,
                        version=migration.version,
                        name=migration.name,
                        checksum=migration.checksum,
                        duration_ms=1,
                        transaction_mode="transaction",
                        outcome="applied",
                    ).encode()
                )
                if target.is_alembic and migration.revision:
                    current = read_alembic(conn, target.schema)
                    conn.execute(
                        alembic_move_sql(
                            target.schema, current, migration.revision, migration.down_revision
                        ).encode()
                    )
    return [m.path.name for m in migrations]


def rows_named(result: Any, name: str) -> list[Any]:
    return [r for r in result.rows if r.name == name]
