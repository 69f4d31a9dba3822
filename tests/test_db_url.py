"""Database URLs: parsing names the wrong part, pooler detection, and the environment psql gets."""

from __future__ import annotations

import pytest

from fix_secrets import SecretScan
from oncall.db.connect import parse_database_url, pooler_mode
from oncall.errors import BadInput, ExitCode


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("", "DATABASE_URL is empty"),
        ("   ", "DATABASE_URL is empty"),
        ("mysql://u:pw@db.example.com/x", "scheme 'mysql'"),
        ("db.example.com:5432/postgres", "scheme"),
        ("postgresql://u:pw@db.example.com:54x2/postgres", "port that is not a number: '54x2'"),
        ("postgresql://u:pw@/postgres", "has no host"),
        ("postgresql://db.example.com/postgres", "has no user name (host db.example.com)"),
    ],
    ids=[
        "an empty URL says it is empty",
        "a blank URL says it is empty",
        "a foreign scheme is named",
        "a URL without a scheme says so",
        "a non-numeric port is quoted",
        "a missing host is named",
        "a missing user is named with the host",
    ],
)
def test_malformed_url_names_the_wrong_part(raw: str, says: str) -> None:
    """A malformed URL raises BadInput (exit 2) whose cause names the part that is wrong."""
    with pytest.raises(BadInput) as caught:
        parse_database_url(raw, source="DATABASE_URL")
    assert says in caught.value.cause
    assert caught.value.code == ExitCode.BAD_INPUT
    assert "\n" not in caught.value.cause


def test_malformed_url_never_shows_its_password(secret_scan: SecretScan) -> None:
    """The password of a URL that fails to parse appears in no part of the error."""
    secret_scan.add("hunter2-secret")
    with pytest.raises(BadInput) as caught:
        parse_database_url("postgresql://me:hunter2-secret@db.example.com:notaport/x", source="DATABASE_URL")
    assert "hunter2-secret" not in caught.value.message()


@pytest.mark.parametrize(
    ("raw", "mode"),
    [
        ("postgresql://u:p@aws-0-eu-central-1.pooler.supabase.com:6543/postgres", "transaction"),
        ("postgresql://u:p@127.0.0.1:6543/postgres", "transaction"),
        ("postgresql://u:p@db.internal:5432/app?pgbouncer=true", "transaction"),
        ("postgresql://u:p@aws-0-eu-central-1.pooler.supabase.com:5432/postgres", "session"),
        ("postgresql://u:p@pgbouncer.internal:5432/app", "pooler-unknown-mode"),
        ("postgresql://u:p@db.internal:6432/app", "pooler-unknown-mode"),
        ("postgresql://u:p@db.abcdefgh.supabase.co:5432/postgres", "direct"),
    ],
    ids=[
        "Supabase pooler on 6543 is transaction mode",
        "any host on port 6543 is treated as transaction mode",
        "?pgbouncer=true is transaction mode",
        "Supabase pooler on 5432 is session mode",
        "a host named pgbouncer is a pooler of unknown mode",
        "PgBouncer's default port 6432 is a pooler of unknown mode",
        "Supabase's direct host is direct",
    ],
)
def test_pooler_mode_follows_supabase_and_pgbouncer_conventions(raw: str, mode: str) -> None:
    """pooler_mode classifies a URL by port, host and ?pgbouncer=true."""
    assert pooler_mode(parse_database_url(raw)).mode == mode


def test_remote_host_gets_sslmode_require_and_local_keeps_prefer() -> None:
    """A non-local host without sslmode is connected with sslmode=require; 127.0.0.1 keeps prefer."""
    remote = parse_database_url("postgresql://u:p@db.example.com/app")
    local = parse_database_url("postgresql://u:p@127.0.0.1/app")
    assert (remote.sslmode, "sslmode=require" in remote.conninfo()) == ("require", True)
    assert (local.sslmode, "sslmode" in local.conninfo()) == ("prefer", False)


def test_libpq_env_carries_every_setting_and_the_password() -> None:
    """libpq_env gives psql host, port, user, database, sslmode and the password as PG* variables."""
    url = parse_database_url(
        "postgresql://postgres.abc:s3cr%40t@pooler.example.com:5432/postgres?sslrootcert=/ca.pem&options=-csearch_path%3Dapp"
    )
    env = url.libpq_env()
    assert env["PGPASSWORD"] == "s3cr@t"
    assert (env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGDATABASE"]) == (
        "pooler.example.com",
        "5432",
        "postgres.abc",
        "postgres",
    )
    assert (env["PGSSLMODE"], env["PGSSLROOTCERT"], env["PGOPTIONS"]) == (
        "require",
        "/ca.pem",
        "-csearch_path=app",
    )


def test_prisma_parameters_are_left_out_of_what_libpq_sees() -> None:
    """Prisma's pgbouncer=, connection_limit= and schema= are dropped from the conninfo; libpq's stay."""
    url = parse_database_url(
        "postgresql://u:p@db.example.com:5432/app?pgbouncer=true&connection_limit=1&schema=public&sslmode=verify-full"
    )
    assert url.foreign_params == ["pgbouncer", "connection_limit", "schema"]
    assert url.conninfo() == "postgresql://u:p@db.example.com:5432/app?sslmode=verify-full"
