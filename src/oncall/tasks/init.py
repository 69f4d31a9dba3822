"""Task: init: write a commented oncall.yaml for the repository it is run in."""

from __future__ import annotations

from pathlib import Path

from invoke import Context, task

from oncall.tasks._common import JSON_HELP, boundary, output_for


@task(
    help={
        "path": "the repository's root folder (default: the working directory)",
        "file": "the config file to write (default: oncall.yaml; never overwritten)",
        "json": JSON_HELP,
    }
)
def init(ctx: Context, path: str = "", file: str = "oncall.yaml", json: bool = False) -> None:
    """Write oncall.yaml for this repository: one target per service it detects.

    Reads alembic.ini files, migration folders (prisma, supabase, drizzle, dbmate, golang-migrate,
    flyway, plain SQL) and render.yaml (services, preDeployCommand, healthCheckPath, the names of
    database URL variables). Writes variable names, never a secret; never overwrites a file; exit 2
    when nothing can be detected or a config already exists. Next step: oncall doctor.
    """
    from oncall.doctor.scaffold import scaffold

    out = output_for(json)
    with boundary(out, task="init"):
        made = scaffold(Path(path) if path else Path.cwd(), filename=file)
        if json:
            out.emit({"ok": True, "code": 0, **made.as_dict()})
            return
        out.print(made.text.rstrip(), markup=False)
        out.print(f"wrote {made.path} with {len(made.targets)} target(s): {', '.join(made.targets)}")
        out.print(f"next: {made.next_command}")
