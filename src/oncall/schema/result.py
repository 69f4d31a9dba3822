"""One row of a verify result: an expected object (or ledger fact) and what the database has."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oncall.status import Status

OK, WARNING, FAIL = Status.OK, Status.WARNING, Status.FAIL
# How a row fails, finer than FAIL: verify prints these words in its result column.
MISSING, DIFFERS, DRIFT = "missing", "differs", "drift"
ORDER = {DRIFT: 0, MISSING: 1, DIFFERS: 2, FAIL: 3, WARNING: 4, OK: 5}
FAILED = (DRIFT, MISSING, DIFFERS, FAIL)


@dataclass(slots=True)
class VerifyRow:
    """One expected object (or ledger fact) and what the database has."""

    kind: str
    name: str
    expected: str
    found: str
    result: str
    detail: str = ""
    hint: str | None = None

    @property
    def failed(self) -> bool:
        return self.result in FAILED

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "kind": self.kind,
            "name": self.name,
            "expected": self.expected,
            "found": self.found,
            "result": self.result,
        }
        if self.detail:
            doc["detail"] = self.detail
        if self.hint:
            doc["hint"] = self.hint
        return doc
