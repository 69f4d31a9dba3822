"""Alembic projects read in place: the revision graph, statically, from the `.py` files.

    project(migrations_dir, alembic_ini) -> AlembicProject
        Where the project is: its alembic.ini (and the folder Alembic runs from), and the versions
        folder (the ini's `script_location` + `/versions`, or the folder a target names).

    read_graph(versions) -> list[Revision]
        Every revision file parsed with `ast` (never imported: importing would run the team's app
        code, and a broken file must be named, not executed). The revisions come back parents first
        (down_revisions and depends_on before the revision; ties broken by file name, so the order is
        stable): branches, merges and several heads are all read. A depends_on naming a branch label
        is resolved to the revision carrying it. A syntax error, a file without `revision`, a
        down_revision that names no revision, a cycle: BadInput naming the file.

The SQL of each revision comes from Alembic's offline mode (oncall.migrations.sources.alembic_offline).
"""

from __future__ import annotations

import ast
import configparser
from dataclasses import dataclass, replace
from pathlib import Path

from oncall.errors import BadInput
from oncall.migrations.sources.base import read_text, sha256_hex

# Names a revision's upgrade() uses when it talks to the live database: offline mode cannot render it.
_ONLINE_ONLY_CALLS = ("get_bind", "get_context")


@dataclass(frozen=True)
class AlembicProject:
    """An Alembic project: the ini Alembic reads and the versions folder it holds the revisions in."""

    ini: Path
    versions: Path

    @property
    def home(self) -> Path:
        """The folder the team runs `alembic` from (seed 000: `cd apps/api && alembic upgrade head`)."""
        return self.ini.parent


@dataclass(frozen=True)
class Revision:
    """One revision file as Alembic reads it, without running it."""

    revision: str
    down_revisions: tuple[str, ...]
    branch_labels: tuple[str, ...]
    depends_on: tuple[str, ...]
    path: Path
    checksum: str
    message: str
    online_only: str | None = None  # why offline mode cannot render it

    @property
    def name(self) -> str:
        """The file's slug: 3f2a9c1d7b10_baseline.py -> baseline (Alembic's default file template)."""
        stem = self.path.stem
        return stem[len(self.revision) + 1 :] if stem.startswith(self.revision + "_") else stem


def _script_location(ini: Path) -> Path:
    if not ini.is_file():
        raise BadInput(
            f"alembic.ini {ini} does not exist",
            "set alembic_ini: to the project's alembic.ini (relative to the oncall config file)",
        )
    parser = configparser.ConfigParser(defaults={"here": str(ini.parent)})
    try:
        parser.read(ini, encoding="utf-8")
        location = parser.get("alembic", "script_location", fallback="").strip()
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise BadInput(
            f"{ini} cannot be read as an ini file: {exc}", "fix the file, as Alembic would need"
        ) from None
    if not location:
        raise BadInput(
            f"{ini} has no script_location in its [alembic] section",
            "add script_location = %(here)s/alembic (the folder with env.py and versions/)",
        )
    if ":" in location and not Path(location).exists():
        raise BadInput(
            f"{ini} names script_location {location!r}, a package resource oncall cannot read statically",
            "set script_location to a folder path, or point migrations: at the versions folder",
        )
    path = Path(location)
    return path if path.is_absolute() else (ini.parent / path).resolve()


def project(migrations_dir: Path | None, alembic_ini: Path | None) -> AlembicProject:
    """The project a target names with `alembic_ini:` or `migrations:` (the versions folder or its parent)."""
    if alembic_ini is not None:
        versions = (
            migrations_dir if migrations_dir is not None else _script_location(alembic_ini) / "versions"
        )
        _script_location(alembic_ini)  # checked even when migrations: names the folder
        return AlembicProject(ini=alembic_ini, versions=versions)
    assert migrations_dir is not None
    for candidate in (migrations_dir, migrations_dir.parent, migrations_dir.parent.parent):
        ini = candidate / "alembic.ini"
        if ini.is_file():
            location = _script_location(ini)
            versions = location / "versions"
            if migrations_dir in (location, versions) or candidate == migrations_dir:
                return AlembicProject(ini=ini, versions=versions)
    raise BadInput(
        f"no alembic.ini found for {migrations_dir}",
        "set alembic_ini: to the project's alembic.ini on the target",
    )


def looks_like_alembic(folder: Path) -> str | None:
    """What gives an Alembic versions folder (or project folder) away, or None."""
    if (folder / "alembic.ini").is_file():
        return "alembic.ini"
    if folder.name == "versions" and (folder.parent / "env.py").is_file():
        count = sum(1 for p in folder.glob("*.py") if p.name != "__init__.py")
        if count:
            return f"{count} revision file(s) beside ../env.py"
    return None


def _strings(node: ast.expr | None, path: Path, key: str) -> tuple[str, ...]:
    """A revision attribute's value: None, a string, or a tuple/list of strings."""
    if node is None or (isinstance(node, ast.Constant) and node.value is None):
        return ()
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return (node.value,)
    if isinstance(node, ast.Tuple | ast.List) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts
    ):
        return tuple(str(e.value) for e in node.elts if isinstance(e, ast.Constant))
    raise BadInput(
        f"{path}:{node.lineno}: {key} is not a literal (a string, None, or a tuple of strings)",
        "oncall reads revision files without running them: write the value literally, as "
        "`alembic revision` does",
    )


def _assignments(tree: ast.Module) -> dict[str, ast.expr | None]:
    found: dict[str, ast.expr | None] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for name in node.targets:
                if isinstance(name, ast.Name):
                    found[name.id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found[node.target.id] = node.value
    return found


def _online_only(tree: ast.Module) -> str | None:
    """Why upgrade() cannot be rendered offline: it asks for the live connection."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "upgrade":
            for inner in ast.walk(node):
                if isinstance(inner, ast.Attribute) and inner.attr in _ONLINE_ONLY_CALLS:
                    return f"upgrade() calls op.{inner.attr}() at line {inner.lineno}"
    return None


def read_revision(path: Path) -> Revision:
    """One revision file, parsed, never imported."""
    text, data = read_text(path)
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        raise BadInput(
            f"{path}:{exc.lineno}: syntax error in an Alembic revision: {exc.msg}",
            "fix the file (oncall reads it without importing it; Alembic would fail on it too)",
            file=str(path),
        ) from None
    values = _assignments(tree)
    if "revision" not in values:
        raise BadInput(
            f"{path} has no `revision = ...` line, so it is not an Alembic revision",
            "move files that are not revisions out of the versions folder",
            file=str(path),
        )
    ids = _strings(values["revision"], path, "revision")
    if len(ids) != 1:
        raise BadInput(f"{path}: revision must be one string", 'write revision = "<hex id>"')
    doc = ast.get_docstring(tree) or ""
    return Revision(
        revision=ids[0],
        down_revisions=_strings(values.get("down_revision"), path, "down_revision"),
        branch_labels=_strings(values.get("branch_labels"), path, "branch_labels"),
        depends_on=_strings(values.get("depends_on"), path, "depends_on"),
        path=path,
        checksum=sha256_hex(data),
        message=doc.splitlines()[0].strip() if doc else "",
        online_only=_online_only(tree),
    )


def _revision_files(versions: Path) -> list[Path]:
    if not versions.is_dir():
        raise BadInput(
            f"Alembic versions folder {versions} does not exist",
            "check script_location in alembic.ini (oncall reads <script_location>/versions)",
        )
    return sorted(p for p in versions.glob("*.py") if p.name != "__init__.py")


def heads(revisions: list[Revision]) -> list[str]:
    """Revisions that no other revision names as its parent."""
    parents = {down for r in revisions for down in r.down_revisions}
    return [r.revision for r in revisions if r.revision not in parents]


def _ordered(revisions: list[Revision]) -> list[Revision]:
    """Parents before children (ties broken by file name, so the order is stable)."""
    by_id = {r.revision: r for r in revisions}
    done: set[str] = set()
    order: list[Revision] = []

    def visit(revision: Revision, path: tuple[str, ...]) -> None:
        if revision.revision in done:
            return
        if revision.revision in path:
            raise BadInput(
                f"Alembic revisions form a cycle through {revision.revision} ({revision.path.name})",
                "fix down_revision so that the history has a beginning",
            )
        for parent in (*revision.down_revisions, *revision.depends_on):
            visit(by_id[parent], (*path, revision.revision))
        done.add(revision.revision)
        order.append(revision)

    for revision in revisions:
        visit(revision, ())
    return order


def _with_labels_resolved(revisions: list[Revision], by_id: dict[str, Revision]) -> list[Revision]:
    """depends_on may name a branch label (`depends_on = "networking"`): Alembic reads it as the
    revision that carries the label."""
    labels = {label: r.revision for r in revisions for label in r.branch_labels}
    resolved: list[Revision] = []
    for revision in revisions:
        deps = tuple(d if d in by_id else labels.get(d, d) for d in revision.depends_on)
        resolved.append(replace(revision, depends_on=deps) if deps != revision.depends_on else revision)
    return resolved


def read_graph(versions: Path) -> list[Revision]:
    """The project's revisions, parents first; BadInput for a graph Alembic would refuse."""
    revisions = [read_revision(p) for p in _revision_files(versions)]
    if not revisions:
        raise BadInput(
            f"no Alembic revisions in {versions}",
            "create one with `alembic revision -m ...`, or point the target at the right project",
        )
    seen: dict[str, Revision] = {}
    for revision in revisions:
        if revision.revision in seen:
            raise BadInput(
                f"revision {revision.revision} is defined twice: {seen[revision.revision].path.name} and "
                f"{revision.path.name}",
                "give one of them a new revision id",
            )
        seen[revision.revision] = revision
    revisions = _with_labels_resolved(revisions, seen)
    for revision in revisions:
        _check_parents(revision, seen, versions)
    return _ordered(revisions)


def _check_parents(revision: Revision, seen: dict[str, Revision], versions: Path) -> None:
    """Every down_revision and depends_on names a revision of the folder; a merge says it is one,
    since its missing parent is usually a branch not merged into this checkout yet."""
    for key, parents in (("down_revision", revision.down_revisions), ("depends_on", revision.depends_on)):
        for parent in parents:
            if parent in seen:
                continue
            if key == "down_revision" and len(parents) > 1:
                raise BadInput(
                    f"{revision.path}: merge revision {revision.revision} joins {', '.join(parents)}, "
                    f"but {parent!r} names no revision in {versions}",
                    f"add the branch that has revision {parent} (or fix the merge's down_revision); "
                    f"known revisions: {', '.join(sorted(seen))}",
                    file=str(revision.path),
                )
            raise BadInput(
                f"{revision.path}: {key} {parent!r} names no revision in {versions}",
                f"known revisions: {', '.join(sorted(seen))}",
                file=str(revision.path),
            )
