"""HTTP smoke checks: is the site serving again, by named conditions, once or until healthy.

API (other modules use these names):

    checks_for(target, urls=None, environ=None) -> list[Check]
        The target's `smoke:` list (oncall.config.SmokeCheckConfig), or the given --url values with
        the default conditions. Relative URLs join `target.resolved_base_url()`. Header values named
        by `header_env` are read from the environment (a missing variable is BadInput, exit 2) and
        registered as secrets, so `oncall.redact` masks them everywhere.

    smoke(checks, *, wait=None, consecutive=3, interval=1.0, concurrency=50, connect_timeout=5.0,
          read_timeout=10.0, total_timeout=15.0, max_redirects=10, network_retries=2, ca_file=None,
          out=None) -> SmokeResult
        Synchronous entry point (`smoke_async` is the same for callers already in an event loop).
        `wait=None` is one pass (scheduled runs). `wait=300` polls every check until it passes
        `consecutive` times in a row or 300 s pass (after a restart or deploy); a page that flaps
        (502, 200, 502) never becomes healthy. With `out` (an oncall.output.Output) wait mode shows a
        live table on a terminal and progress lines otherwise.

    SmokeResult: .ok, .code (0 healthy, 1 unhealthy, 3 no check got any HTTP answer), .checks
        (CheckResult: name, url, status, latency_ms, failed conditions with observed values,
        attempts, retries, verdict, redirects), .as_dict(), .summary();
        `oncall.probe.junit.write_smoke_junit(result, path)` writes it as JUnit XML.

Modules of oncall.probe: this one (checks from config, the run), `results` (CheckResult,
SmokeResult), `http` (one attempt: request, redirects, network errors in words, TLS trust),
`conditions` (parse and evaluate conditions), `report` (table, live view, progress lines),
`network` (asyncio-native sockets under httpx), `junit` (JUnit XML).

How requests are made: all checks concurrently, started one event-loop turn apart (so the first
request is on the wire while later checks are still being set up, and answers are read as they
arrive rather than all at once), at most `concurrency` requests in flight (a semaphore),
each check with its own small connection pool so its polls reuse one kept-alive connection
(one pool shared by fifty checks costs more CPU than the requests; see bench/bench_smoke.py), and
one cached TLS context for all. Connect/read timeouts per request and a total timeout per try.
Redirects are followed by hand, up to `max_redirects`, so each hop is reported and a loop is named
as a loop. TLS verification is always on; trust comes from SSL_CERT_FILE / SSL_CERT_DIR when set
(as httpx and OpenSSL do), else certifi's bundle, plus `ca_file` for a private CA. Only network
errors that happen before an answer (refused, reset, DNS, connect timeout) are retried, at most
`network_retries` times within one attempt, and the retry is reported; a status, a slow answer or
a read timeout is an observation, never retried.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from oncall.config import Target
from oncall.errors import BadInput
from oncall.output import Output
from oncall.probe.conditions import (
    parse_conditions,
)
from oncall.probe.http import Check, Limits, probe_once, ssl_context
from oncall.probe.network import transport
from oncall.probe.report import reporter_for
from oncall.probe.results import CheckResult, SmokeResult
from oncall.redact import redact, register_secret

__all__ = [
    "Check",
    "CheckResult",
    "SmokeResult",
    "checks_for",
    "describe_failure",
    "smoke",
    "smoke_async",
]

# Header names whose literal config values are secrets even though config should not hold any.
_SENSITIVE_HEADERS = ("authorization", "cookie", "proxy-authorization", "x-api-key")
DEFAULT_CONCURRENCY = 50


# ---------------------------------------------------------------- building checks from config


_URL_HINT = "write an absolute URL like https://example.com/health, or a path like /health"


def _split(url: str, where: str) -> SplitResult:
    """urlsplit, with BadInput for what it rejects (a bad IPv6 literal) and what it lets through.

    Whitespace and control characters (CR/LF) cannot be sent in a request line, so they are refused
    here, naming the URL, rather than failing later inside the HTTP client.
    """
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise BadInput(f"{where}: {url!r} contains whitespace or control characters", _URL_HINT)
    try:
        return urlsplit(url)
    except ValueError as exc:
        raise BadInput(f"{where}: {url!r} is not a valid URL ({exc})", _URL_HINT) from None


def _absolute_url(url: str, base: str | None, where: str, target_name: str | None) -> str:
    parts = _split(url, where)
    if not parts.scheme and not url.startswith("/"):
        raise BadInput(f"{where}: {url!r} is neither an http(s) URL nor a path starting with /", _URL_HINT)
    if not parts.scheme:
        if base is None:
            raise BadInput(
                f"{where}: URL {url!r} is a path but target {target_name or '(none)'} has no base URL",
                "set base_url (or base_url_env) on the target, or give an absolute https:// URL",
            )
        url = base.rstrip("/") + "/" + url.lstrip("/")
        parts = _split(url, where)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"{where}: {url!r} is not an http(s) URL with a host", _URL_HINT)
    try:
        _ = parts.port
    except ValueError:
        raise BadInput(f"{where}: {url!r} has a port that is not a number", "fix the URL's port") from None
    return url


# What an HTTP header value may hold (RFC 9110 field-vchar, space and tab): printable ASCII.
_HEADER_VALUE = re.compile(r"[\x20-\x7e\t]*")


def _header_value(raw: str, var: str, name: str, where: str) -> str:
    """The header value read from `var`, without the line break that `echo`/`$(cat file)` leaves.

    Anything still not sendable (a line break inside, a control character) is BadInput naming the
    variable, never the value: it is a secret, and httpx would quote it whole in its error.
    """
    value = raw.strip(" \t\r\n")
    if not value or not _HEADER_VALUE.fullmatch(value):
        register_secret(raw)
        raise BadInput(
            f"{var} holds a value that cannot be sent as the {name} header ({where}): "
            "a line break or another control or non-ASCII character inside it",
            f"set {var} to the header's value on one line, e.g. export {var}='Bearer <token>'",
        )
    return value


def checks_for(
    target: Target | None, urls: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> list[Check]:
    """The checks to run: `urls` (default conditions) when given, else the target's smoke list."""
    env = os.environ if environ is None else environ
    base = target.resolved_base_url(env) if target is not None else None
    tname = target.name if target is not None else None
    if urls:
        default = tuple(parse_conditions(None, "--url"))
        resolved = [_absolute_url(u, base, "--url", tname) for u in urls]
        # Name a --url check by its path, which is what differs between pages of one site.
        names = [urlsplit(u).path or "/" for u in resolved]
        if len(set(names)) < len(names):
            names = resolved
        return [Check(name=n, url=u, conditions=default) for n, u in zip(names, resolved, strict=True)]
    configured = target.smoke if target is not None else ()
    if not configured:
        raise BadInput(
            f"target {tname or '(none)'} has no smoke checks",
            "add a smoke: list to the target in invoke.yaml, or pass --url https://.../health",
        )
    checks = []
    for cfg in configured:
        where = f"smoke check {cfg.name!r} of target {tname}"
        headers = {str(k): str(v) for k, v in cfg.headers.items()}
        for name, literal in headers.items():
            if name.lower() in _SENSITIVE_HEADERS:
                register_secret(literal)
        for name, var in cfg.header_env.items():
            value = env.get(str(var))
            if not value:
                state = "is set but empty" if value == "" else "is not set"
                raise BadInput(
                    f"{var} {state} ({where} sends it as the {name} header)",
                    f"export {var}='...' with the header's value (for example 'Bearer <token>')",
                )
            value = _header_value(value, str(var), str(name), where)
            register_secret(value)
            headers[str(name)] = value
        checks.append(
            Check(
                name=cfg.name,
                url=_absolute_url(cfg.url, base, where, tname),
                method=cfg.method.upper(),
                headers=headers,
                conditions=tuple(parse_conditions(cfg.conditions, where)),
            )
        )
    return checks


# ---------------------------------------------------------------- one attempt


# ---------------------------------------------------------------- the run


async def smoke_async(
    checks: Sequence[Check],
    *,
    wait: float | None = None,
    consecutive: int = 3,
    interval: float = 1.0,
    concurrency: int = DEFAULT_CONCURRENCY,
    connect_timeout: float = 5.0,
    read_timeout: float = 10.0,
    total_timeout: float = 15.0,
    max_redirects: int = 10,
    network_retries: int = 2,
    ca_file: str | Path | None = None,
    out: Output | None = None,
) -> SmokeResult:
    """The async form of `smoke` (same arguments), for callers already inside an event loop."""
    import httpx

    if consecutive < 1 or concurrency < 1:
        raise BadInput(
            f"consecutive ({consecutive}) and concurrency ({concurrency}) must be at least 1",
            "pass --consecutive 3 (the default) or another positive number",
        )
    if not checks:
        raise BadInput("no smoke checks to run", "give the target a smoke: list, or pass --url")
    if wait is not None and wait < 0:
        raise BadInput(f"--wait {wait:g} is negative", "pass --wait SECONDS, e.g. --wait 300")
    limits = Limits(connect_timeout, read_timeout, total_timeout, max_redirects, network_retries)
    needed = consecutive if wait is not None else 1
    results = [CheckResult(check, needed=needed) for check in checks]
    reporter = reporter_for(out, results, wait) if wait is not None else None
    timeouts = httpx.Timeout(
        connect=connect_timeout, read=read_timeout, write=read_timeout, pool=total_timeout
    ).as_dict()
    # One small pool per check: its polls reuse one kept-alive connection. A single pool shared by
    # all checks scans every connection for every request (httpcore), which at 50 checks cost more
    # CPU than the requests themselves (bench/bench_smoke.py); concurrency is bounded by `gate`.
    pool = httpx.Limits(max_connections=None, max_keepalive_connections=2)
    verify = ssl_context(ca_file)
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + wait if wait is not None else None
    gate = asyncio.Semaphore(concurrency)

    async def poll(result: CheckResult) -> None:
        # Requests go to the transport directly (oncall.probe.http.build_request): no client, so no
        # ~/.netrc credentials or proxy variables, and no cookie jar carried from one poll to the
        # next; CA variables are read by ssl_context.
        sender = transport(verify, pool)
        async with sender:
            while True:
                attempt = await probe_once(sender, gate, result.check, limits, timeouts, deadline=deadline)
                result.record(attempt)
                if reporter is not None:
                    reporter.update(result, loop.time() - start)
                if deadline is None or result.done or loop.time() + interval >= deadline:
                    return
                await asyncio.sleep(interval)

    try:
        if reporter is not None:
            reporter.start()
        await _start_staggered([poll(r) for r in results])
    except (asyncio.CancelledError, KeyboardInterrupt) as exc:
        # Ctrl-C cancels this task (asyncio.run's SIGINT handler); what each check showed last
        # goes up with the interrupt so the caller can print it instead of a bare "interrupted".
        seen = SmokeResult(results, wait, consecutive, loop.time() - start)
        raise SmokeInterrupted(seen, *(exc.args if isinstance(exc, KeyboardInterrupt) else ())) from None
    finally:
        if reporter is not None:
            reporter.stop()
    return SmokeResult(results, wait, consecutive, loop.time() - start)


class SmokeInterrupted(KeyboardInterrupt):
    """A smoke run stopped by Ctrl-C (or SIGTERM/SIGHUP), carrying every check's last state."""

    def __init__(self, seen: SmokeResult, *args: object) -> None:
        super().__init__(*args)
        self.seen = seen


def last_seen(result: SmokeResult) -> list[str]:
    """One redacted line per check: its last answer, or that it was healthy."""
    return [f"{c.name}: healthy" if c.verdict == "healthy" else describe_failure(c) for c in result.checks]


def next_command(target: str | None) -> str:
    """What to run after a wait that ended unhealthy: the logs name the cause."""
    return f"next: invoke triage --target {target}" if target else "next: invoke triage --target TARGET"


async def _start_staggered(polls: list[Coroutine[Any, Any, None]]) -> None:
    """Run the polls concurrently, starting them one loop turn apart.

    Started all at once, every check is set up (client, request, connect) before the first request
    goes out, so all answers land together and wait their turn to be read. One loop turn apart, the
    first request is on the wire while the next check is still being set up; the answers come back
    spread out and are read as they arrive. A slow connect holds nothing up: the next check starts
    on the next turn whether or not the earlier one has connected.
    """
    tasks: list[asyncio.Task[None]] = []
    try:
        for coro in polls:
            tasks.append(asyncio.create_task(coro))
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        for coro in polls[len(tasks) :]:
            coro.close()


def smoke(checks: Sequence[Check], **options: Any) -> SmokeResult:
    """Run the checks once (wait=None) or until healthy/deadline; see the module docstring."""
    return asyncio.run(_in_own_loop(checks, options))


async def _in_own_loop(checks: Sequence[Check], options: dict[str, Any]) -> SmokeResult:
    # asyncio (under oncall.probe.network) resolves every host name in the loop's default thread
    # pool, which it sizes to CPUs + 4: fifty checks would queue their lookups behind each other. We
    # own this loop, so it gets one thread per check that can be in flight (asyncio.run shuts it down).
    from concurrent.futures import ThreadPoolExecutor

    workers = max(1, min(len(checks), int(options.get("concurrency", DEFAULT_CONCURRENCY)), 64))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="oncall-smoke-dns")
    asyncio.get_running_loop().set_default_executor(pool)
    return await smoke_async(checks, **options)


def describe_failure(result: CheckResult) -> str:
    """One redacted line for a check that is not healthy: what was seen, in words."""
    if result.explanation:
        return redact(f"{result.name}: {result.explanation}")
    failed = "; ".join(c.describe() for c in result.failed) or result.verdict
    return redact(f"{result.name}: {failed}")
