"""Embedded PostgreSQL for the sandbox and the tests: the production module, re-exported.

The implementation lives in `oncall.db.embedded` (verify's shadow database uses it too, and
production code never imports `oncall.sandbox`).
"""

from __future__ import annotations

from oncall.db.embedded import SYSTEM_USER, EmbeddedPostgres, free_port
from oncall.db.pgbin import SUPPORTED_VERSIONS, bin_dir

__all__ = ["SUPPORTED_VERSIONS", "SYSTEM_USER", "EmbeddedPostgres", "bin_dir", "free_port"]
