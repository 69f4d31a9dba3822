"""The harness itself: real PostgreSQL answers with password auth, and the invoke command loads."""

from __future__ import annotations

import psycopg


def test_embedded_postgres_accepts_the_app_role_over_tcp(pg) -> None:  # type: ignore[no-untyped-def]
    """A per-test database is reachable on 127.0.0.1 as a non-superuser with a password."""
    with psycopg.connect(pg.url) as conn:
        user, addr = conn.execute("select current_user, inet_server_addr()::text").fetchone()  # type: ignore[misc]
    assert (user, addr) == ("app", "127.0.0.1/32")


def test_invoke_list_shows_targets_task(run_invoke) -> None:  # type: ignore[no-untyped-def]
    """`invoke --list` loads the collection from tasks.py."""
    result = run_invoke("--list")
    assert result.code == 0
    assert "targets" in result.stdout
