"""The remedies of a bad deploy on Render: rollback (and, further down, suspend, resume, scale).

    rollback(target, out, *, to=None, yes, dry_run, timeout, smoke, wait_timeout, ...)
        roll back to the last deploy that was live before the current one (or `to`), follow the
        new deploy until live, then run the target's smoke checks until healthy, like `restart`.

Each returns a result object with `.ok`, `.code` and `.as_dict()`; bad input (nothing to roll back
to, a deploy of another service, a deploy that never went live) raises BadInput before anything
is sent. The production guard applies to every write; `--dry-run` names what would happen.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from oncall import probe
from oncall.config import Target
from oncall.errors import BadInput
from oncall.render import DEPLOY_SUCCESS, DEPLOY_TERMINAL, RenderClient, RenderNotFound, service_ref
from oncall.render_ops import _recorded, _refuse_suspended, _watch, client_for, service_of, where
from oncall.render_rollback import WENT_LIVE, commit_of, current_live, rollback_candidate
from oncall.render_wait import PollSchedule, Transition
from oncall.report import Output
from oncall.safety import guard_production

# How far back a rollback looks for a deploy that was live (Render lists 100 per page).
HISTORY = 50
# Once the rollback's deploy is live Render has already moved traffic to it, so there is no old
# process left to answer a check by mistake (restart's reason for spacing checks 1 s apart); the
# three-in-a-row rule still catches a flapping page, at a shorter spacing.
SMOKE_INTERVAL_AFTER_LIVE = 0.3


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
        guard_production(
            target, action=f"roll back to {chosen.get('id')}", where=where(service), yes=yes, stdin=stdin
        )
        new = api.rollback(sid, str(chosen["id"]))
        dep_id = str(new["id"])
        out.print(f"rollback {dep_id} of {where(service)} started: back to {back_to}")
        path = f"/services/{sid}/deploys/{dep_id}"
        waited, final = _watch(
            out,
            stdin,
            api,
            service,
            what=f"rollback {dep_id}",
            fetch=lambda: api.get_deploy(sid, dep_id),
            cancel=lambda: api.cancel_deploy(sid, dep_id),
            cancel_path=path + "/cancel",
            terminal=DEPLOY_TERMINAL,
            timeout=timeout,
            schedule=schedule,
            first=new,
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
