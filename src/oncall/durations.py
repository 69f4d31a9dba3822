"""One reading of durations and counts from flags, config and environment: `30s`, `5m`, `1h`, `500ms`, `2d`.

A bare number means seconds. nan, inf, negative values and anything longer than `MAX_SECONDS`
are BadInput naming the flag or key: `smoke --wait nan` would otherwise poll forever, and
`restart --wait-timeout -1` would restart a service and then fail its wait at once.
"""

from __future__ import annotations

import math
import re

from oncall.errors import BadInput

# Longer than any wait a runbook step or log window needs; past this a value is a typo (99999999999d).
MAX_SECONDS = 30 * 86400.0

UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
# A sign is read so that "-1" is reported as negative, not as "not a duration".
_DURATION = re.compile(
    r"^\s*(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))\s*(?P<unit>ms|min|s|m|h|d)?\s*$"
)
DURATION_SYNTAX = "a number of seconds or a number with a unit: 500ms, 30s, 5m, 1h, 2d"


def parse_duration(
    value: object,
    name: str,
    *,
    example: str = "30s",
    allow_zero: bool = True,
    hint: str | None = None,
    shown: str | None = None,
) -> float:
    """`value` (text or number) as seconds; BadInput naming `name` when it is not a sane duration.

    `shown` is how the cause names the value: `NAME 'VALUE'` by default, `VAR='VALUE'` for a variable.
    """
    hint = hint or f"give e.g. {name} {example} ({DURATION_SYNTAX})"
    subject = shown or f"{name} {str(value)!r}"
    if isinstance(value, bool):
        raise BadInput(f"{subject} is not a duration", hint)
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise BadInput(f"{subject} is not a duration", hint)
        seconds = float(match["number"]) * UNITS[match["unit"] or "s"]
    if math.isnan(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        bound = "0 s or more" if allow_zero else "more than 0 s"
        raise BadInput(f"{subject} is not a duration of {bound}", hint)
    if seconds > MAX_SECONDS:
        raise BadInput(f"{subject} is longer than {MAX_SECONDS / 86400:g} days", hint)
    return seconds


def parse_count(
    value: object,
    name: str,
    *,
    minimum: int = 0,
    example: int = 3,
    hint: str | None = None,
    shown: str | None = None,
) -> int:
    """`value` (text or int) as a whole number of at least `minimum`; BadInput naming `name` otherwise."""
    hint = hint or f"give e.g. {name} {example}"
    subject = shown or f"{name} {str(value)!r}"
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"[+-]?[0-9]+", text):
        raise BadInput(f"{subject} is not a whole number", hint)
    if int(text) < minimum:
        raise BadInput(f"{subject} is less than {minimum}", hint)
    return int(text)
