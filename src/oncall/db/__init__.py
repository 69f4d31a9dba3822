"""Postgres: database URLs, connections with timeouts, psql, and the facts doctor reads.

Import from the modules (`oncall.db.connect`); the face names the URL type used everywhere
and its one resolver.
"""

from oncall.db.connect import DatabaseURL, database_url_for, parse_database_url

__all__ = ["DatabaseURL", "database_url_for", "parse_database_url"]
