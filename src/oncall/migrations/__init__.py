"""Migrations: discover the files, read the ledger, plan, apply, baseline and resolve.

files        discover the target's .sql files, read the ledger state (read-only)
run          plan, status and migrate under the advisory lock
admin        baseline and resolve (explicit ledger repair)
common       what run and admin share: URL, read-only state, error translation, progress
ledger, lock, statements, lint, parse_cache   the parts they are built from

The face names what every reader needs (the files and the ledger state). The runner's API is
imported from its modules (`oncall.migrations.run`, `oncall.migrations.admin`): a package face
that imported them would make verify, health and status load the whole apply machinery (lock,
retries, lint) just to read the files.
"""

from oncall.migrations.files import LedgerState, Migration, discover, find, read_state

__all__ = ["LedgerState", "Migration", "discover", "find", "read_state"]
