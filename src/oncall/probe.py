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
        (502, 200, 502) never becomes healthy. With `out` (an oncall.report.Output) wait mode shows a
        live table on a terminal and progress lines otherwise.

    SmokeResult: .ok, .code (0 healthy, 1 unhealthy, 3 no check got any HTTP answer), .checks
        (CheckResult: name, url, status, latency_ms, failed conditions with observed values,
        attempts, retries, verdict, redirects), .as_dict(), .write_junit(path), .summary().

Modules: this one (checks from config, the run, results), `probe_http` (one attempt: request,
redirects, network errors in words, TLS trust), `probe_conditions` (parse and evaluate conditions),
`probe_report` (table, live view, progress lines), `probe_network` (asyncio-native sockets under
httpx), `oncall.junit` (JUnit XML).

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from oncall.errors import BadInput
from oncall.probe_conditions import (
    ConditionResult,
    explain_status,
    parse_conditions,
    status_hint,
    status_text,
)
from oncall.probe_http import Attempt, Check, Limits, Redirect, probe_once, ssl_context
from oncall.redact import redact, register_secret

if TYPE_CHECKING:
    from oncall.config import Target
    from oncall.report import Output

__all__ = [
    "Check",
    "CheckResult",
    "SmokeResult",
    "checks_for",
    "describe_failure",
    "smoke",
    "smoke_async",
]

Verdict = Literal["healthy", "unhealthy", "unreachable"]

# Header names whose literal config values are secrets even though config should not hold any.
_SENSITIVE_HEADERS = ("authorization", "cookie", "proxy-authorization", "x-api-key")
DEFAULT_CONCURRENCY = 50
HISTORY_KEEP = 20


@dataclass
class CheckResult:
    """Where one check ended: its last attempt, how many were made, and the verdict."""

    check: Check
    last: Attempt | None = None
    attempts: int = 0
    retries: int = 0
    passes_in_a_row: int = 0
    ever_answered: bool = False
    history: list[str] = field(default_factory=list)
    needed: int = 1
    done: bool = False

    def record(self, attempt: Attempt) -> None:
        self.last = attempt
        self.attempts += 1
        self.retries += attempt.tries - 1
        self.ever_answered = self.ever_answered or attempt.answered
        self.passes_in_a_row = self.passes_in_a_row + 1 if attempt.ok else 0
        self.history = [*self.history, attempt.short()][-HISTORY_KEEP:]
        self.done = self.passes_in_a_row >= self.needed

    @property
    def name(self) -> str:
        return self.check.name

    @property
    def url(self) -> str:
        return self.check.url

    @property
    def status(self) -> int | None:
        return self.last.status if self.last else None

    @property
    def latency_ms(self) -> float | None:
        return self.last.latency_ms if self.last else None

    @property
    def failed(self) -> tuple[ConditionResult, ...]:
        return self.last.failed if self.last else ()

    @property
    def redirects(self) -> tuple[Redirect, ...]:
        return self.last.redirects if self.last else ()

    @property
    def verdict(self) -> Verdict:
        if self.done:
            return "healthy"
        return "unhealthy" if self.ever_answered else "unreachable"

    @property
    def explanation(self) -> str | None:
        """Why it is not healthy, in words: the network error, the edge status, or flapping."""
        if self.verdict == "healthy" or self.last is None:
            return None
        if self.last.error is not None:
            return self.last.error.message
        if self.flapping:
            return f"flapping: never {self.needed} passes in a row (last: {', '.join(self.history[-6:])})"
        words = explain_status(self.last.status)
        if words and self.last.failed:
            return f"{status_text(self.last.status or 0)}: {words}"
        return None

    @property
    def flapping(self) -> bool:
        """A pass followed later by a failure: up and down, which wait mode must not call healthy."""
        passes = [i for i, h in enumerate(self.history) if h.isdigit()]
        return bool(passes) and any(not h.isdigit() for h in self.history[passes[0] :])

    @property
    def hint(self) -> str | None:
        if self.verdict == "healthy" or self.last is None:
            return None
        if self.last.error is not None:
            return self.last.error.hint
        return status_hint(self.last.status)

    def as_dict(self) -> dict[str, Any]:
        last = self.last
        return {
            **self.check.as_dict(),
            "verdict": self.verdict,
            "ok": self.verdict == "healthy",
            "status": self.status,
            "status_text": status_text(self.status) if self.status is not None else None,
            "latency_ms": round(self.latency_ms, 1) if self.latency_ms is not None else None,
            "timeout_s": round(last.timeout_s, 3) if last and last.timeout_s is not None else None,
            "attempts": self.attempts,
            "retries": self.retries,
            "passes_in_a_row": self.passes_in_a_row,
            "needed": self.needed,
            "history": list(self.history),
            "final_url": last.final_url if last else self.url,
            "redirects": [r.as_dict() for r in self.redirects],
            "conditions": [c.as_dict() for c in last.conditions] if last else [],
            "failed": [c.as_dict() for c in self.failed],
            "error": last.error.as_dict() if last and last.error else None,
            "explanation": self.explanation,
            "hint": self.hint,
        }


# repr=False: asyncio.run formats its finished main task, result included, when it puts the SIGINT
# handler back; the generated repr of fifty check results took milliseconds of every pass.
@dataclass(repr=False)
class SmokeResult:
    """The outcome of a smoke run: a library value for the smoke task, health and restart --wait."""

    checks: list[CheckResult]
    wait: float | None
    consecutive: int
    elapsed_s: float

    def __repr__(self) -> str:
        return f"<SmokeResult code={self.code} checks={len(self.checks)} elapsed_s={self.elapsed_s:.3f}>"

    @property
    def ok(self) -> bool:
        return all(c.verdict == "healthy" for c in self.checks)

    @property
    def code(self) -> int:
        if self.ok:
            return 0
        if not any(c.ever_answered for c in self.checks):
            return 3
        return 1

    def summary(self) -> str:
        healthy = sum(c.verdict == "healthy" for c in self.checks)
        total = len(self.checks)
        how = f"within {self.wait:g} s" if self.wait is not None else "in one pass"
        # The time it really took, not only the deadline it was given.
        took = (
            f"{self.elapsed_s:.1f} s"
            if self.wait is None or self.ok
            else f"gave up after {self.elapsed_s:.1f} s"
        )
        if self.ok:
            return f"smoke: all {total} check(s) healthy {how} ({took})"
        if self.code == 3:
            return f"smoke: no check got an HTTP answer {how}; {total} unreachable ({took})"
        return f"smoke: {healthy} of {total} check(s) healthy {how} ({took})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "code": self.code,
            "summary": self.summary(),
            "mode": "wait" if self.wait is not None else "single",
            "wait_s": self.wait,
            "consecutive": self.consecutive if self.wait is not None else 1,
            "elapsed_s": round(self.elapsed_s, 3),
            "checks": [c.as_dict() for c in self.checks],
        }

    def write_junit(self, path: str | Path) -> Path:
        """Write the result as JUnit XML (one testcase per check) for CI; returns the path."""
        from oncall.junit import write_smoke_junit

        return write_smoke_junit(self, Path(path))


# ---------------------------------------------------------------- building checks from config


def _resolve_url(url: str, base: str | None, where: str, target_name: str | None) -> str:
    parts = urlsplit(url)
    if not parts.scheme:
        if base is None:
            raise BadInput(
                f"{where}: URL {url!r} is a path but target {target_name or '(none)'} has no base URL",
                "set base_url (or base_url_env) on the target, or give an absolute https:// URL",
            )
        url = base.rstrip("/") + "/" + url.lstrip("/")
        parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(
            f"{where}: {url!r} is not an http(s) URL with a host",
            "write an absolute URL like https://example.com/health, or a path like /health",
        )
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
        resolved = [_resolve_url(u, base, f"--url {u}", tname) for u in urls]
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
                url=_resolve_url(cfg.url, base, where, tname),
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

    from oncall.probe_network import transport
    from oncall.probe_report import reporter_for

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
        # Requests go to the transport directly (oncall.probe_http.build_request): no client, so no
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
    finally:
        if reporter is not None:
            reporter.stop()
    return SmokeResult(results, wait, consecutive, loop.time() - start)


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
    # asyncio (under oncall.probe_network) resolves every host name in the loop's default thread
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
