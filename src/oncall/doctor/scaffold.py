"""`oncall init`: look at a repository and write a commented oncall.yaml with one target per service.

    scaffold(root, *, filename="oncall.yaml", write=True) -> Scaffold

What it reads, never runs: alembic.ini files, migration folders in any format oncall reads
(oncall.migrations.sources: prisma, supabase, drizzle, dbmate, golang-migrate, flyway, plain SQL),
and render.yaml (service names, rootDir, preDeployCommand, healthCheckPath, and the *names* of the
environment variables that hold database URLs). It writes names of variables, never a value: the
file holds no secret. It never overwrites a file: an existing oncall.yaml or invoke.yaml is
BadInput (exit 2), and so is a repository where nothing could be detected; nothing is written then.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from invoke.util import yaml  # type: ignore[attr-defined]  # the YAML reader Invoke itself uses

from oncall.errors import BadInput
from oncall.migrations.sources.alembic import looks_like_alembic
from oncall.migrations.sources.detect import evidence

EXISTING_CONFIGS = ("oncall.yaml", "oncall.yml", "oncall.json", "invoke.yaml", "invoke.yml", "invoke.json")
_SKIP = {
    ".git",
    "node_modules",
    ".venv",
    "venv",
    "__pycache__",
    "dist",
    "build",
    ".oncall",
    ".next",
    "vendor",
}
_MAX_DEPTH = 6
# Folders whose plain .sql files are taken as migrations (a stray seed.sql elsewhere is not).
_PLAIN_SQL_NAMES = {"migrations", "migration", "migrate", "sql"}
_DB_URL_VAR = re.compile(r"(DATABASE|DB|POSTGRES|PG|SUPABASE)[A-Z_]*URL|^DATABASE_URL$", re.IGNORECASE)
NEXT_COMMAND = "oncall doctor"


@dataclass(frozen=True)
class Source:
    """Migrations found in the repository: their format and where they are (relative to the root)."""

    format: str
    path: str
    why: str


@dataclass(frozen=True)
class Service:
    """One web service of render.yaml, as far as oncall needs it."""

    name: str
    root_dir: str = ""
    pre_deploy: str | None = None
    health_path: str | None = None
    database_vars: tuple[str, ...] = ()


@dataclass
class Scaffold:
    path: Path
    text: str
    targets: list[str] = field(default_factory=list)
    next_command: str = NEXT_COMMAND

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "targets": self.targets, "next": self.next_command}


def _walk(root: Path) -> list[Path]:
    """Folders under root, shallow first, skipping dependency and build folders."""
    found: list[Path] = []
    for folder, dirs, _files in os.walk(root):
        here = Path(folder)
        depth = len(here.relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if d not in _SKIP and not (depth >= _MAX_DEPTH))
        found.append(here)
    return found


def find_sources(root: Path) -> list[Source]:
    """Every migration source in the repository, one per Alembic project or migrations folder."""
    sources: list[Source] = []
    taken: list[Path] = []
    for folder in _walk(root):
        if any(folder == t or t in folder.parents for t in taken):
            continue
        rel = folder.relative_to(root).as_posix() or "."
        if looks_like_alembic(folder) == "alembic.ini":
            sources.append(Source("alembic", f"{rel}/alembic.ini".removeprefix("./"), "alembic.ini"))
            taken.append(folder)
            continue
        found = _folder_format(folder)
        if found is not None:
            sources.append(Source(found[0], rel, found[1]))
            taken.append(folder)
    return sources


def _folder_format(folder: Path) -> tuple[str, str] | None:
    try:
        found = evidence(folder)
    except OSError:
        return None
    if "flyway" in found and not any(p.suffix == ".sql" for p in folder.iterdir()):
        found.pop("flyway")  # flyway looks deeper; claim the folder that holds the files
    if found.keys() == {"oncall"} and folder.name not in _PLAIN_SQL_NAMES:
        return None
    if len(found) != 1:
        return None
    fmt, why = next(iter(found.items()))
    return fmt, why


def read_render_yaml(path: Path) -> list[Service]:
    """The web services of a render.yaml (BadInput when it is not YAML)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # type: ignore[no-untyped-call]
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BadInput(f"{path} cannot be read as YAML: {exc}", "fix render.yaml, or move it aside") from None
    services: list[Service] = []
    for entry in (data or {}).get("services") or []:
        if not isinstance(entry, dict) or not entry.get("name"):
            continue
        names = [
            str(v.get("key")) for v in entry.get("envVars") or [] if isinstance(v, dict) and v.get("key")
        ]
        database_vars = sorted(
            (n for n in names if _DB_URL_VAR.search(n)), key=lambda n: not n.startswith("DIRECT")
        )
        services.append(
            Service(
                name=str(entry["name"]),
                root_dir=str(entry.get("rootDir") or "").strip("/"),
                pre_deploy=entry.get("preDeployCommand"),
                health_path=entry.get("healthCheckPath"),
                database_vars=tuple(database_vars),
            )
        )
    return services


def _service_for(source: Source, services: list[Service]) -> Service | None:
    """The service whose rootDir holds the source (the longest one), or the only service there is."""
    holding = [s for s in services if s.root_dir and (source.path + "/").startswith(s.root_dir + "/")]
    if holding:
        return max(holding, key=lambda s: len(s.root_dir))
    return services[0] if len(services) == 1 else None


def _name_for(source: Source, service: Service | None, root: Path, used: set[str]) -> str:
    base = service.name if service else (Path(source.path).parent.name if source.format == "alembic" else "")
    base = re.sub(r"[^a-z0-9-]+", "-", (base or root.name).lower()).strip("-") or "app"
    name, n = base, 2
    while name in used:
        name, n = f"{base}-{n}", n + 1
    used.add(name)
    return name


def _q(value: str) -> str:
    """A YAML scalar written as a JSON string: valid YAML for any text."""
    return json.dumps(value)


def uses_poetry(ini: Path) -> bool:
    """Whether the project around an alembic.ini is managed by Poetry (then Alembic runs through it)."""
    for folder in (ini.parent, *ini.parent.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            return "[tool.poetry" in pyproject.read_text(encoding="utf-8", errors="replace")
        if (folder / ".git").exists():
            break
    return False


def _target_lines(
    root: Path, name: str, source: Source, service: Service | None, has_render_yaml: bool
) -> list[str]:
    lines = [f"    {name}:"]
    found = f"{source.path} ({source.format}: {source.why})"
    if service:
        found += f"; render.yaml service {service.name}"
    lines.append(f"      # found: {found}")
    if service and service.pre_deploy:
        lines.append(f"      # render.yaml preDeployCommand: {service.pre_deploy}")
    lines.append(f"      format: {source.format}")
    if source.format == "alembic":
        lines.append(f"      alembic_ini: {_q(source.path)}")
        if uses_poetry(root / source.path):
            lines.append("      alembic_command: poetry run alembic   # pyproject.toml uses Poetry")
        else:
            lines.append(
                "      # alembic_command: poetry run alembic   # how your team runs it (default: alembic)"
            )
    else:
        lines.append(f"      migrations: {_q(source.path)}")
    db_var = service.database_vars[0] if service and service.database_vars else "DATABASE_URL"
    lines.append(
        f"      database_url_env: {db_var}   # the variable's name; its value stays in your environment"
    )
    lines.append("      production: true   # asks before it writes; --yes where nobody can answer")
    if service:
        lines += ["      render:", f"        service: {_q(service.name)}"]
        if has_render_yaml:
            lines.append("      render_yaml: render.yaml")
    env_name = re.sub(r"[^A-Z0-9]+", "_", name.upper()) + "_BASE_URL"
    lines.append(f"      base_url_env: {env_name}   # e.g. https://{name}.onrender.com")
    health = (service.health_path if service else None) or "/health"
    lines += [
        "      smoke:",
        "        - name: health",
        f"          url: {_q(health)}",
        '          conditions: {status: "2xx", body_not_contains: "Bad Gateway", max_ms: 5000}',
    ]
    return lines


def render_config(
    root: Path, sources: list[Source], services: list[Service], has_render_yaml: bool
) -> tuple[str, list[str]]:
    used: set[str] = set()
    names: list[str] = []
    body: list[str] = []
    for source in sources:
        service = _service_for(source, services)
        name = _name_for(source, service, root, used)
        names.append(name)
        body += _target_lines(root, name, source, service, has_render_yaml)
    header = [
        "# oncall config, written by `oncall init` from what it found in this repository.",
        "# No secrets here: each target names the environment variable that holds its database URL.",
        "# Every key is described in oncall's docs/config.md. Next: oncall doctor",
        "oncall:",
        f"  target: {names[0]}   # the default; pick another with --target NAME or INVOKE_ONCALL_TARGET",
        "  targets:",
    ]
    return "\n".join(header + body) + "\n", names


def scaffold(root: Path, *, filename: str = "oncall.yaml", write: bool = True) -> Scaffold:
    """Detect the repository's services and migrations and write `filename` (never over a file)."""
    root = root.resolve()
    if not root.is_dir():
        raise BadInput(f"{root} is not a folder", "run oncall init in the repository's root folder")
    existing = [root / n for n in (filename, *EXISTING_CONFIGS) if (root / n).exists()]
    if existing:
        raise BadInput(
            f"{existing[0]} already exists; oncall init never overwrites a file",
            "edit that file (docs/config.md), or move it aside and run oncall init again",
        )
    render_yaml = root / "render.yaml"
    services = read_render_yaml(render_yaml) if render_yaml.is_file() else []
    sources = find_sources(root)
    if not sources:
        raise BadInput(
            f"found no migrations in {root}: no alembic.ini, and no folder of migrations in a format oncall "
            "reads (prisma, supabase, drizzle, dbmate, golang-migrate, flyway, plain .sql in migrations/)",
            "run oncall init in the repository root, or write oncall.yaml by hand (docs/adopt.md)",
        )
    text, names = render_config(root, sources, services, render_yaml.is_file())
    path = root / filename
    if write:
        # "x": create, never replace, even if a file appeared since the check above.
        with path.open("x", encoding="utf-8") as handle:
            handle.write(text)
    return Scaffold(path=path, text=text, targets=names)
