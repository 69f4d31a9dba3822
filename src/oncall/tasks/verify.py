"""Task: verify — the schema the applied migrations declare, checked against the live database."""

from __future__ import annotations

from pathlib import Path

from invoke import Context, task

from oncall.tasks._common import (
    DEBUG_HELP,
    JSON_HELP,
    TARGET_HELP,
    boundary,
    exit_with,
    output_for,
    target_for,
)


@task(
    iterable=["only"],
    help={
        "target": TARGET_HELP,
        "json": JSON_HELP,
        "only": "check only this table (repeatable, or comma-separated: --only a,b); ledger checks "
        "still run (default: every table)",
        "verbose": "list every object checked, with what was expected and what was found (default: only "
        "failures, warnings and the verdict)",
        "stop-shadow": "afterwards, stop the embedded shadow PostgreSQL that verify keeps running under the "
        "state dir (a warm verify never needs it; the next cold one starts it again, about 0.5 s)",
        "debug": DEBUG_HELP,
    },
)
def verify(  # noqa: PLR0917 - one parameter per CLI flag
    ctx: Context,
    target: str | None = None,
    json: bool = False,
    only: list[str] | None = None,
    verbose: bool = False,
    stop_shadow: bool = False,
    debug: bool = False,
) -> None:
    """Check the live schema against the applied migrations replayed into a shadow database.

    Every object kind counts: tables, columns, constraints, indexes, enums, views, functions,
    triggers, sequences, extensions, RLS policies and seed rows. Prints the failures, the warnings
    and one verdict line; --verbose lists every object.
    """
    from oncall.db.connect import database_url_for
    from oncall.schema.report import draw, say
    from oncall.schema.shadow import stop_shadow as stop_shadow_servers
    from oncall.schema.verify import verify as run_verify

    out = output_for(json)
    with boundary(out, task="verify", debug=debug):
        chosen = target_for(ctx, target)
        url = database_url_for(chosen)
        try:
            result = run_verify(chosen, url, only=only or None)
        finally:
            # Asked for, so done even when the check itself failed.
            stopped = stop_shadow_servers(chosen.state_dir) if stop_shadow else []
        document = {"task": "verify", **result.as_dict()}
        if stop_shadow:
            document["shadow_stopped"] = stopped
            if not out.json_mode:
                say(out, _stopped_line(stopped, chosen.state_dir.resolve() / "shadow"))
        out.emit(document)
        draw(out, result, verbose=verbose)
    exit_with(result.code, result.verdict() + (f"\n  hint: {result.hint}" if result.hint else ""))


def _stopped_line(majors: list[int], folder: Path) -> str:
    if not majors:
        return f"  shadow: no embedded shadow PostgreSQL was running under {folder}"
    servers = ", ".join(f"PostgreSQL {major} ({folder / f'pg{major}'})" for major in majors)
    return f"  shadow: stopped the embedded {servers}; the next cold verify starts it again"
