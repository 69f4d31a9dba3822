"""Smoke conditions: parse them from config, evaluate them against one HTTP answer, explain statuses.

A check's `conditions` mapping (invoke.yaml, under a target's `smoke:` entry) accepts:

    status: "2xx|3xx"          default when absent; also "200", "200|301", "200-299", 200, [200, 204]
    max_ms: 5000               response time, whole request including redirects and body
    body_contains: "ok"        a string or a list of strings that must all appear in the body
    body_not_contains: "Bad Gateway"     a string or a list; none may appear
    json: {"status": "ok", "db.connected": true}   dotted path (list items by index) -> expected value
    cert_days: 14              the final URL is https and its certificate is valid for more than N days

Every condition is evaluated on its own and reported with what was observed (the Gatus lesson: "which
condition failed, with what value?"). `explain_status` says in words what an edge status means:
Render's edge answers 502 when it cannot reach the app and 503 when no instance is available.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol

from oncall.errors import BadInput
from oncall.redact import redact

DEFAULT_STATUS = "2xx|3xx"
KNOWN = ("status", "max_ms", "body_contains", "body_not_contains", "json", "cert_days")

_EDGE_WORDS = {
    502: "the edge could not reach the app: it crashed, is not listening on its port, "
    "or reset the connection",
    503: "no instance is available to serve the request: starting, scaling or overloaded",
    504: "the edge gave up waiting for the app to answer (gateway timeout)",
}

_EDGE_HINTS = {
    502: "read the service's logs for a crash on boot (for example a missing table), "
    "fix it, restart, then smoke with --wait",
    503: "wait for an instance to come up (smoke --wait), or check the service's scaling and health check",
    504: "the app is up but too slow: look for long queries or a blocked worker",
}


@dataclass(frozen=True)
class CertInfo:
    """The peer certificate of the final https hop, as the verified TLS handshake saw it."""

    not_after: dt.datetime
    subject: str

    def days_left(self, now: dt.datetime | None = None) -> float:
        now = now or dt.datetime.now(dt.UTC)
        return (self.not_after - now).total_seconds() / 86400


@dataclass(frozen=True)
class Observation:
    """What one answered request looked like: the input every condition is evaluated against."""

    status: int
    latency_ms: float
    body: str
    body_truncated: bool
    scheme: str
    cert: CertInfo | None


@dataclass(frozen=True)
class ConditionResult:
    name: str
    expected: str
    observed: str
    ok: bool

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "expected": self.expected, "observed": self.observed, "ok": self.ok}

    def describe(self) -> str:
        """One line for a table cell or a progress line: name, what was seen, what was expected."""
        return f"{self.name}: {self.observed} (expected {self.expected})"


class Condition(Protocol):
    @property
    def name(self) -> str: ...

    def evaluate(self, obs: Observation) -> ConditionResult: ...


def status_text(code: int) -> str:
    """'502 Bad Gateway' for known codes, the number alone otherwise."""
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def explain_status(code: int | None) -> str | None:
    """What an edge status means, in words (502, 503, 504); None for statuses the app chose itself."""
    return _EDGE_WORDS.get(code) if code is not None else None


def status_hint(code: int | None) -> str | None:
    return _EDGE_HINTS.get(code) if code is not None else None


@dataclass(frozen=True)
class StatusCondition:
    spec: str
    ranges: tuple[tuple[int, int], ...]
    name: str = "status"

    def evaluate(self, obs: Observation) -> ConditionResult:
        ok = any(lo <= obs.status <= hi for lo, hi in self.ranges)
        observed = status_text(obs.status)
        words = explain_status(obs.status)
        if words and not ok:
            observed = f"{observed}: {words}"
        return ConditionResult(self.name, self.spec, observed, ok)


@dataclass(frozen=True)
class MaxMsCondition:
    limit_ms: float
    name: str = "max_ms"

    def evaluate(self, obs: Observation) -> ConditionResult:
        return ConditionResult(
            self.name, f"<= {self.limit_ms:g} ms", f"{obs.latency_ms:.0f} ms", obs.latency_ms <= self.limit_ms
        )


# How far around an excerpt redaction looks: a secret that reaches into the excerpt must be seen
# whole to be recognised, so it is redacted within this margin before the excerpt is cut.
_REDACT_MARGIN = 8192


def _snippet(body: str, at: int, needle: str, width: int = 40) -> str:
    """The body around `needle` (first found at `at`), redacted *before* it is cut.

    Cut first, a secret the page echoes would be cut too, and its visible part would no longer
    match the registered value: 38 of 56 characters of a token leaked that way.
    """
    start = max(0, at - width - _REDACT_MARGIN)
    masked = redact(body[start : at + len(needle) + width + _REDACT_MARGIN])
    found = masked.find(needle)
    if found < 0:
        return "(inside a secret, not shown)"
    return " ".join(masked[max(0, found - width) : found + len(needle) + width].split())


@dataclass(frozen=True)
class BodyCondition:
    needle: str
    present: bool
    name: str

    def evaluate(self, obs: Observation) -> ConditionResult:
        at = obs.body.find(self.needle)
        found = at >= 0
        scope = " (in the first part read)" if obs.body_truncated else ""
        if found:
            observed = f"found at character {at}: {_snippet(obs.body, at, self.needle)!r}"
        else:
            observed = f"not found in {len(obs.body)} characters{scope}"
        expected = f"{'contains' if self.present else 'does not contain'} {self.needle!r}"
        return ConditionResult(self.name, expected, observed, found == self.present)


_MISSING = object()


def _lookup(doc: Any, path: str) -> Any:
    node = doc
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


@dataclass(frozen=True)
class JsonCondition:
    path: str
    expected: Any
    name: str

    def evaluate(self, obs: Observation) -> ConditionResult:
        want = json.dumps(self.expected)
        try:
            doc = json.loads(obs.body)
        except ValueError:
            cut = " (body was cut at the read limit)" if obs.body_truncated else ""
            return ConditionResult(self.name, want, f"body is not JSON{cut}", False)
        value = _lookup(doc, self.path)
        if value is _MISSING:
            return ConditionResult(self.name, want, f"no field {self.path!r}", False)
        return ConditionResult(self.name, want, json.dumps(value), value == self.expected)


@dataclass(frozen=True)
class CertDaysCondition:
    days: float
    name: str = "cert_days"

    def evaluate(self, obs: Observation) -> ConditionResult:
        expected = f"valid for more than {self.days:g} days"
        if obs.cert is None:
            why = "no certificate: the URL is plain http" if obs.scheme != "https" else "no certificate seen"
            return ConditionResult(self.name, expected, why, False)
        left = obs.cert.days_left()
        observed = f"expires {obs.cert.not_after:%Y-%m-%d %H:%M} UTC ({left:.1f} days left)"
        return ConditionResult(self.name, expected, observed, left > self.days)


def parse_status(spec: Any, where: str) -> StatusCondition:
    """'2xx|3xx', '200', '200-299', 200 or [200, 204] -> a StatusCondition; BadInput names the part."""
    tokens: Sequence[Any] = spec if isinstance(spec, list | tuple) else str(spec).replace(",", "|").split("|")
    ranges: list[tuple[int, int]] = []
    for raw in tokens:
        token = str(raw).strip().lower()
        if len(token) == 3 and token[0] in "12345" and token[1:] == "xx":
            base = int(token[0]) * 100
            ranges.append((base, base + 99))
        elif "-" in token and all(p.strip().isdigit() for p in token.split("-", 1)):
            lo, hi = (int(p) for p in token.split("-", 1))
            if not 100 <= lo <= hi <= 599:
                # A reversed range ("200-100") matches nothing: every probe would fail for no reason.
                raise BadInput(
                    f"{where}: status range {raw!r} is not low-high within 100-599",
                    "write the lower status first, e.g. 200-299",
                )
            ranges.append((lo, hi))
        elif token.isdigit() and 100 <= int(token) <= 599:
            ranges.append((int(token), int(token)))
        else:
            raise BadInput(
                f"{where}: status condition {spec!r} has a part {raw!r} that is not a status",
                "write statuses like 200, 2xx, 200-299, or several joined by | (e.g. 2xx|3xx)",
            )
    text = "|".join(str(t).strip() for t in tokens) if isinstance(spec, list | tuple) else str(spec)
    return StatusCondition(text, tuple(ranges))


def _number(value: Any, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadInput(f"{where}: {key} must be a number, got {value!r}", f"write e.g. {key}: 14")
    try:
        number = float(value)
    except ValueError:
        raise BadInput(f"{where}: {key} must be a number, got {value!r}", f"write e.g. {key}: 14") from None
    if number < 0:
        raise BadInput(f"{where}: {key} must not be negative, got {value!r}", f"write e.g. {key}: 14")
    return number


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def parse_conditions(raw: Mapping[str, Any] | None, where: str) -> list[Condition]:
    """Conditions from a check's config mapping, the default status condition first when not given."""
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(KNOWN))
    if unknown:
        raise BadInput(
            f"{where}: unknown condition {unknown[0]!r}",
            f"known conditions: {', '.join(KNOWN)} (see docs/smoke.md)",
        )
    conditions: list[Condition] = [parse_status(raw.get("status", DEFAULT_STATUS), where)]
    if "max_ms" in raw:
        conditions.append(MaxMsCondition(_number(raw["max_ms"], "max_ms", where)))
    for needle in _strings(raw["body_contains"]) if "body_contains" in raw else []:
        conditions.append(BodyCondition(needle, present=True, name="body_contains"))
    for needle in _strings(raw["body_not_contains"]) if "body_not_contains" in raw else []:
        conditions.append(BodyCondition(needle, present=False, name="body_not_contains"))
    if "json" in raw:
        fields = raw["json"]
        if not isinstance(fields, Mapping) or not fields:
            raise BadInput(
                f"{where}: json must map field paths to expected values, got {fields!r}",
                'write e.g. json: {"status": "ok", "db.connected": true}',
            )
        for path, expected in fields.items():
            conditions.append(JsonCondition(str(path), expected, name=f"json {path}"))
    if "cert_days" in raw:
        conditions.append(CertDaysCondition(_number(raw["cert_days"], "cert_days", where)))
    return conditions
