"""Fixture plugin: the real drizzle-orm migrator (node).

- `drizzle_migrator`: runs tests/node/drizzle/migrate.mjs, which calls drizzle-orm's node-postgres
  `migrate(db, { migrationsFolder })`, the logic `drizzle-kit migrate` runs. The versions are pinned
  in tests/node/drizzle/package.json and package-lock.json; `.ci/run` installs them with `npm ci`.
  Locally, without node or that install, the tests that need it skip and name the command; in CI
  (the `CI` variable set) the same absence fails them, so a broken install never passes as a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PROJECT = Path(__file__).resolve().parent / "node" / "drizzle"
INSTALL = "npm ci --prefix tests/node/drizzle --no-audit --no-fund"


@dataclass(frozen=True)
class DrizzleRow:
    """One row of drizzle.__drizzle_migrations, as drizzle wrote or oncall wrote it."""

    id: int
    hash: str
    created_at: int


@dataclass(frozen=True)
class DrizzleRun:
    """What one `migrate()` did: the journal tags it applied, and the ledger after it."""

    applied: list[str]
    ledger: list[DrizzleRow]


def _rows(items: list[dict[str, Any]]) -> list[DrizzleRow]:
    return [DrizzleRow(int(r["id"]), str(r["hash"]), int(r["created_at"])) for r in items]


@dataclass(frozen=True)
class DrizzleMigrator:
    """The pinned drizzle-orm migrator, run by node against a database URL (passed in the environment)."""

    node: str
    version: str

    def _run(self, url: str, *args: str) -> dict[str, Any]:
        done = subprocess.run(
            [self.node, str(PROJECT / "migrate.mjs"), *args],
            env={**os.environ, "DATABASE_URL": url},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"drizzle migrator exited {done.returncode}: {done.stderr.strip()}")
        report: dict[str, Any] = json.loads(done.stdout)
        return report

    def migrate(self, url: str, folder: Path) -> DrizzleRun:
        """drizzle-orm's migrate() over `folder`; fails the test if drizzle raised."""
        report = self._run(url, "migrate", str(folder))
        return DrizzleRun([str(r["tag"]) for r in report["applied"]], _rows(report["ledger"]))

    def ledger(self, url: str) -> list[DrizzleRow]:
        """drizzle.__drizzle_migrations in id order (empty when the table does not exist)."""
        return _rows(self._run(url, "ledger")["ledger"])


def _pinned(package: str) -> str:
    manifest = json.loads((PROJECT / "package.json").read_text(encoding="utf-8"))
    return str(manifest["dependencies"][package])


def _installed(package: str) -> str | None:
    manifest = PROJECT / "node_modules" / package / "package.json"
    if not manifest.is_file():
        return None
    return str(json.loads(manifest.read_text(encoding="utf-8"))["version"])


def find_drizzle_migrator() -> DrizzleMigrator | str:
    """The migrator, or why it cannot run here (the install command included)."""
    node = shutil.which("node")
    if node is None:
        return f"node is not installed (drizzle's migrator is JavaScript; then run {INSTALL})"
    for package in ("drizzle-orm", "pg"):
        installed, pinned = _installed(package), _pinned(package)
        if installed != pinned:
            found = "not installed" if installed is None else f"{installed} installed"
            return f"{package} {pinned} is pinned but {found} in tests/node/drizzle (run {INSTALL})"
    return DrizzleMigrator(node, _pinned("drizzle-orm"))


def require_drizzle_migrator() -> DrizzleMigrator:
    """The migrator; else a skip naming the install command, or a failure when `CI` is set."""
    found = find_drizzle_migrator()
    if isinstance(found, str):
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the real drizzle migrator: {found}", pytrace=False)
        pytest.skip(found)
    return found


@pytest.fixture(scope="session")
def drizzle_migrator() -> DrizzleMigrator:
    return require_drizzle_migrator()
