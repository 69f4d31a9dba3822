"""The records every reader yields, and helpers they share (decoding, ordering warnings)."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oncall.errors import BadInput

FORMATS = ("oncall", "prisma", "diesel", "golang-migrate", "dbmate", "flyway", "supabase", "drizzle")
# alembic is read by oncall.migrations.sources.alembic (a graph of .py files, not a folder of SQL).
FORMAT_CHOICES = ("auto", *FORMATS, "alembic")

_NUMERIC_PREFIX = re.compile(r"^[A-Za-z]?(\d+)")


@dataclass(frozen=True)
class ToolFacts:
    """What the format's own tool records about a migration in its ledger table.

    `version` is the key the tool stores (prisma: the folder name; golang-migrate: the number;
    flyway: "1.1"); `checksum` is the tool's own (prisma sha256 hex of migration.sql, flyway CRC32
    as a signed int, drizzle sha256 hex of the file); `when_ms` is drizzle's journal timestamp.
    """

    format: str
    version: str
    description: str = ""
    script: str = ""
    checksum: str = ""
    when_ms: int = 0
    # Flyway's R__ scripts: no version, run again (after the versioned ones) whenever they change.
    repeatable: bool = False


@dataclass(frozen=True)
class SourceFile:
    """One migration as its format defines it; oncall.migrations.discover makes it a Migration."""

    version: str
    name: str
    path: Path
    sql: str
    checksum: str
    tool: ToolFacts
    down_sql: str | None = None
    down_path: Path | None = None
    no_transaction_why: str | None = None


@dataclass(frozen=True)
class Ignored:
    """A file in the folder that the format does not run, and why."""

    path: Path
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"path": str(self.path), "reason": self.reason}


@dataclass
class Layout:
    """A folder read as one format: its migrations in the tool's order, what it ignores, warnings."""

    folder: Path
    format: str
    detected: bool
    files: list[SourceFile] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "format": self.format,
            "detected": self.detected,
            "ignored": [i.as_dict() for i in self.ignored],
            "warnings": self.warnings,
        }


def read_migration_bytes(path: Path) -> bytes:
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


def refuse_nul(path: Path, data: bytes) -> None:
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


def read_text(path: Path) -> tuple[str, bytes]:
    """The file's text and bytes; BadInput when it is not a readable regular file, holds a NUL byte,
    or is not UTF-8."""
    data = read_migration_bytes(path)
    refuse_nul(path, data)
    try:
        return data.decode("utf-8"), data
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path} is not UTF-8 text", "save the migration as UTF-8") from exc


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def name_after_prefix(stem: str) -> str:
    """20251116_add_usage -> add_usage; a stem without a numeric prefix is its own name."""
    head, _, rest = stem.partition("_")
    return rest if head.isdigit() and rest else stem


def mixed_width_warning(names: list[str], applied_in: str) -> str | None:
    """A warning when numeric prefixes of different widths sort differently as text and as numbers.

    `00010-x` sorts before `0002-y` as text but after it as a number; tools disagree on which one
    they follow, so whichever `applied_in` is, a reader of the folder can be misled.
    """
    numbered = [(n, int(m.group(1)), len(m.group(1))) for n in names if (m := _NUMERIC_PREFIX.match(n))]
    if len({width for _, _, width in numbered}) < 2:
        return None
    as_text = [n for n, _, _ in sorted(numbered, key=lambda item: item[0])]
    as_number = [n for n, _, _ in sorted(numbered, key=lambda item: (item[1], item[0]))]
    if as_text == as_number:
        return None
    first = next(i for i, (a, b) in enumerate(zip(as_text, as_number, strict=True)) if a != b)
    return (
        f"names sort differently as text and as numbers: {as_text[first]} comes before "
        f"{as_number[first]} as text, after it as a number; applied in {applied_in} order "
        "(give the prefixes one width to remove the doubt)"
    )
