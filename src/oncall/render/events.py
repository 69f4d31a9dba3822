"""A Render service's recent events, newest first, each with a one-line summary.

(The task's operation is `oncall.render.logs.events`; this module only reads and words events, so
that render_ops can show the last few in render-status without an import circle.)

`GET /services/{id}/events` answers `[{event: {id, timestamp, serviceId, type, details}, cursor}]`;
the details differ per type (Render's schema lists 40 kinds). `summarize` turns the ones an
on-call engineer reads into words (a failed server's exit code or OOM kill, a deploy's outcome,
who suspended, how the instance count changed) and shows any other kind by its type alone.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from oncall.redact import redact
from oncall.render.client import RenderClient, service_ref

MAX_EVENTS = 500


def _failure(reason: Mapping[str, Any]) -> str:
    """Render's server failure reason in words."""
    parts = []
    if reason.get("oomKilled"):
        limit = (reason.get("oomKilled") or {}).get("memoryLimit")
        parts.append(f"out of memory (limit {limit})" if limit else "out of memory")
    if reason.get("nonZeroExit") is not None:
        parts.append(f"exited with code {reason['nonZeroExit']}")
    if reason.get("earlyExit"):
        parts.append("exited early")
    if reason.get("unhealthy"):
        parts.append(f"unhealthy: {reason['unhealthy']}")
    if reason.get("timedOutSeconds") is not None:
        why = reason.get("timedOutReason") or "timed out"
        parts.append(f"{why} after {reason['timedOutSeconds']} s")
    if reason.get("evicted"):
        parts.append("evicted")
    return ", ".join(parts) or "no reason given"


def summarize(event: Mapping[str, Any]) -> str:
    """One line saying what the event means (details shown as words where the type is known)."""
    kind = str(event.get("type"))
    d: Mapping[str, Any] = event.get("details") or {}
    if kind == "server_failed":
        return f"server failed: {_failure(d.get('reason') or {})}"
    if kind == "deploy_started":
        return f"deploy {d.get('deployId')} started (trigger {d.get('trigger')})"
    if kind == "deploy_ended":
        failure = (d.get("reason") or {}).get("failure")
        why = f": {_failure(failure)}" if failure else ""
        return f"deploy {d.get('deployId')} ended {d.get('deployStatus')}{why}"
    if kind in ("pre_deploy_started", "pre_deploy_ended"):
        status = f" {d.get('preDeployStatus')}" if kind == "pre_deploy_ended" else ""
        return f"pre-deploy of {d.get('deployId')} {kind.rsplit('_', 1)[-1]}{status}"
    if kind == "instance_count_changed":
        return f"instance count changed: {d.get('fromInstances')} → {d.get('toInstances')}"
    if kind == "server_restarted":
        by = d.get("triggeredByUser")
        return f"server restarted{f' by {by}' if by else ''}"
    if kind in ("suspender_added", "suspender_removed"):
        verb = "suspended" if kind == "suspender_added" else "resumed"
        return f"{verb} (by {d.get('actor')})"
    if kind == "maintenance_mode_enabled":
        return f"maintenance mode {'on' if d.get('enabled') else 'off'}"
    return kind.replace("_", " ")


@dataclass
class EventsResult:
    ok: bool
    code: int
    service: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    api_calls: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "code": self.code,
            "service": service_ref(self.service),
            "events": self.events,
            "api_calls": self.api_calls,
        }


def event_row(event: Mapping[str, Any]) -> dict[str, Any]:
    """What a result says of one event: id, time, type, the summary and Render's details."""
    return {
        "id": event.get("id"),
        "timestamp": event.get("timestamp"),
        "type": event.get("type"),
        "summary": redact(summarize(event)),
        "details": event.get("details") or {},
    }


def recent_events(
    api: RenderClient,
    service_id: str,
    *,
    limit: int,
    types: Sequence[str] = (),
    since: _dt.timedelta | None = None,
) -> list[dict[str, Any]]:
    """The service's events newest first (Render's order; sorted again to be sure), as rows."""
    start = None if since is None else _dt.datetime.now(_dt.UTC) - since
    raw = api.list_events(service_id, limit=limit, types=types, start=start)
    raw.sort(key=lambda e: str(e.get("timestamp") or ""), reverse=True)
    return [event_row(e) for e in raw]
