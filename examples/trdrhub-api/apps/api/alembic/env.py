"""Alembic environment of trdrhub-api: the URL comes from the environment, never from a file.

Render and Supabase give a `postgresql://` URL; SQLAlchemy is told to use psycopg (version 3).
Offline mode (`alembic upgrade --sql`) needs only the dialect, so it runs without any URL set.
"""

import os

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
target_metadata = None


def database_url() -> str:
    url = os.environ.get("DIRECT_DATABASE_URL") or os.environ.get("DATABASE_URL") or ""
    if not url and context.is_offline_mode():
        return "postgresql+psycopg://"
    if not url:
        raise SystemExit("set DIRECT_DATABASE_URL (or DATABASE_URL) to the database to migrate")
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
