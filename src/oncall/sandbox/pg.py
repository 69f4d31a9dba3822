"""Embedded PostgreSQL for the sandbox and the tests: the production module, re-exported.

The implementation lives in `oncall.embedded_pg` (verify's shadow database uses it too, and
production code never imports `oncall.sandbox`).
"""

from __future__ import annotations

from oncall.embedded_pg import SUPPORTED_VERSIONS, SYSTEM_USER, EmbeddedPostgres, bin_dir, free_port

__all__ = ["SUPPORTED_VERSIONS", "SYSTEM_USER", "EmbeddedPostgres", "bin_dir", "free_port"]
