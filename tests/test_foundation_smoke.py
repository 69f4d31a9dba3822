"""The harness itself: real PostgreSQL answers with password auth, and the invoke command loads."""

from __future__ import annotations

import psycopg

from fix_invoke import RunInvoke
from fix_pg import TestDatabase
from fix_secrets import SecretScan


def test_embedded_postgres_accepts_the_app_role_over_tcp(pg: TestDatabase) -> None:
    """A per-test database is reachable on 127.0.0.1 as a non-superuser with a password."""
    with psycopg.connect(pg.url) as conn:
        user, addr = conn.execute("select current_user, inet_server_addr()::text").fetchone()  # type: ignore[misc]
    assert (user, addr) == ("app", "127.0.0.1/32")


def test_invoke_list_shows_targets_task(run_invoke: RunInvoke) -> None:
    """`invoke --list` loads the collection from tasks.py."""
    result = run_invoke("--list")
    assert result.code == 0
    assert "targets" in result.stdout


def test_a_masked_table_cell_keeps_the_table_aligned(secret_scan: SecretScan) -> None:
    """Secrets in table cells are masked before rich lays the table out, so every row is as wide."""
    import io

    from rich.table import Table

    from oncall.output import Output

    secret = "s3cret-pass-word"
    secret_scan.add(secret)
    stream = io.StringIO()
    out = Output(stdout=stream)
    table = Table(title="t")
    table.add_column("hint")
    table.add_column("check")
    table.add_row(f"postgresql://app:{secret}@db.example.com:5432/app", "url")
    table.add_row("ok", "dns")
    out.print(table)
    lines = [line for line in stream.getvalue().splitlines() if line.strip() and line.strip() != "t"]
    assert secret not in stream.getvalue()
    assert "postgresql://app:***@db.example.com" in stream.getvalue()
    # Off a terminal the table is plain lines (no borders, no trailing blanks): the second column
    # starts at one offset on every line only if the first was measured after masking.
    assert len({line.index(word) for line, word in zip(lines, ("check", "url", "dns"), strict=True)}) == 1


def test_a_masked_table_keeps_its_sections_and_leaves_the_callers_table_alone(
    secret_scan: SecretScan,
) -> None:
    """The masked copy rich draws keeps row sections; the caller's Table is not rewritten by printing."""
    import io

    from rich.table import Table

    from oncall.output import Output

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    secret = "s3cret-pass-word"
    secret_scan.add(secret)
    url = f"postgresql://app:{secret}@db.example.com:5432/app"
    stream = Terminal()
    table = Table(title="t")
    table.add_column("check")
    table.add_column("detail")
    table.add_row("dns", "ok", end_section=True)
    table.add_row("url", url)
    Output(stdout=stream).print(table)
    drawn = stream.getvalue()
    assert secret not in drawn
    assert "postgresql://app:***@db.example.com" in drawn
    assert sum(line.startswith("├") for line in drawn.splitlines()) == 1
    assert list(table.columns[1].cells) == ["ok", url]
