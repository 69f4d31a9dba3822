"""What a health check returns, and how the codes of several checks combine.

The types the checks, the runner, metrics and notifications share; they live one floor below all
of them so that none has to import the runner.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from oncall.config import Target
from oncall.errors import ExitCode
from oncall.status import Status

SEVERITY: tuple[int, ...] = (
    ExitCode.UNREACHABLE,
    ExitCode.DRIFT,
    ExitCode.BAD_INPUT,
    ExitCode.REFUSED,
    ExitCode.CHECK_FAILED,
)
DEFAULT_CHECK_TIMEOUT = 20.0
CHECK_NAMES = ("database", "schema", "render", "smoke")

PASS, FAIL, SKIP = Status.PASS, Status.FAIL, Status.SKIP


def combine_codes(codes: Sequence[int]) -> int:
    """The most severe non-zero code by `SEVERITY` (0 when all are 0)."""
    failing = {int(c) for c in codes if int(c) != 0}
    for code in SEVERITY:
        if code in failing:
            return int(code)
    return max(failing) if failing else 0


class Skip(Exception):
    """Raised by a check that this target cannot run; the reason is shown."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class HealthObservation:
    """What a check saw when it ran to the end (an OncallError is the other way to finish)."""

    ok: bool
    code: int = 0
    cause: str | None = None
    hint: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class HealthCheckResult:
    name: str
    status: str
    code: int
    duration: float
    cause: str | None = None
    hint: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "ok": self.status != FAIL,
            "code": self.code,
            "duration_s": round(self.duration, 4),
            "cause": self.cause,
            "hint": self.hint,
            "details": self.details,
        }


@dataclass
class TargetHealth:
    target: str
    system: str
    checks: list[HealthCheckResult]
    started: _dt.datetime
    duration: float
    finished_ts: float
    notify: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    @property
    def code(self) -> int:
        return combine_codes([c.code for c in self.checks if c.status == FAIL])

    def check(self, name: str) -> HealthCheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "target": self.target,
            "system": self.system,
            "ok": self.ok,
            "code": self.code,
            "started": self.started.isoformat(timespec="milliseconds"),
            "duration_s": round(self.duration, 4),
            "checks": [c.as_dict() for c in self.checks],
        }
        if self.notify is not None:
            doc["notify"] = self.notify
        return doc


@dataclass
class CheckEnv:
    """What every check may read: the target, the environment, and its time budget."""

    target: Target
    environ: Mapping[str, str]
    timeout: float


CheckFn = Callable[[CheckEnv], HealthObservation]
