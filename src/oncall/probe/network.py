"""The sockets under smoke's HTTP client: an asyncio-native network backend for httpcore.

httpx's default async transport reaches the network through anyio. For one request that costs
nothing worth measuring; for fifty at once it does: anyio's connect starts a task group, a task and
an event per connection (several loop turns before a request can be written), and wraps every read
and write in a cancel scope. Smoke runs only on asyncio, so this backend talks to asyncio directly:
one `asyncio.open_connection` per connection, `asyncio.timeout` around each wait, `start_tls` on
the same stream. bench/bench_smoke.py shows the difference.

Errors keep httpcore's types (ConnectError, ReadTimeout, ...), which httpx turns into its own, with
the OS error as the cause: `oncall.probe.http.network_error` reads refused, DNS and TLS failures
from that cause, as it does under the default backend.

`transport(verify, limits)` is the httpx transport smoke sends its requests through
(oncall.probe.http); it is httpx's own AsyncHTTPTransport (request and response mapping, exception
translation) over a connection pool that uses this backend.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

# Happy eyeballs as anyio does it: a host with a broken IPv6 route still connects over IPv4.
_HAPPY_EYEBALLS_DELAY = 0.25


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One TCP (or TLS) connection as an asyncio reader/writer pair."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc) or "read timed out") from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            async with asyncio.timeout(timeout):
                await self._writer.drain()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(str(exc) or "write timed out") from exc
        except OSError as exc:
            raise httpcore.WriteError(str(exc)) from exc

    async def aclose(self) -> None:
        # TLS: no close_notify exchange, as under httpx's default transport. Waiting for the peer's
        # reply could hold a smoke pass open on a dead server, and a shutdown left to finish after
        # the event loop ends leaks the socket. The request was sent and its answer read by now.
        if self._writer.get_extra_info("ssl_object") is not None:
            self._writer.transport.abort()
        else:
            self._writer.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as exc:
            self._writer.close()
            raise httpcore.ConnectTimeout(str(exc) or "TLS handshake timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            self._writer.close()
            raise httpcore.ConnectError(str(exc)) from exc
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "socket":
            return self._writer.get_extra_info("socket")
        if info == "is_readable":
            # httpcore asks this of an idle kept-alive connection: readable while idle means the
            # server closed it (or broke it), so the pool must not send the next request over it.
            return self._reader.at_eof() or self._reader.exception() is not None
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[tuple[Any, ...]] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host,
                    port,
                    local_addr=(local_address, 0) if local_address else None,
                    # Racing addresses costs a task per connect: only a name can have several.
                    happy_eyeballs_delay=None if _is_ip(host) else _HAPPY_EYEBALLS_DELAY,
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc) or "connect timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        sock: socket.socket | None = writer.get_extra_info("socket")
        if sock is not None:
            for option in socket_options or ():
                sock.setsockopt(*option)
        return AsyncioStream(reader, writer)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class AsyncioTransport(httpx.AsyncHTTPTransport):
    """httpx's HTTP/1.1 transport, with its connection pool on `AsyncioBackend`.

    httpx has no argument for the network backend, so this sets the one attribute its transport
    reads (`_pool`) to a pool built as httpx builds it (tests/test_probe_network.py checks that
    requests really go through this backend, so an httpx upgrade that changes this fails loudly).
    """

    def __init__(self, *, verify: ssl.SSLContext, limits: httpx.Limits) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=AsyncioBackend(),
        )


def transport(verify: ssl.SSLContext, limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    return AsyncioTransport(verify=verify, limits=limits)
