"""The SQL of Alembic revisions, rendered by Alembic's own offline mode (`alembic upgrade A:B --sql`).

oncall never guesses what `op.create_table(...)` becomes: the team's own `alembic` command (the
`alembic_command` target key, e.g. `poetry run alembic`) renders it, from the alembic.ini's folder,
with the user's environment, so env.py sees what it sees in production. One call renders a whole
run of revisions; Alembic marks each one with `-- Running upgrade A -> B`, which is where the
output is cut into one SQL text per revision. Alembic's own transaction (BEGIN/COMMIT) and its
alembic_version DDL and moves are taken out: oncall runs each revision in its own transaction and
moves alembic_version itself (oncall.migrations.alembic_heads), exactly as Alembic does.

The result is cached under the state folder by the content of every file that can change it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from oncall.errors import BadInput
from oncall.migrations.alembic_heads import Node, RevisionGraph
from oncall.migrations.parse_cache import load_or_build
from oncall.migrations.sources.alembic import AlembicProject, Revision
from oncall.redact import redact

_MARKER = re.compile(r"^-- Running (?:upgrade|downgrade) (.*?) -> (.*?)\s*$", re.MULTILINE)
_NOISE = re.compile(
    r"^(?:BEGIN;|COMMIT;"
    r"|CREATE TABLE (?:\w+\.)?alembic_version \((?:[^;])*?\);"
    r"|DROP TABLE (?:\w+\.)?alembic_version;"
    r"|INSERT INTO (?:\w+\.)?alembic_version [^;]*;"
    r"|UPDATE (?:\w+\.)?alembic_version [^;]*;"
    r"|DELETE FROM (?:\w+\.)?alembic_version [^;]*;)\s*$",
    re.MULTILINE,
)
# Offline rendering needs seconds at most; a hung env.py must not hang a 3 a.m. run.
RENDER_TIMEOUT_S = 120.0


def command_words(command: str) -> list[str]:
    """The command as argv. A bare `alembic` not on PATH is the one installed beside oncall's Python
    (a virtualenv that was not activated), where there is one."""
    words = shlex.split(command)
    if not words:
        raise BadInput(
            "alembic_command is empty", "set alembic_command: alembic (or e.g. poetry run alembic)"
        )
    beside = Path(sys.executable).parent / words[0]
    if words[0] == "alembic" and shutil.which(words[0]) is None and beside.is_file():
        words[0] = str(beside)
    return words


def run_alembic(
    project: AlembicProject, command: str, args: Sequence[str], *, extra_env: dict[str, str] | None = None
) -> str:
    """Alembic's stdout for `args`; BadInput with Alembic's own (redacted) error when it fails."""
    argv = [*command_words(command), "-c", str(project.ini), *args]
    try:
        done = subprocess.run(  # noqa: PLW1510 - the exit code is checked below, with Alembic's words
            argv,
            cwd=project.home,
            capture_output=True,
            text=True,
            timeout=RENDER_TIMEOUT_S,
            env={**os.environ, **(extra_env or {})},
        )
    except FileNotFoundError:
        raise BadInput(
            f"alembic_command {command!r} was not found (looked for {argv[0]!r} on PATH)",
            "install alembic where oncall runs, or set alembic_command: on the target to the command your "
            "team uses (e.g. alembic_command: poetry run alembic)",
        ) from None
    except subprocess.TimeoutExpired:
        raise BadInput(
            f"`{command} {' '.join(args)}` did not finish within {RENDER_TIMEOUT_S:.0f}s in {project.home}",
            "run it by hand to see where env.py waits (offline mode must not connect to a database)",
        ) from None
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).strip().splitlines() if line.strip()]
        raise BadInput(
            f"`{command} {' '.join(args)}` failed in {project.home}: {redact(lines[-1] if lines else '')}",
            "fix what Alembic says (run the same command by hand for the whole output); nothing was changed",
            alembic_output=redact("\n".join(lines[-20:])),
        )
    return done.stdout


def clean(sql: str) -> str:
    """One revision's rendered SQL without Alembic's transaction and alembic_version statements."""
    kept = _NOISE.sub("", sql)
    return re.sub(r"\n{3,}", "\n\n", kept).strip() + "\n"


def split_rendered(output: str) -> dict[str, str]:
    """`-- Running upgrade A -> B` sections of Alembic's output, by the revision each one reaches (B)
    for an upgrade, or leaves (A) for a downgrade."""
    sections: dict[str, str] = {}
    marks = list(_MARKER.finditer(output))
    for index, mark in enumerate(marks):
        end = marks[index + 1].start() if index + 1 < len(marks) else len(output)
        body = output[mark.end() : end]
        upgrade = mark.group(0).startswith("-- Running upgrade")
        key = mark.group(2) if upgrade else mark.group(1)
        sections[key.strip()] = clean(body)
    return sections


def _graph(revisions: list[Revision]) -> RevisionGraph:
    return RevisionGraph(Node(r.revision, r.down_revisions, r.depends_on) for r in revisions)


def _spans(revisions: list[Revision]) -> list[tuple[str | None, str]]:
    """`start:end` ranges that render every revision offline mode can render, around the ones it
    cannot (a whole project without those is one call: `upgrade heads`).

    A range renders what is below `end` and not below `start`: a chain of single-parent revisions
    after `start`. A merge starts a range of its own from one of its parents, which also renders
    the other parents' branches (their sections are not used); if one of those cannot be rendered
    offline either, neither can the merge's range.
    """
    graph = _graph(revisions)
    by_id = {r.revision: r for r in revisions}
    spans: list[list[str | None]] = []  # [start, ..., end]
    for revision in revisions:
        if revision.online_only:
            continue
        parents = (*revision.down_revisions, *revision.depends_on)
        open_span = next((span for span in spans if len(parents) == 1 and span[-1] == parents[0]), None)
        if open_span is not None:
            open_span.append(revision.revision)
            continue
        start = parents[0] if parents else None
        extra = graph.below(revision.revision) - graph.ancestors([start] if start else [])
        blocked = sorted(r for r in extra if by_id[r].online_only)
        if blocked:
            raise BadInput(
                f"{revision.path.name} joins {', '.join(parents)}, and offline mode cannot render "
                f"{', '.join(blocked)} below it ({by_id[blocked[0]].online_only})",
                "apply it with the team's `alembic upgrade head`, then `invoke status` reads it again",
                file=str(revision.path),
            )
        spans.append([start, revision.revision])
    return [(span[0], str(span[-1])) for span in spans]


def _fingerprint(project: AlembicProject, command: str, revisions: list[Revision], verb: str) -> str:
    digest = hashlib.sha256()
    for part in (verb, command, str(project.ini)):
        digest.update(part.encode() + b"\0")
    for extra in (project.ini, project.versions.parent / "env.py"):
        digest.update(extra.read_bytes() if extra.is_file() else b"-")
    for revision in revisions:
        digest.update(f"{revision.revision}:{revision.checksum}\0".encode())
    return digest.hexdigest()


def render_upgrades(
    project: AlembicProject, command: str, revisions: list[Revision], state_dir: Path | None
) -> dict[str, str]:
    """The up SQL of every revision offline mode can render, by revision id (cached)."""

    def build() -> dict[str, str]:
        if not any(r.online_only for r in revisions):
            return split_rendered(run_alembic(project, command, ["upgrade", "heads", "--sql"]))
        rendered: dict[str, str] = {}
        for start, end in _spans(revisions):
            span = f"{start}:{end}" if start else end
            output = run_alembic(project, command, ["upgrade", span, "--sql"])
            for key, text in split_rendered(output).items():
                rendered.setdefault(key, text)
        return rendered

    return load_or_build(state_dir, "alembic-up", _fingerprint(project, command, revisions, "up"), build)


def render_downgrade(
    project: AlembicProject, command: str, revision: Revision, state_dir: Path | None
) -> str:
    """The down SQL of one revision: `alembic downgrade <rev>:<its parent> --sql` (cached)."""
    parent = revision.down_revisions[0] if revision.down_revisions else "base"

    def build() -> str:
        output = run_alembic(project, command, ["downgrade", f"{revision.revision}:{parent}", "--sql"])
        return split_rendered(output).get(revision.revision, "")

    return load_or_build(state_dir, "alembic-down", _fingerprint(project, command, [revision], "down"), build)
