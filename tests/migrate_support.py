"""Helpers for the migrate tests: custom migration sets in tmp dirs, targets, `-f` config files."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from oncall.config import Target
from oncall.output import Output

REPO = Path(__file__).resolve().parents[1]
TURBO = REPO / "examples/turbo-response-backend/backend/migrations"
TRDRHUB = REPO / "sql" / "trdrhub"


def make_set(folder: Path, files: dict[str, str]) -> Path:
    """Write migration files (name -> SQL, dedented) into `folder` and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (folder / name).write_text(textwrap.dedent(sql).lstrip(), encoding="utf-8")
    return folder


def target(folder: Path, tmp: Path, *, ledger: str = "oncall", **overrides: Any) -> Target:
    """A Target over `folder` for library calls, with its run log under `tmp`."""
    settings: dict[str, Any] = {
        "name": "t",
        "system": "t",
        "migrations_dir": folder,
        "ledger": ledger,
        "run_log": tmp / "runs.jsonl",
        "state_dir": tmp / "state",
        "lock_wait": 10.0,
    }
    settings.update(overrides)
    return Target(**settings)


def quiet() -> Output:
    """An Output whose human text is collected in memory (readable as .stdout.getvalue())."""
    import io

    return Output(json_mode=False, stdout=io.StringIO(), stderr=io.StringIO())


def write_config(path: Path, targets: dict[str, dict[str, Any]], **settings: Any) -> Path:
    """A runtime config file for `invoke -f`: JSON is valid YAML, so no YAML writer is needed."""
    path.write_text(json.dumps({"oncall": {**settings, "targets": targets}}), encoding="utf-8")
    return path


def invoke_args(config: Path, *args: str) -> list[str]:
    return ["-f", str(config), *args]


ALEMBIC_ENV = '''\
"""Minimal Alembic environment for tests and benches: online mode, URL from ONCALL_ALEMBIC_URL."""
import os

from alembic import context
from sqlalchemy import create_engine, pool

engine = create_engine(os.environ["ONCALL_ALEMBIC_URL"], poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
'''

ALEMBIC_REVISION = '''\
"""{revision}"""
from alembic import op

revision = {revision!r}
down_revision = {down!r}
branch_labels = None
depends_on = None

STATEMENTS = {statements!r}


def upgrade():
    # Each statement on its own, as op.create_table/op.create_index would send them.
    bind = op.get_bind()
    for statement in STATEMENTS:
        bind.exec_driver_sql(statement)


def downgrade():
    pass
'''


def alembic_project(root: Path, migrations_dir: Path, *, with_sql: bool) -> Path:
    """An Alembic project whose revisions mirror our files; with_sql runs the same DDL, else nothing.

    Returns the alembic.ini path; run it with ONCALL_ALEMBIC_URL=postgresql+psycopg://... set.
    """
    from oncall.migrations import discover

    root.mkdir(parents=True, exist_ok=True)
    scripts = root / "alembic"
    (scripts / "versions").mkdir(parents=True, exist_ok=True)
    (scripts / "env.py").write_text(ALEMBIC_ENV, encoding="utf-8")
    ini = root / "alembic.ini"
    ini.write_text(f"[alembic]\nscript_location = {scripts}\n", encoding="utf-8")
    folder_target = Target(name="a", system="a", migrations_dir=migrations_dir, ledger="alembic")
    for migration in discover(folder_target):
        statements = [s.text for s in migration.statements] if with_sql else []
        (scripts / "versions" / f"{migration.revision}.py").write_text(
            ALEMBIC_REVISION.format(
                revision=migration.revision, down=migration.down_revision, statements=statements
            ),
            encoding="utf-8",
        )
    return ini


def sqlalchemy_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)
