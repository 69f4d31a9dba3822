"""Tasks: status, plan, migrate, baseline, resolve (see docs/migrate.md).

Thin wrappers: each resolves the target and calls one function of `oncall.migrations`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from invoke import Context, task

from oncall.tasks._common import (
    DEBUG_HELP,
    DURATION_WORDS,
    JSON_HELP,
    TARGET_HELP,
    boundary,
    exit_with,
    output_for,
    seconds_flag,
    target_for,
)

# Past this many applied migrations the closing table would only repeat the "applied" lines above
# it (and rendering 300 rows with rich cost a third of a second): one totals line instead.
SUMMARY_TABLE_ROWS = 20

DRY_RUN_HELP = "show exactly what would run and change nothing"
YES_HELP = "confirm a production target without a prompt (needed when there is no terminal)"


def _summary(out: Any, rows: Sequence[Sequence[Any]], columns: tuple[str, ...], title: str) -> None:
    # Title, headers and cells as Text, not str: rich would read markup in them and load its emoji table.
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title, style="table.title"))
    for column in columns:
        table.add_column(Text(column))
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))
    out.print(table)


LOCK_WAIT_HELP = (
    f"how long to wait for another run's migration lock, {DURATION_WORDS} (default oncall.lock_wait, 30s)"
)


@task(
    help={
        "target": TARGET_HELP,
        "json": JSON_HELP,
        "check": "exit 1 when migrations are pending and 5 on drift (edited file, stale alembic_version row)",
        "debug": DEBUG_HELP,
    }
)
def status(
    ctx: Context, target: str | None = None, json: bool = False, check: bool = False, debug: bool = False
) -> None:
    """Show which migrations are applied, pending or edited (read-only)."""
    from oncall.migrations.run import status as status_of

    out = output_for(json)
    with boundary(out, task="status", debug=debug):
        chosen = target_for(ctx, target)
        result = status_of(chosen, None, check=check)
        state = result.state
        if json:
            out.emit({**result.as_dict(), "task": "status"})
        else:
            rows = []
            for item in state.as_dict()["migrations"]:
                rows.append(
                    (
                        item["version"],
                        item["status"],
                        item["transaction_mode"],
                        (item["applied_at"] or "-")[:19].replace("T", " "),
                        item["source"] or "-",
                        item["checksum"][:12],
                    )
                )
            _summary(
                out,
                rows,
                ("version", "status", "mode", "applied at", "recorded in", "sha256"),
                f"{chosen.name} on {result.where}",
            )
            if state.alembic_versions is not None:
                out.print(f"alembic_version: {', '.join(state.alembic_versions) or '(empty)'}")
            if len(state.file_heads) > 1:
                out.print(
                    f"{len(state.file_heads)} heads in the files: {', '.join(state.file_heads)}; migrate "
                    "applies every branch, as `alembic upgrade heads` does (one alembic_version row "
                    "per head)",
                    markup=False,
                )
            for problem in state.problems:
                out.print(f"DRIFT: {problem.cause}\n  hint: {problem.hint}", markup=False)
            _print_layout(out, result.layout)
        exit_with(result.code, "status --check: " + ("drift" if result.code == 5 else "pending migrations"))


def _print_layout(out: Any, layout: Any) -> None:
    """The folder's format, the files it does not run (and why), and ordering warnings."""
    if layout is None:
        return
    how = "detected" if layout.detected else "configured"
    out.print(f"format: {layout.format} ({how}) in {layout.folder}", markup=False)
    for item in layout.ignored:
        out.print(f"ignored: {item.path.name}: {item.reason}", markup=False)
    for warning in layout.warnings:
        out.print(f"WARNING: {warning}", markup=False)


@task(
    help={
        "target": TARGET_HELP,
        "json": JSON_HELP,
        "to": "plan only up to this version (default: all pending)",
        "verbose": "list every lint finding (default: info-level ones summed up per rule and file)",
        "squawk": "also lint with squawk (the squawk-cli wheel), filtered like our findings (default: off)",
        "debug": DEBUG_HELP,
    }
)
def plan(  # noqa: PLR0917 - one parameter per CLI flag
    ctx: Context,
    target: str | None = None,
    json: bool = False,
    to: str | None = None,
    verbose: bool = False,
    squawk: bool = False,
    debug: bool = False,
) -> None:
    """Show what migrate would do: SQL, transaction mode, timeouts and lint findings (read-only)."""
    from oncall.migrations.run import plan as plan_of
    from oncall.migrations.run import print_plan

    out = output_for(json)
    with boundary(out, task="plan", debug=debug):
        chosen = target_for(ctx, target)
        the_plan = plan_of(chosen, None, to=to, squawk=squawk)
        print_plan(out, the_plan, verbose=verbose)
        out.emit({"ok": True, "code": 0, "task": "plan", **the_plan.as_dict()})


@task(
    help={
        "target": TARGET_HELP,
        "json": JSON_HELP,
        "dry_run": DRY_RUN_HELP,
        "yes": YES_HELP,
        "to": "apply only up to and including this version (default: all pending)",
        "lock_wait": LOCK_WAIT_HELP,
        "on_render": "run CMD as a Render one-off job instead of applying locally (default: apply locally)",
        "debug": DEBUG_HELP,
    }
)
def migrate(  # noqa: PLR0917 - one parameter per CLI flag
    ctx: Context,
    target: str | None = None,
    json: bool = False,
    dry_run: bool = False,
    yes: bool = False,
    to: str | None = None,
    lock_wait: str | None = None,
    on_render: str | None = None,
    debug: bool = False,
) -> None:
    """Apply pending migrations: locked, one transaction each, with lock and statement timeouts."""
    out = output_for(json)
    with boundary(out, task="migrate", debug=debug):
        chosen = target_for(ctx, target)
        if on_render:
            from oncall.render.ops import run_job

            job = run_job(chosen, on_render, out=out, yes=yes, dry_run=dry_run)
            out.emit({"task": "migrate", **job.as_dict(), "ok": job.ok, "code": job.code})
            exit_with(job.code, f"migrate --on-render: the job did not succeed (exit {job.code})")
            return
        from oncall.migrations.run import migrate as run_migrate

        result = run_migrate(
            chosen,
            None,
            out,
            dry_run=dry_run,
            yes=yes,
            to=to,
            lock_wait=seconds_flag(lock_wait, "--lock-wait") if lock_wait is not None else None,
        )
        if len(result.applied) > SUMMARY_TABLE_ROWS:
            from oncall.migrations.common import say

            say(
                out,
                f"{chosen.name} on {result.where}: {len(result.applied)} applied in "
                f"{result.duration_s:.2f} s (each on its 'applied' line above; --json lists them)",
            )
        elif result.applied:
            rows = [
                (
                    a["version"],
                    a["transaction_mode"],
                    str(a["duration_ms"]),
                    str(a["attempts"]),
                    str(a["statements"]),
                )
                for a in result.applied
            ]
            _summary(
                out,
                rows,
                ("applied", "mode", "ms", "attempts", "statements"),
                f"{chosen.name} on {result.where}: {len(result.applied)} applied in "
                f"{result.duration_s:.2f} s",
            )
        out.emit({"task": "migrate", **result.as_dict()})


@task(
    help={
        "target": TARGET_HELP,
        "to": "last version to record as applied (its objects must exist); required",
        "dry_run": DRY_RUN_HELP,
        "yes": YES_HELP,
        "json": JSON_HELP,
        "debug": DEBUG_HELP,
    }
)
def baseline(  # noqa: PLR0917 - one parameter per CLI flag
    ctx: Context,
    to: str,
    target: str | None = None,
    dry_run: bool = False,
    yes: bool = False,
    json: bool = False,
    debug: bool = False,
) -> None:
    """Adopt a database whose tables exist: record migrations up to --to after checking their objects."""
    from oncall.migrations.admin import baseline as run_baseline

    out = output_for(json)
    with boundary(out, task="baseline", debug=debug):
        chosen = target_for(ctx, target)
        result = run_baseline(chosen, None, out, to=to, dry_run=dry_run, yes=yes)
        verb = "would record" if dry_run else "recorded"
        out.print(f"{verb} as applied: {', '.join(result.versions) or '(nothing)'}")
        out.emit({"task": "baseline", **result.as_dict()})


@task(
    help={
        "version": "the migration (file stem or revision) to repair; required",
        "applied": "record it as applied with the file's current checksum",
        "rolled_back": "forget it: delete its ledger row (and move alembic_version back)",
        "target": TARGET_HELP,
        "dry_run": DRY_RUN_HELP,
        "yes": YES_HELP,
        "json": JSON_HELP,
        "debug": DEBUG_HELP,
    }
)
def resolve(  # noqa: PLR0917 - one parameter per CLI flag
    ctx: Context,
    version: str,
    applied: bool = False,
    rolled_back: bool = False,
    target: str | None = None,
    dry_run: bool = False,
    yes: bool = False,
    json: bool = False,
    debug: bool = False,
) -> None:
    """Repair the ledger by hand: mark VERSION --applied or --rolled-back (dry-runnable)."""
    from oncall.errors import BadInput
    from oncall.migrations.admin import resolve as run_resolve

    out = output_for(json)
    with boundary(out, task="resolve", debug=debug):
        if applied == rolled_back:
            raise BadInput(
                "resolve needs exactly one of --applied or --rolled-back",
                f"invoke resolve {version} --applied   (or --rolled-back)",
            )
        chosen = target_for(ctx, target)
        result = run_resolve(chosen, None, out, version, applied=applied, dry_run=dry_run, yes=yes)
        out.emit({"task": "resolve", **result.as_dict()})


@task(
    help={
        "to": "the last migration to keep; every applied one after it is undone (default: only the last)",
        "target": TARGET_HELP,
        "dry_run": DRY_RUN_HELP,
        "yes": YES_HELP,
        "lock_wait": LOCK_WAIT_HELP,
        "json": JSON_HELP,
        "debug": DEBUG_HELP,
    }
)
def rollback_migration(  # noqa: PLR0917 - one parameter per CLI flag
    ctx: Context,
    to: str | None = None,
    target: str | None = None,
    dry_run: bool = False,
    yes: bool = False,
    lock_wait: str | None = None,
    json: bool = False,
    debug: bool = False,
) -> None:
    """Run the down SQL of the last applied migrations, newest first (diesel, golang-migrate, dbmate)."""
    from oncall.migrations.downgrade import rollback_migration as run_rollback

    out = output_for(json)
    with boundary(out, task="rollback-migration", debug=debug):
        chosen = target_for(ctx, target)
        result = run_rollback(
            chosen,
            None,
            out,
            to=to,
            dry_run=dry_run,
            yes=yes,
            lock_wait=seconds_flag(lock_wait, "--lock-wait") if lock_wait is not None else None,
        )
        verb = "would roll back" if dry_run else "rolled back"
        out.print(
            f"{verb}: {', '.join(s.migration.version for s in result.steps) or '(nothing)'}", markup=False
        )
        out.emit({"task": "rollback-migration", **result.as_dict()})
