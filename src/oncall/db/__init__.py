"""Postgres: database URLs, connections with timeouts, psql, and the facts doctor reads.

Import from the modules (`oncall.db.connect`); the face names only the URL type used everywhere.
"""

from oncall.db.connect import DatabaseURL, parse_database_url

__all__ = ["DatabaseURL", "parse_database_url"]
