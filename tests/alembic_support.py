"""Helpers for the Alembic tests: copies of the trdrhub-api project, revision files, the real `alembic`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from migrate_support import sqlalchemy_url

REPO = Path(__file__).resolve().parents[1]
TRDRHUB_API = REPO / "examples" / "trdrhub-api" / "apps" / "api"
BASELINE = "3f2a9c1d7b10"
HEAD = "a7c41e2b9d3f"
ALEMBIC = str(Path(sys.executable).parent / "alembic")


def copy_project(tmp: Path) -> Path:
    """A copy of examples/trdrhub-api/apps/api (alembic.ini, env.py, versions/); returns its alembic.ini."""
    home = tmp / "apps" / "api"
    shutil.copytree(TRDRHUB_API, home, ignore=shutil.ignore_patterns(".oncall", "__pycache__"))
    return home / "alembic.ini"


def versions(ini: Path) -> Path:
    return ini.parent / "alembic" / "versions"


def write_revision(ini: Path, revision: str, down: str | None, upgrade: str, *, name: str = "change") -> Path:
    """A revision file written the way `alembic revision` writes one; `upgrade` is the body of upgrade()."""
    path = versions(ini) / f"{revision}_{name}.py"
    body = textwrap.indent(textwrap.dedent(upgrade).strip(), "    ")
    path.write_text(
        f'"""{name}\n\nRevision ID: {revision}\nRevises: {down or ""}\n"""\n\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision = {revision!r}\ndown_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade() -> None:\n{body}\n\n\ndef downgrade() -> None:\n    pass\n",
        encoding="utf-8",
    )
    return path


def run_alembic(ini: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `alembic` command, online, against `url` (the project's env.py reads DATABASE_URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "DIRECT_DATABASE_URL"))}
    env["DATABASE_URL"] = sqlalchemy_url(url)
    return subprocess.run(
        [ALEMBIC, "-c", str(ini), *args], cwd=ini.parent, env=env, capture_output=True, text=True, check=False
    )
