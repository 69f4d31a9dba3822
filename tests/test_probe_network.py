"""oncall.probe.network: smoke's asyncio-native sockets under httpx, against servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import httpx
import pytest

from oncall.probe.http import ssl_context
from oncall.probe.network import AsyncioStream, transport
from oncall.probe.run import _start_staggered
from smoke_support import SmokeServer, close_after_one_server, free_port, leaf, make_ca

LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=2)


def fetch_all(urls: list[str], *, verify: Any = None, pause: float = 0.0) -> list[httpx.Response]:
    """GET each URL in turn with one client on our transport; keep each response's network stream."""

    async def run() -> list[httpx.Response]:
        responses = []
        client = httpx.AsyncClient(transport=transport(verify or ssl_context(), LIMITS), timeout=5.0)
        async with client:
            for url in urls:
                response = await client.get(url)
                responses.append(response)
                await asyncio.sleep(pause)
        return responses

    return asyncio.run(run())


def causes(exc: BaseException) -> list[type[BaseException]]:
    """The exception types along the chain oncall.probe.http.network_error walks."""
    found = []
    node: BaseException | None = exc
    while node is not None:
        found.append(type(node))
        node = node.__cause__ or node.__context__
    return found


def test_requests_go_through_the_asyncio_backend() -> None:
    """The client's connection is our AsyncioStream: httpx really uses the backend we gave it."""
    with SmokeServer() as server:
        (response,) = fetch_all([server.url("/ok")])
    assert (response.status_code, response.text) == (200, "ok")
    assert isinstance(response.extensions["network_stream"], AsyncioStream)


def test_kept_alive_connection_is_reused() -> None:
    with SmokeServer() as server:
        responses = fetch_all([server.url("/ok")] * 3)
        connections = server.connections
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert connections == 1


def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    """The pool asks the stream whether an idle connection is readable: closed ones are dropped."""
    with close_after_one_server() as server:
        url = server.url()
        responses = fetch_all([url, url, url], pause=0.1)
        accepted = server.accepted
    assert [r.text for r in responses] == ["ok", "ok", "ok"]
    assert accepted == 3


def test_a_host_name_connects_through_its_addresses() -> None:
    """`localhost` can resolve to ::1 first while the server listens on 127.0.0.1 only."""
    with SmokeServer() as server:
        (response,) = fetch_all([f"http://localhost:{server.port}/ok"])
    assert response.status_code == 200


def test_refused_is_a_connect_error_caused_by_the_os_error() -> None:
    """httpx's ConnectError with ConnectionRefusedError in its causes: what network_error reads."""
    with pytest.raises(httpx.ConnectError) as caught:
        fetch_all([f"http://127.0.0.1:{free_port()}/"])
    assert ConnectionRefusedError in causes(caught.value)


def test_a_silent_server_is_a_read_timeout() -> None:
    with SmokeServer() as server:

        async def run() -> None:
            client = httpx.AsyncClient(transport=transport(ssl_context(), LIMITS), timeout=0.3)
            async with client:
                await client.get(server.url("/hang"))

        with pytest.raises(httpx.ReadTimeout):
            asyncio.run(run())


def test_tls_through_start_tls_exposes_the_peer_certificate(tmp_path: Any) -> None:
    """Also: closing a TLS connection closes its socket at once (none is left for the collector)."""
    import gc

    ca, pem = make_ca(tmp_path)
    with SmokeServer(tls=leaf(ca)) as server:
        (response,) = fetch_all([server.url("/ok")], verify=ssl_context(pem))
        ssl_object = response.extensions["network_stream"].get_extra_info("ssl_object")
    assert response.status_code == 200
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del response
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert ssl_object is not None
    assert "notAfter" in ssl_object.getpeercert()


def test_an_untrusted_certificate_is_a_connect_error_with_the_verification_failure(tmp_path: Any) -> None:
    import ssl

    ca, _ = make_ca(tmp_path)
    with SmokeServer(tls=leaf(ca)) as server, pytest.raises(httpx.ConnectError) as caught:
        fetch_all([server.url("/ok")])
    assert ssl.SSLCertVerificationError in causes(caught.value)


def test_staggered_start_runs_all_and_stops_all_when_one_fails() -> None:
    """A poll that raises cancels the ones running and closes the ones never started, silently."""
    started: list[int] = []
    cancelled: list[int] = []

    async def poll(n: int) -> None:
        started.append(n)
        if n == 1:
            raise RuntimeError("boom")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(n)
            raise

    async def ok(n: int) -> None:
        await asyncio.sleep(0.01)
        started.append(n)

    assert asyncio.run(_start_staggered([ok(n) for n in range(5)])) is None
    assert sorted(started) == [0, 1, 2, 3, 4]
    started.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeError, match="boom"):
            asyncio.run(_start_staggered([poll(n) for n in range(4)]))
    assert started[:2] == [0, 1]
    assert set(cancelled) == set(started) - {1}


def test_a_pass_cancelled_while_starting_closes_the_checks_it_never_started() -> None:
    """Ctrl-C during the start: started checks are cancelled, the rest closed unstarted, no warning."""
    import gc

    started: list[int] = []

    async def poll(n: int) -> None:
        started.append(n)
        await asyncio.sleep(10)

    async def main() -> None:
        launcher = asyncio.create_task(_start_staggered([poll(n) for n in range(20)]))
        for _ in range(3):
            await asyncio.sleep(0)
        launcher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await launcher

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        asyncio.run(main())
        gc.collect()
    assert 0 < len(started) < 20
