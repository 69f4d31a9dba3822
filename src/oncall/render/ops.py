"""What the runbook does on Render: restart, deploy, one-off jobs and a status view.

    restart(target, out, *, yes, wait=True, ...)            POST restart, then smoke until it answers
    deploy(target, out, *, clear_cache, commit, yes, timeout, force, ...)
                                                            trigger (or adopt) a deploy and follow it
    run_job(target, command, *, out, yes, dry_run, timeout) one-off job (`migrate --on-render`)
    render_status(target)                                   service, suspended?, last deploys

Each returns a result object with `.ok`, `.code` and `.as_dict()`; API failures raise our errors
(see oncall.render). Success of a deploy is what Render's CLI calls success: `live`, or
`deactivated` (it went live and was superseded); `build_failed`, `update_failed`,
`pre_deploy_failed` and `canceled` are failures (exit 1).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from oncall.config import Target
from oncall.errors import BadInput, CheckFailed, OncallError
from oncall.output import Output
from oncall.probe import run as probe
from oncall.render.client import (
    DEPLOY_FAILED,
    DEPLOY_IN_PROGRESS,
    DEPLOY_SUCCESS,
    DEPLOY_TERMINAL,
    JOB_TERMINAL,
    RenderClient,
    parse_time,
    service_ref,
)
from oncall.render.events import event_row
from oncall.render.rollback import rollback_candidate
from oncall.render.wait import PollSchedule, Transition, WaitOutcome, follow
from oncall.runlog import record_run
from oncall.safety import guard_production, refuse_remote_render_api, refuse_unattended
from oncall.status import Status


def _guard(target: Target, service: dict[str, Any], action: str, *, yes: bool, stdin: IO[str] | None) -> None:
    """The production guard for a write to the target's service, named as the user knows it."""
    guard_production(target, action=action, where=where(service), yes=yes, stdin=stdin, service=service)


@contextmanager
def client_for(client: RenderClient | None) -> Iterator[RenderClient]:
    """The caller's client, or one from RENDER_API_KEY / RENDER_API_URL closed afterwards."""
    if client is not None:
        yield client
        return
    owned = RenderClient.from_env()
    try:
        yield owned
    finally:
        owned.close()


@dataclass
class _Run:
    """What a writing operation reports to the run log; filled in as it goes."""

    code: int = 1
    details: dict[str, Any] = field(default_factory=dict)


@contextmanager
def _recorded(
    target: Target, task: str, args: dict[str, Any], *, enabled: bool = True, warn_to: IO[str] | None = None
) -> Iterator[_Run]:
    """Append one run record for a write, whatever the outcome (an error records its exit code).

    A run log that cannot be written is a warning on `warn_to` (stderr by default), never the
    write's failure: the restart or deploy has happened on Render either way.
    """
    import datetime as _dt

    run = _Run()
    started_at = _dt.datetime.now(_dt.UTC)
    started = time.monotonic()
    try:
        yield run
    except OncallError as exc:
        run.code = int(exc.code)
        run.details["error"] = exc.cause
        raise
    finally:
        if enabled:
            record_run(
                target,
                sys.stderr if warn_to is None else warn_to,
                task=task,
                args=args,
                outcome=Status.OK if run.code == 0 else Status.FAILED,
                code=run.code,
                durations={"total_s": time.monotonic() - started},
                details=run.details,
                started_at=started_at,
            )


def service_of(target: Target, client: RenderClient) -> dict[str, Any]:
    """The target's Render service (render.service: a name or an srv-/crn- id)."""
    if not target.render_service:
        raise BadInput(
            f"target {target.name} names no Render service",
            f"set render: {{service: NAME-or-srv-id}} for {target.name} in invoke.yaml",
        )
    refuse_remote_render_api(target, client.base_url)
    return client.find_service(target.render_service)


def _refuse_unattended(target: Target, action: str, *, yes: bool, stdin: IO[str] | None) -> None:
    """Refuse an unattended production restart/deploy before the first API call (oncall.safety)."""
    if target.render_service:
        service = {"id": target.render_service}
        where_ = f"Render service {target.render_service}"
        refuse_unattended(target, action=action, where=where_, yes=yes, stdin=stdin, service=service)


def where(service: dict[str, Any]) -> str:
    return f"Render service {service.get('name')} ({service.get('id')})"


def _refuse_suspended(service: dict[str, Any], action: str) -> None:
    if service.get("suspended") == "suspended":
        by = ", ".join(service.get("suspenders") or []) or "unknown"
        raise CheckFailed(
            f"{where(service)} is suspended (by: {by}); {action} would not bring it back",
            f"resume it first: {service.get('dashboardUrl') or 'the Render dashboard'} → Resume service",
            suspended=True,
        )


# -- restart --------------------------------------------------------------------------------


@dataclass
class RestartResult:
    ok: bool
    code: int
    service: dict[str, Any]
    waited: bool
    elapsed_s: float
    api_calls: int
    smoke: dict[str, Any] | None = None
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "code": self.code,
            "service": service_ref(self.service),
            "waited": self.waited,
            "elapsed_s": round(self.elapsed_s, 3),
            "api_calls": self.api_calls,
            "smoke": self.smoke,
            "message": self.message,
        }


def restart(
    target: Target,
    out: Output,
    *,
    yes: bool,
    wait: bool = True,
    wait_timeout: float = 300.0,
    client: RenderClient | None = None,
    stdin: IO[str] | None = None,
) -> RestartResult:
    """Restart the target's service on its current build; with `wait`, smoke until it answers."""
    checks = None
    if wait:
        try:
            checks = probe.checks_for(target)
        except BadInput as exc:
            raise BadInput(exc.cause, f"{exc.hint}; or pass --no-wait to restart without waiting") from exc
    args = {"yes": yes, "wait": wait, "wait_timeout": wait_timeout}
    with _recorded(target, "restart", args, warn_to=out.stderr) as run, client_for(client) as api:
        _refuse_unattended(target, "restart", yes=yes, stdin=stdin)
        service = service_of(target, api)
        run.details["service"] = service.get("id")
        if service.get("type") == "cron_job":
            raise BadInput(
                f"{where(service)} is a cron job; Render does not restart cron jobs",
                "a cron job runs on its schedule; trigger a run from the dashboard, or pick the web service",
            )
        _refuse_suspended(service, "a restart")
        _guard(target, service, "restart", yes=yes, stdin=stdin)
        started = time.monotonic()
        api.restart_service(str(service["id"]))
        out.print(f"restart requested for {where(service)}")
        if checks is None:
            run.code = 0
            return RestartResult(
                True,
                0,
                service,
                False,
                time.monotonic() - started,
                api.total_calls,
                message="restart requested (not waiting: --no-wait)",
            )
        smoke = probe.smoke(checks, wait=wait_timeout, out=out)
        elapsed = time.monotonic() - started
        if smoke.ok:
            message = f"{service.get('name')} answers again {elapsed:.1f} s after the restart"
        else:
            message = (
                f"{service.get('name')} did not answer healthy in the {elapsed:.1f} s after the restart "
                f"(--wait-timeout {wait_timeout:g} s): {smoke.summary()}"
            )
        out.print(message)
        if not smoke.ok:
            # The live table is gone by now: say what each check showed last, and what to run next.
            for line in probe.last_seen(smoke):
                out.print(f"  {line}", markup=False)
            out.print(probe.next_command(target.name), markup=False)
        run.code = 0 if smoke.ok else 1
        run.details["answering_after_s"] = round(elapsed, 3)
        return RestartResult(
            smoke.ok, 0 if smoke.ok else 1, service, True, elapsed, api.total_calls, smoke.as_dict(), message
        )


# -- waiting display ------------------------------------------------------------------------


class _Display:
    """Live status on a terminal (rich Live); one line per transition anywhere else."""

    def __init__(self, out: Output, title: str) -> None:
        self.out = out
        self.title = title
        self.lines: list[str] = []
        self.status = "…"
        self.elapsed = 0.0
        self._live: Any = None

    def __enter__(self) -> _Display:
        if self.out.console.is_terminal and not self.out.json_mode:
            from rich.live import Live

            self._live = Live(self._draw(), console=self.out.console, refresh_per_second=8, transient=True)
            self._live.__enter__()
        else:
            self.out.print(self.title)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self.out.print(self.title)
            for line in self.lines:
                self.out.print(line)

    def _draw(self) -> Any:
        from rich.text import Text

        text = Text(self.title + "\n")
        for line in self.lines:
            text.append(line + "\n")
        text.append(f"  {self.elapsed:6.1f} s  {self.status} …", style="bold")
        return text

    def change(self, transition: Transition, _obj: dict[str, Any]) -> None:
        self.status, self.elapsed = transition.status, transition.at
        line = f"  {transition.at:6.1f} s  {transition.status}"
        self.lines.append(line)
        if self._live is not None:
            self._live.update(self._draw())
        else:
            self.out.print(line)

    @property
    def on_tick(self) -> Callable[[float], None] | None:
        """A clock refresh for the live view; None off a terminal (nothing to redraw)."""
        return self._tick if self._live is not None else None

    def _tick(self, elapsed: float) -> None:
        self.elapsed = elapsed
        self._live.update(self._draw())


def _offer_cancel(
    out: Output, stdin: IO[str] | None, what: str, cancel: Callable[[], dict[str, Any]], how: str
) -> dict[str, Any] | None:
    """After Ctrl-C: on a terminal ask whether to cancel `what`; elsewhere say how to."""
    stream = sys.stdin if stdin is None else stdin
    if not (hasattr(stream, "isatty") and stream.isatty()):
        out.print(f"interrupted: {what} keeps running on Render. To cancel it: {how}")
        return None
    out.console.print(f"\ninterrupted. Cancel {what} on Render? [y/N] ", end="")
    try:
        answer = stream.readline().strip().lower()
    except KeyboardInterrupt:
        answer = ""
    if answer in ("y", "yes"):
        cancelled = cancel()
        out.print(f"{what}: cancel requested ({cancelled.get('status')})")
        return cancelled
    out.print(f"{what} keeps running on Render. To cancel it later: {how}")
    return None


def _watch_deploy(
    out: Output,
    stdin: IO[str] | None,
    api: RenderClient,
    service: dict[str, Any],
    deploy: dict[str, Any],
    *,
    what: str,
    timeout: float,
    schedule: PollSchedule | None,
) -> tuple[WaitOutcome, dict[str, Any]]:
    """`_watch` for a deploy of the service (a deploy, a rollback, the one a resume starts)."""
    sid, dep_id = str(service["id"]), str(deploy["id"])
    return _watch(
        out,
        stdin,
        api,
        service,
        what=what,
        fetch=lambda: api.get_deploy(sid, dep_id),
        cancel=lambda: api.cancel_deploy(sid, dep_id),
        cancel_path=f"/services/{sid}/deploys/{dep_id}/cancel",
        terminal=DEPLOY_TERMINAL,
        timeout=timeout,
        schedule=schedule,
        first=deploy,
    )


def _watch(
    out: Output,
    stdin: IO[str] | None,
    api: RenderClient,
    service: dict[str, Any],
    *,
    what: str,
    fetch: Callable[[], dict[str, Any]],
    cancel: Callable[[], dict[str, Any]],
    cancel_path: str,
    terminal: frozenset[str],
    timeout: float,
    schedule: PollSchedule | None,
    first: dict[str, Any],
) -> tuple[WaitOutcome, dict[str, Any]]:
    """Follow a deploy or job to a terminal status on a live display; after Ctrl-C offer to cancel it.

    Returns the wait's outcome and the last state seen (the cancel's answer when one was sent).
    """
    with _Display(out, f"{what} of {service.get('name')}") as display:
        waited = follow(
            fetch,
            terminal=terminal,
            timeout=timeout,
            schedule=schedule,
            on_change=display.change,
            on_tick=display.on_tick,
            first=first,
        )
    final = waited.obj or first
    if waited.interrupted:
        cancelled = _offer_cancel(out, stdin, what, cancel, _cancel_hint(api, service, cancel_path))
        final = cancelled or final
    return waited, final


# -- deploy ---------------------------------------------------------------------------------


@dataclass
class DeployResult:
    ok: bool
    code: int
    service: dict[str, Any]
    deploy: dict[str, Any]
    action: str  # triggered | queued | adopted (an in-progress deploy was followed) | recovered
    transitions: list[Transition] = field(default_factory=list)
    elapsed_s: float = 0.0
    polls: int = 0
    api_calls: int = 0
    timed_out: bool = False
    interrupted: bool = False
    message: str = ""
    smoke: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "code": self.code,
            "service": service_ref(self.service),
            "smoke": self.smoke,
            "deploy": {
                "id": self.deploy.get("id"),
                "status": self.deploy.get("status"),
                "trigger": self.deploy.get("trigger"),
                "commit": (self.deploy.get("commit") or {}).get("id"),
                "image": (self.deploy.get("image") or {}).get("ref"),
                "createdAt": self.deploy.get("createdAt"),
                "finishedAt": self.deploy.get("finishedAt"),
            },
            "action": self.action,
            "transitions": [{"status": t.status, "at_s": round(t.at, 3)} for t in self.transitions],
            "elapsed_s": round(self.elapsed_s, 3),
            "polls": self.polls,
            "api_calls": self.api_calls,
            "timed_out": self.timed_out,
            "interrupted": self.interrupted,
            "message": self.message,
        }


def _cancel_hint(api: RenderClient, service: dict[str, Any], path: str) -> str:
    return (
        f"{service.get('dashboardUrl') or 'the Render dashboard'} → Cancel, or "
        f'curl -X POST -H "Authorization: Bearer $RENDER_API_KEY" {api.base_url}{path}'
    )


def deploy(
    target: Target,
    out: Output,
    *,
    clear_cache: bool = False,
    commit: str | None = None,
    yes: bool = False,
    timeout: float = 1800.0,
    force: bool = False,
    image: str | None = None,
    smoke: bool = True,
    wait_timeout: float = 300.0,
    client: RenderClient | None = None,
    schedule: PollSchedule | None = None,
    stdin: IO[str] | None = None,
) -> DeployResult:
    """Trigger a deploy (or follow the one in progress) and wait for it to end.

    `image`: the image URL to deploy on an image-backed service (Render's `imageUrl`; its host,
    repository and name must be the service's). With `smoke`, once the deploy is live the
    target's smoke checks run until healthy, as after a restart; a target whose checks cannot be
    built (no base URL, no smoke list) says why they were skipped.
    """
    if timeout <= 0:
        raise BadInput(
            f"--timeout {timeout:g} is not positive", "pass --timeout SECONDS, e.g. --timeout 1800"
        )
    if image and commit:
        raise BadInput(
            "--image and --commit exclude each other", "an image-backed service deploys --image URL"
        )
    args = {"clear_cache": clear_cache, "commit": commit, "yes": yes, "timeout": timeout, "force": force}
    if image:
        args["image"] = image
    checks, no_checks = _smoke_plan(target, smoke)
    with _recorded(target, "deploy", args, warn_to=out.stderr) as run, client_for(client) as api:
        _refuse_unattended(target, "deploy", yes=yes, stdin=stdin)
        service = service_of(target, api)
        sid = str(service["id"])
        run.details["service"] = sid
        _refuse_suspended(service, "a deploy")
        if image and not service.get("imagePath"):
            runtime = (service.get("serviceDetails") or {}).get("runtime") or "a repository"
            raise BadInput(
                f"{where(service)} is built from a repository ({runtime}); --image is for image services",
                "deploy a commit instead: invoke deploy --commit SHA",
            )
        recent = api.list_deploys(sid, limit=10)
        running = [d for d in recent if d.get("status") in DEPLOY_IN_PROGRESS]
        if running and not force:
            # Newest first: the last one queued is the one that will end up live.
            current = running[0]
            action = "adopted"
            out.print(
                f"deploy {current.get('id')} of {service.get('name')} is already {current.get('status')} "
                f"(trigger {current.get('trigger')}); following it instead of starting another "
                "(--force queues a new one)"
            )
        else:
            _guard(target, service, "deploy", yes=yes, stdin=stdin)
            known = [str(d.get("id")) for d in recent]
            trigger = api.trigger_deploy(
                sid, clear_cache=clear_cache, commit_id=commit, image_url=image, known_ids=known
            )
            if trigger.deploy is None:
                out.print("Render queued the deploy (202); looking for it…")
                current = api.find_queued_deploy(sid, known_ids=known)
                action = "queued"
            else:
                current = trigger.deploy
                action = "recovered" if trigger.recovered else "triggered"
            if trigger.recovered:
                out.print(
                    f"the answer to the deploy request was lost; found the deploy it created: {current['id']}"
                )
            cache = "clearing the build cache" if clear_cache else "with the build cache"
            what = f"image {image}" if image else cache
            out.print(f"deploy {current.get('id')} of {where(service)} started ({what})")
        out.print(f"  deploys {_source_of(current)}", markup=False)
        dep_id = str(current["id"])
        path = f"/services/{sid}/deploys/{dep_id}"
        waited, final = _watch_deploy(
            out, stdin, api, service, current, what=f"deploy {dep_id}", timeout=timeout, schedule=schedule
        )
        result = _deploy_result(
            api, service=service, final=final, action=action, waited=waited, timeout=timeout, path=path
        )
        if result.ok and smoke:
            _smoke_after_live(result, checks, no_checks, out, wait_timeout)
            result.api_calls = api.total_calls
        run.code = result.code
        run.details.update(deploy=dep_id, status=result.deploy.get("status"), action=action)
        return result


def _source_of(deploy: dict[str, Any]) -> str:
    """What a deploy ships: its commit (short SHA and first line of the message) or its image."""
    image = (deploy.get("image") or {}).get("ref")
    if image:
        return f"image {image}"
    commit = deploy.get("commit") or {}
    if not commit.get("id"):
        return "the branch's latest commit (Render names it once the build starts)"
    message = str(commit.get("message") or "").splitlines()[0][:80] if commit.get("message") else ""
    return f"commit {str(commit['id'])[:12]}" + (f": {message}" if message else "")


def _smoke_plan(target: Target, smoke: bool) -> tuple[Any, str | None]:
    """The smoke checks to run after live, or None and why not (built before anything is sent)."""
    if not smoke:
        return None, "--no-smoke"
    try:
        return probe.checks_for(target), None
    except BadInput as exc:
        return None, exc.cause


def _smoke_after_live(
    result: DeployResult, checks: Any, no_checks: str | None, out: Output, wait_timeout: float
) -> None:
    """Like restart: the smoke checks until healthy; a failure makes the deploy's result exit 1."""
    if checks is None:
        out.print(f"smoke checks skipped: {no_checks} (--no-smoke says so on purpose)")
        return
    checked = probe.smoke(checks, wait=wait_timeout, out=out)
    result.smoke = checked.as_dict()
    if not checked.ok:
        result.ok, result.code = False, 1
        result.message += (
            f", but the site did not answer healthy within {wait_timeout:g} s: {checked.summary()}"
        )
    else:
        result.message += " and answers the smoke checks healthy"


def _deploy_result(
    api: RenderClient,
    *,
    service: dict[str, Any],
    final: dict[str, Any],
    action: str,
    waited: WaitOutcome,
    timeout: float,
    path: str,
) -> DeployResult:
    status = str(final.get("status") or "unknown")
    name = service.get("name")
    if status in DEPLOY_SUCCESS:
        message = f"deploy {final.get('id')} of {name} is {status} after {waited.elapsed:.1f} s"
        ok = True
    elif status in DEPLOY_FAILED:
        message = f"deploy {final.get('id')} of {name} ended {status} after {waited.elapsed:.1f} s"
        ok = False
    elif waited.timed_out:
        message = (
            f"deploy {final.get('id')} of {name} is still {status} after {timeout:g} s; it keeps running "
            f"on Render. Follow it with `invoke render-status` or {service.get('dashboardUrl') or path}"
        )
        ok = False
    else:
        message = f"stopped waiting for deploy {final.get('id')} of {name} ({status})"
        ok = False
    return DeployResult(
        ok=ok,
        code=0 if ok else 1,
        service=service,
        deploy=final,
        action=action,
        transitions=waited.transitions,
        elapsed_s=waited.elapsed,
        polls=waited.polls,
        api_calls=api.total_calls,
        timed_out=waited.timed_out,
        interrupted=waited.interrupted,
        message=message,
    )


# -- one-off jobs ---------------------------------------------------------------------------


@dataclass
class JobResult:
    ok: bool
    code: int
    service: dict[str, Any]
    command: str
    job: dict[str, Any] | None = None
    dry_run: bool = False
    elapsed_s: float = 0.0
    api_calls: int = 0
    logs: list[str] = field(default_factory=list)
    timed_out: bool = False
    interrupted: bool = False
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "code": self.code,
            "service": service_ref(self.service),
            "command": self.command,
            "job": self.job,
            "dry_run": self.dry_run,
            "elapsed_s": round(self.elapsed_s, 3),
            "api_calls": self.api_calls,
            "logs": self.logs,
            "timed_out": self.timed_out,
            "interrupted": self.interrupted,
            "message": self.message,
        }


def run_job(
    target: Target,
    command: str,
    *,
    out: Output,
    yes: bool,
    dry_run: bool,
    timeout: float = 1800.0,
    client: RenderClient | None = None,
    schedule: PollSchedule | None = None,
    stdin: IO[str] | None = None,
) -> JobResult:
    """Run `command` as a Render one-off job on the target's service and wait for it to end."""
    if not command.strip():
        raise BadInput(
            "the one-off job command is empty", 'pass the command, e.g. --on-render "alembic upgrade head"'
        )
    args = {"command": command, "yes": yes, "timeout": timeout}
    with (
        _recorded(target, "migrate --on-render", args, enabled=not dry_run, warn_to=out.stderr) as run,
        client_for(client) as api,
    ):
        service = service_of(target, api)
        sid = str(service["id"])
        run.details["service"] = sid
        if dry_run:
            message = f"would run `{command}` as a one-off job on {where(service)} (latest successful build)"
            out.print(message)
            return JobResult(
                True, 0, service, command, dry_run=True, api_calls=api.total_calls, message=message
            )
        _refuse_suspended(service, "a one-off job")
        _guard(target, service, f"run `{command}` as a one-off job", yes=yes, stdin=stdin)
        job = api.create_job(sid, command)
        job_id = str(job["id"])
        waited, final = _watch(
            out,
            stdin,
            api,
            service,
            what=f"job {job_id} ({command})",
            fetch=lambda: api.get_job(sid, job_id),
            cancel=lambda: api.cancel_job(sid, job_id),
            cancel_path=f"/services/{sid}/jobs/{job_id}/cancel",
            terminal=JOB_TERMINAL,
            timeout=timeout,
            schedule=schedule,
            first=job,
        )
        status = str(final.get("status") or "unknown")
        logs = _job_logs(api, service, final, out)
        ok = status == "succeeded"
        if ok:
            message = f"job {job_id} succeeded after {waited.elapsed:.1f} s: {command}"
        elif waited.timed_out:
            message = f"job {job_id} is still {status} after {timeout:g} s; it keeps running on Render"
        else:
            message = f"job {job_id} ended {status} after {waited.elapsed:.1f} s: {command}"
        out.print(message)
        run.code = 0 if ok else 1
        run.details.update(job=job_id, status=status)
        return JobResult(
            ok=ok,
            code=0 if ok else 1,
            service=service,
            command=command,
            job=final,
            elapsed_s=waited.elapsed,
            api_calls=api.total_calls,
            logs=logs,
            timed_out=waited.timed_out,
            interrupted=waited.interrupted,
            message=message,
        )


def _job_logs(api: RenderClient, service: dict[str, Any], job: dict[str, Any], out: Output) -> list[str]:
    """The job's last log lines (Render keeps them under the job id); shown, never fatal."""
    import datetime as _dt

    start = parse_time(job.get("createdAt")) or _dt.datetime.now(_dt.UTC) - _dt.timedelta(hours=1)
    try:
        entries = api.logs(
            str(service.get("ownerId")), str(job["id"]), start=start - _dt.timedelta(minutes=1), max_pages=1
        )
    except OncallError as exc:
        out.print(f"(could not read the job's logs: {exc.cause})")
        return []
    lines = [str(e.get("message", "")) for e in reversed(entries)][-20:]
    for line in lines:
        out.print(f"  | {line}", markup=False)
    return lines


# -- status ---------------------------------------------------------------------------------


@dataclass
class RenderStatus:
    ok: bool
    code: int
    service: dict[str, Any]
    deploys: list[dict[str, Any]]
    api_calls: int
    problems: list[str] = field(default_factory=list)
    rollback_to: dict[str, Any] | None = None  # the deploy `invoke rollback` would go back to
    events: list[dict[str, Any]] = field(default_factory=list)  # the last few, newest first

    def as_dict(self) -> dict[str, Any]:
        details = self.service.get("serviceDetails") or {}
        return {
            "ok": self.ok,
            "code": self.code,
            "service": {
                **service_ref(self.service),
                "type": self.service.get("type"),
                "suspended": self.service.get("suspended") == "suspended",
                "suspenders": self.service.get("suspenders") or [],
                "url": details.get("url"),
                "region": details.get("region"),
                "plan": details.get("plan"),
                "dashboardUrl": self.service.get("dashboardUrl"),
                "preDeployCommand": (details.get("envSpecificDetails") or {}).get("preDeployCommand"),
            },
            "deploys": [
                {
                    "id": d.get("id"),
                    "status": d.get("status"),
                    "trigger": d.get("trigger"),
                    "commit": (d.get("commit") or {}).get("id"),
                    "createdAt": d.get("createdAt"),
                    "finishedAt": d.get("finishedAt"),
                }
                for d in self.deploys
            ],
            "rollback_to": None
            if self.rollback_to is None
            else {
                "id": self.rollback_to.get("id"),
                "commit": (self.rollback_to.get("commit") or {}).get("id"),
                "createdAt": self.rollback_to.get("createdAt"),
            },
            "events": self.events,
            "problems": self.problems,
            "api_calls": self.api_calls,
        }


def render_status(
    target: Target, *, client: RenderClient | None = None, deploys: int = 5, events: int = 5
) -> RenderStatus:
    """The service, whether it is suspended, its last deploys and events (read-only)."""
    with client_for(client) as api:
        service = service_of(target, api)
        # More history than is shown, so that the rollback candidate is found behind failed deploys.
        history = api.list_deploys(str(service["id"]), limit=max(deploys, 20))
        recent = history[:deploys]
        problems = []
        if service.get("suspended") == "suspended":
            problems.append(f"suspended (by: {', '.join(service.get('suspenders') or []) or 'unknown'})")
        finished = [d for d in recent if d.get("status") in DEPLOY_TERMINAL]
        if finished and finished[0].get("status") in DEPLOY_FAILED:
            problems.append(
                f"the last finished deploy {finished[0].get('id')} ended {finished[0].get('status')}"
            )
        ok = not problems
        candidate = rollback_candidate(history)
        last_events = (
            [event_row(e) for e in api.list_events(str(service["id"]), limit=events)] if events else []
        )
        return RenderStatus(
            ok,
            0 if ok else 1,
            service,
            recent,
            api.total_calls,
            problems,
            rollback_to=None if candidate is None else dict(candidate),
            events=last_events,
        )
