"""A stand-in for Render's REST API (v1) on 127.0.0.1, for the sandbox and the tests.

It follows Render's published API (reference/render-openapi.json, reference/render-api.md);
tests validate its answers against that schema.

    from oncall.sandbox.render_api import RenderStandIn, make_service

    api = RenderStandIn(api_key="rnd_test...", services=[make_service("turbo-response-backend")])
    with api as base_url:                       # http://127.0.0.1:PORT/v1, served in a thread
        os.environ["RENDER_API_URL"] = base_url
        ...
        api.calls("GET", "/services/{serviceId}/deploys/{deployId}")   # request counters

Served (all under /v1, all need `Authorization: Bearer <api_key>`, else 401 {"message": ...}):

    GET  /services                               cursor pagination, filters name/type/suspended
    GET  /services/{id}
    PATCH /services/{id} {serviceDetails: {maintenanceMode: {enabled, uri}}}   web services only (else 400)
    POST /services/{id}/restart                  200, empty body; cron jobs → 400
    POST /services/{id}/suspend | /resume        202, empty body; cron jobs cannot be suspended (400);
                                                 resume starts a deploy (trigger service_resumed)
    POST /services/{id}/scale {numInstances}     202, empty; 400 below 1 or above the plan's limit
    GET  /services/{id}/deploys                  status/createdAfter/createdBefore filters
    POST /services/{id}/deploys                  201 deploy, or 202 empty when one is in progress
    GET  /services/{id}/deploys/{deployId}
    POST /services/{id}/deploys/{deployId}/cancel
    POST /services/{id}/rollback {deployId}      201 deploy (trigger rollback) of a deploy that was live
    GET  /services/{id}/jobs, POST /services/{id}/jobs (201), GET/POST .../jobs/{jobId}[/cancel]
    GET  /services/{id}/env-vars[/{key}]         the service's own variables ({key, value})
    GET  /services/{id}/events
    GET  /logs?ownerId=&resource=...             Render's {hasMore, nextStartTime, nextEndTime, logs}

Every answer carries `Ratelimit-Limit/Remaining/Reset` (Reset = seconds until the window ends)
and a 429 when the class is exhausted: GET 400/min, deploy POST 10/min per service, job POST
2000/hour, other writes 30/min (`RateLimits`, configurable).

Deploys advance on `clock` (a callable returning seconds; pass a `ManualClock` to step it, or
`ScaledClock(10)` to run ten times faster): created → build_in_progress →
[pre_deploy_in_progress, when the service has a preDeployCommand] → update_in_progress → live, and
the previous live deploy becomes deactivated. A deploy triggered while another runs is queued
(the POST answers 202) and starts when the first ends. Durations are `Timings`.

Fault injection (`inject`): `"429"` bursts, `"500"`, `"slow"` (delay seconds), `"drop"` (close
the socket without answering), `"drop_after"` (do the work, then close without answering: a
deploy POST whose answer is lost). Deploy outcomes: `fail_next_deploy(service_id, "build_failed"
| "pre_deploy_failed" | "update_failed")`; jobs: `fail_next_job(service_id)`.

Hooks, for the sandbox supervisor (called in a background thread, never under the lock):
`on_restart(service_id)`; `on_deploy(service_id, deploy) -> final status` (called when the build
ends; the deploy stays in pre_deploy/update_in_progress until it returns); `on_job(service_id,
job) -> "succeeded" | "failed"`.

As a process:
    python -m oncall.sandbox.render_api --port N --api-key-env NAME --services-file F
prints `READY http://127.0.0.1:N/v1` and serves until SIGINT/SIGTERM. F is a JSON list of service
objects, or of `make_service` keyword arguments.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as _dt
import itertools
import json
import math
import os
import re
import secrets
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

OWNER_ID = "tea-sandbox0000000000000"
ACTIVE = ("created", "build_in_progress", "pre_deploy_in_progress", "update_in_progress")
FINAL_FAILED = ("build_failed", "update_failed", "pre_deploy_failed", "canceled")

DeployHook = Callable[[str, dict[str, Any]], str]
JobHook = Callable[[str, dict[str, Any]], str]


def _now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _parse_iso(value: str) -> _dt.datetime | None:
    try:
        parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.UTC)


def new_id(prefix: str) -> str:
    """An id in Render's shape: prefix-<20 lowercase alphanumerics>."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return f"{prefix}-" + "".join(secrets.choice(alphabet) for _ in range(20))


def make_service(
    name: str,
    *,
    service_id: str | None = None,
    type: str = "web_service",
    owner_id: str = OWNER_ID,
    suspended: bool = False,
    runtime: str = "node",
    start_command: str = "node server.js",
    build_command: str = "npm ci",
    pre_deploy_command: str | None = None,
    url: str | None = None,
    health_check_path: str = "",
    image_path: str | None = None,
) -> dict[str, Any]:
    """A service object that satisfies Render's `service` schema (`image_path`: image-backed)."""
    prefix = "crn" if type == "cron_job" else "srv"
    sid = service_id or new_id(prefix)
    env_details: dict[str, Any] = {"buildCommand": build_command, "startCommand": start_command}
    if pre_deploy_command:
        env_details["preDeployCommand"] = pre_deploy_command
    details: dict[str, Any] = {
        "env": runtime,
        "runtime": runtime,
        "envSpecificDetails": env_details,
        "plan": "starter",
        "region": "oregon",
        "buildPlan": "starter",
    }
    if type == "cron_job":
        details["schedule"] = "0 * * * *"
    elif type != "static_site":
        details.update(
            {
                "numInstances": 1,
                "healthCheckPath": health_check_path,
                "openPorts": [{"port": 10000, "protocol": "TCP"}],
                "url": url or f"https://{name}.onrender.com",
                "maxShutdownDelaySeconds": 30,
            }
        )
        if type in ("background_worker", "private_service"):
            details.pop("url", None)
            details.pop("healthCheckPath", None)
            details.pop("openPorts", None)
            if type == "private_service":
                details["openPorts"] = [{"port": 10000, "protocol": "TCP"}]
                details["url"] = f"{name}:10000"
    if image_path:
        details["runtime"] = details["env"] = "image"
        details["envSpecificDetails"] = {}
    now = _now_iso()
    extra = (
        {"imagePath": image_path}
        if image_path
        else {"repo": "https://github.com/example/" + name, "branch": "main"}
    )
    return {
        **extra,
        "id": sid,
        "name": name,
        "ownerId": owner_id,
        "type": type,
        "createdAt": now,
        "updatedAt": now,
        "dashboardUrl": f"https://dashboard.render.com/web/{sid}",
        "suspended": "suspended" if suspended else "not_suspended",
        "suspenders": ["user"] if suspended else [],
        "autoDeploy": "yes",
        "notifyOnFail": "default",
        "slug": name,
        "rootDir": "",
        "serviceDetails": details,
    }


# -- clocks ---------------------------------------------------------------------------------


class ManualClock:
    """A clock that only moves when told to (`advance`); for tests that step through statuses."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


class ScaledClock:
    """Real time multiplied by `speed`: a 60 s build takes 6 s at speed 10."""

    def __init__(self, speed: float = 1.0) -> None:
        self.speed = speed
        self._origin = time.monotonic()

    def __call__(self) -> float:
        return (time.monotonic() - self._origin) * self.speed


@dataclass
class Timings:
    """Seconds (on the stand-in's clock) each phase lasts."""

    created: float = 1.0
    build: float = 20.0
    pre_deploy: float = 5.0
    update: float = 10.0
    job_pending: float = 1.0
    job_run: float = 5.0


@dataclass
class RateLimits:
    """Requests allowed per window, per class (Render's published limits by default)."""

    get: int = 400
    get_window: float = 60.0
    write: int = 30
    write_window: float = 60.0
    deploy: int = 10  # per service
    deploy_window: float = 60.0
    jobs: int = 2000
    jobs_window: float = 3600.0


@dataclass
class Fault:
    kind: str  # "429" | "403" | "500" | "slow" | "drop" | "drop_after"
    method: str | None
    path: re.Pattern[str] | None
    times: int
    delay: float = 0.0
    reset: int = 1


@dataclass
class _Window:
    started: float
    count: int = 0


@dataclass
class _Service:
    data: dict[str, Any]
    deploys: list[dict[str, Any]] = field(default_factory=list)  # newest first
    jobs: list[dict[str, Any]] = field(default_factory=list)  # newest first
    events: list[dict[str, Any]] = field(default_factory=list)  # newest first
    fail_next: list[str] = field(default_factory=list)
    fail_jobs: int = 0
    env_vars: dict[str, str] = field(default_factory=dict)  # set on the service itself, in order


class _Reply(Exception):
    def __init__(self, status: int, body: Any = None, *, drop: bool = False) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.drop = drop


_ROUTE_IDS = [
    (re.compile(r"^/services/[^/]+"), "/services/{serviceId}"),
    (re.compile(r"/deploys/[^/]+"), "/deploys/{deployId}"),
    (re.compile(r"/jobs/[^/]+"), "/jobs/{jobId}"),
]


def route_template(path: str) -> str:
    """/services/srv-x/deploys/dep-y -> /services/{serviceId}/deploys/{deployId} (for counters)."""
    for pattern, replacement in _ROUTE_IDS:
        path = pattern.sub(replacement, path, count=1)
    return path


class RenderStandIn:
    """Render's API in miniature; see the module docstring for what it serves and how to steer it."""

    def __init__(
        self,
        api_key: str | None = None,
        services: Iterable[dict[str, Any]] = (),
        *,
        clock: Callable[[], float] | None = None,
        timings: Timings | None = None,
        limits: RateLimits | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tick: float = 0.02,
    ) -> None:
        self.api_key = api_key or "rnd_" + secrets.token_hex(16)
        self.clock: Callable[[], float] = clock or time.monotonic
        # A copy: tests adjust one stand-in's phases without touching a shared Timings.
        self.timings = replace(timings) if timings else Timings()
        self.limits = limits or RateLimits()
        self.host = host
        self.port = port
        self.tick = tick
        self.on_restart: Callable[[str], None] | None = None
        self.on_deploy: DeployHook | None = None
        self.on_job: JobHook | None = None
        # Manual scaling's ceiling on paid plans (a free instance cannot scale past 1).
        self.max_instances = 100
        self.requests: Counter[tuple[str, str]] = Counter()
        self.restarts: Counter[str] = Counter()
        self._lock = threading.RLock()
        self._services: dict[str, _Service] = {}
        self._logs: list[dict[str, Any]] = []
        self._faults: list[Fault] = []
        self._windows: dict[tuple[str, str], _Window] = {}
        self._cursor_seq = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        for service in services:
            self.add_service(service)

    # -- setup and inspection -----------------------------------------------------------------

    def add_service(self, service: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._services[service["id"]] = _Service(dict(service))
        return service

    def services(self) -> list[dict[str, Any]]:
        """Every service the stand-in holds."""
        with self._lock:
            return [self._public(s.data) for s in self._services.values()]

    def service(self, service_id: str) -> dict[str, Any]:
        with self._lock:
            return self._public(self._services[service_id].data)

    def set_suspended(self, service_id: str, suspended: bool) -> None:
        with self._lock:
            data = self._services[service_id].data
            data["suspended"] = "suspended" if suspended else "not_suspended"
            data["suspenders"] = ["user"] if suspended else []

    def deploys(self, service_id: str) -> list[dict[str, Any]]:
        """The service's deploys, newest first (current statuses)."""
        with self._lock:
            self._advance()
            return [self._public(d) for d in self._services[service_id].deploys]

    def jobs(self, service_id: str) -> list[dict[str, Any]]:
        with self._lock:
            self._advance()
            return [self._public(j) for j in self._services[service_id].jobs]

    def calls(self, method: str | None = None, path: str | None = None) -> int:
        """How many requests arrived (authenticated or not), by method and/or path template."""
        with self._lock:
            return sum(
                n
                for (m, p), n in self.requests.items()
                if (method is None or m == method) and (path is None or p == path)
            )

    def add_log(
        self,
        service_id: str,
        message: str,
        *,
        level: str = "error",
        type: str = "app",
        at: _dt.datetime | None = None,
        instance: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Add one log line of a service (or job) as Render's log API would return it.

        `labels` adds request-log labels such as statusCode, path and method.
        """
        moment = at or _dt.datetime.now(_dt.UTC)
        entry = {
            "id": secrets.token_hex(8),
            "message": message,
            "timestamp": moment.astimezone(_dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "labels": [
                {"name": "resource", "value": service_id},
                {"name": "instance", "value": instance or f"{service_id}-abcde"},
                {"name": "level", "value": level},
                {"name": "type", "value": type},
                *({"name": name, "value": value} for name, value in (labels or {}).items()),
            ],
            "_at": moment,
            "_resource": service_id,
        }
        with self._lock:
            self._logs.append(entry)
        return {k: v for k, v in entry.items() if not k.startswith("_")}

    def inject(
        self,
        kind: str,
        *,
        method: str | None = None,
        path: str | None = None,
        times: int = 1,
        delay: float = 0.0,
        reset: int = 1,
    ) -> None:
        """Make the next `times` matching requests fail: 429, 403, 500, slow, drop, drop_after.

        `path` is a regular expression searched in the request path after /v1 (e.g. r"/deploys$");
        `delay` is how long a "slow" answer waits; `reset` the Ratelimit-Reset an injected 429 sends.
        """
        if kind not in ("429", "403", "500", "slow", "drop", "drop_after"):
            raise ValueError(f"unknown fault {kind!r}")
        with self._lock:
            self._faults.append(
                Fault(
                    kind,
                    method.upper() if method else None,
                    re.compile(path) if path else None,
                    times,
                    delay,
                    reset,
                )
            )

    def fail_next_deploy(self, service_id: str, status: str = "build_failed") -> None:
        if status not in ("build_failed", "pre_deploy_failed", "update_failed"):
            raise ValueError(f"cannot inject deploy outcome {status!r}")
        with self._lock:
            self._services[service_id].fail_next.append(status)

    def fail_next_job(self, service_id: str, count: int = 1) -> None:
        with self._lock:
            self._services[service_id].fail_jobs += count

    def add_deploy(
        self,
        service_id: str,
        status: str = "deactivated",
        *,
        commit_id: str | None = None,
        trigger: str = "new_commit",
    ) -> dict[str, Any]:
        """Put a finished deploy on top of the service's history (no phases, no events): test setup."""
        with self._lock:
            svc = self._services[service_id]
            now = _now_iso()
            deploy: dict[str, Any] = {
                "id": new_id("dep"),
                "commit": {
                    "id": commit_id or secrets.token_hex(20),
                    "message": "sandbox commit",
                    "createdAt": now,
                },
                "status": status,
                "trigger": trigger,
                "createdAt": now,
                "updatedAt": now,
                "startedAt": now,
                "finishedAt": now,
                "_phase_at": self.clock(),
                "_outcome": None,
                "_hook": None,
                "_cursor": self._cursor(),
            }
            if status == "live":
                for other in svc.deploys:
                    if other["status"] == "live":
                        other["status"] = "deactivated"
            svc.deploys.insert(0, deploy)
            return self._public(deploy)

    def set_env_var(self, service_id: str, key: str, value: str) -> None:
        """An environment variable set on the service (what GET /services/{id}/env-vars lists)."""
        with self._lock:
            self._services[service_id].env_vars[key] = value

    def add_event(self, service_id: str, kind: str, details: dict[str, Any] | None = None) -> None:
        """Record one service event (newest first), e.g. server_failed with its reason."""
        with self._lock:
            self._event(self._services[service_id], kind, details or {})

    def start_deploy(self, service_id: str, *, trigger: str = "new_commit") -> dict[str, Any]:
        """Begin a deploy as if someone else had (a push, the dashboard)."""
        with self._lock:
            deploy, _ = self._create_deploy(self._services[service_id], trigger, None)
            return self._public(deploy)

    # -- serving ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stand-in is not serving; use it as a context manager or call start()")
        return f"http://{self.host}:{self._server.server_address[1]}/v1"

    def start(self) -> str:
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self._stopping.clear()
        serve = threading.Thread(target=self._server.serve_forever, name="render-standin", daemon=True)
        ticker = threading.Thread(target=self._tick_loop, name="render-standin-clock", daemon=True)
        self._threads = [serve, ticker]
        for thread in self._threads:
            thread.start()
        return self.base_url

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _tick_loop(self) -> None:
        # Statuses advance even when nobody asks, so hooks fire on time and events are complete.
        while not self._stopping.wait(self.tick):
            with self._lock:
                self._advance()

    # -- the state machine --------------------------------------------------------------------

    def _public(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_") and v is not None}

    def _event(self, svc: _Service, kind: str, details: dict[str, Any]) -> None:
        svc.events.insert(
            0,
            {
                "id": new_id("evt"),
                "timestamp": _now_iso(),
                "serviceId": svc.data["id"],
                "type": kind,
                "details": details,
                "_cursor": self._cursor(),
            },
        )

    def _cursor(self) -> str:
        return base64.urlsafe_b64encode(f"c{next(self._cursor_seq):012d}".encode()).decode().rstrip("=")

    def _create_deploy(
        self, svc: _Service, trigger: str, body: dict[str, Any] | None
    ) -> tuple[dict[str, Any], bool]:
        """A new deploy; queued (True) when another one is still running."""
        self._advance()
        busy = any(d["status"] in ACTIVE for d in svc.deploys)
        now = _now_iso()
        commit_id = (body or {}).get("commitId") or secrets.token_hex(20)
        image = (body or {}).get("imageUrl") or svc.data.get("imagePath")
        source: dict[str, Any] = (
            {"image": {"ref": image, "sha": "sha256:" + secrets.token_hex(32)}}
            if image
            else {"commit": {"id": commit_id, "message": "sandbox commit", "createdAt": now}}
        )
        deploy: dict[str, Any] = {
            "id": new_id("dep"),
            **source,
            "status": "queued" if busy else "created",
            "trigger": trigger,
            "createdAt": now,
            "updatedAt": now,
            "startedAt": None if busy else now,
            "finishedAt": None,
            "_phase_at": self.clock(),
            "_outcome": svc.fail_next.pop(0) if svc.fail_next else None,
            "_hook": None,
            "_cursor": self._cursor(),
        }
        svc.deploys.insert(0, deploy)
        if not busy:
            self._event(svc, "deploy_started", {"deployId": deploy["id"], "trigger": trigger})
        return deploy, busy

    def _set_status(self, svc: _Service, deploy: dict[str, Any], status: str, at: float) -> None:
        deploy["status"] = status
        deploy["updatedAt"] = _now_iso()
        deploy["_phase_at"] = at
        if status == "live":
            for other in svc.deploys:
                if other is not deploy and other["status"] == "live":
                    other["status"] = "deactivated"
                    other["updatedAt"] = deploy["updatedAt"]
        if status in ("live", *FINAL_FAILED):
            deploy["finishedAt"] = deploy["updatedAt"]
            ok = status == "live"
            self._event(
                svc,
                "deploy_ended",
                {
                    "deployId": deploy["id"],
                    "reason": {},
                    "status": 2 if ok else 3,
                    "deployStatus": "succeeded" if ok else ("canceled" if status == "canceled" else "failed"),
                },
            )
            if ok:
                self._event(svc, "server_available", {})

    def _advance(self) -> None:
        """Move every deploy and job along to where the clock says it is (called under the lock)."""
        now = self.clock()
        for svc in self._services.values():
            self._advance_deploys(svc, now)
            self._advance_jobs(svc, now)

    def _advance_deploys(self, svc: _Service, now: float) -> None:
        t = self.timings
        configured_pre = bool(
            svc.data["serviceDetails"].get("envSpecificDetails", {}).get("preDeployCommand")
        )
        for _ in range(16):  # several phases can pass in one step of a fast clock
            active = next((d for d in reversed(svc.deploys) if d["status"] in ACTIVE), None)
            if active is None:
                queued = next((d for d in reversed(svc.deploys) if d["status"] == "queued"), None)
                if queued is None:
                    return
                queued["startedAt"] = _now_iso()
                self._set_status(svc, queued, "created", now)
                self._event(svc, "deploy_started", {"deployId": queued["id"], "trigger": queued["trigger"]})
                continue
            status, since = active["status"], active["_phase_at"]
            # An injected pre-deploy failure needs a pre-deploy phase to fail in.
            has_pre = configured_pre or active["_outcome"] == "pre_deploy_failed"
            if status == "created" and now >= since + t.created and active.get("_rollback_of"):
                # A rollback reuses the earlier build: straight to the update, like Render.
                self._set_status(svc, active, "update_in_progress", since + t.created)
                self._start_hook(svc, active, self.on_deploy, kind="deploy", on_crash="update_failed")
            elif status == "created" and now >= since + t.created:
                self._set_status(svc, active, "build_in_progress", since + t.created)
            elif status == "build_in_progress" and now >= since + t.build:
                end = since + t.build
                if active["_outcome"] == "build_failed":
                    self._set_status(svc, active, "build_failed", end)
                else:
                    self._set_status(
                        svc, active, "pre_deploy_in_progress" if has_pre else "update_in_progress", end
                    )
                    self._start_hook(svc, active, self.on_deploy, kind="deploy", on_crash="update_failed")
            elif (
                status == "pre_deploy_in_progress" and now >= since + t.pre_deploy and self._hook_done(active)
            ):
                end = since + t.pre_deploy
                if self._final(active) == "pre_deploy_failed":
                    self._set_status(svc, active, "pre_deploy_failed", end)
                else:
                    self._set_status(svc, active, "update_in_progress", end)
            elif status == "update_in_progress" and now >= since + t.update and self._hook_done(active):
                final = self._final(active)
                self._set_status(svc, active, final if final in FINAL_FAILED else "live", since + t.update)
            else:
                return

    def _start_hook(
        self,
        svc: _Service,
        obj: dict[str, Any],
        hook: DeployHook | JobHook | None,
        *,
        kind: str,
        on_crash: str,
    ) -> None:
        """Run a deploy/job hook on its own thread; the state machine waits for `_hook_done`.

        The hook (a real restart, a pre-deploy command) can take seconds, so it never runs under
        the server's lock; a crashing hook ends the deploy or job with `on_crash`, not the server.
        """
        if hook is None:
            return
        box: dict[str, Any] = {"done": False, "result": None}
        obj["_hook"] = box
        service_id, snapshot = svc.data["id"], self._public(obj)

        def run() -> None:
            try:
                box["result"] = hook(service_id, snapshot)
            except Exception:  # noqa: BLE001 - a crashing hook is a failed deploy/job, not a dead server
                box["result"] = on_crash
            box["done"] = True

        threading.Thread(target=run, name=f"on_{kind}-{obj['id']}", daemon=True).start()

    @staticmethod
    def _hook_done(deploy: dict[str, Any]) -> bool:
        box = deploy.get("_hook")
        return box is None or bool(box["done"])

    @staticmethod
    def _final(deploy: dict[str, Any]) -> str:
        box = deploy.get("_hook")
        if box is not None and box["result"]:
            return str(box["result"])
        return str(deploy["_outcome"] or "live")

    def _advance_jobs(self, svc: _Service, now: float) -> None:
        t = self.timings
        for job in svc.jobs:
            status, since = job["status"], job["_phase_at"]
            if status == "pending" and now >= since + t.job_pending:
                job["status"], job["startedAt"], job["_phase_at"] = (
                    "running",
                    _now_iso(),
                    since + t.job_pending,
                )
                self._start_hook(svc, job, self.on_job, kind="job", on_crash="failed")
                status, since = job["status"], job["_phase_at"]
            if status == "running" and now >= since + t.job_run and self._hook_done(job):
                box = job.get("_hook")
                result = box["result"] if box is not None else job["_outcome"]
                job["status"] = result if result in ("succeeded", "failed") else "succeeded"
                job["finishedAt"] = _now_iso()

    # -- rate limits and faults ---------------------------------------------------------------

    def _limit_class(self, method: str, path: str) -> tuple[str, int, float]:
        lim = self.limits
        if method == "GET":
            return "get", lim.get, lim.get_window
        match = re.match(r"^/services/([^/]+)/deploys$", path)
        if method == "POST" and match:
            return f"deploy:{match.group(1)}", lim.deploy, lim.deploy_window
        if method == "POST" and re.match(r"^/services/[^/]+/jobs$", path):
            return "jobs", lim.jobs, lim.jobs_window
        return "write", lim.write, lim.write_window

    def _rate(self, method: str, path: str) -> tuple[dict[str, str], bool]:
        """Count the request in its window; the headers to send and whether it is over the limit."""
        name, limit, window = self._limit_class(method, path)
        now = time.monotonic()  # real time: rate limits do not speed up with the clock
        win = self._windows.get((self.api_key, name))
        if win is None or now >= win.started + window:
            win = self._windows[(self.api_key, name)] = _Window(now)
        win.count += 1
        reset = max(1, math.ceil(win.started + window - now))
        remaining = max(0, limit - win.count)
        headers = {
            "Ratelimit-Limit": str(limit),
            "Ratelimit-Remaining": str(remaining),
            "Ratelimit-Reset": str(reset),
        }
        return headers, win.count > limit

    def _fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.times <= 0:
                continue
            if fault.method and fault.method != method:
                continue
            if fault.path and not fault.path.search(path):
                continue
            fault.times -= 1
            return fault
        return None

    # -- request handling ---------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any, str | None, float]:
        """Answer one request: (status, headers, body, fault-after, delay). Body None = empty."""
        parts = urlsplit(raw_path)
        path = parts.path
        if not path.startswith("/v1/") and path != "/v1":
            return 404, {}, {"message": "not found"}, None, 0.0
        path = path[3:] or "/"
        query = parse_qs(parts.query, keep_blank_values=True)
        with self._lock:
            self.requests[(method, route_template(path))] += 1
            rate_headers, over = self._rate(method, path)
            fault = self._fault(method, path)
        delay = fault.delay if fault and fault.kind == "slow" else 0.0
        if fault and fault.kind == "drop":
            return 0, {}, None, "drop", delay
        if fault and fault.kind == "429":
            rate_headers["Ratelimit-Remaining"] = "0"
            rate_headers["Ratelimit-Reset"] = str(fault.reset)
            return 429, rate_headers, {"message": "rate limit exceeded"}, None, delay
        if fault and fault.kind == "500":
            return 500, rate_headers, {"id": "internal", "message": "internal server error"}, None, delay
        if fault and fault.kind == "403":
            return 403, rate_headers, {"message": "forbidden"}, None, delay
        auth = headers.get("authorization", "")
        if auth != f"Bearer {self.api_key}":
            return 401, rate_headers, {"message": "unauthorized"}, None, delay
        if over:
            return 429, rate_headers, {"message": "rate limit exceeded"}, None, delay
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            return 400, rate_headers, {"message": "invalid JSON body"}, None, delay
        try:
            with self._lock:
                self._advance()
                status, reply = self._route(method, path, query, payload)
        except _Reply as exc:
            status, reply = exc.status, exc.body
        after = "drop" if fault and fault.kind == "drop_after" else None
        return status, rate_headers, reply, after, delay

    def _svc(self, service_id: str) -> _Service:
        svc = self._services.get(service_id)
        if svc is None:
            raise _Reply(404, {"message": f"not found: {service_id}"})
        return svc

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        seg = [s for s in path.split("/") if s]
        if method == "GET" and seg == ["logs"]:
            return 200, self._get_logs(query)
        if not seg or seg[0] != "services":
            raise _Reply(404, {"message": f"not found: {path}"})
        if len(seg) == 1 and method == "GET":
            return 200, self._list_services(query)
        svc = self._svc(seg[1]) if len(seg) >= 2 else None
        if svc is None:
            raise _Reply(404, {"message": f"not found: {path}"})
        rest = seg[2:]
        if not rest and method == "GET":
            return 200, self._public(svc.data)
        if not rest and method == "PATCH":
            return self._update(svc, body)
        if rest == ["restart"] and method == "POST":
            return self._restart(svc)
        if rest == ["suspend"] and method == "POST":
            return self._suspend(svc)
        if rest == ["resume"] and method == "POST":
            return self._resume(svc)
        if rest == ["scale"] and method == "POST":
            return self._scale(svc, body)
        if rest == ["deploys"]:
            return self._deploys(svc, method, query, body)
        if rest == ["rollback"] and method == "POST":
            return self._rollback(svc, body)
        if len(rest) >= 2 and rest[0] == "deploys":
            return self._one_deploy(svc, method, rest[1], rest[2:])
        if rest == ["jobs"]:
            return self._jobs(svc, method, query, body)
        if len(rest) >= 2 and rest[0] == "jobs":
            return self._one_job(svc, method, rest[1], rest[2:])
        if rest and rest[0] == "env-vars" and method == "GET" and len(rest) <= 2:
            return 200, self._env_vars(svc, rest[1:], query)
        if rest == ["events"] and method == "GET":
            return 200, self._page(self._events_of(svc, query), "event", query)
        raise _Reply(404, {"message": f"not found: {path}"})

    def _page(
        self, items: list[dict[str, Any]], key: str, query: dict[str, list[str]]
    ) -> list[dict[str, Any]]:
        """Cursor pagination: items after the given cursor, `limit` of them (default 20, max 100)."""
        limit = _limit(query)
        start = 0
        cursor = _one(query, "cursor")
        if cursor:
            positions = [i for i, item in enumerate(items) if item["_cursor"] == cursor]
            if not positions:
                raise _Reply(400, {"message": "invalid cursor"})
            start = positions[0] + 1
        return [{"cursor": item["_cursor"], key: self._public(item)} for item in items[start : start + limit]]

    def _list_services(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        names = _many(query, "name")
        types = _many(query, "type")
        suspended = _many(query, "suspended")
        chosen = []
        for svc in self._services.values():
            data = svc.data
            if names and data["name"] not in names:
                continue
            if types and data["type"] not in types:
                continue
            if suspended and data["suspended"] not in suspended:
                continue
            chosen.append({**data, "_cursor": data.setdefault("_cursor", self._cursor())})
        return self._page(chosen, "service", query)

    def _restart(self, svc: _Service) -> tuple[int, Any]:
        if svc.data["type"] == "cron_job":
            raise _Reply(400, {"message": "restarting a cron job is not supported"})
        if svc.data["suspended"] == "suspended":
            raise _Reply(409, {"message": "service is suspended"})
        self.restarts[svc.data["id"]] += 1
        self._event(svc, "server_restarted", {"triggeredByUser": "usr-sandbox"})
        hook = self.on_restart
        if hook is not None:
            threading.Thread(target=hook, args=(svc.data["id"],), name="on_restart", daemon=True).start()
        return 200, None

    def _deploys(self, svc: _Service, method: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if method == "GET":
            items = svc.deploys
            statuses = _many(query, "status")
            if statuses:
                items = [d for d in items if d["status"] in statuses]
            after = _time_param(query, "createdAfter")
            before = _time_param(query, "createdBefore")
            if after or before:
                items = [
                    d
                    for d in items
                    if (not after or _created(d) > after) and (not before or _created(d) < before)
                ]
            return 200, self._page(items, "deploy", query)
        if method != "POST":
            raise _Reply(405, {"message": "method not allowed"})
        if not isinstance(body, dict):
            raise _Reply(400, {"message": "a JSON object body is required"})
        if body.get("clearCache", "do_not_clear") not in ("clear", "do_not_clear"):
            raise _Reply(400, {"message": "clearCache must be clear or do_not_clear"})
        if svc.data["suspended"] == "suspended":
            raise _Reply(409, {"message": "service is suspended"})
        self._check_image(svc, body)
        deploy, queued = self._create_deploy(svc, "api", body)
        if queued:
            return 202, None
        return 201, self._public(deploy)

    def _env_vars(self, svc: _Service, key: list[str], query: dict[str, list[str]]) -> Any:
        """GET env-vars: a page of {envVar: {key, value}, cursor}; GET env-vars/{key}: {key, value}."""
        if key:
            if key[0] not in svc.env_vars:
                raise _Reply(404, {"message": f"not found: env var {key[0]}"})
            return {"key": key[0], "value": svc.env_vars[key[0]]}
        items = [
            {"key": k, "value": v, "_cursor": base64.urlsafe_b64encode(k.encode()).decode().rstrip("=")}
            for k, v in svc.env_vars.items()
        ]
        return self._page(items, "envVar", query)

    def _update(self, svc: _Service, body: Any) -> tuple[int, Any]:
        """PATCH /services/{id}: only serviceDetails.maintenanceMode is applied (what oncall changes)."""
        if not isinstance(body, dict):
            raise _Reply(400, {"message": "a JSON object body is required"})
        wanted = (body.get("serviceDetails") or {}).get("maintenanceMode")
        if wanted is None:
            return 200, self._public(svc.data)
        if svc.data["type"] != "web_service":
            raise _Reply(400, {"message": f"maintenance mode is not available for a {svc.data['type']}"})
        if not isinstance(wanted, dict) or not isinstance(wanted.get("enabled"), bool):
            raise _Reply(400, {"message": "maintenanceMode.enabled must be a boolean"})
        details = svc.data["serviceDetails"]
        before = details.get("maintenanceMode") or {"enabled": False, "uri": ""}
        after = {"enabled": wanted["enabled"], "uri": str(wanted.get("uri", before.get("uri", "")) or "")}
        details["maintenanceMode"] = after
        if after["enabled"] != before.get("enabled"):
            self._event(svc, "maintenance_mode_enabled", {"enabled": after["enabled"]})
        if after["uri"] != before.get("uri", ""):
            self._event(
                svc, "maintenance_mode_uri_updated", {"fromURI": before.get("uri", ""), "toURI": after["uri"]}
            )
        svc.data["updatedAt"] = _now_iso()
        return 200, self._public(svc.data)

    def _suspend(self, svc: _Service) -> tuple[int, Any]:
        # Render's spec lists 400 for suspend without saying when; a cron job is our guess (UNCONFIRMED).
        if svc.data["type"] == "cron_job":
            raise _Reply(400, {"message": "suspending a cron job is not supported"})
        if svc.data["suspended"] != "suspended":
            self.set_suspended(svc.data["id"], True)
            self._event(svc, "suspender_added", {"actor": "user"})
            self._event(svc, "service_suspended", {})
        return 202, None

    def _resume(self, svc: _Service) -> tuple[int, Any]:
        """Resume: not suspended any more, and a deploy (trigger service_resumed) brings the server up."""
        if svc.data["suspended"] == "suspended":
            self.set_suspended(svc.data["id"], False)
            self._event(svc, "suspender_removed", {"actor": "user"})
            self._event(svc, "service_resumed", {})
            live = next((d for d in svc.deploys if d["status"] == "live"), None)
            commit = (live or {}).get("commit") or {}
            self._create_deploy(svc, "service_resumed", {"commitId": commit.get("id")})
        return 202, None

    def _scale(self, svc: _Service, body: Any) -> tuple[int, Any]:
        count = body.get("numInstances") if isinstance(body, dict) else None
        if not isinstance(count, int) or isinstance(count, bool):
            raise _Reply(400, {"message": "numInstances must be an integer"})
        if svc.data["type"] in ("cron_job", "static_site"):
            raise _Reply(400, {"message": f"a {svc.data['type']} cannot be scaled"})
        if svc.data["suspended"] == "suspended":
            raise _Reply(409, {"message": "service is suspended"})
        details = svc.data["serviceDetails"]
        plan = details.get("plan", "starter")
        most = 1 if plan == "free" else self.max_instances
        if count < 1:
            raise _Reply(400, {"message": "numInstances must be at least 1; suspend the service to stop it"})
        if count > most:
            raise _Reply(
                400, {"message": f"numInstances {count} is above the limit of {most} for plan {plan}"}
            )
        before = int(details.get("numInstances") or 1)
        if count != before:
            details["numInstances"] = count
            self._event(svc, "instance_count_changed", {"fromInstances": before, "toInstances": count})
        return 202, None

    @staticmethod
    def _check_image(svc: _Service, body: dict[str, Any]) -> None:
        """imageUrl only for image-backed services, with the service's host/repo/name, not with commitId."""
        image = body.get("imageUrl")
        if image is None:
            return
        configured = svc.data.get("imagePath")
        if not configured:
            raise _Reply(400, {"message": "imageUrl can only be used with an image-backed service"})
        if body.get("commitId"):
            raise _Reply(400, {"message": "imageUrl and commitId cannot be used together"})
        wanted = _image_name(str(configured))
        if _image_name(str(image)) != wanted:
            mismatch = f"imageUrl must match the service's image host, repository and name ({wanted})"
            raise _Reply(400, {"message": mismatch})

    def _rollback(self, svc: _Service, body: Any) -> tuple[int, Any]:
        """A new deploy (trigger rollback) of an earlier deploy's build: no build, no pre-deploy."""
        if not isinstance(body, dict) or not isinstance(body.get("deployId"), str) or not body["deployId"]:
            raise _Reply(400, {"message": "deployId is required"})
        wanted = body["deployId"]
        earlier = next((d for d in svc.deploys if d["id"] == wanted), None)
        if earlier is None:
            raise _Reply(404, {"message": f"not found: deploy {wanted} of service {svc.data['id']}"})
        if earlier["status"] not in ("live", "deactivated"):
            never = f"deploy {wanted} is {earlier['status']}; only a deploy that was live can be the target"
            raise _Reply(400, {"message": never})
        if svc.data["suspended"] == "suspended":
            raise _Reply(409, {"message": "service is suspended"})
        source = {
            "commitId": (earlier.get("commit") or {}).get("id"),
            "imageUrl": (earlier.get("image") or {}).get("ref"),
        }
        deploy, _ = self._create_deploy(svc, "rollback", source)
        deploy["_rollback_of"] = wanted
        return 201, self._public(deploy)

    def _events_of(self, svc: _Service, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        types = _many(query, "type")
        start = _time_param(query, "startTime")
        end = _time_param(query, "endTime")
        chosen = []
        for event in svc.events:
            at = _parse_iso(event["timestamp"])
            if types and event["type"] not in types:
                continue
            if at is not None and ((start and at < start) or (end and at > end)):
                continue
            chosen.append(event)
        return chosen

    def _one_deploy(self, svc: _Service, method: str, deploy_id: str, rest: list[str]) -> tuple[int, Any]:
        deploy = next((d for d in svc.deploys if d["id"] == deploy_id), None)
        if deploy is None:
            raise _Reply(404, {"message": f"not found: {deploy_id}"})
        if not rest and method == "GET":
            return 200, self._public(deploy)
        if rest == ["cancel"] and method == "POST":
            if svc.data["type"] == "cron_job":
                raise _Reply(400, {"message": "canceling a cron job deploy is not supported"})
            if deploy["status"] not in (*ACTIVE, "queued"):
                raise _Reply(
                    409, {"message": f"deploy {deploy_id} is {deploy['status']} and cannot be canceled"}
                )
            self._set_status(svc, deploy, "canceled", self.clock())
            return 200, self._public(deploy)
        raise _Reply(404, {"message": "not found"})

    def _jobs(self, svc: _Service, method: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if method == "GET":
            items = svc.jobs
            statuses = _many(query, "status")
            if statuses:
                items = [j for j in items if j["status"] in statuses]
            return 200, self._page(items, "job", query)
        if method != "POST":
            raise _Reply(405, {"message": "method not allowed"})
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("startCommand"), str)
            or not body["startCommand"]
        ):
            raise _Reply(400, {"message": "startCommand is required"})
        outcome = None
        if svc.fail_jobs:
            svc.fail_jobs -= 1
            outcome = "failed"
        job = {
            "id": new_id("job"),
            "serviceId": svc.data["id"],
            "startCommand": body["startCommand"],
            "planId": body.get("planId") or "plan-srv-004",
            "status": "pending",
            "createdAt": _now_iso(),
            "startedAt": None,
            "finishedAt": None,
            "_phase_at": self.clock(),
            "_outcome": outcome,
            "_hook": None,
            "_cursor": self._cursor(),
        }
        svc.jobs.insert(0, job)
        return 201, self._public(job)

    def _one_job(self, svc: _Service, method: str, job_id: str, rest: list[str]) -> tuple[int, Any]:
        job = next((j for j in svc.jobs if j["id"] == job_id), None)
        if job is None:
            raise _Reply(404, {"message": f"not found: {job_id}"})
        if not rest and method == "GET":
            return 200, self._public(job)
        if rest == ["cancel"] and method == "POST":
            if job["status"] in ("succeeded", "failed", "canceled"):
                raise _Reply(409, {"message": f"job {job_id} is {job['status']}"})
            job["status"], job["finishedAt"] = "canceled", _now_iso()
            return 200, self._public(job)
        raise _Reply(404, {"message": "not found"})

    def _get_logs(self, query: dict[str, list[str]]) -> dict[str, Any]:
        owner = _one(query, "ownerId")
        resources = _many(query, "resource")
        if not owner or not resources:
            raise _Reply(400, {"message": "ownerId and resource are required"})
        owned = {sid for sid, svc in self._services.items() if svc.data["ownerId"] == owner}
        job_owned = {j["id"] for sid in owned for j in self._services[sid].jobs}
        now = _dt.datetime.now(_dt.UTC)
        end = _time_param(query, "endTime") or now
        start = _time_param(query, "startTime") or end - _dt.timedelta(hours=1)
        direction = _one(query, "direction") or "backward"
        limit = _limit(query)
        levels = _many(query, "level")
        types = _many(query, "type")
        texts = query.get("text", [])  # free text: a comma is part of it, not a separator
        by_label = {name: _many(query, name) for name in ("statusCode", "path", "method", "instance")}
        chosen = [
            e
            for e in self._logs
            if e["_resource"] in resources
            and e["_resource"] in owned | job_owned
            and start <= e["_at"] <= end
            and (not levels or _label(e, "level") in levels)
            and (not types or _label(e, "type") in types)
            and (not texts or any(_wildcard(t, e["message"], contains=True) for t in texts))
            and all(
                not wanted or any(_wildcard(w, _label(e, name) or "") for w in wanted)
                for name, wanted in by_label.items()
            )
        ]
        chosen.sort(key=lambda e: e["_at"], reverse=direction == "backward")
        page, more = chosen[:limit], len(chosen) > limit
        next_start, next_end = start, end
        if more and page:
            edge = page[-1]["_at"]
            tiny = _dt.timedelta(microseconds=1)
            if direction == "backward":
                next_end = edge - tiny
            else:
                next_start = edge + tiny
        return {
            "hasMore": more,
            "nextStartTime": _iso(next_start),
            "nextEndTime": _iso(next_end),
            "logs": [self._public(e) for e in page],
        }


# -- small helpers ----------------------------------------------------------------------------


def _iso(moment: _dt.datetime) -> str:
    return moment.astimezone(_dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _many(query: dict[str, list[str]], name: str) -> list[str]:
    """Both styles Render sees: name=a,b (form, explode=false) and name=a&name=b."""
    return [part for value in query.get(name, []) for part in value.split(",") if part]


def _limit(query: dict[str, list[str]]) -> int:
    raw = _one(query, "limit")
    if raw is None:
        return 20
    try:
        value = int(raw)
    except ValueError:
        raise _Reply(400, {"message": "limit must be an integer"}) from None
    if not 1 <= value <= 100:
        raise _Reply(400, {"message": "limit must be between 1 and 100"})
    return value


def _time_param(query: dict[str, list[str]], name: str) -> _dt.datetime | None:
    raw = _one(query, name)
    if raw is None:
        return None
    parsed = _parse_iso(raw)
    if parsed is None:
        raise _Reply(400, {"message": f"{name} must be an RFC 3339 time"})
    return parsed


def _created(item: dict[str, Any]) -> _dt.datetime:
    return _parse_iso(item["createdAt"]) or _dt.datetime.min.replace(tzinfo=_dt.UTC)


def _wildcard(pattern: str, value: str, *, contains: bool = False) -> bool:
    """Render's log filters accept `*` wildcards; text filters match anywhere in the line."""
    if "*" not in pattern:
        return pattern in value if contains else pattern == value
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.search(regex, value) is not None if contains else re.fullmatch(regex, value) is not None


def _image_name(ref: str) -> str:
    """docker.io/org/app:1.2@sha256:… -> docker.io/org/app (host, repository and name, no tag)."""
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name


def _label(entry: dict[str, Any], name: str) -> str | None:
    return next((lab["value"] for lab in entry["labels"] if lab["name"] == name), None)


def _make_handler(api: RenderStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "render-standin"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: tests read the counters, not an access log

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, reply, after, delay = api.handle(self.command, self.path, headers, body)
            if delay:
                time.sleep(delay)
            if status == 0 or after == "drop":
                # Close without a byte of answer: the client sees the connection drop.
                self.close_connection = True
                return
            data = b"" if reply is None else json.dumps(reply).encode()
            self.send_response(status)
            if reply is not None:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Render-Request-Id", "standin-" + secrets.token_hex(6))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            if data:
                self.wfile.write(data)

        do_GET = _serve
        do_POST = _serve
        do_PATCH = _serve
        do_DELETE = _serve

    return Handler


def _load_services(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        raw = json.load(handle)
    services = []
    for item in raw:
        if "serviceDetails" in item and "id" in item:
            services.append(item)
        else:
            services.append(make_service(**item))
    return services


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a Render API stand-in on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--api-key-env", default="RENDER_API_KEY", help="environment variable holding the key"
    )
    parser.add_argument("--services-file", help="JSON list of services (objects or make_service kwargs)")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="clock speed: 10 runs deploys ten times faster"
    )
    args = parser.parse_args(argv)
    key = os.environ.get(args.api_key_env)
    if not key:
        print(f"{args.api_key_env} is not set; the stand-in needs the key clients will send", file=sys.stderr)
        return 2
    services = _load_services(args.services_file) if args.services_file else []
    api = RenderStandIn(api_key=key, services=services, port=args.port, clock=ScaledClock(args.speed))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with api as base_url:
        print(f"READY {base_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
