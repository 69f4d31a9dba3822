"""Helpers for the verify tests: targets over a folder of SQL files, and applying them for real.

`apply` runs the files with oncall's own `migrate` (as the non-superuser `app`), so the ledger and
alembic_version are exactly what a real run leaves.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

from oncall.config import Target
from oncall.migrations import discover
from oncall.output import Output

REPO = Path(__file__).resolve().parents[1]
SEEDS = {
    "turbo-response": REPO / "examples/turbo-response-backend/backend/migrations",
    "trdrhub": REPO / "sql" / "trdrhub",
}


def make_target(folder: Path, *, ledger: str = "oncall", name: str = "t", schema: str = "public") -> Target:
    return Target(name=name, system=name, migrations_dir=folder, ledger=ledger, schema=schema)


TRDRHUB_ALEMBIC_INI = REPO / "examples" / "trdrhub-api" / "apps" / "api" / "alembic.ini"


def trdrhub_alembic_target(name: str = "t") -> Target:
    """The trdrhub-api Alembic project (what the sandbox-trdrhub target reads), for library calls."""
    return Target(
        name=name,
        system="trdrhub",
        migrations_dir=TRDRHUB_ALEMBIC_INI.parent,
        format="alembic",
        alembic_ini=TRDRHUB_ALEMBIC_INI,
    )


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
    """Apply the target's files (the first `upto` of them) with oncall's own migrate."""
    from oncall.migrations.run import migrate

    migrations = discover(target)[:upto]
    sink = Output(json_mode=True, stdout=io.StringIO(), stderr=io.StringIO())
    result = migrate(target, url, sink, to=migrations[-1].version, write_run_log=False)
    assert result.ok, sink.stderr.getvalue()  # type: ignore[attr-defined]
    return [m.path.name for m in migrations]


def rows_named(result: Any, name: str) -> list[Any]:
    return [r for r in result.rows if r.name == name]
