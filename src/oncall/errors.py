"""The one exception root of oncall, and the exit codes it maps to.

    OncallError                 code 1 unless a subclass says otherwise
    ├── CheckFailed             1  a check failed: schema mismatch, 502, deploy failed, pending under --check
    ├── BadInput                2  unknown target, missing env variable, malformed URL, bad flag
    ├── Unreachable             3  DNS, refused, timeout, TLS, authentication (database or Render)
    ├── Refused                 4  production without --yes, lock held elsewhere, lock timeouts exhausted
    └── Drift                   5  edited migration, ledger disagrees with the database, two Alembic heads

Library code raises these; only the task layer turns them into `invoke.Exit(message, code)`.
Each error carries a one-line `cause` (what failed, on which host/table/service) and a one-line
`hint` (what to do next), plus optional structured `details` for `--json`.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    CHECK_FAILED = 1
    BAD_INPUT = 2
    UNREACHABLE = 3
    REFUSED = 4
    DRIFT = 5
    # 128 + SIGINT, as a shell reports a run ended by Ctrl-C; SIGHUP and SIGTERM end a task the same way.
    INTERRUPTED = 130


class OncallError(Exception):
    """Root of every error oncall raises on purpose."""

    code: ExitCode = ExitCode.CHECK_FAILED

    def __init__(self, cause: str, hint: str | None = None, **details: Any) -> None:
        super().__init__(cause)
        self.cause = cause
        self.hint = hint
        self.details = details

    def message(self) -> str:
        """Cause and hint as the two lines a user sees (not yet redacted)."""
        if self.hint:
            return f"{self.cause}\n  hint: {self.hint}"
        return self.cause

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": type(self).__name__,
            "cause": self.cause,
            "hint": self.hint,
            "code": int(self.code),
        }
        if self.details:
            doc["details"] = self.details
        return doc

    def __str__(self) -> str:
        return self.message()


class CheckFailed(OncallError):
    code = ExitCode.CHECK_FAILED


class BadInput(OncallError):
    code = ExitCode.BAD_INPUT


class Unreachable(OncallError):
    code = ExitCode.UNREACHABLE


class Refused(OncallError):
    code = ExitCode.REFUSED


class Drift(OncallError):
    code = ExitCode.DRIFT
