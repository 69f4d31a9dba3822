"""One reader per format: the folder in that tool's layout -> SourceFile records in the tool's order.

Each reader returns (files, ignored). Up SQL keeps the file's line numbers (text outside the up
section is blanked, not cut), so errors still point at `file:line`.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from pathlib import Path

from oncall.errors import BadInput
from oncall.migrations.sources.base import (
    Ignored,
    SourceFile,
    ToolFacts,
    name_after_prefix,
    read_text,
    sha256_hex,
)

Read = tuple[list[SourceFile], list[Ignored]]

_GOLANG = re.compile(r"^(\d+)_(.*)\.(up|down)\.sql$")
_FLYWAY = re.compile(r"^V(\d+(?:[._]\d+)*)__(.+)\.sql$")
_FLYWAY_OTHER = re.compile(r"^(R|U)(\d[\d._]*)?__.+\.sql$")
_TIMESTAMPED = re.compile(r"^(\d+)_(.+)\.sql$")
_DBMATE_VERSION = re.compile(r"^(\d+)")
_DBMATE_MARK = re.compile(r"^--\s*migrate:(up|down)\b(.*)$", re.MULTILINE)
_DIESEL_NO_TX = re.compile(r"^\s*run_in_transaction\s*=\s*false\s*$", re.MULTILINE)
_FLYWAY_NO_TX = re.compile(r"^\s*executeInTransaction\s*=\s*false\s*$", re.MULTILINE)


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.iterdir(), key=lambda p: p.name)


# --- oncall ------------------------------------------------------------------------------------


def read_oncall(folder: Path) -> Read:
    """Flat *.sql in name order (oncall.migrations.discover parses them, with their headers)."""
    files: list[SourceFile] = []
    ignored: list[Ignored] = []
    for path in _entries(folder):
        # Not only regular files: read_text names a directory, dangling symlink or FIFO called *.sql.
        if path.suffix == ".sql":
            text, data = read_text(path)
            files.append(
                SourceFile(
                    version=path.stem,
                    name=name_after_prefix(path.stem),
                    path=path,
                    sql=text,
                    checksum=sha256_hex(data),
                    tool=ToolFacts("oncall", path.stem),
                )
            )
        elif path.is_dir():
            ignored.append(Ignored(path, "a subfolder: format oncall reads only *.sql at the top level"))
        else:
            ignored.append(Ignored(path, "not a .sql file"))
    return files, ignored


# --- prisma ------------------------------------------------------------------------------------


def read_prisma(folder: Path) -> Read:
    """<timestamp>_<name>/migration.sql in folder-name order; checksum = sha256 hex of migration.sql."""
    files: list[SourceFile] = []
    ignored: list[Ignored] = []
    for path in _entries(folder):
        script = path / "migration.sql"
        if path.is_dir() and script.is_file():
            text, data = read_text(script)
            digest = sha256_hex(data)
            files.append(
                SourceFile(
                    version=path.name,
                    name=name_after_prefix(path.name),
                    path=script,
                    sql=text,
                    checksum=digest,
                    tool=ToolFacts("prisma", path.name, checksum=digest),
                )
            )
        elif path.name == "migration_lock.toml":
            ignored.append(Ignored(path, "prisma's provider lock file, not a migration"))
        elif path.is_dir():
            ignored.append(Ignored(path, "a folder without migration.sql (prisma skips it)"))
        else:
            ignored.append(Ignored(path, "prisma reads only <folder>/migration.sql"))
    return files, ignored


# --- diesel ------------------------------------------------------------------------------------


def diesel_version(folder_name: str) -> str:
    """Diesel's version: up to the first '_', dashes dropped (2024-01-02-030405_x -> 20240102030405)."""
    return folder_name.split("_", 1)[0].replace("-", "")


def read_diesel(folder: Path) -> Read:
    """<version>_<name>/up.sql (+ down.sql, metadata.toml), ordered by version."""
    files: list[SourceFile] = []
    ignored: list[Ignored] = []
    for path in _entries(folder):
        up = path / "up.sql"
        if not (path.is_dir() and up.is_file()):
            why = (
                "a folder without up.sql (diesel skips it)"
                if path.is_dir()
                else "diesel reads only <folder>/up.sql"
            )
            ignored.append(Ignored(path, why))
            continue
        text, data = read_text(up)
        down = path / "down.sql"
        down_sql = read_text(down)[0] if down.is_file() else None
        if down_sql is not None:
            ignored.append(Ignored(down, "down migration: run only by rollback-migration, never forward"))
        metadata = path / "metadata.toml"
        no_tx = None
        if metadata.is_file() and _DIESEL_NO_TX.search(read_text(metadata)[0]):
            no_tx = f"diesel {metadata.name} run_in_transaction = false"
        version = diesel_version(path.name)
        files.append(
            SourceFile(
                version=path.name,
                name=path.name.split("_", 1)[1] if "_" in path.name else path.name,
                path=up,
                sql=text,
                checksum=sha256_hex(data),
                tool=ToolFacts("diesel", version),
                down_sql=down_sql,
                down_path=down if down_sql is not None else None,
                no_transaction_why=no_tx,
            )
        )
    files.sort(key=lambda f: f.tool.version)
    _refuse_duplicates(files, "diesel")
    return files, ignored


# --- golang-migrate ----------------------------------------------------------------------------


def read_golang_migrate(folder: Path) -> Read:
    """<n>_<title>.up.sql / .down.sql, ordered by n as a number."""
    ups: dict[int, Path] = {}
    downs: dict[int, Path] = {}
    ignored: list[Ignored] = []
    for path in _entries(folder):
        match = _GOLANG.match(path.name) if path.is_file() else None
        if not match:
            ignored.append(Ignored(path, "golang-migrate reads only <version>_<title>.up.sql / .down.sql"))
            continue
        number = int(match.group(1))
        side = ups if match.group(3) == "up" else downs
        if number in side:
            raise BadInput(
                f"golang-migrate version {number} is used twice: {side[number].name} and {path.name}",
                "give every migration its own version number (golang-migrate refuses this too)",
            )
        side[number] = path
    files: list[SourceFile] = []
    for number in sorted(ups):
        up = ups[number]
        text, data = read_text(up)
        down = downs.get(number)
        if down is not None:
            ignored.append(Ignored(down, "down migration: run only by rollback-migration, never forward"))
        stem = up.name.removesuffix(".up.sql")
        files.append(
            SourceFile(
                version=stem,
                name=stem.split("_", 1)[1] if "_" in stem else stem,
                path=up,
                sql=text,
                checksum=sha256_hex(data),
                tool=ToolFacts("golang-migrate", str(number)),
                down_sql=read_text(down)[0] if down is not None else None,
                down_path=down,
            )
        )
    for number in sorted(set(downs) - set(ups)):
        ignored.append(Ignored(downs[number], "a down file without its .up.sql"))
    return files, ignored


# --- dbmate ------------------------------------------------------------------------------------


def dbmate_sections(text: str, path: Path) -> tuple[str, str | None, bool]:
    """(up SQL, down SQL or None, transaction) of a dbmate file; each keeps the file's line numbers."""
    marks = list(_DBMATE_MARK.finditer(text))
    ups = [m for m in marks if m.group(1) == "up"]
    if len(ups) != 1:
        raise BadInput(
            f"{path} has {len(ups)} '-- migrate:up' lines; a dbmate migration has exactly one",
            "start the up section with a line '-- migrate:up' (and the down section with '-- migrate:down')",
        )
    sections: dict[str, str] = {}
    for index, mark in enumerate(marks):
        end = marks[index + 1].start() if index + 1 < len(marks) else len(text)
        # Blank everything before this section so that line numbers stay the file's own.
        sections[mark.group(1)] = "\n" * text.count("\n", 0, mark.end()) + text[mark.end() : end]
    options = ups[0].group(2)
    transaction = not re.search(r"\btransaction\s*:\s*false\b", options)
    return sections["up"], sections.get("down"), transaction


def read_dbmate(folder: Path) -> Read:
    """<version>_<name>.sql with -- migrate:up / -- migrate:down sections, in file-name order."""
    files: list[SourceFile] = []
    ignored: list[Ignored] = []
    for path in _entries(folder):
        match = _DBMATE_VERSION.match(path.name)
        if not (path.is_file() and path.suffix == ".sql" and match):
            ignored.append(Ignored(path, "dbmate reads only <version>_<name>.sql files"))
            continue
        text, data = read_text(path)
        up, down, transaction = dbmate_sections(text, path)
        files.append(
            SourceFile(
                version=path.stem,
                name=name_after_prefix(path.stem),
                path=path,
                sql=up,
                checksum=sha256_hex(data),
                tool=ToolFacts("dbmate", match.group(1)),
                down_sql=down if down and down.strip() else None,
                down_path=path if down and down.strip() else None,
                no_transaction_why=None if transaction else "dbmate -- migrate:up transaction:false",
            )
        )
    _refuse_duplicates(files, "dbmate")
    return files, ignored


# --- flyway ------------------------------------------------------------------------------------


def flyway_version_key(version: str) -> tuple[int, ...]:
    """Flyway compares versions part by part as numbers, trailing zeros ignored: 1.10 > 1.9, 1.0 == 1."""
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def flyway_checksum(text: str) -> int:
    """Flyway's checksum: CRC32 over the file's lines without line endings (BOM dropped), signed 32-bit."""
    crc = 0
    for line in re.split(r"\r\n|\r|\n", text.removeprefix("\ufeff")):
        crc = zlib.crc32(line.encode("utf-8"), crc)
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def read_flyway(folder: Path) -> Read:
    """V<version>__<desc>.sql by version as numbers, then R__<desc>.sql repeatables by description.

    Files anywhere under the folder count, as flyway scans its locations recursively.
    """
    versioned: list[SourceFile] = []
    repeatable: list[SourceFile] = []
    ignored: list[Ignored] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        match = _FLYWAY.match(path.name)
        other = _FLYWAY_OTHER.match(path.name)
        if match:
            version, description = match.group(1).replace("_", "."), match.group(2)
            versioned.append(_flyway_file(folder, path, version, description))
        elif other and other.group(1) == "R" and not other.group(2):
            repeatable.append(_flyway_file(folder, path, "", path.stem.removeprefix("R__")))
        elif path.name.endswith(".sql.conf"):
            continue  # read with its script
        elif other:
            ignored.append(Ignored(path, "undo migration (Flyway Teams): oncall runs no undo scripts"))
        else:
            ignored.append(
                Ignored(path, "flyway reads V<version>__<description>.sql and R__<description>.sql")
            )
    versioned.sort(key=lambda f: flyway_version_key(f.tool.version))
    seen: dict[tuple[int, ...], SourceFile] = {}
    for item in versioned:
        key = flyway_version_key(item.tool.version)
        if key in seen:
            raise BadInput(
                f"flyway version {item.tool.version} is used twice: "
                f"{seen[key].path.name} and {item.path.name}",
                "give every versioned migration its own version (flyway refuses this too)",
            )
        seen[key] = item
    repeatable.sort(key=lambda f: f.tool.description)
    return versioned + repeatable, ignored


def _flyway_file(folder: Path, path: Path, version: str, description: str) -> SourceFile:
    """One flyway script; `version` "" makes it a repeatable (run again whenever its checksum changes)."""
    text, data = read_text(path)
    conf = path.with_name(path.name + ".conf")
    no_tx = None
    if conf.is_file() and _FLYWAY_NO_TX.search(read_text(conf)[0]):
        no_tx = f"flyway {conf.name} executeInTransaction=false"
    return SourceFile(
        version=path.stem,
        name=description,
        path=path,
        sql=text,
        checksum=sha256_hex(data),
        tool=ToolFacts(
            "flyway",
            version,
            description=description.replace("_", " "),
            script=path.relative_to(folder).as_posix(),
            checksum=str(flyway_checksum(text)),
            repeatable=not version,
        ),
        no_transaction_why=no_tx,
    )


# --- supabase ----------------------------------------------------------------------------------


def read_supabase(folder: Path) -> Read:
    """supabase/migrations/<timestamp>_<name>.sql in file-name order."""
    files: list[SourceFile] = []
    ignored: list[Ignored] = []
    for path in _entries(folder):
        match = _TIMESTAMPED.match(path.name) if path.is_file() else None
        if not match:
            ignored.append(Ignored(path, "supabase skips files not named <timestamp>_<name>.sql"))
            continue
        text, data = read_text(path)
        files.append(
            SourceFile(
                version=path.stem,
                name=match.group(2),
                path=path,
                sql=text,
                checksum=sha256_hex(data),
                tool=ToolFacts("supabase", match.group(1), description=match.group(2)),
            )
        )
    _refuse_duplicates(files, "supabase")
    return files, ignored


# --- drizzle -----------------------------------------------------------------------------------


def read_drizzle(folder: Path) -> Read:
    """<tag>.sql in the order of meta/_journal.json; hash = sha256 hex of the file, created_at = `when`."""
    journal_path = folder / "meta" / "_journal.json"
    try:
        journal = json.loads(read_text(journal_path)[0])
        entries = sorted(journal["entries"], key=lambda e: int(e.get("idx", 0)))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInput(
            f"{journal_path} is missing or not drizzle's journal ({type(exc).__name__})",
            "drizzle-kit generate writes meta/_journal.json next to the .sql files",
        ) from exc
    files: list[SourceFile] = []
    listed: set[str] = set()
    for entry in entries:
        tag = str(entry["tag"])
        path = folder / f"{tag}.sql"
        if not path.is_file():
            raise BadInput(
                f"{journal_path} lists {tag} but {path.name} is not in {folder}",
                "restore the file, or regenerate the journal with drizzle-kit",
            )
        listed.add(path.name)
        text, data = read_text(path)
        digest = sha256_hex(data)
        files.append(
            SourceFile(
                version=tag,
                name=name_after_prefix(tag),
                path=path,
                sql=text,
                checksum=digest,
                tool=ToolFacts("drizzle", tag, checksum=digest, when_ms=int(entry["when"])),
            )
        )
    ignored = [Ignored(folder / "meta", "drizzle-kit's journal and schema snapshots, not migrations")]
    for path in _entries(folder):
        if path.name == "meta" or path.name in listed:
            continue
        ignored.append(Ignored(path, "not in meta/_journal.json (drizzle skips it)"))
    return files, ignored


def _refuse_duplicates(files: list[SourceFile], fmt: str) -> None:
    seen: dict[str, SourceFile] = {}
    for item in files:
        if item.tool.version in seen:
            raise BadInput(
                f"{fmt} version {item.tool.version} is used twice: "
                f"{seen[item.tool.version].path} and {item.path}",
                f"give every migration its own version ({fmt} refuses this too)",
            )
        seen[item.tool.version] = item


READERS: dict[str, Callable[[Path], Read]] = {
    "oncall": read_oncall,
    "prisma": read_prisma,
    "diesel": read_diesel,
    "golang-migrate": read_golang_migrate,
    "dbmate": read_dbmate,
    "flyway": read_flyway,
    "supabase": read_supabase,
    "drizzle": read_drizzle,
}
