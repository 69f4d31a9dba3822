"""A Render service's logs and events, read through the API: `logs(target, ...)`, `events(target, ...)`.

Logs come from `GET /logs?ownerId=…&resource=<service id>` (Render pages them by time: `hasMore`,
`nextStartTime`, `nextEndTime`). `logs` reads the window newest first until `limit` lines, then
hands them to `sink` oldest first, as `tail` does; with `follow` it then asks for lines after the
last one seen, forward in time, every `FOLLOW_INTERVAL` seconds until Ctrl-C.

Log text is data written by the app (and by whoever sent it the request): every line is redacted
(`oncall.redact`) before it leaves this module, and `printable` escapes control characters (ANSI
escapes, carriage returns, newlines) so that a line cannot rewrite the terminal or fake another
line; printing it without markup is the caller's part.

Why 1.6 s between follow polls: a line written at a random moment is seen at the next poll, so
the delay is uniform on [0, T] with median T/2; the budget is 40 calls a minute (a tenth of
Render's 400 GET/min), which allows T >= 1.5 s. At 1.6 s the median delay is 0.8 s plus a round
trip, at 37.5 calls a minute; a page that says `hasMore` is fetched at once, which only happens
when more than 100 lines arrived in one interval.
"""

from __future__ import annotations

import datetime as _dt
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from oncall.config import Target
from oncall.errors import BadInput
from oncall.output import visible_controls
from oncall.redact import redact
from oncall.render.client import RenderClient, parse_time, service_ref
from oncall.render.events import MAX_EVENTS, EventsResult, recent_events
from oncall.render.ops import client_for, service_of

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Render keeps logs 7 days on Hobby workspaces, 14 on Professional, 30 on Organization and
# Enterprise (render.com/docs/logging); nothing is kept longer than 30 days on any plan.
RETENTION = _dt.timedelta(days=30)
FOLLOW_INTERVAL = 1.6
MAX_LINES = 10_000
LEVELS = ("debug", "info", "warning", "error", "fatal")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def parse_window(text: str, flag: str = "--since") -> _dt.timedelta:
    """'30m', '2h', '90s', '1d' -> timedelta; anything else is BadInput.

    Not oncall.durations: that caps at 30 days with its own words, and a window beyond Render's
    log retention deserves the retention message (`check_retention`).
    """
    match = _DURATION.match(text or "")
    if not match:
        raise BadInput(f"{flag} {text!r} is not a duration", "pass a number and a unit: 90s, 30m, 2h, 1d")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise BadInput(f"{flag} {text!r} is not positive", f"pass a positive duration, e.g. {flag} 30m")
    return _dt.timedelta(seconds=seconds)


def check_retention(window: _dt.timedelta, text: str) -> None:
    """BadInput when the window reaches further back than Render keeps logs."""
    if window > RETENTION:
        raise BadInput(
            f"--since {text} reaches further back than Render keeps logs "
            f"(at most {RETENTION.days} days; 14 on Professional, 7 on Hobby workspaces)",
            f"pass --since {RETENTION.days}d or less; older lines are gone unless a log stream kept them",
        )


def printable(text: str) -> str:
    """Log text made safe for a terminal: control characters (ANSI escapes too) shown as escapes."""
    return visible_controls(text, _NAMED)


def _label(entry: Mapping[str, Any], name: str) -> str | None:
    for label in entry.get("labels") or ():
        if isinstance(label, Mapping) and label.get("name") == name:
            return str(label.get("value"))
    return None


@dataclass(frozen=True)
class LogLine:
    """One log entry as we hand it on: redacted, not yet escaped (JSON escapes on its own)."""

    id: str
    timestamp: str
    level: str | None
    type: str | None
    instance: str | None
    message: str
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> LogLine:
        labels = {
            str(lab.get("name")): redact(str(lab.get("value")))
            for lab in entry.get("labels") or ()
            if isinstance(lab, Mapping)
        }
        return cls(
            id=str(entry.get("id") or ""),
            timestamp=str(entry.get("timestamp") or ""),
            level=_label(entry, "level"),
            type=_label(entry, "type"),
            instance=_label(entry, "instance"),
            message=redact(str(entry.get("message", ""))),
            labels=labels,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "timestamp": self.timestamp,
            "level": self.level,
            "type": self.type,
            "instance": self.instance,
            "message": self.message,
            "labels": self.labels,
        }

    def text(self) -> str:
        """The line for a terminal: time, level, escaped message."""
        when = self.timestamp[:23].replace("T", " ") or "-"
        return f"{when}  {(self.level or '-'):<7}  {printable(self.message)}"


@dataclass
class LogFilters:
    """Render's own /logs filters; each becomes a query parameter (Render matches wildcards)."""

    level: Sequence[str] = ()
    text: Sequence[str] = ()
    status_code: Sequence[str] = ()
    path: Sequence[str] = ()
    type: Sequence[str] = ()

    def params(self) -> dict[str, list[str]]:
        pairs = {
            "level": self.level,
            "text": self.text,
            "statusCode": self.status_code,
            "path": self.path,
            "type": self.type,
        }
        return {name: list(values) for name, values in pairs.items() if values}


@dataclass
class LogsResult:
    ok: bool
    code: int
    service: dict[str, Any]
    since: str
    lines: int = 0
    followed: bool = False
    interrupted: bool = False
    api_calls: int = 0
    polls: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "code": self.code,
            "service": service_ref(self.service),
            "since": self.since,
            "lines": self.lines,
            "followed": self.followed,
            "interrupted": self.interrupted,
            "api_calls": self.api_calls,
            "polls": self.polls,
        }


def _page(
    api: RenderClient,
    service: Mapping[str, Any],
    *,
    start: _dt.datetime,
    end: _dt.datetime,
    direction: str,
    filters: LogFilters,
    max_pages: int,
) -> list[dict[str, Any]]:
    return api.logs(
        str(service["ownerId"]),
        str(service["id"]),
        start=start,
        end=end,
        max_pages=max_pages,
        direction=direction,
        **filters.params(),
    )


class _Follower:
    """Asks for lines after the newest one seen; remembers the ids at that instant (no repeats)."""

    def __init__(self, since: _dt.datetime, seen: Sequence[LogLine]) -> None:
        self.after = since
        self.ids_at_edge: set[str] = set()
        for line in seen:
            self._note(line)

    def _note(self, line: LogLine) -> None:
        moment = parse_time(line.timestamp)
        if moment is None:
            return
        if moment > self.after:
            self.after, self.ids_at_edge = moment, {line.id}
        elif moment == self.after:
            self.ids_at_edge.add(line.id)

    def fresh(self, entries: Sequence[Mapping[str, Any]]) -> list[LogLine]:
        lines = []
        for entry in sorted(entries, key=lambda e: str(e.get("timestamp") or "")):
            line = LogLine.from_entry(entry)
            moment = parse_time(line.timestamp)
            if moment is not None and (
                moment < self.after or (moment == self.after and line.id in self.ids_at_edge)
            ):
                continue
            self._note(line)
            lines.append(line)
        return lines


def logs(
    target: Target,
    sink: Callable[[LogLine], None],
    *,
    since: str = "30m",
    filters: LogFilters | None = None,
    limit: int = 200,
    follow: bool = False,
    interval: float = FOLLOW_INTERVAL,
    client: RenderClient | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> LogsResult:
    """Hand the service's last `limit` log lines of the window to `sink`, oldest first; then follow."""
    window = parse_window(since)
    check_retention(window, since)
    if not 1 <= limit <= MAX_LINES:
        raise BadInput(f"--limit {limit} is out of range", f"pass a number from 1 to {MAX_LINES}")
    chosen = filters or LogFilters()
    for level in chosen.level:
        if level.lower() not in LEVELS and not any(c in level for c in "*|"):
            raise BadInput(f"--level {level!r} is not a log level", f"pass one of {', '.join(LEVELS)}")
    with client_for(client) as api:
        service = service_of(target, api)
        end = _dt.datetime.now(_dt.UTC)
        pages = max(1, -(-limit // 100))
        entries = _page(
            api, service, start=end - window, end=end, direction="backward", filters=chosen, max_pages=pages
        )
        shown = [LogLine.from_entry(e) for e in entries[:limit]]
        shown.sort(key=lambda line: line.timestamp)
        for line in shown:
            sink(line)
        result = LogsResult(True, 0, service, since, len(shown), followed=follow)
        if follow:
            follower = _Follower(end - window, shown)
            _follow(
                api,
                service,
                sink,
                follower=follower,
                filters=chosen,
                interval=interval,
                sleep=sleep,
                result=result,
            )
        result.api_calls = api.total_calls
        return result


class _CtrlC:
    """Ctrl-C that never lands in the middle of printing a line.

    A KeyboardInterrupt raised while rich writes a line leaves the line in rich's buffer, and
    the next print writes it again: a line shown twice. While `shielded`, a Ctrl-C is noted and
    raised once the line is out.
    """

    def __init__(self) -> None:
        self.pressed = False
        self.shielded = False

    def handler(self, _signum: int, _frame: object) -> None:
        self.pressed = True
        if not self.shielded:
            raise KeyboardInterrupt

    @contextmanager
    def shield(self) -> Iterator[None]:
        self.shielded = True
        try:
            yield
        finally:
            self.shielded = False
        if self.pressed:
            raise KeyboardInterrupt

    @contextmanager
    def installed(self) -> Iterator[_CtrlC]:
        """Our handler for SIGINT while following (only the main thread may set one)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.signal(signal.SIGINT, self.handler)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


def _follow(
    api: RenderClient,
    service: Mapping[str, Any],
    sink: Callable[[LogLine], None],
    *,
    follower: _Follower,
    filters: LogFilters,
    interval: float,
    sleep: Callable[[float], None],
    result: LogsResult,
) -> None:
    """Poll for new lines until Ctrl-C; an interrupt ends the follow, it is not an error."""
    try:
        with _CtrlC().installed() as ctrl_c:
            while True:
                sleep(interval)
                result.polls += 1
                now = _dt.datetime.now(_dt.UTC)
                # Render stamps lines with its own clock: ask from the newest seen, inclusive, and
                # drop the ones already shown, rather than from "now" and lose a line written late.
                entries = _page(
                    api,
                    service,
                    start=follower.after,
                    end=now,
                    direction="forward",
                    filters=filters,
                    max_pages=5,
                )
                with ctrl_c.shield():
                    for line in follower.fresh(entries):
                        result.lines += 1
                        sink(line)
    except KeyboardInterrupt:
        result.interrupted = True


def events(
    target: Target,
    *,
    limit: int = 20,
    types: Sequence[str] = (),
    since: str | None = None,
    client: RenderClient | None = None,
) -> EventsResult:
    """The target's service's recent events, newest first (read-only)."""
    if not 1 <= limit <= MAX_EVENTS:
        raise BadInput(f"--limit {limit} is out of range", f"pass a number from 1 to {MAX_EVENTS}")
    window = parse_window(since) if since else None
    with client_for(client) as api:
        service = service_of(target, api)
        rows = recent_events(api, str(service["id"]), limit=limit, types=types, since=window)
        return EventsResult(True, 0, service, rows, api.total_calls)
