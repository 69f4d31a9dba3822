"""Alert channels: the Slack-style webhook, and every channel apprise knows, from one URL each.

apprise (a well-kept library with one URL syntax for PagerDuty, Opsgenie, Slack, Teams, Discord,
email, a plain `json://host:port/path` webhook and a hundred more) sends the alert; we keep only
what apprise cannot know: which event this is, and a dedup key per target's health check.

PagerDuty (`pagerduty://INTEGRATION_KEY@API_KEY`): apprise's plugin sends Events v2 and takes the
event action and the dedup key from the URL's query (`action=trigger|resolve`, `dedup=KEY`), so an
alert, its reminders and its resolve share `oncall-health-<target>` and the resolve closes the
incident the trigger opened.

The channel URLs are secrets (they carry tokens and routing keys): they come from an environment
variable (`ONCALL_NOTIFY_URLS`, or the one config key `notify_urls_env` names), every URL and its
parts are registered with the redactor, apprise's own log lines pass through the redactor, and a
channel is named by its position and scheme only ("channel 2 (pagerduty)").

Each channel also has a `state_key` (its scheme and a short hash of its URL): health --notify
keeps what each channel was told under it, so a channel that accepted an alert is not sent it
again when another one failed, and the key survives reordering ONCALL_NOTIFY_URLS. A hash, not
the URL: the state file and the database row must hold no secret.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from oncall.errors import BadInput, CheckFailed, OncallError, Unreachable
from oncall.redact import redact, register_secret

WEBHOOK_ENV = "ONCALL_WEBHOOK_URL"
POST_TIMEOUT = 10.0
NOTIFY_URLS_ENV = "ONCALL_NOTIFY_URLS"
PAGERDUTY_SCHEMES = ("pagerduty",)
_SEPARATORS = re.compile(r"[\s,]+")
TOKEN_LENGTH = 16
# Schemes whose host part is a server's name, not a key (every other scheme's host is masked).
_HOST_IS_A_PLACE = ("json", "jsons", "xml", "xmls", "form", "forms", "mailto", "mailtos")


class _RedactingFilter(logging.Filter):
    """apprise logs URLs and payloads at debug level: mask every secret before a handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


class _Reasons(logging.Filter):
    """While one send runs: keep apprise's warnings (why it failed: "error=500", "A Connection
    error occurred ...") for our result instead of letting them reach a handler."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            self.lines.append(redact(record.getMessage()))
            return False
        return True


# The apprise logger is one object: one send at a time changes its level and filters.
_capture_lock = threading.Lock()


@contextmanager
def _apprise_reasons() -> Iterator[_Reasons]:
    logger = logging.getLogger("apprise")
    reasons = _Reasons()
    with _capture_lock:
        level = logger.level
        logger.addFilter(reasons)  # after the redacting filter: it sees masked text
        logger.setLevel(logging.WARNING)
        try:
            yield reasons
        finally:
            logger.setLevel(level)
            logger.removeFilter(reasons)


def _quiet_apprise_logging() -> None:
    logger = logging.getLogger("apprise")
    if not any(isinstance(f, _RedactingFilter) for f in logger.filters):
        logger.addFilter(_RedactingFilter())
    # Its warnings repeat what our result already says; never its debug lines (they hold payloads).
    logger.setLevel(logging.ERROR)


def _register_url(url: str) -> None:
    register_secret(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    for piece in (parts.path, parts.query, parts.username, parts.password):
        if piece and len(piece) > 1:
            register_secret(piece)
    for segment in parts.path.split("/"):
        # A token-like segment alone (an echoed path may be cut); not words such as "hooks".
        if len(segment) >= TOKEN_LENGTH:
            register_secret(segment)
    if parts.hostname and scheme_of(url) not in _HOST_IS_A_PLACE:
        register_secret(parts.hostname)  # for pagerduty:// or tgram:// the "host" is a key


def scheme_of(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else "?"


def channel_urls(environ: Mapping[str, str], variable: str = NOTIFY_URLS_ENV) -> list[str]:
    """The apprise URLs in `variable` (space or comma separated), each registered as a secret.

    BadInput names the variable, the entry's position and its scheme; never the URL itself.
    """
    raw = environ.get(variable, "")
    urls = [u for u in _SEPARATORS.split(raw.strip()) if u]
    for url in urls:
        _register_url(url)
    import apprise

    _quiet_apprise_logging()
    for index, url in enumerate(urls, start=1):
        if apprise.Apprise.instantiate(url) is None:
            raise BadInput(
                f"{variable} entry #{index} ({scheme_of(url)}://...) is not a channel URL apprise accepts",
                "write it as apprise documents it, e.g. pagerduty://INTEGRATION_KEY@API_KEY or "
                "json://host:port/path (https://appriseit.com/services/)",
            )
    return urls


def with_event(url: str, event: str, key: str) -> str:
    """A PagerDuty URL with this event's action and the incident's dedup key; other URLs unchanged."""
    if scheme_of(url) not in PAGERDUTY_SCHEMES:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("action", "dedup")]
    query += [("action", "resolve" if event == "recovered" else "trigger"), ("dedup", key)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def send_apprise(url: str, *, position: int, event: str, title: str, body: str, key: str) -> None:
    """Send one alert through apprise; CheckFailed naming the channel's position and scheme."""
    import apprise

    _quiet_apprise_logging()
    name = f"channel {position} ({scheme_of(url)})"
    sender = apprise.Apprise()
    if not sender.add(with_event(url, event, key)):
        raise BadInput(f"{name} is not a channel URL apprise accepts", "check ONCALL_NOTIFY_URLS")
    kinds = {"recovered": apprise.NotifyType.SUCCESS, "report": apprise.NotifyType.INFO}
    kind = kinds.get(event, apprise.NotifyType.FAILURE)
    with _apprise_reasons() as reasons:
        delivered = sender.notify(
            title=redact(title),
            body=redact(body),
            notify_type=kind,
            body_format=apprise.NotifyFormat.MARKDOWN,
        )
    if not delivered:
        why = f": {_one_line(reasons.lines[-1]).rstrip('.')}" if reasons.lines else ""
        raise CheckFailed(
            f"{name} did not accept the {event} alert{why}",
            "check that channel's URL and service; the next run posts to it again",
        )


def _one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


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


def _title(event: str, target: str) -> str:
    words = {"failing": "FAILING", "reminder": "STILL FAILING", "recovered": "RECOVERED"}
    return f"oncall health: {target} {words.get(event, event)}"


def _markdown(text: str) -> str:
    # The chat text uses Slack's :emoji: words; a plain channel gets the words without them.
    return re.sub(r"^:[a-z_]+: ", "", text)


@dataclass(frozen=True)
class Channel:
    """One place an alert goes: the Slack-style webhook, or one apprise URL (a secret)."""

    name: str  # what outputs show: "webhook", "channel 2 (pagerduty)"
    url: str
    position: int = 0  # 1-based place in ONCALL_NOTIFY_URLS; 0 for the webhook

    @property
    def is_webhook(self) -> bool:
        return self.position == 0

    @property
    def state_key(self) -> str:
        """A stable name for the stored delivery state: scheme and a hash, never the URL."""
        digest = hashlib.sha256(self.url.encode("utf-8")).hexdigest()[:16]
        return f"{'webhook' if self.is_webhook else scheme_of(self.url)}:{digest}"


def channels_of(webhook: str | None, urls: Sequence[str]) -> list[Channel]:
    """The webhook (when set) and each apprise URL, in the order they are posted to."""
    listed = [Channel("webhook", webhook)] if webhook else []
    listed += [
        Channel(f"channel {position} ({scheme_of(url)})", url, position)
        for position, url in enumerate(urls, start=1)
    ]
    return listed


def send_to(
    channel: Channel, *, event: str, text: str, target: str, key: str, title: str | None = None
) -> dict[str, Any]:
    """Post one alert to one channel; its result ({channel, sent, error}), never raises."""
    if channel.is_webhook:
        return _attempt(channel.name, lambda: post_webhook(channel.url, text))
    return _attempt(
        channel.name,
        lambda: send_apprise(
            channel.url,
            position=channel.position,
            event=event,
            title=title or _title(event, target),
            body=_markdown(text),
            key=key,
        ),
    )


def deliver(
    *,
    webhook: str | None,
    channel_urls: Sequence[str],
    event: str,
    text: str,
    target: str,
    key: str,
    title: str | None = None,
) -> list[dict[str, Any]]:
    """Post the alert to the webhook and each apprise channel; one result per channel, never raises."""
    return [
        send_to(channel, event=event, text=text, target=target, key=key, title=title)
        for channel in channels_of(webhook, channel_urls)
    ]


def _attempt(name: str, send: Callable[[], None]) -> dict[str, Any]:
    try:
        send()
    except OncallError as exc:
        return {"channel": name, "sent": False, "error": exc.as_dict()}
    return {"channel": name, "sent": True, "error": None}
