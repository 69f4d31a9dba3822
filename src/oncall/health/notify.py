"""Post a health state change to a Slack-compatible webhook, once per change.

A scheduled `invoke health --notify` is a one-shot process, so the state between runs lives in a
small JSON file per target under `target.state_dir` (written atomically, read under a file lock so
two overlapping cron runs cannot both post). The rule, after Upptime and Uptime Kuma's
"important beats": post when the state changes, never while it stays the same.

    previous          now        posts
    (none)            healthy    nothing (a first healthy run is not news)
    (none)/healthy    failing    "FAILING"  (once)
    failing           failing    nothing, unless the last post did not get through (then retried)
    failing           healthy    "RECOVERED" (once; only if the failure was announced)

The webhook URL is a secret (it carries the channel token): it comes from an environment variable,
is registered with the redactor, and error messages name only its host.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from oncall.atomicfile import write_atomic
from oncall.errors import BadInput, CheckFailed, OncallError, Unreachable
from oncall.health.model import TargetHealth
from oncall.redact import redact, register_secret

WEBHOOK_ENV = "ONCALL_WEBHOOK_URL"
POST_TIMEOUT = 10.0

HEALTHY = "healthy"
FAILING = "failing"


@dataclass
class HealthState:
    """What the last --notify run saw for one target, kept between runs."""

    status: str
    since: str
    code: int = 0
    failing: list[str] = field(default_factory=list)
    notified: bool = False
    updated: str = ""


@dataclass
class NotifyOutcome:
    """What --notify did on this run, for the JSON document and the run record."""

    event: str | None
    sent: bool
    previous: str | None
    status: str
    state_file: Path
    error: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "sent": self.sent,
            "previous": self.previous,
            "status": self.status,
            "state_file": str(self.state_file),
            "error": self.error,
        }


def webhook_url(environ: Mapping[str, str] | None = None) -> str:
    """The webhook URL from ONCALL_WEBHOOK_URL; BadInput when --notify has nowhere to post."""
    env = os.environ if environ is None else environ
    raw = (env.get(WEBHOOK_ENV) or "").strip()
    if not raw:
        raise BadInput(
            f"--notify was given but {WEBHOOK_ENV} is not set",
            f"export {WEBHOOK_ENV}=https://hooks.slack.com/services/... (Slack-compatible incoming webhook)",
        )
    register_secret(raw)
    try:
        parts = urlsplit(raw)
        _ = parts.port  # a port that is not a number raises here, not later inside the post
    except ValueError as exc:
        # The URL itself is a secret (its path carries the channel token): name the variable only.
        raise BadInput(
            f"{WEBHOOK_ENV} is not a valid URL ({exc})",
            "use the incoming-webhook URL exactly as the chat tool shows it (an IPv6 host goes in [ ])",
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(
            f"{WEBHOOK_ENV} is not an http(s) URL",
            "use the incoming-webhook URL exactly as the chat tool shows it",
        )
    # The path carries the channel token: mask it wherever it might be echoed.
    if len(parts.path) > 1:
        register_secret(parts.path)
    return raw


def state_path(state_dir: Path, target_name: str) -> Path:
    return state_dir / "health" / f"{target_name}.json"


def load_state(path: Path) -> HealthState | None:
    """The previous state, or None when there is none or it cannot be read (treated as a first run)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or raw.get("status") not in (HEALTHY, FAILING):
        return None
    try:
        return HealthState(
            status=str(raw["status"]),
            since=str(raw.get("since", "")),
            code=int(raw.get("code", 0)),
            failing=[str(x) for x in raw.get("failing", [])],
            notified=bool(raw.get("notified", False)),
            updated=str(raw.get("updated", "")),
        )
    except (TypeError, ValueError):
        return None


def save_state(path: Path, state: HealthState) -> None:
    write_atomic(path, json.dumps(asdict(state), indent=2) + "\n")


def decide(previous: HealthState | None, healthy: bool) -> str | None:
    """The event to post ("failing"/"recovered") for this transition, or None to stay quiet."""
    if healthy:
        if previous is not None and previous.status == FAILING and previous.notified:
            return "recovered"
        return None
    if previous is None or previous.status == HEALTHY:
        return FAILING
    return None if previous.notified else FAILING


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a+", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def message(health: TargetHealth, event: str, previous: HealthState | None) -> str:
    """The chat message: what changed, the exit code, and each failing check's cause."""
    if event == "recovered":
        since = f" (failing since {previous.since})" if previous and previous.since else ""
        return f":large_green_circle: oncall health: {health.target} RECOVERED{since}; all checks pass."
    lines = [f":red_circle: oncall health: {health.target} is FAILING (exit {health.code})"]
    for check in health.checks:
        if check.status == "fail":
            lines.append(f"• {check.name}: {check.cause}")
    lines.append(f"next: invoke health --target {health.target}  (then the runbook in runbooks/)")
    return redact("\n".join(lines))


def post_webhook(url: str, text: str, *, timeout: float = POST_TIMEOUT) -> None:
    """POST {"text": ...} to the webhook; Unreachable/CheckFailed name the host, never the URL."""
    import httpx

    host = urlsplit(url).hostname or "webhook"
    try:
        response = httpx.post(url, json={"text": redact(text)}, timeout=timeout)
    except httpx.TimeoutException as exc:
        raise Unreachable(
            f"webhook host {host} did not answer within {timeout:g}s",
            "the state was kept unannounced; the next run retries the post",
        ) from exc
    except httpx.HTTPError as exc:
        raise Unreachable(
            f"could not reach webhook host {host}: {type(exc).__name__}",
            f"check {WEBHOOK_ENV} and the network; the next run retries the post",
        ) from exc
    if response.status_code >= 300:
        raise CheckFailed(
            f"webhook host {host} answered HTTP {response.status_code}",
            f"check that {WEBHOOK_ENV} is a live incoming-webhook URL; the next run retries the post",
        )


def _next_state(
    previous: HealthState | None, health: TargetHealth, event: str | None, sent: bool
) -> HealthState:
    failing = [c.name for c in health.checks if c.status == "fail"]
    if event == "recovered" and not sent and previous is not None:
        # Keep the announced failure on record so that the next run retries the recovery post.
        return HealthState(FAILING, previous.since, previous.code, previous.failing, True, _now())
    status = HEALTHY if health.ok else FAILING
    same = previous is not None and previous.status == status
    since = previous.since if same and previous is not None else _now()
    if event == FAILING:
        notified = sent
    elif event is None and same and previous is not None:
        notified = previous.notified
    else:
        # A recovery that was posted, or a quiet healthy state: nothing is owed to anyone.
        notified = True
    return HealthState(status, since, health.code, failing, notified, _now())


def notify_change(health: TargetHealth, state_dir: Path, url: str) -> NotifyOutcome:
    """Compare with the stored state, post if the state changed, and store the new state."""
    path = state_path(state_dir, health.target)
    status = HEALTHY if health.ok else FAILING
    with _locked(path):
        previous = load_state(path)
        event = decide(previous, health.ok)
        error: dict[str, Any] | None = None
        sent = False
        if event is not None:
            try:
                post_webhook(url, message(health, event, previous))
                sent = True
            except OncallError as exc:
                error = exc.as_dict()
        save_state(path, _next_state(previous, health, event, sent))
    return NotifyOutcome(
        event=event,
        sent=sent,
        previous=previous.status if previous else None,
        status=status,
        state_file=path,
        error=error,
    )
