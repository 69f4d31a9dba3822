"""Migrations: discover the files, read the ledger, plan, apply, baseline and resolve.

files        discover the target's .sql files, read the ledger state (read-only)
run          plan, status and migrate under the advisory lock
admin        baseline and resolve (explicit ledger repair)
common       what run and admin share: URL, read-only state, error translation, progress
ledger, lock, statements, lint, parse_cache   the parts they are built from
"""

from oncall.migrations.admin import AdminResult, baseline, resolve
from oncall.migrations.files import LedgerState, Migration, discover, find, read_state
from oncall.migrations.run import MigrateResult, Plan, StatusResult, migrate, plan, status

__all__ = [
    "AdminResult",
    "LedgerState",
    "MigrateResult",
    "Migration",
    "Plan",
    "StatusResult",
    "baseline",
    "discover",
    "find",
    "migrate",
    "plan",
    "read_state",
    "resolve",
    "status",
]
