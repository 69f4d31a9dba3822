"""Tasks: rollback, events, logs, suspend, resume, scale (see docs/render.md).

Thin wrappers over `oncall.render.remedies`, `oncall.render.events` and `oncall.render.logs`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from oncall.config import Target
    from oncall.output import Output

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
    from oncall.render.remedies import rollback as do_rollback

    _remedy(
        ctx,
        "rollback",
        target,
        json=json,
        debug=debug,
        change=lambda chosen, out: do_rollback(
            chosen,
            out,
            to=to,
            yes=yes,
            dry_run=dry_run,
            timeout=float(timeout),
            smoke=smoke,
            wait_timeout=float(wait_timeout),
        ),
    )


def _listed(values: str | None) -> list[str]:
    """A comma-separated flag value as a list ('' and None: empty)."""
    return [v.strip() for v in (values or "").split(",") if v.strip()]


@task(
    help={
        "target": TARGET_HELP,
        "limit": "how many events, newest first (default 20)",
        "type": "only these event types, comma-separated (e.g. server_failed,deploy_ended; "
        "default: every type)",
        "since": "only events of the last 90s, 30m, 2h, 1d (default: Render's recent events)",
        "json": JSON_HELP,
        "debug": DEBUG_HELP,
    }
)
def events(  # noqa: PLR0917 - one parameter per CLI flag
    ctx: Context,
    target: str | None = None,
    limit: int = 20,
    type: str | None = None,
    since: str | None = None,
    json: bool = False,
    debug: bool = False,
) -> None:
    """Show the Render service's recent events, newest first: failures, deploys, restarts, scaling."""
    from oncall.render.logs import events as read_events

    out = output_for(json)
    with boundary(out, task="events", debug=debug):
        chosen = target_for(ctx, target)
        result = read_events(chosen, limit=limit, types=_listed(type), since=since)
        if json:
            out.emit({"task": "events", **result.as_dict()})
            return
        name = result.service.get("name")
        out.print(f"{len(result.events)} event(s) of {name}, newest first")
        for event in result.events:
            when = str(event["timestamp"] or "-")[:19].replace("T", " ")
            out.print(f"  {when}  {event['type']:<24} {event['summary']}", markup=False)


@task(
    help={
        "target": TARGET_HELP,
        "since": "how far back: 90s, 30m (default), 2h, 1d; Render keeps at most 30 days",
        "follow": "keep printing new lines until Ctrl-C (exit 130)",
        "level": "only these levels, comma-separated (error, warning, info, debug; default: all)",
        "text": "only lines containing this text (Render's * wildcards work; default: any)",
        "status_code": "only request logs with this status code (e.g. 502, 5*; default: any)",
        "path": "only request logs for this path (e.g. /admin/case/*; default: any)",
        "type": "only this log type: app, request, build (default: all)",
        "limit": "at most this many lines of the window, the newest (default 200)",
        "json": "one JSON object per log line on stdout (not one document: the stream can be followed)",
        "debug": DEBUG_HELP,
    }
)
def logs(  # noqa: PLR0917 - one parameter per CLI flag
    ctx: Context,
    target: str | None = None,
    since: str = "30m",
    follow: bool = False,
    level: str | None = None,
    text: str | None = None,
    status_code: str | None = None,
    path: str | None = None,
    type: str | None = None,
    limit: int = 200,
    json: bool = False,
    debug: bool = False,
) -> None:
    """Print the Render service's logs (redacted, escaped); --follow keeps printing until Ctrl-C."""
    import json as _json
    import sys

    from oncall.render.logs import LogFilters, LogLine
    from oncall.render.logs import logs as read_logs

    out = output_for(json)

    def show(line: LogLine) -> None:
        if json:
            # One object per line, flushed: a follower (jq, a pipe) sees each line as it arrives.
            sys.stdout.write(_json.dumps(line.as_dict()) + "\n")
            sys.stdout.flush()
        else:
            # Log text is data: no markup, no emoji codes, control characters already escaped.
            out.print(line.text(), markup=False, emoji=False, highlight=False)

    filters = LogFilters(
        level=_listed(level),
        text=[text] if text else [],
        status_code=_listed(status_code),
        path=[path] if path else [],
        type=_listed(type),
    )
    with boundary(out, task="logs", debug=debug):
        chosen = target_for(ctx, target)
        result = read_logs(chosen, show, since=since, filters=filters, limit=limit, follow=follow)
        name = result.service.get("name")
        # Under --json the console is stderr: stdout stays one object per line.
        out.print(f"{result.lines} line(s) of {name} from the last {since}; API calls: {result.api_calls}")
        if result.interrupted:
            exit_with(130, f"logs: stopped following {name} (Ctrl-C)")


def _count(text: str) -> int:
    from oncall.errors import BadInput

    try:
        return int(text)
    except ValueError:
        raise BadInput(
            f"scale {text!r}: not a number of instances",
            "pass the count first, e.g. invoke scale 2 --target NAME (help: invoke --help scale)",
        ) from None


def _remedy(
    ctx: Context,
    task_name: str,
    target: str | None,
    *,
    json: bool,
    debug: bool,
    change: Callable[[Target, Output], Any],
    check: Callable[[], object] | None = None,
) -> None:
    """One remedy task: inside its error boundary, `check` the flags, resolve the target, make the
    `change`, then print the API call count, emit the one JSON document and exit with its code."""
    out = output_for(json)
    with boundary(out, task=task_name, debug=debug):
        if check is not None:
            check()
        result = change(target_for(ctx, target), out)
        out.print(f"API calls: {result.api_calls}")
        out.emit({"task": task_name, **result.as_dict()})
        exit_with(result.code, result.message)


@task(
    help={
        "target": TARGET_HELP,
        "yes": YES_HELP,
        "dry_run": "say what would happen, change nothing",
        "json": JSON_HELP,
        "debug": DEBUG_HELP,
    }
)
def suspend(  # noqa: PLR0917 - one parameter per CLI flag
    ctx: Context,
    target: str | None = None,
    yes: bool = False,
    dry_run: bool = False,
    json: bool = False,
    debug: bool = False,
) -> None:
    """Suspend the Render service: it stops serving (the edge answers 503) until `invoke resume`."""
    from oncall.render.remedies import suspend as do_suspend

    _remedy(
        ctx,
        "suspend",
        target,
        json=json,
        debug=debug,
        change=lambda chosen, out: do_suspend(chosen, out, yes=yes, dry_run=dry_run),
    )


@task(
    help={
        "target": TARGET_HELP,
        "yes": YES_HELP,
        "dry_run": "say what would happen, change nothing",
        "timeout": "seconds to wait for the deploy Render starts on resume (default 900)",
        "smoke": "then run the smoke checks until healthy (default on)",
        "wait_timeout": "seconds the smoke checks may take to pass (default 300)",
        "json": JSON_HELP,
        "debug": DEBUG_HELP,
    }
)
def resume(  # noqa: PLR0917 - one parameter per CLI flag
    ctx: Context,
    target: str | None = None,
    yes: bool = False,
    dry_run: bool = False,
    timeout: int = 900,
    smoke: bool = True,
    wait_timeout: int = 300,
    json: bool = False,
    debug: bool = False,
) -> None:
    """Resume the suspended Render service, follow the deploy Render starts, smoke until healthy."""
    from oncall.render.remedies import resume as do_resume

    _remedy(
        ctx,
        "resume",
        target,
        json=json,
        debug=debug,
        change=lambda chosen, out: do_resume(
            chosen,
            out,
            yes=yes,
            dry_run=dry_run,
            timeout=float(timeout),
            smoke=smoke,
            wait_timeout=float(wait_timeout),
        ),
    )


@task(
    positional=["instances"],
    help={
        "instances": "the number of instances to run (Render refuses 0 and counts above the plan's "
        "limit); required",
        "target": TARGET_HELP,
        "yes": YES_HELP,
        "dry_run": "say what would happen, change nothing",
        "json": JSON_HELP,
        "debug": DEBUG_HELP,
    },
)
def scale(  # noqa: PLR0917 - one parameter per CLI flag
    ctx: Context,
    instances: str,
    target: str | None = None,
    yes: bool = False,
    dry_run: bool = False,
    json: bool = False,
    debug: bool = False,
) -> None:
    """Run the Render service on a fixed number of instances: invoke scale 2."""
    from oncall.render.remedies import scale as do_scale

    _remedy(
        ctx,
        "scale",
        target,
        json=json,
        debug=debug,
        change=lambda chosen, out: do_scale(chosen, out, _count(instances), yes=yes, dry_run=dry_run),
    )


def _on_or_off(state: str) -> None:
    from oncall.errors import BadInput

    if state not in ("on", "off"):
        raise BadInput(
            f"maintenance {state!r}: say on or off", "invoke maintenance on, later invoke maintenance off"
        )


@task(
    positional=["state"],
    help={
        "state": "on or off; required",
        "uri": "with on: the page visitors get instead of Render's default maintenance page",
        "target": TARGET_HELP,
        "yes": YES_HELP,
        "dry_run": "say what would happen, change nothing",
        "json": JSON_HELP,
        "debug": DEBUG_HELP,
    },
)
def maintenance(  # noqa: PLR0917 - one parameter per CLI flag
    ctx: Context,
    state: str,
    uri: str | None = None,
    target: str | None = None,
    yes: bool = False,
    dry_run: bool = False,
    json: bool = False,
    debug: bool = False,
) -> None:
    """Turn Render's maintenance mode on or off (around a long migration): invoke maintenance on."""
    from oncall.render.remedies import maintenance as do_maintenance

    _remedy(
        ctx,
        "maintenance",
        target,
        json=json,
        debug=debug,
        check=lambda: _on_or_off(state),
        change=lambda chosen, out: do_maintenance(
            chosen, out, state == "on", uri=uri, yes=yes, dry_run=dry_run
        ),
    )
