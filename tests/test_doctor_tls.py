"""doctor's TLS row: real libpq TLS handshakes with a certificate from a throw-away CA.

The wheel's PostgreSQL is built without SSL, so TLS is terminated by a small proxy in front of it
(as a pooler would do); libpq, the handshake, the certificate checks and the server are all real.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from doctor_support import rows, tls_terminating_proxy
from fix_invoke import RunInvoke
from fix_pg import TestDatabase


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_url(pg: TestDatabase, ca: trustme.CA) -> Iterator[str]:
    """The test database's URL, through a TLS front whose certificate names 127.0.0.1."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with tls_terminating_proxy(pg.server.port, context) as port:
        yield pg.url.replace(f":{pg.server.port}/", f":{port}/")


def _ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def test_tls_in_use_is_reported_with_sslmode(tls_url: str, run_invoke: RunInvoke) -> None:
    """sslmode=require over TLS: the tls row says in use, the sslmode, and that nothing was verified."""
    result = run_invoke("connect", "--json", env={"DATABASE_URL": tls_url + "?sslmode=require"})
    row = rows(result.json())["tls"]
    assert result.code == 0
    assert (row["result"], row["detail"]) == (
        "ok",
        "in use (sslmode=require); server certificate not verified",
    )


def test_verified_certificate_is_reported_as_such(tls_url, ca, run_invoke, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """sslmode=verify-full with the right CA: TLS in use, no 'not verified' note."""
    url = f"{tls_url}?sslmode=verify-full&sslrootcert={_ca_file(ca, tmp_path)}"
    result = run_invoke("connect", "--json", env={"DATABASE_URL": url})
    assert result.code == 0
    assert rows(result.json())["tls"]["detail"] == "in use (sslmode=verify-full)"


def test_certificate_from_another_ca_is_a_tls_failure(
    tls_url: str, run_invoke: RunInvoke, tmp_path: Path
) -> None:
    """verify-full against a CA that did not sign the certificate: exit 3, 'TLS failed' on the login row."""
    url = f"{tls_url}?sslmode=verify-full&sslrootcert={_ca_file(trustme.CA(), tmp_path)}"
    result = run_invoke("connect", "--json", env={"DATABASE_URL": url})
    row = rows(result.json())["login"]
    assert result.code == 3
    assert row["detail"].startswith("TLS failed with 127.0.0.1:")
    assert row["hint"] == "check sslmode and sslrootcert in the URL"


def test_require_tls_from_a_server_without_it_is_a_tls_failure(
    pg: TestDatabase, run_invoke: RunInvoke
) -> None:
    """sslmode=require against a server that has no TLS: exit 3, libpq's reason in the cause."""
    result = run_invoke("connect", "--json", env={"DATABASE_URL": pg.url + "?sslmode=require"})
    row = rows(result.json())["login"]
    assert result.code == 3
    assert row["detail"] == (
        f"TLS failed with 127.0.0.1:{pg.server.port}: server does not support SSL, but SSL was required"
    )
