"""How smoke results look to a person: the results table, and wait mode's live view or progress lines.

`result_table(checks)` is the rich table the smoke task prints (check, URL, status, latency, failed
conditions with the value seen, attempts, verdict). While waiting, `reporter_for(out, ...)` redraws
that table in place on a terminal (rich Live) and otherwise prints one line when a check's state
changes, so CI logs and cron mail stay short and free of escape codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from oncall.output import Output
from oncall.probe.conditions import status_text
from oncall.probe.results import CheckResult

if TYPE_CHECKING:
    from rich.live import Live
    from rich.table import Table

_VERDICT_STYLE = {"healthy": "green", "unhealthy": "red", "unreachable": "red"}


class Reporter(Protocol):
    def start(self) -> None: ...

    def update(self, result: CheckResult, elapsed: float) -> None: ...

    def stop(self) -> None: ...


def _status_cell(result: CheckResult) -> str:
    if result.last is None:
        return "…"
    if result.last.error is not None:
        return result.last.error.kind
    return status_text(result.status or 0)


def _attempts_cell(result: CheckResult) -> str:
    text = str(result.attempts)
    if result.needed > 1:
        text += f" ({result.passes_in_a_row}/{result.needed} in a row)"
    if result.retries:
        text += f", {result.retries} network retr{'y' if result.retries == 1 else 'ies'}"
    return text


def _problems_cell(result: CheckResult) -> str:
    lines: list[str] = []
    # A failed status condition already says what an edge status means; the explanation is added
    # only when it says something the conditions cannot: a network error, or flapping.
    if result.verdict != "healthy" and result.explanation and (result.flapping or not result.failed):
        lines.append(result.explanation)
    lines += [c.describe() for c in result.failed]
    if result.redirects and not any(c.name == "redirects" for c in result.failed):
        lines.append("redirects: " + " -> ".join(f"{r.status} {r.location}" for r in result.redirects))
    return "\n".join(lines) or "-"


def _verdict_cell(result: CheckResult, live: bool) -> tuple[str, str]:
    if live and not result.done:
        return "waiting", "yellow"
    return result.verdict, _VERDICT_STYLE[result.verdict]


def result_table(checks: Sequence[CheckResult], *, live: bool = False, title: str = "smoke") -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_lines=True)
    columns = ("check", "URL", "status", "latency", "failed conditions (value seen)", "attempts", "verdict")
    for column in columns:
        table.add_column(column, overflow="fold")
    for r in checks:
        latency = f"{r.latency_ms:.0f} ms" if r.latency_ms is not None else "-"
        verdict, style = _verdict_cell(r, live)
        # Text, not markup: bodies and URLs may contain [brackets] that rich would eat.
        table.add_row(
            Text(r.name),
            Text(r.url),
            Text(_status_cell(r)),
            Text(latency),
            Text(_problems_cell(r)),
            Text(_attempts_cell(r)),
            Text(verdict, style=style),
        )
    return table


class LiveReporter:
    """A table redrawn in place on a terminal while wait mode polls."""

    def __init__(self, out: Output, checks: Sequence[CheckResult], wait: float) -> None:
        self._out, self._checks, self._wait = out, checks, wait
        self._live: Live | None = None

    def _draw(self, elapsed: float) -> Table:
        return result_table(self._checks, live=True, title=f"smoke: waiting {elapsed:.0f}/{self._wait:g} s")

    def start(self) -> None:
        from rich.live import Live

        self._live = Live(self._draw(0), console=self._out.console, refresh_per_second=4, transient=True)
        self._live.start()

    def update(self, result: CheckResult, elapsed: float) -> None:
        if self._live is not None:
            self._live.update(self._draw(elapsed))

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


class LineReporter:
    """One line per change of a check's state: off a terminal, a redrawn table would be noise."""

    def __init__(self, out: Output) -> None:
        self._out = out
        self._last: dict[int, str] = {}

    def start(self) -> None:
        return None

    def update(self, result: CheckResult, elapsed: float) -> None:
        last = result.last
        if last is None:
            return
        if last.error is not None:
            seen = last.error.message
        else:
            seen = "; ".join(c.describe() for c in last.failed) or status_text(last.status or 0)
        streak = f"{result.passes_in_a_row}/{result.needed} in a row"
        line = f"{result.name}: {seen} ({streak})"
        # A run of identical failures prints once; every pass prints, so progress is visible.
        if self._last.get(id(result)) == line and not last.ok:
            return
        self._last[id(result)] = line
        done = ", healthy" if result.done else ""
        self._out.print(f"[{elapsed:6.1f}s] {line}{done}", markup=False)

    def stop(self) -> None:
        return None


def reporter_for(out: Output | None, checks: Sequence[CheckResult], wait: float) -> Reporter | None:
    if out is None:
        return None
    if out.console.is_terminal:
        return LiveReporter(out, checks, wait)
    return LineReporter(out)
