"""oncall: an on-call runbook as Invoke tasks.

Every module below is usable without Invoke; `oncall.tasks` is the thin CLI layer.
Heavy libraries (psycopg, httpx, pglast, rich) are imported inside functions or by the
modules that need them, never here, so that `invoke --list` stays fast.
"""

__version__ = "0.1.0"
