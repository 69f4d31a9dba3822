"""Tasks: rollback, events, logs, suspend, resume, scale (see docs/render.md).

Thin wrappers over `oncall.render_remedies`, `oncall.render_events` and `oncall.render_logs`.
"""

from __future__ import annotations

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

YES_HELP = "confirm a production target without a prompt (needed when there is no terminal)"


@task(
    help={
        "target": TARGET_HELP,
        "to": "the deploy to roll back to (dep-...); default: the last one live before the current one",
        "yes": YES_HELP,
        "dry_run": "name the deploy a rollback would go back to, and change nothing",
        "timeout": "seconds to wait for the rollback's deploy to go live (default 900)",
        "smoke": "after live, run the smoke checks until healthy (default on)",
        "wait_timeout": "seconds the smoke checks may take to pass (default 300)",
        "json": JSON_HELP,
        "debug": DEBUG_HELP,
    }
)
def rollback(  # noqa: PLR0917 - one parameter per CLI flag
    ctx: Context,
    target: str | None = None,
    to: str | None = None,
    yes: bool = False,
    dry_run: bool = False,
    timeout: int = 900,
    smoke: bool = True,
    wait_timeout: int = 300,
    json: bool = False,
    debug: bool = False,
) -> None:
    """Roll the Render service back to the last deploy that was live, then smoke until healthy."""
    from oncall.render_remedies import rollback as do_rollback

    out = output_for(json)
    with boundary(out, task="rollback", debug=debug):
        chosen = target_for(ctx, target)
        result = do_rollback(
            chosen,
            out,
            to=to,
            yes=yes,
            dry_run=dry_run,
            timeout=float(timeout),
            smoke=smoke,
            wait_timeout=float(wait_timeout),
        )
        out.print(f"API calls: {result.api_calls}")
        out.emit({"task": "rollback", **result.as_dict()})
        exit_with(result.code, result.message)
