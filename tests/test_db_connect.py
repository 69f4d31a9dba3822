"""Connecting: every libpq failure becomes one cause and one hint, on real sockets and real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from urllib.parse import quote

import pytest

from doctor_support import closed_port, in_loopback_namespace, loopback_namespace_available, silent_listener
from fix_pg import TestDatabase
from fix_secrets import SecretScan
from oncall.db.connect import (
    Address,
    bounded,
    connect,
    lookup_addresses,
    parse_database_url,
    probe_tcp,
    session_facts,
)
from oncall.errors import ExitCode, Unreachable


def _connect_error(raw: str, timeout: float = 2) -> Unreachable:
    url = parse_database_url(raw, source="DATABASE_URL")
    with pytest.raises(Unreachable) as caught:
        connect(url, connect_timeout=timeout).close()
    return caught.value


def test_wrong_password_names_the_user_not_the_password(pg: TestDatabase, secret_scan: SecretScan) -> None:
    """A wrong password is Unreachable (exit 3) naming user and host; the password is never shown."""
    secret_scan.add("not-the-password-42")
    error = _connect_error(pg.url.replace(pg.password, "not-the-password-42"))
    assert error.cause == f"authentication failed for user 'app' on 127.0.0.1:{pg.server.port}"
    assert (error.code, error.details["stage"]) == (ExitCode.UNREACHABLE, "auth")
    assert "not-the-password-42" not in error.message()


def test_missing_database_is_named(pg: TestDatabase) -> None:
    """A database that does not exist is named in the cause, with the Supabase hint."""
    error = _connect_error(pg.url.rsplit("/", 1)[0] + "/no_such_db")
    assert error.cause == f"database 'no_such_db' does not exist on 127.0.0.1:{pg.server.port}"
    assert "postgres" in (error.hint or "")
    assert error.details["stage"] == "database"


def test_refused_port_says_refused() -> None:
    """A port with nothing listening is 'connection refused' with host and port."""
    port = closed_port()
    error = _connect_error(f"postgresql://app:pw@127.0.0.1:{port}/app")
    assert error.cause == f"connection refused by 127.0.0.1:{port}"
    assert error.details["stage"] == "tcp"


def test_silent_server_times_out_within_the_connect_timeout() -> None:
    """A socket that accepts but never answers ends in 'no answer ... within the connect timeout'."""
    with silent_listener() as port:
        error = _connect_error(f"postgresql://app:pw@127.0.0.1:{port}/app", timeout=2)
    assert error.cause == f"no answer from 127.0.0.1:{port} within the connect timeout"
    assert error.details["stage"] == "timeout"


def test_unknown_host_is_a_dns_failure() -> None:
    """A host name that does not resolve is reported as DNS, naming the host."""
    error = _connect_error("postgresql://app:pw@no-such-host.invalid:5432/app")
    assert error.cause == "DNS: host 'no-such-host.invalid' does not resolve"
    assert error.details["stage"] == "dns"


@pytest.mark.skipif(not loopback_namespace_available(), reason="needs unshare -rn (user + net namespaces)")
def test_network_unreachable_from_real_psycopg_error_gets_supabase_hint() -> None:
    """A real libpq 'Network is unreachable' (IPv6 address, no route) maps to the Supabase pooler hint."""
    program = (
        "from oncall.db.connect import connect, parse_database_url\n"
        "from oncall.errors import Unreachable\n"
        "url = parse_database_url('postgresql://postgres:pw@[2001:db8::1]:5432/postgres')\n"
        "try:\n"
        "    connect(url, connect_timeout=2)\n"
        "except Unreachable as exc:\n"
        "    print(exc.cause); print(exc.hint); print(exc.__cause__)\n"
    )
    proc = in_loopback_namespace([sys.executable, "-c", program], env=os.environ)
    cause, hint, original = proc.stdout.splitlines()[:3]
    assert "Network is unreachable" in original
    assert cause.startswith("network is unreachable for [2001:db8::1]:5432")
    assert "pooler.supabase.com, port 5432, user postgres.<ref>" in hint


def test_lookup_lists_literal_and_named_addresses() -> None:
    """lookup_addresses() returns a literal IP as is and looks names up, marking IPv4/IPv6."""
    assert lookup_addresses("2001:db8::1", 5432, 2) == [Address("2001:db8::1", "IPv6")]
    assert Address("127.0.0.1", "IPv4") in lookup_addresses("localhost", 5432, 2)


def test_lookup_unknown_host_is_unreachable() -> None:
    """lookup_addresses() of an unknown name raises Unreachable at the dns stage (exit 3)."""
    with pytest.raises(Unreachable) as caught:
        lookup_addresses("no-such-host.invalid", 5432, 5)
    assert caught.value.details["stage"] == "dns"
    assert "no-such-host.invalid" in caught.value.cause


def test_probe_tcp_reports_refused_and_accepted(pg: TestDatabase) -> None:
    """probe_tcp says which address accepted, and the OS's words for one that refused."""
    here = Address("127.0.0.1", "IPv4")
    accepted = probe_tcp([here], pg.server.port, 2)
    refused = probe_tcp([here], closed_port(), 2)
    assert [a.ok for a in accepted] == [True]
    assert (refused[0].ok, refused[0].error) == (False, "Connection refused")


def test_bounded_gives_up_on_a_call_that_never_returns() -> None:
    """bounded() raises Unreachable when the call outlives its deadline, and returns results otherwise."""
    assert bounded(lambda: 42, 5, "quick call") == 42
    with pytest.raises(Unreachable) as caught:
        bounded(lambda: time.sleep(30), 0.2, "slow call")
    assert caught.value.cause == "slow call did not finish within 0.2 s"


def test_session_facts_read_version_user_and_create_right(pg: TestDatabase) -> None:
    """A login reports server version, current user, TLS state and the CREATE right in the schema."""
    facts = session_facts(parse_database_url(pg.url), schema="public", connect_timeout=5)
    assert (facts.current_user, facts.superuser, facts.database) == ("app", False, pg.name)
    assert facts.server_version_num // 10000 == pg.server.version
    assert (facts.schema_exists, facts.may_create, facts.ssl_in_use) == (True, True, False)


def test_session_facts_without_create_right(pg: TestDatabase) -> None:
    """A role without CREATE on the schema is reported as may_create False."""
    pg.execute("CREATE ROLE reader LOGIN PASSWORD 'reader-pass-1'")
    pg.execute("CREATE SCHEMA app AUTHORIZATION app")
    pg.execute("GRANT USAGE ON SCHEMA app TO reader")
    url = pg.server.url(pg.name, "reader", "reader-pass-1")
    facts = session_facts(parse_database_url(url), schema="app", connect_timeout=5)
    assert (facts.current_user, facts.schema_exists, facts.may_create) == ("reader", True, False)


def test_password_with_special_characters_connects(pg: TestDatabase) -> None:
    """A percent-encoded password (@, :, /, %) is decoded before it reaches libpq."""
    password = "p@ss:w/rd%x-1"
    pg.execute(f"CREATE ROLE special LOGIN PASSWORD '{password}'")
    raw = f"postgresql://special:{quote(password, safe='')}@127.0.0.1:{pg.server.port}/{pg.name}"
    with connect(parse_database_url(raw)) as conn:
        assert conn.execute("select current_user").fetchone() == ("special",)


def test_child_process_of_psql_command_gets_no_password_in_argv(pg: TestDatabase) -> None:
    """psql_command puts the password in the environment only; the argv is just the program."""
    from oncall.db.connect import find_psql, psql_command

    argv, env = psql_command(parse_database_url(pg.url), find_psql())
    assert pg.password not in " ".join(argv)
    assert env["PGPASSWORD"] == pg.password
    proc = subprocess.run(
        [*argv, "-XAtc", "select current_user"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (proc.returncode, proc.stdout.strip()) == (0, "app")
