"""Shared fixtures, as typed plugins (psycopg's tests/conftest.py is the model):

- fix_secrets: `secret_scan`, and the scan of every test's captured output for the secrets it used.
- fix_pg: `pg_server` (session) and `pg` (a fresh database per test) on the real PostgreSQL.
- fix_invoke: `run_invoke`, the real `invoke` command in a subprocess; `clean_env`, `INVOKE`, `REPO`.
- fix_sandbox: `sandbox_dir` and `api` (the Render stand-in).
- fix_drizzle: `drizzle_migrator`, the real drizzle-orm migrator (node, tests/node/drizzle).

Tests import the types they annotate with from those modules (`from fix_pg import TestDatabase`).
"""

pytest_plugins = ("fix_secrets", "fix_pg", "fix_invoke", "fix_sandbox", "fix_drizzle")
