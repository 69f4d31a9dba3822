"""One smoke attempt over HTTP: the request, its redirects, the answer, or a network error in words.

The request layer of `oncall.probe` (which re-exports `Check`). `probe_once` makes one attempt at a
check: the request, sent straight to the transport (`build_request`: no httpx client, so no cookie
jar, netrc or proxy), and the redirects it follows by hand (`next_hop`: each hop recorded, a loop
named as a loop, the check's headers kept to its own origin),
a body read up to a limit, the peer certificate of an https answer, and the check's conditions
evaluated on what came back. `network_error` is the one place httpx's exceptions are translated:
refused, DNS, connect timeout and reset are retried (bounded, reported); read and total timeouts,
TLS failures and protocol errors are not, because trying again at once would not change them.
`ssl_context` keeps verification on and caches the loaded CA bundle for the process.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from oncall.errors import BadInput
from oncall.probe.conditions import CertInfo, Condition, ConditionResult, Observation

if TYPE_CHECKING:
    import httpx

MAX_BODY_BYTES = 1 << 20


@dataclass(frozen=True)
class Check:
    """One request to make and the conditions its answer must meet."""

    name: str
    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    conditions: tuple[Condition, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        # Header values can be secrets: only their names are ever shown.
        return {"name": self.name, "url": self.url, "method": self.method, "headers": sorted(self.headers)}


@dataclass(frozen=True)
class Redirect:
    status: int
    location: str

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "location": self.location}


@dataclass(frozen=True)
class NetworkError:
    """No HTTP answer: why, in words, and whether trying again at once could help."""

    kind: str  # refused, dns, connect_timeout, read_timeout, total_timeout, tls, reset, network
    message: str
    hint: str
    retryable: bool

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "hint": self.hint}


@dataclass(frozen=True)
class Attempt:
    """One attempt at a check: an answer with its evaluated conditions, or a network error."""

    status: int | None
    latency_ms: float | None
    conditions: tuple[ConditionResult, ...]
    error: NetworkError | None
    redirects: tuple[Redirect, ...]
    final_url: str
    tries: int
    timeout_s: float | None = None  # the whole-try timeout of the last try, after any deadline cut

    @property
    def answered(self) -> bool:
        return self.status is not None

    @property
    def ok(self) -> bool:
        return self.error is None and all(c.ok for c in self.conditions)

    @property
    def failed(self) -> tuple[ConditionResult, ...]:
        return tuple(c for c in self.conditions if not c.ok)

    def short(self) -> str:
        """'200', '502', 'refused', 'timeout': the history entry for this attempt."""
        if self.error is not None:
            return self.error.kind
        return str(self.status) if self.ok else f"{self.status}!"


@dataclass(frozen=True)
class Limits:
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 15.0
    max_redirects: int = 10
    network_retries: int = 2
    retry_backoff: float = 0.25
    max_body_bytes: int = MAX_BODY_BYTES
    cut_to_deadline: bool = False  # the timeouts were shortened to the time left before a deadline

    def within(self, left: float) -> Limits:
        """These limits, no timeout longer than the `left` seconds before a deadline.

        A wait that ends at its deadline cannot let a request run its full timeout past it: a slow
        page held `smoke --wait 5` for 20 s. A try always gets MIN_TRY_S, so the last poll before
        the deadline is still a real request.
        """
        cap = max(left, MIN_TRY_S)
        if cap >= max(self.connect_timeout, self.read_timeout, self.total_timeout):
            return self
        return replace(
            self,
            connect_timeout=min(self.connect_timeout, cap),
            read_timeout=min(self.read_timeout, cap),
            total_timeout=min(self.total_timeout, cap),
            cut_to_deadline=True,
        )

    def request_timeouts(self, timeouts: Mapping[str, float | None]) -> dict[str, float | None]:
        """httpx's per-request timeouts, none longer than this try's whole-try timeout."""
        return {
            name: min(value, self.total_timeout) if value is not None else None
            for name, value in timeouts.items()
        }


# The shortest try a deadline leaves a request: less would fail every page that is merely not instant.
MIN_TRY_S = 0.5


# OpenSSL X509_V_ERR_* codes a smoke check meets, in words for the person reading the report.
_VERIFY_WORDS = {
    10: "the certificate has expired",
    18: "the server sent a self-signed certificate that nothing here trusts",
    19: "the chain ends in a self-signed CA that nothing here trusts",
    20: "it is signed by a CA that is not in the trusted bundle (a private or self-made CA)",
    62: "the certificate is for a different host name",
}


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def _root_causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    node: BaseException | None = exc
    while node is not None and node not in seen:
        seen.append(node)
        node = node.__cause__ or node.__context__
    return seen


def _seconds(value: float) -> str:
    """A timeout for a message: 15 as '15', a deadline's 0.99734 as '0.99'."""
    return f"{round(value, 2):g}"


def network_error(exc: BaseException, url: str, limits: Limits) -> NetworkError:
    """Translate an httpx transport error (or our total timeout) into words: the one boundary."""
    import httpx

    where = _host_port(url)
    causes = _root_causes(exc)
    if isinstance(exc, TimeoutError):
        seconds = _seconds(limits.total_timeout)
        which = (
            f"the {seconds} s left before the deadline"
            if limits.cut_to_deadline
            else f"the total timeout of {seconds} s"
        )
        return NetworkError(
            "total_timeout",
            f"no complete answer from {url} within {which}",
            "the app is up but slow or stuck; raise --total-timeout only if this page is slow by design",
            retryable=False,
        )
    if isinstance(exc, httpx.ConnectTimeout):
        return NetworkError(
            "connect_timeout",
            f"connecting to {where} timed out after {_seconds(limits.connect_timeout)} s",
            "check the host name and that the service is running; a firewall can drop packets silently",
            retryable=True,
        )
    if isinstance(exc, httpx.TimeoutException):
        return NetworkError(
            "read_timeout",
            f"{where} accepted the connection but sent no answer within {_seconds(limits.read_timeout)} s",
            "the app hangs: look for a blocked worker or a long query; restart if it stays stuck",
            retryable=False,
        )
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            detail = cause.verify_message or str(cause)
            words = _VERIFY_WORDS.get(cause.verify_code or 0)
            detail += f" ({words})" if words else ""
            return NetworkError(
                "tls",
                f"TLS certificate of {where} failed verification: {detail}",
                "the certificate is not trusted (self-signed, expired, or for another name); serve one "
                "from a public CA, or trust your CA with --ca-file / SSL_CERT_FILE; verification stays on",
                retryable=False,
            )
        if isinstance(cause, ssl.SSLError):
            return NetworkError(
                "tls",
                f"TLS handshake with {where} failed: {cause.reason or cause}",
                "check that the port speaks https (not plain http) and supports TLS 1.2 or newer",
                retryable=False,
            )
    for cause in causes:
        if isinstance(cause, ConnectionRefusedError):
            return NetworkError(
                "refused",
                f"connection refused by {where}: nothing is listening there",
                "the app or its proxy is down or on another port; check the URL and the service",
                retryable=True,
            )
        if isinstance(cause, socket.gaierror):
            return NetworkError(
                "dns",
                f"cannot resolve the host name of {url}: {cause.strerror or cause}",
                "check the spelling of the host, or the DNS record of the custom domain",
                retryable=True,
            )
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return NetworkError(
            "reset",
            f"{where} closed the connection without a complete answer ({exc})",
            "the app may be crashing mid-request; read its logs",
            retryable=True,
        )
    return NetworkError(
        "network",
        f"network error reaching {where}: {type(exc).__name__}: {exc}",
        "check the URL and the network path to the host",
        # Only socket-level failures may be transient; a protocol or URL problem repeats itself.
        retryable=isinstance(exc, httpx.NetworkError),
    )


def _peer_cert(response: httpx.Response) -> CertInfo | None:
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if ssl_object is None:
        return None
    cert = ssl_object.getpeercert()
    if not cert or "notAfter" not in cert:
        return None
    import datetime as dt

    not_after = dt.datetime.fromtimestamp(ssl.cert_time_to_seconds(cert["notAfter"]), dt.UTC)
    subject = ", ".join(f"{k}={v}" for rdn in cert.get("subject", ()) for k, v in rdn)
    return CertInfo(not_after=not_after, subject=subject)


async def _read_capped(response: httpx.Response, cap: int) -> tuple[str, bool]:
    chunks: list[bytes] = []
    size = 0
    truncated = False
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= cap:
            truncated = True
            break
    data = b"".join(chunks)[:cap]
    return data.decode(response.encoding or "utf-8", errors="replace"), truncated


def _redirect_problem(redirects: list[Redirect], visited: list[str], nxt: str, limits: Limits) -> str | None:
    if nxt in visited:
        loop = " -> ".join([*visited[visited.index(nxt) :], nxt])
        return f"redirect loop: {loop}"
    if len(redirects) > limits.max_redirects:
        return f"more than {limits.max_redirects} redirects (last to {nxt})"
    return None


# What httpx's client adds to a request. Smoke sends through the transport itself: the client layer
# (its construction, request merging, cookie jar, auth and redirect generators) cost ~0.5 ms of CPU
# per request, a third of the whole, and smoke follows redirects by hand anyway.
_BASE_HEADERS = (
    ("Accept", "*/*"),
    ("Accept-Encoding", "gzip, deflate"),
    ("Connection", "keep-alive"),
    ("User-Agent", "oncall-smoke"),
)
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def build_request(
    check: Check,
    url: httpx.URL | str,
    method: str,
    timeouts: Mapping[str, float | None],
    *,
    own_site: bool = True,
) -> httpx.Request:
    """A request for `url` with the base headers, plus the check's own headers when `own_site`."""
    import httpx

    headers = httpx.Headers(_BASE_HEADERS)
    if own_site:
        headers.update(check.headers)
    return httpx.Request(method, url, headers=headers, extensions={"timeout": dict(timeouts)})


def next_hop(
    check: Check, request: httpx.Request, response: httpx.Response, timeouts: Mapping[str, float | None]
) -> httpx.Request | None:
    """The request a 3xx with a Location leads to, method rewritten as browsers and httpx do.

    The check's own headers (credentials among them) go only to its own origin, or to the same host
    upgraded from http to https; another origin gets the base headers. Raises httpx.InvalidURL for a
    Location that is not an http(s) URL with a host and a valid port.
    """
    location = response.headers.get("location")
    if response.status_code not in _REDIRECT_STATUSES or location is None:
        return None
    import httpx

    url = request.url.join(location)
    if url.scheme not in ("http", "https") or not url.host:
        raise httpx.InvalidURL(f"{url} is not an http(s) URL with a host")
    if url.port is not None and not 0 < url.port < 65536:
        raise httpx.InvalidURL(f"port {url.port} is out of range")
    method = request.method
    if (response.status_code == 303 and method != "HEAD") or (
        response.status_code in (301, 302) and method == "POST"
    ):
        method = "GET"
    first = httpx.URL(check.url)
    upgraded = (first.scheme, url.scheme) == ("http", "https") and first.host == url.host
    own_site = _origin(url) == _origin(first) or upgraded
    return build_request(check, url, method, timeouts, own_site=own_site)


async def _fetch(
    sender: httpx.AsyncBaseTransport, check: Check, limits: Limits, timeouts: Mapping[str, float | None]
) -> Attempt:
    import httpx

    start = time.perf_counter()
    request = build_request(check, check.url, check.method, timeouts)
    redirects: list[Redirect] = []
    visited = [str(request.url)]
    while True:
        response = await sender.handle_async_request(request)
        response.request = request
        try:
            problem: tuple[str, str] | None = None  # (expected, observed) of a redirect gone wrong
            try:
                nxt = next_hop(check, request, response, timeouts)
            except httpx.InvalidURL as exc:
                nxt = None
                location = response.headers.get("location", "")
                problem = ("a Location that is a URL", f"Location {location!r} is not a URL: {exc}")
            if nxt is not None:
                redirects.append(Redirect(response.status_code, str(nxt.url)))
                gone_wrong = _redirect_problem(redirects, visited, str(nxt.url), limits)
                if gone_wrong is None:
                    visited.append(str(nxt.url))
                    request = nxt
                    continue
                problem = (f"at most {limits.max_redirects}, no loop", gone_wrong)
            if problem is not None:
                latency = (time.perf_counter() - start) * 1000
                failure = ConditionResult("redirects", *problem, False)
                return Attempt(
                    response.status_code, latency, (failure,), None, tuple(redirects), str(request.url), 1
                )
            # Plain http has no certificate to read.
            cert = _peer_cert(response) if request.url.scheme == "https" else None
            undecodable: ConditionResult | None = None
            try:
                body, truncated = await _read_capped(response, limits.max_body_bytes)
            except httpx.DecodingError as exc:
                # An answer came, so this is an observation about it, not a network error.
                body, truncated = "", False
                encoding = response.headers.get("content-encoding", "none")
                observed = f"cannot decode the body (Content-Encoding {encoding}): {exc}"
                undecodable = ConditionResult("body", "a decodable body", observed, False)
        finally:
            await response.aclose()
        latency = (time.perf_counter() - start) * 1000
        obs = Observation(response.status_code, latency, body, truncated, request.url.scheme, cert)
        results = tuple(c.evaluate(obs) for c in check.conditions)
        if undecodable is not None:
            results = (*results, undecodable)
        return Attempt(response.status_code, latency, results, None, tuple(redirects), str(request.url), 1)


async def probe_once(
    sender: httpx.AsyncBaseTransport,
    gate: asyncio.Semaphore,
    check: Check,
    limits: Limits,
    timeouts: Mapping[str, float | None],
    *,
    deadline: float | None = None,
) -> Attempt:
    """One attempt: a request (and its redirects), retried only on network errors before an answer.

    With a `deadline` (event-loop time), no try runs past it: each try's timeouts are cut to the
    time left (`Limits.within`), and no retry starts once its pause would reach it.
    """
    import httpx

    loop = asyncio.get_running_loop()
    tries = 0
    while True:
        tries += 1
        this_try = limits if deadline is None else limits.within(deadline - loop.time())
        try:
            async with gate, asyncio.timeout(this_try.total_timeout):
                attempt = await _fetch(sender, check, this_try, this_try.request_timeouts(timeouts))
            return replace(attempt, tries=tries, timeout_s=this_try.total_timeout)
        except (httpx.TransportError, TimeoutError) as exc:
            err = network_error(exc, check.url, this_try)
            pause = limits.retry_backoff * 2 ** (tries - 1)
            if err.retryable and tries <= limits.network_retries and _before(deadline, loop.time() + pause):
                await asyncio.sleep(pause)
                continue
            return Attempt(None, None, (), err, (), check.url, tries, this_try.total_timeout)


def _before(deadline: float | None, moment: float) -> bool:
    return deadline is None or moment < deadline


def ssl_context(ca_file: str | Path | None = None) -> ssl.SSLContext:
    """Verification on, always: SSL_CERT_FILE/SSL_CERT_DIR or certifi, plus an optional private CA."""
    cafile: str | None = os.environ.get("SSL_CERT_FILE") or None
    capath = None if cafile else (os.environ.get("SSL_CERT_DIR") or None)
    if cafile is None and capath is None:
        import certifi

        cafile = certifi.where()
    return _cached_context(cafile, capath, str(ca_file) if ca_file is not None else None)


# Loading a CA bundle takes tens of milliseconds; a process (restart --wait, health) reuses it.
@functools.lru_cache(maxsize=8)
def _cached_context(cafile: str | None, capath: str | None, ca_file: str | None) -> ssl.SSLContext:
    try:
        ctx = ssl.create_default_context(cafile=cafile, capath=capath)
        if ca_file is not None:
            ctx.load_verify_locations(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        bad = ca_file or cafile or capath
        raise BadInput(
            f"cannot load CA certificates from {bad}: {exc}",
            "point --ca-file / SSL_CERT_FILE at a PEM file of CA certificates",
        ) from exc
    return ctx
