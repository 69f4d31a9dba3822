"""What a smoke run saw: one CheckResult per check, and the SmokeResult of the whole run.

Shared by the runner, the report (table, live view) and the JUnit writer, so it sits below them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from oncall.probe.conditions import ConditionResult, explain_status, status_hint, status_text
from oncall.probe.http import Attempt, Check, Redirect

Verdict = Literal["healthy", "unhealthy", "unreachable"]

HISTORY_KEEP = 20


@dataclass
class CheckResult:
    """Where one check ended: its last attempt, how many were made, and the verdict."""

    check: Check
    last: Attempt | None = None
    attempts: int = 0
    retries: int = 0
    passes_in_a_row: int = 0
    ever_answered: bool = False
    history: list[str] = field(default_factory=list)
    needed: int = 1
    done: bool = False

    def record(self, attempt: Attempt) -> None:
        self.last = attempt
        self.attempts += 1
        self.retries += attempt.tries - 1
        self.ever_answered = self.ever_answered or attempt.answered
        self.passes_in_a_row = self.passes_in_a_row + 1 if attempt.ok else 0
        self.history = [*self.history, attempt.short()][-HISTORY_KEEP:]
        self.done = self.passes_in_a_row >= self.needed

    @property
    def name(self) -> str:
        return self.check.name

    @property
    def url(self) -> str:
        return self.check.url

    @property
    def status(self) -> int | None:
        return self.last.status if self.last else None

    @property
    def latency_ms(self) -> float | None:
        return self.last.latency_ms if self.last else None

    @property
    def failed(self) -> tuple[ConditionResult, ...]:
        return self.last.failed if self.last else ()

    @property
    def redirects(self) -> tuple[Redirect, ...]:
        return self.last.redirects if self.last else ()

    @property
    def verdict(self) -> Verdict:
        if self.done:
            return "healthy"
        return "unhealthy" if self.ever_answered else "unreachable"

    @property
    def explanation(self) -> str | None:
        """Why it is not healthy, in words: the network error, the edge status, or flapping."""
        if self.verdict == "healthy" or self.last is None:
            return None
        if self.last.error is not None:
            return self.last.error.message
        if self.flapping:
            return f"flapping: never {self.needed} passes in a row (last: {', '.join(self.history[-6:])})"
        words = explain_status(self.last.status)
        if words and self.last.failed:
            return f"{status_text(self.last.status or 0)}: {words}"
        return None

    @property
    def flapping(self) -> bool:
        """A pass followed later by a failure: up and down, which wait mode must not call healthy."""
        passes = [i for i, h in enumerate(self.history) if h.isdigit()]
        return bool(passes) and any(not h.isdigit() for h in self.history[passes[0] :])

    @property
    def hint(self) -> str | None:
        if self.verdict == "healthy" or self.last is None:
            return None
        if self.last.error is not None:
            return self.last.error.hint
        return status_hint(self.last.status)

    def as_dict(self) -> dict[str, Any]:
        last = self.last
        return {
            **self.check.as_dict(),
            "verdict": self.verdict,
            "ok": self.verdict == "healthy",
            "status": self.status,
            "status_text": status_text(self.status) if self.status is not None else None,
            "latency_ms": round(self.latency_ms, 1) if self.latency_ms is not None else None,
            "timeout_s": round(last.timeout_s, 3) if last and last.timeout_s is not None else None,
            "attempts": self.attempts,
            "retries": self.retries,
            "passes_in_a_row": self.passes_in_a_row,
            "needed": self.needed,
            "history": list(self.history),
            "final_url": last.final_url if last else self.url,
            "redirects": [r.as_dict() for r in self.redirects],
            "conditions": [c.as_dict() for c in last.conditions] if last else [],
            "failed": [c.as_dict() for c in self.failed],
            "error": last.error.as_dict() if last and last.error else None,
            "explanation": self.explanation,
            "hint": self.hint,
        }


# repr=False: asyncio.run formats its finished main task, result included, when it puts the SIGINT
# handler back; the generated repr of fifty check results took milliseconds of every pass.
@dataclass(repr=False)
class SmokeResult:
    """The outcome of a smoke run: a library value for the smoke task, health and restart --wait."""

    checks: list[CheckResult]
    wait: float | None
    consecutive: int
    elapsed_s: float

    def __repr__(self) -> str:
        return f"<SmokeResult code={self.code} checks={len(self.checks)} elapsed_s={self.elapsed_s:.3f}>"

    @property
    def ok(self) -> bool:
        return all(c.verdict == "healthy" for c in self.checks)

    @property
    def code(self) -> int:
        if self.ok:
            return 0
        if not any(c.ever_answered for c in self.checks):
            return 3
        return 1

    def summary(self) -> str:
        healthy = sum(c.verdict == "healthy" for c in self.checks)
        total = len(self.checks)
        how = f"within {self.wait:g} s" if self.wait is not None else "in one pass"
        # The time it really took, not only the deadline it was given.
        took = (
            f"{self.elapsed_s:.1f} s"
            if self.wait is None or self.ok
            else f"gave up after {self.elapsed_s:.1f} s"
        )
        if self.ok:
            return f"smoke: all {total} check(s) healthy {how} ({took})"
        if self.code == 3:
            return f"smoke: no check got an HTTP answer {how}; {total} unreachable ({took})"
        return f"smoke: {healthy} of {total} check(s) healthy {how} ({took})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "code": self.code,
            "summary": self.summary(),
            "mode": "wait" if self.wait is not None else "single",
            "wait_s": self.wait,
            "consecutive": self.consecutive if self.wait is not None else 1,
            "elapsed_s": round(self.elapsed_s, 3),
            "checks": [c.as_dict() for c in self.checks],
        }
