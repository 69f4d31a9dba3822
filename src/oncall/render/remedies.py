"""The remedies of a bad deploy on Render: rollback, suspend, resume, scale.

    rollback(target, out, *, to=None, yes, dry_run, timeout, smoke, wait_timeout, ...)
        roll back to the last deploy that was live before the current one (or `to`), follow the
        new deploy until live, then run the target's smoke checks until healthy, like `restart`.
    suspend(target, out, *, yes, dry_run)      stop serving: Render's edge answers 503
    resume(target, out, *, yes, dry_run, ...)  serve again: follow the deploy Render starts, smoke
    scale(target, out, instances, *, yes, dry_run)
                                               a fixed instance count; Render's own error below 1
                                               or above the plan's limit

Each returns a result object with `.ok`, `.code` and `.as_dict()`; bad input (nothing to roll back
to, a deploy of another service, a deploy that never went live) raises BadInput before anything
is sent. The production guard applies to every write; `--dry-run` names what would happen.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from oncall.config import Target
from oncall.errors import BadInput, CheckFailed
from oncall.output import Output
from oncall.probe import run as probe
from oncall.render.client import (
    DEPLOY_SUCCESS,
    DEPLOY_TERMINAL,
    RenderClient,
    RenderNotFound,
    service_ref,
)
from oncall.render.ops import (
    _guard,
    _recorded,
    _refuse_suspended,
    _watch_deploy,
    client_for,
    service_of,
    where,
)
from oncall.render.rollback import WENT_LIVE, commit_of, current_live, rollback_candidate
from oncall.render.wait import PollSchedule, Transition

# How far back a rollback looks for a deploy that was live (Render lists 100 per page).
HISTORY = 50
# Once the rollback's deploy is live Render has already moved traffic to it, so there is no old
# process left to answer a check by mistake (restart's reason for spacing checks 1 s apart); the
# three-in-a-row rule still catches a flapping page, at a shorter spacing.
SMOKE_INTERVAL_AFTER_LIVE = 0.2
# A rollback is the remedy during an outage and its wait is short (no build: the update phase
# only), so it polls faster than a deploy's 38/min: every 0.6 s (median delay 0.3 s), at most
# 100 calls a minute (a quarter of Render's 400 GET/min). A 60-second rollback costs about 100
# calls; the target it serves is "healthy within 1 s of Render's own deploy time"
# (bench/bench_render.py), which the deploy schedule's 0.85 s median delay alone would spend.
ROLLBACK_SCHEDULE = PollSchedule(base=0.6, fast=0.3, fast_for=4.0, per_minute=100.0)


def deploy_ref(deploy: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """How a result names a deploy: id, status, trigger, commit and its times."""
    if deploy is None:
        return None
    return {
        "id": deploy.get("id"),
        "status": deploy.get("status"),
        "trigger": deploy.get("trigger"),
        "commit": commit_of(deploy),
        "createdAt": deploy.get("createdAt"),
        "finishedAt": deploy.get("finishedAt"),
    }


def describe_deploy(deploy: Mapping[str, Any]) -> str:
    commit = (commit_of(deploy) or "")[:12] or "no commit"
    return f"deploy {deploy.get('id')} ({commit}, created {str(deploy.get('createdAt') or '?')[:19]})"


@dataclass
class RollbackResult:
    ok: bool
    code: int
    service: dict[str, Any]
    to_deploy: Mapping[str, Any]
    from_deploy: Mapping[str, Any] | None
    deploy: Mapping[str, Any] | None = None  # the rollback's own deploy (None under --dry-run)
    dry_run: bool = False
    transitions: list[Transition] = field(default_factory=list)
    elapsed_s: float = 0.0
    healthy_after_s: float | None = None
    api_calls: int = 0
    smoke: dict[str, Any] | None = None
    timed_out: bool = False
    interrupted: bool = False
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "code": self.code,
            "service": service_ref(self.service),
            "to_deploy": deploy_ref(self.to_deploy),
            "from_deploy": deploy_ref(self.from_deploy),
            "deploy": deploy_ref(self.deploy),
            "dry_run": self.dry_run,
            "transitions": [{"status": t.status, "at_s": round(t.at, 3)} for t in self.transitions],
            "elapsed_s": round(self.elapsed_s, 3),
            "healthy_after_s": None if self.healthy_after_s is None else round(self.healthy_after_s, 3),
            "api_calls": self.api_calls,
            "smoke": self.smoke,
            "timed_out": self.timed_out,
            "interrupted": self.interrupted,
            "message": self.message,
        }


def _named_deploy(
    api: RenderClient, service: dict[str, Any], deploy_id: str, live: Mapping[str, Any] | None
) -> Mapping[str, Any]:
    """The deploy --to names, checked: of this service, went live once, not the one live now."""
    sid = str(service["id"])
    hint = f"name a deploy of {service.get('name')} that was live: `invoke render-status` lists them"
    if not deploy_id.startswith("dep-"):
        raise BadInput(f"--to {deploy_id!r} is not a deploy id (dep-...)", hint)
    try:
        deploy = api.get_deploy(sid, deploy_id)
    except RenderNotFound:
        raise BadInput(f"deploy {deploy_id} is not a deploy of {where(service)}", hint) from None
    status = deploy.get("status")
    if status not in WENT_LIVE:
        raise BadInput(
            f"deploy {deploy_id} of {service.get('name')} ended {status}: it never went live, "
            "so there is no build to roll back to",
            "pick a deploy whose status is live or deactivated (`invoke render-status`)",
        )
    if live is not None and live.get("id") == deploy_id:
        raise BadInput(
            f"deploy {deploy_id} is the one live on {service.get('name')} now; nothing to roll back",
            "to restart it use `invoke restart`; to go further back name an older deploy with --to",
        )
    return deploy


def _chosen_deploy(
    api: RenderClient, service: dict[str, Any], to: str | None
) -> tuple[Mapping[str, Any], Mapping[str, Any] | None]:
    """(the deploy to roll back to, the one live now) or BadInput naming why there is none."""
    deploys = api.list_deploys(str(service["id"]), limit=HISTORY)
    live = current_live(deploys)
    if to:
        return _named_deploy(api, service, to, live), live
    candidate = rollback_candidate(deploys)
    if candidate is None:
        raise BadInput(
            f"{where(service)} has no earlier deploy that was live to roll back to "
            f"(of its last {len(deploys)} deploy(s))",
            "fix forward with `invoke deploy --commit SHA`, or name a deploy with --to dep-...",
        )
    return candidate, live


def rollback(
    target: Target,
    out: Output,
    *,
    to: str | None = None,
    yes: bool = False,
    dry_run: bool = False,
    timeout: float = 900.0,
    smoke: bool = True,
    wait_timeout: float = 300.0,
    client: RenderClient | None = None,
    schedule: PollSchedule | None = None,
    stdin: IO[str] | None = None,
) -> RollbackResult:
    """Roll the target's service back to an earlier live deploy, follow it, then smoke until healthy."""
    started = time.monotonic()
    checks = None
    if smoke and not dry_run:
        try:
            checks = probe.checks_for(target)
        except BadInput as exc:
            raise BadInput(exc.cause, f"{exc.hint}; or pass --no-smoke to roll back without them") from exc
    args = {"to": to, "yes": yes, "timeout": timeout, "smoke": smoke}
    with _recorded(target, "rollback", args, enabled=not dry_run) as run, client_for(client) as api:
        service = service_of(target, api)
        sid = str(service["id"])
        run.details["service"] = sid
        chosen, live = _chosen_deploy(api, service, to)
        _refuse_suspended(service, "a rollback")
        back_to = describe_deploy(chosen)
        if dry_run:
            message = f"would roll back {where(service)} to {back_to}"
            out.print(message)
            return RollbackResult(
                True, 0, service, chosen, live, dry_run=True, api_calls=api.total_calls, message=message
            )
        _guard(target, service, f"roll back to {chosen.get('id')}", yes=yes, stdin=stdin)
        new = api.rollback(sid, str(chosen["id"]))
        dep_id = str(new["id"])
        out.print(f"rollback {dep_id} of {where(service)} started: back to {back_to}")
        waited, final = _watch_deploy(
            out,
            stdin,
            api,
            service,
            new,
            what=f"rollback {dep_id}",
            timeout=timeout,
            schedule=schedule or ROLLBACK_SCHEDULE,
        )
        result = RollbackResult(
            False,
            1,
            service,
            chosen,
            live,
            deploy=final,
            transitions=waited.transitions,
            elapsed_s=waited.elapsed,
            timed_out=waited.timed_out,
            interrupted=waited.interrupted,
        )
        status = str(final.get("status") or "unknown")
        run.details.update(deploy=dep_id, to=chosen.get("id"), status=status)
        if status not in DEPLOY_SUCCESS:
            still = "still " if status not in DEPLOY_TERMINAL else "ended "
            result.message = (
                f"rollback {dep_id} of {service.get('name')} {still}{status} after {waited.elapsed:.1f} s"
            )
        elif checks is None:
            result.ok, result.code = True, 0
            result.message = f"rollback {dep_id} of {service.get('name')} is {status} (smoke checks skipped)"
        else:
            checked = probe.smoke(checks, wait=wait_timeout, interval=SMOKE_INTERVAL_AFTER_LIVE, out=out)
            result.smoke = checked.as_dict()
            result.ok, result.code = checked.ok, 0 if checked.ok else 1
            if checked.ok:
                result.healthy_after_s = time.monotonic() - started
                result.message = (
                    f"{service.get('name')} is back on {back_to} and healthy "
                    f"{result.healthy_after_s:.1f} s after the command"
                )
            else:
                result.message = (
                    f"rollback {dep_id} is live but {service.get('name')} did not answer healthy within "
                    f"{wait_timeout:g} s: {checked.summary()}"
                )
        result.api_calls = api.total_calls
        run.code = result.code
        out.print(result.message)
        return result


# -- suspend, resume, scale -----------------------------------------------------------------

# How long resume looks for the deploy Render starts when a service is resumed.
RESUME_DEPLOY_WAIT = 10.0


@dataclass
class ServiceChange:
    """What suspend, resume or scale did (or, under --dry-run, would do)."""

    ok: bool
    code: int
    action: str  # suspend | resume | scale
    service: dict[str, Any]
    changed: bool
    dry_run: bool = False
    before: Any = None
    after: Any = None
    deploy: Mapping[str, Any] | None = None
    smoke: dict[str, Any] | None = None
    api_calls: int = 0
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "code": self.code,
            "action": self.action,
            "service": service_ref(self.service),
            "changed": self.changed,
            "dry_run": self.dry_run,
            "before": self.before,
            "after": self.after,
            "deploy": deploy_ref(self.deploy),
            "smoke": self.smoke,
            "api_calls": self.api_calls,
            "message": self.message,
        }


def _unchanged(
    out: Output,
    api: RenderClient,
    action: str,
    service: dict[str, Any],
    message: str,
    *,
    before: Any,
    after: Any = None,
    dry_run: bool = False,
) -> ServiceChange:
    """Print why nothing changes (already so, or --dry-run) and return that as a successful result."""
    out.print(message)
    return ServiceChange(
        True,
        0,
        action,
        service,
        False,
        dry_run=dry_run,
        before=before,
        after=after,
        api_calls=api.total_calls,
        message=message,
    )


def _suspended(service: Mapping[str, Any]) -> bool:
    return service.get("suspended") == "suspended"


def suspend(
    target: Target,
    out: Output,
    *,
    yes: bool = False,
    dry_run: bool = False,
    client: RenderClient | None = None,
    stdin: IO[str] | None = None,
) -> ServiceChange:
    """Suspend the target's service: it stops serving (Render's edge answers 503) until resumed."""
    args = {"yes": yes}
    with _recorded(target, "suspend", args, enabled=not dry_run) as run, client_for(client) as api:
        service = service_of(target, api)
        sid = str(service["id"])
        run.details["service"] = sid
        if service.get("type") == "cron_job":
            raise BadInput(
                f"{where(service)} is a cron job; Render does not suspend cron jobs through the API",
                "a cron job runs on its schedule: change or clear the schedule in the dashboard instead",
            )
        if _suspended(service):
            run.code = 0
            return _unchanged(
                out,
                api,
                "suspend",
                service,
                f"{where(service)} is already suspended; nothing to do",
                before=True,
                after=True,
            )
        if dry_run:
            return _unchanged(
                out,
                api,
                "suspend",
                service,
                f"would suspend {where(service)}: its URL would answer 503 until `invoke resume`",
                dry_run=True,
                before=False,
            )
        _guard(target, service, "suspend", yes=yes, stdin=stdin)
        api.suspend_service(sid)
        after = api.get_service(sid)
        ok = _suspended(after)
        run.code = 0 if ok else 1
        message = (
            f"suspended {where(service)}: Render's edge answers 503 for it until "
            f"`invoke resume --target {target.name}`"
            if ok
            else f"Render accepted the suspend of {where(service)} but it is still {after.get('suspended')}"
        )
        out.print(message)
        return ServiceChange(
            ok,
            run.code,
            "suspend",
            after,
            True,
            before=False,
            after=ok,
            api_calls=api.total_calls,
            message=message,
        )


def _deploy_started_by_resume(
    api: RenderClient, sid: str, known: set[str], wait: float
) -> dict[str, Any] | None:
    """The deploy (trigger service_resumed) Render starts after a resume, if one appears in `wait` s."""
    deadline = time.monotonic() + wait
    while True:
        for deploy in api.list_deploys(sid, limit=5):
            if deploy.get("id") not in known and deploy.get("trigger") == "service_resumed":
                return deploy
        if time.monotonic() >= deadline:
            return None
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


def resume(
    target: Target,
    out: Output,
    *,
    yes: bool = False,
    dry_run: bool = False,
    timeout: float = 900.0,
    smoke: bool = True,
    wait_timeout: float = 300.0,
    client: RenderClient | None = None,
    schedule: PollSchedule | None = None,
    stdin: IO[str] | None = None,
) -> ServiceChange:
    """Resume the target's service, follow the deploy Render starts, then smoke until healthy."""
    checks = None
    if smoke and not dry_run:
        try:
            checks = probe.checks_for(target)
        except BadInput as exc:
            raise BadInput(exc.cause, f"{exc.hint}; or pass --no-smoke to resume without them") from exc
    args = {"yes": yes, "timeout": timeout, "smoke": smoke}
    with _recorded(target, "resume", args, enabled=not dry_run) as run, client_for(client) as api:
        service = service_of(target, api)
        sid = str(service["id"])
        run.details["service"] = sid
        if not _suspended(service):
            run.code = 0
            return _unchanged(
                out,
                api,
                "resume",
                service,
                f"{where(service)} is not suspended; nothing to do",
                before=False,
                after=False,
            )
        if dry_run:
            return _unchanged(
                out,
                api,
                "resume",
                service,
                f"would resume {where(service)} (Render deploys it again)",
                dry_run=True,
                before=True,
            )
        _guard(target, service, "resume", yes=yes, stdin=stdin)
        known = {str(d.get("id")) for d in api.list_deploys(sid, limit=10)}
        api.resume_service(sid)
        out.print(f"resume requested for {where(service)}")
        change = ServiceChange(False, 1, "resume", service, True, before=True, after=False)
        deploy = _deploy_started_by_resume(api, sid, known, RESUME_DEPLOY_WAIT)
        if deploy is not None:
            dep_id = str(deploy["id"])
            _, final = _watch_deploy(
                out, stdin, api, service, deploy, what=f"deploy {dep_id}", timeout=timeout, schedule=schedule
            )
            change.deploy = final
            if final.get("status") not in DEPLOY_SUCCESS:
                change.message = (
                    f"{service.get('name')} resumed, but its deploy {dep_id} is {final.get('status')}"
                )
                return _finish(change, api, run, out)
        change.after = True
        if checks is None:
            change.ok, change.code = True, 0
            change.message = f"resumed {where(service)} (smoke checks skipped)"
            return _finish(change, api, run, out)
        checked = probe.smoke(checks, wait=wait_timeout, interval=SMOKE_INTERVAL_AFTER_LIVE, out=out)
        change.smoke = checked.as_dict()
        change.ok, change.code = checked.ok, 0 if checked.ok else 1
        change.message = (
            f"resumed {where(service)}: it answers the smoke checks healthy"
            if checked.ok
            else f"resumed {service.get('name')}, but it did not answer healthy within {wait_timeout:g} s: "
            f"{checked.summary()}"
        )
        return _finish(change, api, run, out)


def _finish(change: ServiceChange, api: RenderClient, run: Any, out: Output) -> ServiceChange:
    change.api_calls = api.total_calls
    run.code = change.code
    out.print(change.message)
    return change


def _instances(service: Mapping[str, Any]) -> int | None:
    details = service.get("serviceDetails") or {}
    count = details.get("numInstances")
    return count if isinstance(count, int) else None


def scale(
    target: Target,
    out: Output,
    instances: int,
    *,
    yes: bool = False,
    dry_run: bool = False,
    client: RenderClient | None = None,
    stdin: IO[str] | None = None,
) -> ServiceChange:
    """Set the target's service to a fixed number of instances (Render's answer decides the limits)."""
    if instances < 0:
        raise BadInput(
            f"scale {instances}: an instance count cannot be negative", "pass a count, e.g. invoke scale 2"
        )
    args = {"instances": instances, "yes": yes}
    with _recorded(target, "scale", args, enabled=not dry_run) as run, client_for(client) as api:
        service = service_of(target, api)
        sid = str(service["id"])
        run.details["service"] = sid
        _refuse_suspended(service, "scaling")
        if (service.get("serviceDetails") or {}).get("autoscaling", {}).get("enabled"):
            raise BadInput(
                f"{where(service)} has autoscaling on; Render ignores a fixed instance count then",
                "change the autoscaling range in the dashboard (Scaling), or turn autoscaling off first",
            )
        before = _instances(service)
        if before == instances:
            run.code = 0
            return _unchanged(
                out,
                api,
                "scale",
                service,
                f"{where(service)} already runs {instances} instance(s); nothing to do",
                before=before,
                after=before,
            )
        if dry_run:
            return _unchanged(
                out,
                api,
                "scale",
                service,
                f"would scale {where(service)} from {before} to {instances} instance(s)",
                dry_run=True,
                before=before,
            )
        _guard(target, service, f"scale to {instances} instance(s)", yes=yes, stdin=stdin)
        # Render's own 400 (below 1, above the plan's limit, a type that does not scale) becomes
        # BadInput with Render's message; nothing has changed then.
        try:
            api.scale_service(sid, instances)
        except BadInput as exc:
            raise BadInput(
                exc.cause,
                "pick a count from 1 to the plan's limit; to stop serving: "
                f"`invoke suspend --target {target.name}`",
                **exc.details,
            ) from exc
        after = _instances(api.get_service(sid))
        change = ServiceChange(after == instances, 0, "scale", service, True, before=before, after=after)
        if after != instances:
            change.code = int(CheckFailed.code)
            change.message = (
                f"Render accepted the scale of {where(service)} but it reports {after} instance(s)"
            )
        else:
            change.message = f"scaled {where(service)} from {before} to {after} instance(s)"
        return _finish(change, api, run, out)


# -- maintenance mode -------------------------------------------------------------------------


def _maintenance_of(service: Mapping[str, Any]) -> dict[str, Any]:
    mode = (service.get("serviceDetails") or {}).get("maintenanceMode") or {}
    return {"enabled": bool(mode.get("enabled")), "uri": str(mode.get("uri") or "")}


def maintenance(
    target: Target,
    out: Output,
    on: bool,
    *,
    uri: str | None = None,
    yes: bool = False,
    dry_run: bool = False,
    client: RenderClient | None = None,
    stdin: IO[str] | None = None,
) -> ServiceChange:
    """Turn Render's maintenance mode on or off (web services): the edge serves a maintenance page."""
    if uri is not None and not on:
        raise BadInput("--uri goes with `maintenance on`", "pass --uri only when turning maintenance mode on")
    if uri and not uri.startswith(("https://", "http://", "/")):
        raise BadInput(
            f"--uri {uri!r} is not a URL or a path", "pass --uri https://status.example.com/maintenance"
        )
    state = "on" if on else "off"
    args = {"on": on, "uri": uri, "yes": yes}
    with (
        _recorded(target, f"maintenance {state}", args, enabled=not dry_run) as run,
        client_for(client) as api,
    ):
        service = service_of(target, api)
        sid = str(service["id"])
        run.details["service"] = sid
        if service.get("type") != "web_service":
            raise BadInput(
                f"{where(service)} is a {service.get('type')}; only web services have maintenance mode",
                "put the web service that takes the traffic into maintenance mode instead",
            )
        before = _maintenance_of(service)
        wanted = {"enabled": on, "uri": before["uri"] if uri is None else uri}
        if before == wanted:
            run.code = 0
            return _unchanged(
                out,
                api,
                "maintenance",
                service,
                f"maintenance mode is already {state} for {where(service)}; nothing to do",
                before=before,
                after=before,
            )
        if dry_run:
            return _unchanged(
                out,
                api,
                "maintenance",
                service,
                f"would turn maintenance mode {state} for {where(service)}",
                dry_run=True,
                before=before,
            )
        _guard(target, service, f"turn maintenance mode {state}", yes=yes, stdin=stdin)
        updated = api.update_service(
            sid, {"serviceDetails": {"maintenanceMode": wanted}}, what=f"maintenance mode {state} of {sid}"
        )
        after = _maintenance_of(updated)
        change = ServiceChange(
            after["enabled"] == on, 0, "maintenance", updated, True, before=before, after=after
        )
        if not change.ok:
            change.code = int(CheckFailed.code)
            change.message = (
                f"Render accepted the change but maintenance mode of {where(service)} is not {state}"
            )
        elif on:
            page = after["uri"] or "Render's default maintenance page"
            change.message = (
                f"maintenance mode on for {where(service)}: visitors get {page} (503) until "
                f"`invoke maintenance off --target {target.name}`"
            )
        else:
            change.message = f"maintenance mode off for {where(service)}: it serves traffic again"
        return _finish(change, api, run, out)
