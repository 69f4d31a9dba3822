"""Tasks: restart, deploy, render-status, triage (see docs/render.md).

Thin wrappers over `oncall.render.ops` and `oncall.runbook.triage`; the Render API key comes from
RENDER_API_KEY and the API address from RENDER_API_URL (default https://api.render.com/v1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from oncall.output import Output

YES_HELP = "confirm a production target without a prompt (needed when there is no terminal)"


def _when(stamp: str | None) -> str:
    """Render's RFC 3339 time to the second, as a table cell (UTC)."""
    return stamp[:19].replace("T", " ") if stamp else "-"


def _deploy_table(out: Output, deploys: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title="last deploys")
    for column in ("deploy", "status", "trigger", "commit", "created (UTC)", "finished (UTC)"):
        table.add_column(column, no_wrap=True)
    for d in deploys:
        table.add_row(
            str(d.get("id")),
            str(d.get("status")),
            str(d.get("trigger") or "-"),
            str(d.get("commit") or "-")[:12],
            _when(d.get("createdAt")),
            _when(d.get("finishedAt")),
        )
    out.print(table)


@task(
    help={
        "target": TARGET_HELP,
        "yes": YES_HELP,
        "wait": "after the restart, run the smoke checks until the service answers (default on)",
        "wait_timeout": f"how long to wait for the service to answer again, {DURATION_WORDS} (default 5m)",
        "json": JSON_HELP,
        "debug": DEBUG_HELP,
    }
)
def restart(  # noqa: PLR0917 - one parameter per CLI flag
    ctx: Context,
    target: str | None = None,
    yes: bool = False,
    wait: bool = True,
    wait_timeout: str = "5m",
    json: bool = False,
    debug: bool = False,
) -> None:
    """Restart the target's Render service and wait until it answers the smoke checks again."""
    from oncall.render.ops import restart as do_restart

    out = output_for(json)
    with boundary(out, task="restart", debug=debug):
        # Checked before the target: a bad flag must stop the run before anything restarts.
        wait_seconds = seconds_flag(wait_timeout, "--wait-timeout", allow_zero=False, example="5m")
        chosen = target_for(ctx, target)
        result = do_restart(chosen, out, yes=yes, wait=wait, wait_timeout=wait_seconds)
        out.print(f"API calls: {result.api_calls}")
        out.emit({"task": "restart", **result.as_dict()})
        exit_with(result.code, "restart: the service did not answer the smoke checks healthy in time")


@task(
    help={
        "target": TARGET_HELP,
        "clear_cache": "clear Render's build cache first (the dashboard's 'Clear build cache & deploy')",
        "commit": "deploy this Git commit SHA instead of the branch's latest",
        "yes": YES_HELP,
        "timeout": f"how long to wait for the deploy to end, {DURATION_WORDS} (default 30m); "
        "the deploy keeps running after",
        "force": "trigger a new deploy even when one is in progress (Render queues it)",
        "image": "image-backed services: deploy this image URL (same host/repository/name as the service's)",
        "smoke": "after live, run the smoke checks until healthy, as restart does (default on)",
        "wait_timeout": "seconds the smoke checks may take to pass (default 300)",
        "json": JSON_HELP,
        "debug": DEBUG_HELP,
    }
)
def deploy(  # noqa: PLR0917 - one parameter per CLI flag
    ctx: Context,
    target: str | None = None,
    clear_cache: bool = False,
    commit: str | None = None,
    yes: bool = False,
    timeout: str = "30m",
    force: bool = False,
    image: str | None = None,
    smoke: bool = True,
    wait_timeout: int = 300,
    json: bool = False,
    debug: bool = False,
) -> None:
    """Deploy the target's Render service, follow it until live or failed, then smoke it."""
    from oncall.render.ops import deploy as do_deploy

    out = output_for(json)
    with boundary(out, task="deploy", debug=debug):
        seconds = seconds_flag(timeout, "--timeout", allow_zero=False, example="30m")
        chosen = target_for(ctx, target)
        result = do_deploy(
            chosen,
            out,
            clear_cache=clear_cache,
            commit=commit,
            yes=yes,
            timeout=seconds,
            force=force,
            image=image,
            smoke=smoke,
            wait_timeout=float(wait_timeout),
        )
        if result.ok:
            out.print(result.message)
        out.print(f"API calls: {result.api_calls} ({result.polls} status polls in {result.elapsed_s:.1f} s)")
        out.emit({"task": "deploy", **result.as_dict()})
        exit_with(result.code, result.message)


@task(help={"target": TARGET_HELP, "json": JSON_HELP, "debug": DEBUG_HELP})
def render_status(ctx: Context, target: str | None = None, json: bool = False, debug: bool = False) -> None:
    """Show the target's Render service: type, suspended or not, and its last deploys."""
    from oncall.render.ops import render_status as status_of

    out = output_for(json)
    with boundary(out, task="render-status", debug=debug):
        chosen = target_for(ctx, target)
        result = status_of(chosen)
        doc = result.as_dict()
        if json:
            out.emit({"task": "render-status", **doc})
        else:
            svc = doc["service"]
            state = "SUSPENDED" if svc["suspended"] else "not suspended"
            out.print(f"{svc['name']} ({svc['id']}): {svc['type']}, {state}, {svc['region']}, {svc['plan']}")
            if svc["url"]:
                out.print(f"url: {svc['url']}")
            out.print(f"dashboard: {svc['dashboardUrl']}")
            _deploy_table(out, doc["deploys"])
            back = doc["rollback_to"]
            if back:
                commit = str(back["commit"] or "-")[:12]
                out.print(f"rollback would go back to: {back['id']} ({commit}, {_when(back['createdAt'])})")
            else:
                out.print("rollback would go back to: nothing (no earlier deploy that was live)")
            if doc["events"]:
                out.print("last events (newest first):")
            for event in doc["events"]:
                out.print(f"  {_when(event['timestamp'])}  {event['summary']}", markup=False)
            for problem in result.problems:
                out.print(f"problem: {problem}")
        exit_with(result.code, f"render-status: {len(result.problems)} problem(s) with the service")


def _raw_lines(out: Output, lines: list[dict[str, Any]]) -> None:
    """The log lines a finding is based on, as data: escaped, never read as markup."""
    from oncall.render.logs import printable

    for line in lines:
        out.print(
            f"    | {_when(line['timestamp'])}  {printable(line['message'])}", markup=False, emoji=False
        )


@task(
    help={
        "target": TARGET_HELP,
        "since": "how far back to read the logs: 90s, 30m (default), 2h, 1d",
        "max_lines": "read at most this many of the newest lines, 100 per API call (default 2000)",
        "json": JSON_HELP,
        "debug": DEBUG_HELP,
    }
)
def triage(  # noqa: PLR0917 - one parameter per CLI flag
    ctx: Context,
    target: str | None = None,
    since: str = "30m",
    max_lines: int = 2000,
    json: bool = False,
    debug: bool = False,
) -> None:
    """Read the service's recent Render logs and name the cause of a crash, with the fix."""
    from rich.markup import escape

    from oncall.runbook.triage import triage as do_triage

    out = output_for(json)
    with boundary(out, task="triage", debug=debug):
        chosen = target_for(ctx, target)
        result = do_triage(chosen, since, max_lines=max_lines)
        if json:
            out.emit({"task": "triage", **result.as_dict()})
        else:
            name = result.service.get("name")
            out.print(f"read {result.lines} log line(s) of {name} from the last {since}")
            for finding in result.findings:
                # The cause quotes a table name from the logs: data, so its brackets are not markup.
                seen = f"{finding.count}x, last {finding.last_seen}"
                out.print(f"[bold]{finding.signature}[/bold] {escape(f'({seen}): {finding.cause}')}")
                out.print(f"  log: {finding.sample}", markup=False)
                if finding.migration:
                    state = finding.migration_state
                    if state == "unknown":
                        state = f"ledger not read: {result.ledger_note or 'database not reachable'}"
                    out.print(f"  migration: {finding.migration} ({state})", markup=False)
                out.print(f"  fix: {finding.hint}", markup=False)
                if finding.command:
                    out.print(f"  next: {finding.command}", markup=False)
                _raw_lines(out, finding.lines)
            if result.note:
                out.print(result.note)
        exit_with(result.code, f"triage: {len(result.findings)} known problem(s) in the logs")
