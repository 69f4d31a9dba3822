"""Tasks: health, recover, runs: the runbook as one command, and its scheduled check.

invoke health --json --notify --metrics-file /var/lib/node_exporter/oncall.prom
invoke recover --target trdrhub-api --yes
invoke runs --last 10
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
    count_flag,
    exit_with,
    oncall_config,
    output_for,
    prepare_target,
    project_root,
    seconds_flag,
    target_for,
)

if TYPE_CHECKING:
    from oncall.config import Target
    from oncall.errors import Refused
    from oncall.health.run import HealthRun
    from oncall.output import Output


@task(
    help={
        "last": "how many of the newest records to show (default 10; 0 shows all)",
        "task": "only runs of this task, e.g. health or migrate (default: every task)",
        "target": "only runs against this target, read from its run log (default: every target)",
        "json": JSON_HELP,
        "debug": DEBUG_HELP,
    }
)
def runs(  # noqa: PLR0917 - a task's parameters are its CLI flags
    ctx: Context,
    target: str | None = None,
    last: str = "10",
    task: str | None = None,
    json: bool = False,
    debug: bool = False,
) -> None:
    """Show past runs from the run log: when, who, target, task, outcome, exit code, duration."""
    from pathlib import Path

    from oncall.config import settings
    from oncall.runlog import load_runs

    out = output_for(json)
    with boundary(out, task="runs", debug=debug):
        newest = count_flag(last, "--last", example=10)
        shared: list[dict[str, Any]] = []
        if target:
            chosen = target_for(ctx, target)
            path = chosen.run_log
            shared = _shared_runs(chosen, out, task, newest)
        else:
            path = project_root(ctx) / Path(str(settings(oncall_config(ctx))["run_log"]))
        selection = load_runs(path, last=newest, task=task, target=target)
        records = _merged(selection.records, shared, newest)
        skipped = selection.skipped_lines
        if skipped:
            # Human text goes to stderr under --json, so a damaged log is noticed either way.
            out.print(
                f"skipped {skipped} unreadable line(s) of {path} (torn, foreign or not UTF-8)", markup=False
            )
        if json:
            doc = {"ok": True, "code": 0, "run_log": str(path), "count": len(records), "runs": records}
            doc["shared_count"] = len(shared)
            out.emit(doc | {"skipped_lines": skipped})
            return
        _print_runs(out, records, path)


def _shared_runs(target: Target, out: Output, task: str | None, last: int) -> list[dict[str, Any]]:
    """The target's runs from its database (what the whole team did); [] with a warning if unreadable."""
    from oncall.runbook.history import shared_runs

    return shared_runs(target, task=task, last=last, warn=lambda line: out.print(line, markup=False))


def _merged(local: list[dict[str, Any]], shared: list[dict[str, Any]], last: int) -> list[dict[str, Any]]:
    if not shared:
        return local
    from oncall.runbook.history import merge_runs

    return merge_runs(local, shared, last=last)


def _print_runs(out: Output, records: list[dict[str, Any]], path: Any) -> None:
    from rich.table import Table

    from oncall.runlog import run_duration

    if not records:
        out.print(f"no runs recorded in {path}")
        return
    table = Table(title=f"runs ({path})")
    for column in ("time (UTC)", "user", "host", "target", "task", "outcome", "code", "duration"):
        table.add_column(column)
    for record in records:
        seconds = run_duration(record)
        table.add_row(
            str(record.get("time", ""))[:19].replace("T", " "),
            str(record.get("user", "")),
            str(record.get("host", "")),
            str(record.get("target") or "-"),
            str(record.get("task", "")),
            str(record.get("outcome", "")),
            str(record.get("code", "")),
            f"{seconds:.2f}s" if seconds is not None else "-",
        )
    out.print(table)


@task(
    help={
        "target": TARGET_HELP,
        "all": "check every configured target concurrently (one result per target)",
        "json": JSON_HELP,
        "notify": "alert the webhook in ONCALL_WEBHOOK_URL and the apprise channels in ONCALL_NOTIFY_URLS "
        "(failing, reminder, recovered)",
        "failure_threshold": "--notify alerts after this many failing runs in a row (default: config, 2)",
        "success_threshold": "--notify resolves after this many passing runs in a row (default: config, 1)",
        "remind_every": f"--notify reminds this often while failing, {DURATION_WORDS} "
        "(default: config, 0 = never)",
        "metrics_file": "write Prometheus text metrics to this file (atomically), for node-exporter "
        "(default: none)",
        "timeout": f"how long each check may take before it counts as failed, {DURATION_WORDS} (default 20s)",
        "debug": DEBUG_HELP,
    }
)
def health(  # noqa: PLR0917 - a task's parameters are its CLI flags
    ctx: Context,
    target: str | None = None,
    all_: bool = False,
    json: bool = False,
    notify: bool = False,
    metrics_file: str | None = None,
    timeout: str = "20s",
    debug: bool = False,
    failure_threshold: str | None = None,
    success_threshold: str | None = None,
    remind_every: str | None = None,
) -> None:
    """Check database, schema, Render service and smoke, read-only; exit with the worst code."""
    from pathlib import Path

    from oncall.health.run import run_health

    out = output_for(json)
    with boundary(out, task="health", debug=debug):
        seconds = seconds_flag(timeout, "--timeout", allow_zero=False, example="20s")
        refused: dict[str, Refused] = {}
        if all_:
            targets, refused = _every_target(ctx)
        else:
            targets = [target_for(ctx, target)]
        args = {"target": target, "all": all_, "notify": notify, "metrics_file": metrics_file}
        alert_flags = _alert_flags(failure_threshold, success_threshold, remind_every)
        result = run_health(
            targets,
            timeout=seconds,
            notify=notify,
            metrics_file=Path(metrics_file) if metrics_file else None,
            run_args=args | {"timeout": seconds} | alert_flags,
            alert_flags=alert_flags,
            skipped=refused,
        )
        out.emit(result.as_dict())
        _print_health(out, result)
        exit_with(result.code, _health_summary(result))


def _every_target(ctx: Context) -> tuple[list[Target], dict[str, Refused]]:
    """Every configured target, each made ready as `--target` makes one (`prepare_target`).

    A sandbox target that reaches a remote database or Render API is refused as `--target` refuses
    it, but alone: it is left out with its refusal, named as skipped, and never connected to. The
    other targets are still checked and alerted on, and decide the exit code: a production cron
    over an invoke.yaml that also holds the sandbox targets neither goes blind nor goes red.
    """
    from oncall.config import list_targets
    from oncall.errors import Refused

    listed, _ = list_targets(oncall_config(ctx), root=project_root(ctx))
    targets: list[Target] = []
    refused: dict[str, Refused] = {}
    for each in listed:
        try:
            targets.append(prepare_target(each))
        except Refused as exc:
            refused[each.name] = exc
    return targets, refused


def _alert_flags(failures: str | None, successes: str | None, remind: str | None) -> dict[str, Any]:
    """The alerting flags that were given (issue 19); config supplies the others."""
    flags: dict[str, Any] = {}
    if failures is not None:
        flags["failure_threshold"] = count_flag(failures, "--failure-threshold", example=2, minimum=1)
    if successes is not None:
        flags["success_threshold"] = count_flag(successes, "--success-threshold", example=1, minimum=1)
    if remind is not None:
        flags["remind_every"] = seconds_flag(remind, "--remind-every", example="30m")
    return flags


def _print_health(out: Output, run: HealthRun) -> None:
    from rich.table import Table

    from oncall.status import Status

    marks: dict[str, str] = {Status.PASS: "ok", Status.FAIL: "FAIL", Status.SKIP: "skip"}
    for health in run.results:
        verdict = "healthy" if health.ok else f"FAILING (exit {health.code})"
        table = Table(title=f"health of {health.target}: {verdict}", title_justify="left")
        for column in ("check", "result", "time", "detail"):
            table.add_column(column)
        for check in health.checks:
            detail = check.cause or ""
            if check.status == Status.FAIL and check.hint:
                detail += f"\n  hint: {check.hint}"
            table.add_row(check.name, marks.get(check.status, check.status), f"{check.duration:.2f}s", detail)
        out.print(table)
        if health.notify:
            _print_notify(out, health.notify)
    for name, exc in run.skipped.items():
        out.print(f"health of {name}: SKIPPED, not checked: {exc.cause}", markup=False)
        if exc.hint:
            out.print(f"  hint: {exc.hint}", markup=False)
    if run.metrics_file is not None:
        out.print(f"metrics written to {run.metrics_file}")


def _print_notify(out: Output, note: dict[str, Any]) -> None:
    """What --notify did: one line per event posted, and a cause and a hint per channel that failed.

    Causes name a channel by position and scheme only (its URL is a secret); markup is off because
    they quote what a remote service answered.
    """
    channels = note.get("channels") or []
    posted: dict[str, list[str]] = {}
    for channel in channels:
        if channel.get("sent"):
            posted.setdefault(str(channel.get("event") or note.get("event")), []).append(channel["channel"])
    for event, names in posted.items():
        out.print(f"notify: posted '{event}' to {', '.join(names)}", markup=False)
    failures = [c["error"] for c in channels if not c.get("sent") and c.get("error")]
    if not channels and note.get("error"):
        failures = [note["error"]]  # the state store, before any channel was tried
    for error in failures:
        out.print(f"notify: {error.get('cause')}", markup=False)
        if error.get("hint"):
            out.print(f"  hint: {error['hint']}", markup=False)


def _health_summary(run: HealthRun) -> str:
    """The last words: the checks that failed; when every target was refused, each refusal as
    `--target` words it."""
    from oncall.status import Status

    lines = [] if run.results else [exc.message() for exc in run.skipped.values()]
    failing = [f"{h.target}/{c.name}" for h in run.results for c in h.checks if c.status == Status.FAIL]
    if failing:
        lines.append(f"unhealthy (exit {run.code}): {', '.join(failing)} failed (causes and hints above)")
    return "\n".join(lines)


@task(
    help={
        "target": TARGET_HELP,
        "yes": "confirm a production target up front (no prompt); required without a terminal",
        "dry_run": "show the migration plan and the service that would restart; change nothing",
        "json": JSON_HELP,
        "report": "write the incident report here (default .oncall/incidents/<time>-<target>.md)",
        "from": "resume from this step: migrate, verify, restart or smoke (default migrate)",
        "wait": f"how long restart and smoke wait for the service to answer healthy, {DURATION_WORDS} "
        "(default 5m)",
        "debug": DEBUG_HELP,
        "post": "post a short summary of the outcome to the channels of ONCALL_WEBHOOK_URL and "
        "ONCALL_NOTIFY_URLS (not PagerDuty)",
    }
)
def recover(  # noqa: PLR0917 - a task's parameters are its CLI flags
    ctx: Context,
    target: str | None = None,
    yes: bool = False,
    dry_run: bool = False,
    json: bool = False,
    report: str | None = None,
    from_: str = "migrate",
    wait: str = "5m",
    debug: bool = False,
    post: bool = False,
) -> None:
    """Run migrate, verify, restart and smoke as one: a timeline, a resume command, an incident report."""
    import os
    from pathlib import Path

    from oncall.runbook.post import post_report, report_channels
    from oncall.runbook.recover import recover as run_recover

    out = output_for(json)
    with boundary(out, task="recover", debug=debug):
        smoke_wait = seconds_flag(wait, "--wait", allow_zero=False, example="5m")
        chosen = target_for(ctx, target)
        # Checked before anything runs, like --report: a recovery must not end in "nowhere to post".
        channels = report_channels(chosen, os.environ) if post else None
        result = run_recover(
            chosen,
            out,
            yes=yes,
            dry_run=dry_run or bool(ctx.config.run.dry),
            start_at=from_,
            report=Path(report) if report else None,
            smoke_wait=smoke_wait,
        )
        posted = post_report(result, channels) if channels is not None and not result.dry_run else None
        out.emit(result.as_dict() | ({"posted": posted} if posted is not None else {}))
        _print_timeline(out, result)
        _print_posted(out, posted)
        failed = result.failed
        if failed is not None:
            exit_with(
                result.code,
                f"recover stopped at {failed.name} (exit {failed.code}): {failed.summary}\n"
                f"  resume: {result.resume_command()}",
            )


def _print_posted(out: Output, posted: list[dict[str, Any]] | None) -> None:
    for channel in posted or []:
        if channel["sent"]:
            out.print(f"summary posted to {channel['channel']}", markup=False)
        else:
            out.print(
                f"summary NOT posted to {channel['channel']}: {channel['error']['cause']}", markup=False
            )


def _print_timeline(out: Output, result: Any) -> None:
    from rich.table import Table

    from oncall.status import Status

    table = Table(title=f"timeline of recover {result.target}", title_justify="left")
    for column in ("step", "start (UTC)", "duration", "result"):
        table.add_column(column)
    for step in result.steps:
        started = step.started.strftime("%H:%M:%S") if step.started else "-"
        outcome = step.status if step.status != Status.FAILED else f"FAILED (exit {step.code})"
        table.add_row(step.name, started, f"{step.duration:.2f}s", outcome)
    out.print(table)
    if result.failed is not None:
        out.print(f"to resume from the failed step: {result.resume_command()}")
    elif not result.dry_run:
        out.print(f"recovered in {result.duration:.1f}s")
    if result.report_path is not None:
        out.print(f"incident report: {result.report_path}")
