"""Which format a folder is in (`format: auto`), and reading it: never "0 migrations, OK"."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from oncall.errors import BadInput
from oncall.migrations.sources.base import FORMAT_CHOICES, FORMATS, Layout, mixed_width_warning
from oncall.migrations.sources.readers import READERS

_GOLANG = re.compile(r"^\d+_.*\.(up|down)\.sql$")
_FLYWAY = re.compile(r"^[VRU]\d*[\d._]*__.+\.sql$")
_DBMATE_UP = re.compile(r"^--\s*migrate:up\b", re.MULTILINE)
_TIMESTAMPED = re.compile(r"^\d+_.+\.sql$")

# The order each format applies files in, for the mixed-width warning.
_ORDER_WORDS = {
    "oncall": "file-name",
    "prisma": "folder-name",
    "diesel": "version-text",
    "golang-migrate": "numeric",
    "dbmate": "file-name",
    "flyway": "numeric version",
    "supabase": "file-name",
    "drizzle": "journal",
}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def evidence(folder: Path) -> dict[str, str]:
    """Each format whose files are in `folder`, with what gave it away (one short phrase)."""
    entries = sorted(folder.iterdir(), key=lambda p: p.name)
    dirs = [p for p in entries if p.is_dir()]
    sql = [p for p in entries if p.is_file() and p.suffix == ".sql"]
    found: dict[str, str] = {}
    prisma = [d for d in dirs if (d / "migration.sql").is_file()]
    if prisma:
        found["prisma"] = _plural(len(prisma), "folder") + " with migration.sql"
    diesel = [d for d in dirs if (d / "up.sql").is_file()]
    if diesel:
        found["diesel"] = _plural(len(diesel), "folder") + " with up.sql"
    if (folder / "meta" / "_journal.json").is_file():
        found["drizzle"] = "meta/_journal.json"
    golang = [p for p in sql if _GOLANG.match(p.name)]
    if golang:
        found["golang-migrate"] = _plural(len(golang), "*.up.sql/*.down.sql file")
    flyway = [p for p in folder.rglob("*.sql") if _FLYWAY.match(p.name)]
    if flyway:
        found["flyway"] = _plural(len(flyway), "V<version>__<name>.sql file")
    plain = [p for p in sql if p not in golang and not _FLYWAY.match(p.name)]
    # Only regular files are opened here (a FIFO would block); read_text names the others later.
    dbmate = [
        p for p in plain if p.is_file() and _DBMATE_UP.search(p.read_text(encoding="utf-8", errors="replace"))
    ]
    if dbmate:
        found["dbmate"] = _plural(len(dbmate), "file") + " with -- migrate:up"
    rest = [p for p in plain if p not in dbmate]
    if rest and "drizzle" not in found:
        if folder.parent.name == "supabase" and folder.name == "migrations":
            if any(_TIMESTAMPED.match(p.name) for p in rest):
                found["supabase"] = (
                    _plural(len(rest), "<timestamp>_<name>.sql file") + " in supabase/migrations"
                )
        else:
            found["oncall"] = _plural(len(rest), "plain .sql file")
    return found


def _what_is_there(folder: Path) -> str:
    entries = list(folder.iterdir())
    if not entries:
        return "nothing (the folder is empty)"
    kinds: Counter[str] = Counter()
    for path in entries:
        kinds["subfolder" if path.is_dir() else (path.suffix or "(no extension)") + " file"] += 1
    return ", ".join(_plural(n, kind) for kind, n in kinds.most_common())


def _nothing_hint(folder: Path) -> str:
    suffixes = {p.suffix for p in folder.rglob("*") if p.is_file()}
    known = "format: " + " | ".join(FORMATS)
    if ".py" in suffixes:
        return (
            "an Alembic project is read with format: alembic (and alembic_ini: its alembic.ini); other "
            f"Python migrations (Django) are code, not SQL; oncall reads {known}, alembic"
        )
    if suffixes & {".js", ".ts", ".mjs", ".cjs"}:
        return (
            "JavaScript migrations (knex, sequelize, node-pg-migrate) are code, not SQL: point migrations: "
            f"at a folder of .sql files; oncall reads {known}"
        )
    return f"point migrations: at the folder that holds the .sql files; oncall reads {known}"


def detect(folder: Path) -> str:
    """The one format the folder is in; BadInput (exit 2) when none or several match."""
    found = evidence(folder)
    if len(found) == 1:
        return next(iter(found))
    if not found:
        raise BadInput(
            f"no migrations that oncall can read in {folder}: found {_what_is_there(folder)}",
            _nothing_hint(folder),
            found=_what_is_there(folder),
        )
    listed = "; ".join(f"{fmt} ({why})" for fmt, why in found.items())
    choices = " or ".join(f"format: {fmt}" for fmt in found)
    raise BadInput(
        f"cannot tell the format of {folder}: it holds files of {listed}",
        f"set {choices} on the target (and move the other tool's files out of the folder)",
        formats=list(found),
    )


def survey(folder: Path, fmt: str = "auto") -> Layout:
    """Read the folder as `fmt` (or the detected format): migrations in order, ignored files, warnings."""
    if fmt not in FORMAT_CHOICES:
        raise BadInput(
            f"unknown migrations format {fmt!r}", f"set format: to one of {', '.join(FORMAT_CHOICES)}"
        )
    if not folder.is_dir():
        raise BadInput(
            f"migrations directory {folder} does not exist",
            "set migrations: to the folder of migrations (absolute, or relative to invoke.yaml)",
        )
    detected = fmt == "auto"
    chosen = detect(folder) if detected else fmt
    files, ignored = READERS[chosen](folder)
    if not files:
        found = evidence(folder)
        would = " or ".join(f"format: {f}" for f in found if f != chosen)
        raise BadInput(
            f"format: {chosen} reads no migrations in {folder}: found {_what_is_there(folder)}",
            (f"{would} would read it" if would else _nothing_hint(folder)),
        )
    layout = Layout(folder=folder, format=chosen, detected=detected, files=files, ignored=ignored)
    # Folder formats (prisma, diesel) and drizzle's tags are named by their version; the rest by file.
    names = [f.version if chosen in ("prisma", "diesel", "drizzle") else f.path.name for f in files]
    warning = mixed_width_warning(names, _ORDER_WORDS[chosen])
    if warning:
        layout.warnings.append(warning)
    return layout
