"""Alert on a target's health: after N failing runs, remind while it lasts, resolve after M passing.

A scheduled `invoke health --notify` is a one-shot process, so the state between runs is kept per
target: a JSON file under `target.state_dir` (written atomically, under a file lock), or a row of
`oncall_notify_state` in the target's database (under a row lock) where no disk survives the run.
Either lock spans read, decide, post and write, so two overlapping runs cannot both alert.

What the target did (status, runs in a row) is one record per target; what each channel was told
(an alert open on it, when it was last posted to) is one record per channel inside it, under the
channel's `state_key`. The rules below are applied to each channel on its own:

    open on it   this run                                   posts to it
    no           failing, >= failure_threshold in a row     "failing"   (PagerDuty: trigger)
    yes          failing, remind_every since its last post  "reminder"  (trigger, same dedup key)
    yes          passing, >= success_threshold in a row     "recovered" (PagerDuty: resolve)
    otherwise                                               nothing

So a channel that accepted the alert is not sent it again when another one failed; a channel that
failed is sent it on the next run; the recovery goes only to the channels that were told. A state
written before channels had their own record (no `channels` key) means every channel was told
what the target-wide `notified` says. The channels (the Slack-style webhook and apprise URLs) are
in oncall.health.channels; their URLs are secrets, registered with the redactor, and errors name
only a host or a channel's position.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from oncall.atomicfile import write_atomic
from oncall.config import Target
from oncall.db.connect import connect, database_url_for
from oncall.db.shared import STATE_TABLE, locked_state
from oncall.errors import BadInput, CheckFailed
from oncall.health.channels import WEBHOOK_ENV, Channel, channel_urls, channels_of, send_to
from oncall.health.model import FAIL, TargetHealth
from oncall.redact import redact, register_secret

HEALTHY = "healthy"
FAILING = "failing"


@dataclass(frozen=True)
class AlertPolicy:
    """When to alert, resolve and remind (flags --failure-threshold, --success-threshold, --remind-every).

    One failed probe is not a page: an alert needs `failure_threshold` failing runs in a row, and it
    is resolved after `success_threshold` passing runs in a row. While it stays open, a reminder
    goes out every `remind_every` seconds (0: never).
    """

    failure_threshold: int = 2
    success_threshold: int = 1
    remind_every: float = 0.0


@dataclass
class ChannelState:
    """What one channel was told: an alert is open on it (delivered, its resolve not yet), and when
    it was last posted an alert or reminder."""

    notified: bool = False
    last_sent: str = ""


@dataclass
class HealthState:
    """What the last --notify run saw for one target, kept between runs.

    `channels` holds each channel's delivery state by its state_key; None for a state written
    before that (every channel then shares `notified` and `last_sent`). `notified` and `last_sent`
    are kept as the summary (an alert open on any channel, its latest post), which is also what an
    older oncall reading this state understands.
    """

    status: str
    since: str
    code: int = 0
    failing: list[str] = field(default_factory=list)
    notified: bool = False
    updated: str = ""
    fail_streak: int = 0
    pass_streak: int = 0
    last_sent: str = ""
    channels: dict[str, ChannelState] | None = None

    def told(self, channel: str | None) -> ChannelState:
        """What `channel` was told; None (or a state from before channels) asks the target-wide one."""
        if channel is None or self.channels is None:
            return ChannelState(self.notified, self.last_sent)
        return self.channels.get(channel, ChannelState())


@dataclass
class NotifyOutcome:
    """What --notify did on this run, for the JSON document and the run record."""

    event: str | None
    sent: bool
    previous: str | None
    status: str
    state_file: Path | str
    error: dict[str, Any] | None = None
    dedup_key: str = ""
    channels: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "sent": self.sent,
            "previous": self.previous,
            "status": self.status,
            "state_file": str(self.state_file),
            "error": self.error,
            "dedup_key": self.dedup_key,
            "channels": self.channels,
        }


def policy_for(target: Target, flags: Mapping[str, Any] | None = None) -> AlertPolicy:
    """The target's thresholds from config, each overridden by its flag when one was given."""
    chosen = {
        "failure_threshold": target.failure_threshold,
        "success_threshold": target.success_threshold,
        "remind_every": target.remind_every,
    }
    chosen.update({k: v for k, v in (flags or {}).items() if v is not None})
    return AlertPolicy(
        failure_threshold=int(chosen["failure_threshold"]),
        success_threshold=int(chosen["success_threshold"]),
        remind_every=float(chosen["remind_every"]),
    )


def notify_channels(target: Target, environ: Mapping[str, str]) -> tuple[str | None, list[str]]:
    """The Slack-style webhook (or None) and the apprise channel URLs this target alerts to.

    BadInput when there is none: --notify must not run as if it alerted when it cannot.
    """
    urls = channel_urls(environ, target.notify_urls_env)
    has_webhook = bool((environ.get(WEBHOOK_ENV) or "").strip())
    if not urls and not has_webhook:
        raise BadInput(
            f"--notify was given but {WEBHOOK_ENV} is not set, nor {target.notify_urls_env}",
            f"export {target.notify_urls_env}='pagerduty://KEY@APIKEY json://host/path' (apprise URLs) "
            f"or {WEBHOOK_ENV}=https://hooks.slack.com/services/...",
        )
    return (webhook_url(environ) if has_webhook else None), urls


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
    return state_from(raw)


def state_from(raw: Any) -> HealthState | None:
    """A stored state (file or database row) as a HealthState; None when it is not one."""
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
            # A state file from before thresholds: one run of its status so far.
            fail_streak=int(raw.get("fail_streak", 1 if raw["status"] == FAILING else 0)),
            pass_streak=int(raw.get("pass_streak", 1 if raw["status"] == HEALTHY else 0)),
            last_sent=str(raw.get("last_sent", raw.get("since", "") if raw.get("notified") else "")),
            channels=_channels_from(raw.get("channels")),
        )
    except (TypeError, ValueError, AttributeError):
        return None


def _channels_from(raw: Any) -> dict[str, ChannelState] | None:
    """The per-channel records; None when the state has none (written before they existed)."""
    if raw is None:
        return None
    return {
        str(key): ChannelState(bool(value.get("notified", False)), str(value.get("last_sent", "")))
        for key, value in dict(raw).items()
    }


def save_state(path: Path, state: HealthState) -> None:
    write_atomic(path, json.dumps(asdict(state), indent=2) + "\n")


REMINDER = "reminder"
RECOVERED = "recovered"


def streaks(previous: HealthState | None, healthy: bool) -> tuple[int, int]:
    """(failing, passing) runs in a row, this run included."""
    if healthy:
        before = previous.pass_streak if previous is not None and previous.status == HEALTHY else 0
        return 0, before + 1
    before = previous.fail_streak if previous is not None and previous.status == FAILING else 0
    return before + 1, 0


def _since(stamp: str, now: _dt.datetime) -> float:
    try:
        return (now - _dt.datetime.fromisoformat(stamp)).total_seconds()
    except ValueError:
        return float("inf")  # no readable time of the last post: a reminder is due


def decide(
    previous: HealthState | None,
    healthy: bool,
    policy: AlertPolicy | None = None,
    now: _dt.datetime | None = None,
    channel: str | None = None,
) -> str | None:
    """The event to post to `channel` on this run ("failing", "reminder", "recovered"), or None.

        no alert open, failing runs in a row >= failure_threshold   -> "failing"
        alert open, failing, remind_every elapsed since last post  -> "reminder"
        alert open, passing runs in a row >= success_threshold      -> "recovered"

    "Alert open" and "last post" are the channel's own (its state_key; None: the target-wide
    summary). A post that did not get through leaves its state as it was, so the next run posts again.
    """
    policy = policy or AlertPolicy()
    failing_in_a_row, passing_in_a_row = streaks(previous, healthy)
    told = previous.told(channel) if previous is not None else ChannelState()
    if healthy:
        return RECOVERED if told.notified and passing_in_a_row >= policy.success_threshold else None
    if not told.notified:
        return FAILING if failing_in_a_row >= policy.failure_threshold else None
    due = policy.remind_every > 0 and _since(told.last_sent, now or _utcnow()) >= policy.remind_every
    return REMINDER if due else None


def dedup_key(target_name: str) -> str:
    """One incident per target's health check, the same for its trigger, reminders and resolve."""
    return f"oncall-health-{target_name}"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a+", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def message(health: TargetHealth, event: str, previous: HealthState | None) -> str:
    """The chat message: what changed, the exit code, and each failing check's cause."""
    if event == RECOVERED:
        since = f" (failing since {previous.since})" if previous and previous.since else ""
        return f":large_green_circle: oncall health: {health.target} RECOVERED{since}; all checks pass."
    still = f"is STILL FAILING since {previous.since}" if event == REMINDER and previous else "is FAILING"
    lines = [f":red_circle: oncall health: {health.target} {still} (exit {health.code})"]
    for check in health.checks:
        if check.status == FAIL:
            lines.append(f"• {check.name}: {check.cause}")
    lines.append(f"next: invoke health --target {health.target}  (then the runbook in runbooks/)")
    return redact("\n".join(lines))


def told_after(before: ChannelState, event: str | None, sent: bool, stamp: str) -> ChannelState:
    """A channel's state after this run: a delivered alert or reminder opens it (and dates it), a
    delivered recovery closes it, and anything not delivered leaves it as it was."""
    if sent and event in (FAILING, REMINDER):
        return ChannelState(True, stamp)
    if sent and event == RECOVERED:
        return ChannelState(False, before.last_sent)
    return before


def next_state(
    previous: HealthState | None,
    health: TargetHealth,
    now: _dt.datetime,
    deliveries: Mapping[str, tuple[str | None, bool]],
) -> HealthState:
    """The state to store after this run: streaks, and each channel's open alert and last post.

    `deliveries` maps each channel's state_key to (event posted or None, whether it got through).
    Channels stored earlier but not configured in this run keep their record untouched.
    """
    stamp = now.isoformat(timespec="seconds")
    status = HEALTHY if health.ok else FAILING
    same = previous is not None and previous.status == status
    fail_streak, pass_streak = streaks(previous, health.ok)
    channels = dict(previous.channels or {}) if previous is not None else {}
    for key, (event, sent) in deliveries.items():
        before = previous.told(key) if previous is not None else ChannelState()
        channels[key] = told_after(before, event, sent, stamp)
    alert_open = any(c.notified for c in channels.values())
    last_sent = max([c.last_sent for c in channels.values()], default="")
    if previous is not None and not channels:
        alert_open, last_sent = previous.notified, previous.last_sent
    return HealthState(
        status=status,
        since=previous.since if same and previous is not None else stamp,
        code=health.code,
        failing=[c.name for c in health.checks if c.status == FAIL],
        notified=alert_open,
        updated=stamp,
        fail_streak=fail_streak,
        pass_streak=pass_streak,
        last_sent=last_sent,
        channels=channels,
    )


class StateStore(Protocol):
    """Where the state between runs lives: a file under state_dir, or the target's database.

    `hold` yields the previous state and a function that stores the next one, while holding a lock
    that an overlapping run of the same target waits for: only one of two overlapping runs alerts.
    """

    where: str

    def hold(self, target_name: str) -> AbstractContextManager[tuple[HealthState | None, StoreFn]]: ...


StoreFn = Callable[[HealthState], None]


class FileStateStore:
    """One JSON file per target under state_dir/health, under an flock, replaced atomically."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.where = str(state_dir / "health")

    @contextmanager
    def hold(self, target_name: str) -> Iterator[tuple[HealthState | None, StoreFn]]:
        path = state_path(self.state_dir, target_name)
        self.where = str(path)
        with _locked(path):
            yield load_state(path), lambda state: save_state(path, state)


class DbStateStore:
    """The state as a row of oncall_notify_state in the target's database, under a row lock.

    For a scheduler without a writable disk (a Render cron job starts with an empty filesystem):
    without it every failing run would page and no recovery would ever be announced.
    """

    def __init__(self, target: Target, environ: Mapping[str, str]) -> None:
        self.target = target
        self.environ = environ
        self.where = f"{target.schema}.{STATE_TABLE} (database of {target.name})"

    @contextmanager
    def hold(self, target_name: str) -> Iterator[tuple[HealthState | None, StoreFn]]:
        import psycopg

        url = database_url_for(self.target, environ=self.environ)
        try:
            with (
                connect(url, connect_timeout=self.target.connect_timeout) as conn,
                locked_state(conn, self.target.schema, target_name) as (raw, save),
            ):
                yield state_from(raw), lambda state: save(asdict(state))
        except psycopg.Error as exc:
            raise CheckFailed(
                f"the alert state in {self.where} could not be read or written: "
                f"{getattr(exc.diag, 'message_primary', None) or type(exc).__name__}",
                f"give the role CREATE on schema {self.target.schema} (first use) or SELECT, INSERT, UPDATE "
                f"on {STATE_TABLE}; or give --notify a writable state_dir",
            ) from exc


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK)


# Render sets RENDER=true in every service, cron jobs included; their filesystem starts empty.
RENDER_ENV = "RENDER"


def store_for(target: Target, environ: Mapping[str, str]) -> StateStore:
    """Where the state lives (config `notify_state`): `file` under state_dir, `database`, or `auto`:
    the database on Render (a cron job's disk is gone by the next run) or when state_dir cannot be
    written, else the file."""
    choice = target.notify_state
    if choice == "auto":
        on_render = environ.get(RENDER_ENV, "").lower() == "true"
        choice = "database" if on_render or not _writable(target.state_dir / "health") else "file"
    if choice == "database":
        return DbStateStore(target, environ)
    return FileStateStore(target.state_dir)


def notify_change(
    health: TargetHealth,
    state_dir: Path,
    url: str | None,
    *,
    channel_urls: Sequence[str] = (),
    policy: AlertPolicy | None = None,
    store: StateStore | None = None,
    clock: Callable[[], _dt.datetime] = _utcnow,
) -> NotifyOutcome:
    """Compare with the stored state, post to each channel what is due to it, store the new state."""
    store = store or FileStateStore(state_dir)
    status = HEALTHY if health.ok else FAILING
    key = dedup_key(health.target)
    channels = channels_of(url, channel_urls)
    with store.hold(health.target) as (previous, save):
        now = clock()
        due = {c.state_key: decide(previous, health.ok, policy, now, c.state_key) for c in channels}
        results = []
        for channel in channels:
            event = due[channel.state_key]
            if event is not None:
                results.append(_post(channel, event, health, previous, key))
        delivered = {r["key"]: r["sent"] for r in results}
        save(next_state(previous, health, now, {k: (e, delivered.get(k, False)) for k, e in due.items()}))
    failed = [r for r in results if not r["sent"]]
    return NotifyOutcome(
        event=_headline(due.values()),
        sent=bool(results) and not failed,
        previous=previous.status if previous else None,
        status=status,
        state_file=store.where,
        error=failed[0]["error"] if failed else None,
        dedup_key=key,
        channels=[{k: v for k, v in r.items() if k != "key"} for r in results],
    )


def _post(
    channel: Channel, event: str, health: TargetHealth, previous: HealthState | None, key: str
) -> dict[str, Any]:
    """Send `event` to one channel: its result, with the event and the channel's state_key."""
    text = message(health, event, previous)
    result = send_to(channel, event=event, text=text, target=health.target, key=key)
    return {
        "channel": result["channel"],
        "event": event,
        "sent": result["sent"],
        "error": result["error"],
        "key": channel.state_key,
    }


def _headline(events: Iterable[str | None]) -> str | None:
    """The run's event for the summary: an alert outranks a reminder (a retried channel's alert and
    another's reminder can go out together); a healthy run can only recover."""
    posted = set(events)
    return next((e for e in (FAILING, REMINDER, RECOVERED) if e in posted), None)
