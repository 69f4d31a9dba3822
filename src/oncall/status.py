"""The verdict words every report prints: one enum, so a status is never a bare string.

A `StrEnum` member is its string (`Status.OK == "ok"`, `json.dumps` writes `"ok"`), so JSON and
text output read exactly as before. Three outputs spell the same verdict their own way, and
scripts and tests read those spellings, so they stay; `SAME_AS` below ties each one to its meaning:
health checks say "pass", verify rows say "warning", recover steps say "failed" and "skipped".
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A check's, row's or step's verdict."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    PASS = "pass"  # noqa: S105 - health's spelling of OK, not a password
    WARNING = "warning"  # verify's spelling of WARN
    FAILED = "failed"  # a recover step's spelling of FAIL
    SKIPPED = "skipped"  # a recover step's spelling of SKIP


# The one place the other spellings are mapped to the verdict they mean.
SAME_AS: dict[Status, Status] = {
    Status.PASS: Status.OK,
    Status.WARNING: Status.WARN,
    Status.FAILED: Status.FAIL,
    Status.SKIPPED: Status.SKIP,
}
