"""Render REST API (v1) client: bearer auth, bounded retries, one error boundary.

    client = RenderClient.from_env()          # RENDER_API_KEY, RENDER_API_URL (default api.render.com/v1)
    service = client.find_service("turbo-response-backend")
    client.restart_service(service["id"])

Error mapping (`_raise_for_status` and `_send` are the only places httpx errors are translated):

    401/403             Unreachable   "Render API rejected the key"       hint: check RENDER_API_KEY
    404                 RenderNotFound (BadInput, 2)  names the service / deploy / job
    400, 406, 410       BadInput      Render's own message
    409                 RenderConflict (Refused, 4)   e.g. service suspended, deploy not cancellable
    429 (retries spent) Unreachable   hint: wait Ratelimit-Reset seconds
    5xx (retries spent) Unreachable   Render answered 5xx
    connect/timeouts    Unreachable   names the base URL

Retries (`_request`): every method retries a refused connection and a 429 (the request was not
acted upon); GETs also retry 5xx, read timeouts and dropped connections. The wait is exponential
with jitter, or what `Ratelimit-Reset` says (seconds until the window resets; a value that
looks like epoch seconds is converted). Bounded by `max_attempts` and `retry_budget` seconds.
`sleep` is injectable so tests run fast.

Why not oncall.retry (stamina) like the migration waits: a 429's pause comes from the server
(`Ratelimit-Reset`), the budget counts the pauses taken (so an injected sleep stays exact), and
the pause never drops below half the step ("equal jitter") so a storm always backs off; stamina
owns its sleeping and its jitter rule, and would leave only the loop's shell to share.

A deploy trigger is never repeated blindly (`trigger_deploy`): when its answer is lost the client
lists recent deploys and adopts one created by the API after the request started before it
considers sending the POST again.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from oncall.errors import BadInput, CheckFailed, Refused, Unreachable
from oncall.redact import redact, register_secret

DEFAULT_BASE_URL = "https://api.render.com/v1"
KEY_ENV = "RENDER_API_KEY"
URL_ENV = "RENDER_API_URL"
PAGE_LIMIT = 100

# Deploy statuses exactly as Render's CLI reads them (pkg/deploy/util.go).
DEPLOY_SUCCESS = frozenset({"live", "deactivated"})
DEPLOY_FAILED = frozenset({"build_failed", "update_failed", "pre_deploy_failed", "canceled"})
DEPLOY_TERMINAL = DEPLOY_SUCCESS | DEPLOY_FAILED
DEPLOY_IN_PROGRESS = frozenset(
    {"created", "queued", "build_in_progress", "update_in_progress", "pre_deploy_in_progress"}
)
DEPLOY_CANCELLABLE = frozenset(
    {"created", "queued", "build_in_progress", "update_in_progress", "pre_deploy_in_progress"}
)
JOB_TERMINAL = frozenset({"succeeded", "failed", "canceled"})

_ID_RE = re.compile(r"^(srv|crn)-[a-z0-9]+$")
# A Ratelimit-Reset above this is an epoch timestamp, not a delta (a day is far above any window).
_EPOCH_THRESHOLD = 86_400.0


class RenderNotFound(BadInput):
    """Render answered 404 for a service, deploy or job."""


class RenderConflict(Refused):
    """Render answered 409: the resource is in a state that forbids the request."""


def parse_time(value: str | None) -> _dt.datetime | None:
    """Render's RFC 3339 timestamps (with Z or an offset, any fraction) as aware datetimes."""
    if not value:
        return None
    try:
        # Since Python 3.11 (our minimum) this reads Z and any number of fraction digits.
        parsed = _dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.UTC)


def service_ref(service: Mapping[str, Any]) -> dict[str, Any]:
    """How a result names a service: its id and name, nothing else of Render's answer."""
    return {"id": service.get("id"), "name": service.get("name")}


def reset_delay(header: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Ratelimit-Reset header: a delta, or (tolerated) epoch seconds."""
    if header is None:
        return None
    try:
        value = float(header.strip())
    except ValueError:
        return None
    if value > _EPOCH_THRESHOLD:
        value -= time.time() if now is None else now
    return max(0.0, value)


@dataclass(frozen=True)
class DeployTrigger:
    """What a deploy POST produced: the deploy, or None when Render queued it (202, empty body)."""

    deploy: dict[str, Any] | None
    queued: bool
    recovered: bool = False  # the answer was lost and the deploy was found by listing


def _is_loopback(host: str) -> bool:
    """An IP literal in 127.0.0.0/8 or ::1, or exactly `localhost`: names that never leave the machine.

    Not a prefix test: `127.attacker.example` is a DNS name that can point anywhere.
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _checked_base_url(raw: str) -> str:
    """The API base URL, or BadInput naming RENDER_API_URL's problem.

    Plain http is allowed only to a loopback host (the stand-in): anywhere else the API key
    would cross the network in clear text.
    """
    try:
        parts = httpx.URL(raw)
    except httpx.InvalidURL as exc:
        raise BadInput(
            f"{URL_ENV} is not a URL: {exc}", f"unset {URL_ENV}, or set it like {DEFAULT_BASE_URL}"
        ) from None
    loopback = _is_loopback(parts.host)
    if parts.scheme not in ("https", "http") or not parts.host:
        raise BadInput(
            f"{URL_ENV} must be an https:// URL with a host, got scheme {parts.scheme or '(none)'!r}",
            f"unset {URL_ENV}, or set it like {DEFAULT_BASE_URL}",
        )
    if parts.scheme == "http" and not loopback:
        raise BadInput(
            f"{URL_ENV} uses plain http to {parts.host}: the API key would travel unencrypted",
            f"use https://, or unset {URL_ENV} for {DEFAULT_BASE_URL}",
        )
    return raw.rstrip("/")


def deploy_body(*, clear_cache: bool, commit_id: str | None, image_url: str | None = None) -> dict[str, Any]:
    """The JSON body of POST /services/{id}/deploys (also shown by `deploy --dry-run`)."""
    body: dict[str, Any] = {"clearCache": "clear" if clear_cache else "do_not_clear"}
    if commit_id:
        body["commitId"] = commit_id
    if image_url:
        body["imageUrl"] = image_url  # image-backed services: host/repo/name must match the service's
    return body


class RenderClient:
    """A small synchronous client for the endpoints the runbook uses; counts every call it makes."""

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        max_attempts: int = 6,
        retry_budget: float = 60.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise BadInput(f"{KEY_ENV} is empty", f"export {KEY_ENV}=rnd_... (Render dashboard → API keys)")
        register_secret(api_key)
        self.base_url = _checked_base_url(base_url or DEFAULT_BASE_URL)
        self.max_attempts = max(1, max_attempts)
        self.retry_budget = retry_budget
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._sleep = sleep
        self._rng = rng
        self.calls: Counter[str] = Counter()
        self.slept = 0.0
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "User-Agent": "oncall/0.1",
            },
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            transport=transport,
            # Env proxies must not divert calls carrying the key; RENDER_API_URL is the only override.
            trust_env=False,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> RenderClient:
        """A client from RENDER_API_KEY (required) and RENDER_API_URL (optional)."""
        env = os.environ if environ is None else environ
        key = (env.get(KEY_ENV) or "").strip()
        if not key:
            raise BadInput(
                f"{KEY_ENV} is not set (the Render API needs it)",
                f"export {KEY_ENV}=rnd_... (Render dashboard → Account settings → API keys)",
            )
        return cls(key, (env.get(URL_ENV) or "").strip() or None, **kwargs)

    # -- plumbing -----------------------------------------------------------------------------

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RenderClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, *, params: Any = None, json: Any = None) -> httpx.Response:
        """One HTTP exchange; httpx transport errors propagate (callers decide what they mean)."""
        self.calls[method] += 1
        return self._http.request(method, path, params=params, json=json)

    def _unreachable(self, exc: httpx.HTTPError, method: str, path: str) -> Unreachable:
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
        return Unreachable(
            f"Render API at {self.base_url} {kind}: {method} {path}: {type(exc).__name__}: {exc}",
            f"check the network and {URL_ENV} (now {self.base_url}); Render's status: https://status.render.com",
        )

    def _backoff(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None and response.status_code == 429:
            delay = reset_delay(response.headers.get("Ratelimit-Reset"))
            if delay is not None:
                # A little jitter so that several clients do not all return in the same instant.
                return delay + float(self._rng()) * 0.25
        # "Equal jitter": at least half the exponential step, so a storm always backs off.
        step = min(self.backoff_cap, self.backoff_base * 2.0**attempt)
        return step / 2 + float(self._rng()) * step / 2

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        what: str | None = None,
    ) -> httpx.Response:
        """Send with bounded retries; return a 2xx response or raise one of our errors."""
        started = time.monotonic()
        idempotent = method == "GET"
        attempt = 0
        waited = 0.0
        while True:
            response: httpx.Response | None = None
            error: httpx.HTTPError | None = None
            try:
                response = self._send(method, path, params=params, json=json)
            except httpx.ConnectError as exc:  # never reached the server: safe for any method
                error = exc
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                if not idempotent:
                    raise self._unreachable(exc, method, path) from exc
                error = exc
            if response is not None:
                status = response.status_code
                retryable = status == 429 or (idempotent and status >= 500)
                if not retryable:
                    _raise_for_status(response, method, path, self.base_url, what)
                    return response
            attempt += 1
            delay = self._backoff(attempt, response)
            # An injected sleep takes no real time, so the budget counts whichever is larger.
            spent = max(time.monotonic() - started, waited)
            if attempt >= self.max_attempts or spent + delay > self.retry_budget:
                if error is not None:
                    raise self._unreachable(error, method, path) from error
                assert response is not None
                _raise_for_status(response, method, path, self.base_url, what)
            self._sleep(delay)
            waited += delay
            self.slept += delay

    def _json(self, response: httpx.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise CheckFailed(
                f"Render API answered {what} with a body that is not JSON "
                f"({response.status_code}, {len(response.content)} bytes)",
                f"check {URL_ENV} (now {self.base_url}) points at the Render API",
            ) from exc

    def _get(self, path: str, *, params: Any = None, what: str) -> Any:
        return self._json(self._request("GET", path, params=params, what=what), what)

    def _list_all(
        self,
        path: str,
        key: str,
        *,
        params: Mapping[str, Any] | None = None,
        what: str,
        max_items: int | None = None,
    ) -> list[dict[str, Any]]:
        """Follow cursor pagination: pass the last item's cursor; stop on a short or empty page."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        limit = PAGE_LIMIT if max_items is None else max(1, min(PAGE_LIMIT, max_items))
        while True:
            query: dict[str, Any] = dict(params or {})
            query["limit"] = limit
            if cursor:
                query["cursor"] = cursor
            page = self._get(path, params=query, what=what)
            if not isinstance(page, list):
                raise CheckFailed(
                    f"Render API answered {what} with a {type(page).__name__}, not a list",
                    f"check {URL_ENV} (now {self.base_url}) points at the Render API v1",
                )
            items.extend(entry[key] for entry in page if isinstance(entry, dict) and key in entry)
            if len(page) < limit or not page or (max_items is not None and len(items) >= max_items):
                return items if max_items is None else items[:max_items]
            cursor = page[-1].get("cursor")
            if not cursor:
                return items

    # -- services -----------------------------------------------------------------------------

    def list_services(self, *, name: str | None = None, **filters: Any) -> list[dict[str, Any]]:
        params: dict[str, Any] = {k: v for k, v in filters.items() if v is not None}
        if name:
            params["name"] = name
        return self._list_all("/services", "service", params=params, what="the service list")

    def get_service(self, service_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self._get(f"/services/{service_id}", what=f"service {service_id}")
        return data

    def find_service(self, name_or_id: str) -> dict[str, Any]:
        """The one service with this exact name, or this srv-/crn- id."""
        if _ID_RE.match(name_or_id):
            return self.get_service(name_or_id)
        matches = [s for s in self.list_services(name=name_or_id) if s.get("name") == name_or_id]
        if not matches:
            raise RenderNotFound(
                f"no Render service named {name_or_id!r} visible to this API key",
                "check render.service in invoke.yaml (a name or srv- id) and that RENDER_API_KEY "
                "belongs to the service's workspace",
            )
        if len(matches) > 1:
            ids = ", ".join(str(s.get("id")) for s in matches)
            raise BadInput(
                f"{len(matches)} Render services are named {name_or_id!r}: {ids}",
                "set render.service in invoke.yaml to the srv- id of the one you mean",
                ids=[s.get("id") for s in matches],
            )
        return matches[0]

    def restart_service(self, service_id: str) -> None:
        self._request("POST", f"/services/{service_id}/restart", what=f"restart of {service_id}")

    def update_service(self, service_id: str, body: Mapping[str, Any], *, what: str) -> dict[str, Any]:
        """PATCH /services/{id} with the fields in `body`; Render answers the whole service."""
        data: dict[str, Any] = self._json(
            self._request("PATCH", f"/services/{service_id}", json=dict(body), what=what), what
        )
        return data

    def get_env_var(self, service_id: str, key: str) -> str | None:
        """The value of an environment variable set on the service itself; None when it has none.

        Variables of a linked environment group are not listed here (Render's API keeps them on
        the group). The value is a secret: it is registered with the redactor before it is returned.
        """
        try:
            data = self._get(f"/services/{service_id}/env-vars/{key}", what=f"env var {key} of {service_id}")
        except RenderNotFound:
            return None
        value = data.get("value") if isinstance(data, dict) else None
        if not isinstance(value, str):
            return None
        register_secret(value)
        return value

    def suspend_service(self, service_id: str) -> None:
        self._request("POST", f"/services/{service_id}/suspend", what=f"suspend of {service_id}")

    def resume_service(self, service_id: str) -> None:
        self._request("POST", f"/services/{service_id}/resume", what=f"resume of {service_id}")

    def scale_service(self, service_id: str, instances: int) -> None:
        """POST /services/{id}/scale {numInstances}: 202, empty (Render ignores it under autoscaling)."""
        self._request(
            "POST",
            f"/services/{service_id}/scale",
            json={"numInstances": instances},
            what=f"scale of {service_id} to {instances} instance(s)",
        )

    def list_events(
        self,
        service_id: str,
        *,
        limit: int = 20,
        types: Iterable[str] = (),
        start: _dt.datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The service's events, newest first (at most `limit`, since `start` when given)."""
        params: dict[str, Any] = {}
        if types:
            params["type"] = ",".join(types)
        if start is not None:
            params["startTime"] = _iso(start)
        return self._list_all(
            f"/services/{service_id}/events",
            "event",
            params=params,
            what=f"events of {service_id}",
            max_items=limit,
        )

    # -- deploys ------------------------------------------------------------------------------

    def list_deploys(
        self,
        service_id: str,
        *,
        limit: int = 20,
        status: Iterable[str] = (),
        created_after: _dt.datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The newest deploys first (at most `limit`)."""
        params: dict[str, Any] = {}
        statuses = list(status)
        if statuses:
            params["status"] = statuses  # form/explode: status=a&status=b
        if created_after is not None:
            params["createdAfter"] = created_after.astimezone(_dt.UTC).isoformat().replace("+00:00", "Z")
        return self._list_all(
            f"/services/{service_id}/deploys",
            "deploy",
            params=params,
            what=f"deploys of {service_id}",
            max_items=limit,
        )

    def get_deploy(self, service_id: str, deploy_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self._get(
            f"/services/{service_id}/deploys/{deploy_id}", what=f"deploy {deploy_id} of {service_id}"
        )
        return data

    def cancel_deploy(self, service_id: str, deploy_id: str) -> dict[str, Any]:
        response = self._request(
            "POST", f"/services/{service_id}/deploys/{deploy_id}/cancel", what=f"cancel of deploy {deploy_id}"
        )
        data: dict[str, Any] = self._json(response, f"cancel of deploy {deploy_id}")
        return data

    def rollback(self, service_id: str, deploy_id: str) -> dict[str, Any]:
        """POST /services/{id}/rollback: a new deploy (trigger rollback) of an earlier deploy's build.

        Not retried after a lost answer: a second rollback to the same deploy would only queue the
        same build again, but the caller is told to look before trying (`Unreachable`).
        """
        what = f"rollback of {service_id} to {deploy_id}"
        response = self._request(
            "POST", f"/services/{service_id}/rollback", json={"deployId": deploy_id}, what=what
        )
        data: dict[str, Any] = self._json(response, what)
        return data

    def trigger_deploy(
        self,
        service_id: str,
        *,
        clear_cache: bool = False,
        commit_id: str | None = None,
        image_url: str | None = None,
        known_ids: Iterable[str] = (),
        settle: float = 3.0,
    ) -> DeployTrigger:
        """POST a deploy once; after a lost answer adopt the deploy it created before resending.

        `known_ids` are deploys that existed before (they are never adopted). `settle` is how long
        the client keeps looking for a deploy the lost POST may have created.
        """
        body = deploy_body(clear_cache=clear_cache, commit_id=commit_id, image_url=image_url)
        path = f"/services/{service_id}/deploys"
        what = f"deploy of {service_id}"
        known = set(known_ids)
        for attempt in range(2):
            # Render stamps createdAt with its own clock; allow it to run a little behind ours.
            sent_at = _dt.datetime.now(_dt.UTC) - _dt.timedelta(seconds=5)
            try:
                response = self._request_write_once(path, body, what)
            except _LostAnswer as lost:
                found = self._find_created_deploy(service_id, sent_at, known, commit_id, settle)
                if found is not None:
                    return DeployTrigger(found, queued=found.get("status") == "queued", recovered=True)
                if attempt == 1:
                    raise Unreachable(
                        f"the answer to the deploy POST for {service_id} was lost twice and no new deploy "
                        f"appeared ({lost.reason})",
                        "run `invoke render-status` to see whether a deploy started before trying again",
                    ) from lost.__cause__
                continue
            if response.status_code == 202 or not response.content:
                return DeployTrigger(None, queued=True)
            deploy: dict[str, Any] = self._json(response, what)
            return DeployTrigger(deploy, queued=deploy.get("status") == "queued")
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _request_write_once(self, path: str, body: Any, what: str) -> httpx.Response:
        """POST with retries only where Render surely did nothing (refused connection, 429)."""
        started = time.monotonic()
        attempt = 0
        waited = 0.0
        while True:
            try:
                response = self._send("POST", path, json=body)
            except httpx.ConnectError as exc:
                response = None
                error: httpx.HTTPError = exc
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                raise _LostAnswer(f"{type(exc).__name__}: {exc}") from exc
            if response is not None and response.status_code != 429:
                _raise_for_status(response, "POST", path, self.base_url, what)
                return response
            attempt += 1
            delay = self._backoff(attempt, response)
            spent = max(time.monotonic() - started, waited)
            if attempt >= self.max_attempts or spent + delay > self.retry_budget:
                if response is None:
                    raise self._unreachable(error, "POST", path) from error
                _raise_for_status(response, "POST", path, self.base_url, what)
            self._sleep(delay)
            waited += delay
            self.slept += delay

    def _find_created_deploy(
        self,
        service_id: str,
        sent_at: _dt.datetime,
        known: set[str],
        commit_id: str | None,
        settle: float,
    ) -> dict[str, Any] | None:
        deadline = time.monotonic() + settle
        while True:
            for deploy in self.list_deploys(service_id, limit=10):
                created = parse_time(deploy.get("createdAt"))
                if deploy.get("id") in known or deploy.get("trigger") not in (None, "api"):
                    continue
                if created is None or created < sent_at:
                    continue
                if commit_id and (deploy.get("commit") or {}).get("id") not in (None, commit_id):
                    continue
                return deploy
            if time.monotonic() >= deadline:
                return None
            self._sleep(1.0)

    def find_queued_deploy(
        self, service_id: str, *, known_ids: Iterable[str] = (), timeout: float = 60.0, interval: float = 1.0
    ) -> dict[str, Any]:
        """After a 202: the newest queued deploy not seen before (the CLI polls the same way)."""
        known = set(known_ids)
        deadline = time.monotonic() + timeout
        while True:
            for deploy in self.list_deploys(service_id, status=["queued"], limit=5):
                if deploy.get("id") not in known:
                    return deploy
            if time.monotonic() >= deadline:
                raise CheckFailed(
                    f"Render accepted the deploy of {service_id} (202) but no queued deploy appeared "
                    f"within {timeout:.0f}s",
                    "run `invoke render-status` to see the service's deploys",
                )
            self._sleep(interval)

    # -- one-off jobs -------------------------------------------------------------------------

    def create_job(
        self, service_id: str, start_command: str, *, plan_id: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"startCommand": start_command}
        if plan_id:
            body["planId"] = plan_id
        what = f"job on {service_id}"
        data: dict[str, Any] = self._json(
            self._request("POST", f"/services/{service_id}/jobs", json=body, what=what), what
        )
        return data

    def get_job(self, service_id: str, job_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self._get(f"/services/{service_id}/jobs/{job_id}", what=f"job {job_id}")
        return data

    def list_jobs(self, service_id: str, *, limit: int = 20) -> list[dict[str, Any]]:
        return self._list_all(
            f"/services/{service_id}/jobs", "job", what=f"jobs of {service_id}", max_items=limit
        )

    def cancel_job(self, service_id: str, job_id: str) -> dict[str, Any]:
        what = f"cancel of job {job_id}"
        data: dict[str, Any] = self._json(
            self._request("POST", f"/services/{service_id}/jobs/{job_id}/cancel", what=what), what
        )
        return data

    # -- logs ---------------------------------------------------------------------------------

    def logs(
        self,
        owner_id: str,
        resource: str,
        *,
        start: _dt.datetime,
        end: _dt.datetime | None = None,
        max_pages: int = 5,
        **filters: str | list[str],
    ) -> list[dict[str, Any]]:
        """Log entries of one resource between start and end, following hasMore.

        Newest first by default; `direction="forward"` (a filter like the others) reads oldest first.
        """
        params: dict[str, Any] = {
            "ownerId": owner_id,
            "resource": resource,
            "startTime": _iso(start),
            "endTime": _iso(end or _dt.datetime.now(_dt.UTC)),
            "direction": "backward",
            "limit": PAGE_LIMIT,
            **filters,
        }
        entries: list[dict[str, Any]] = []
        for _ in range(max_pages):
            page = self._get("/logs", params=params, what=f"logs of {resource}")
            if not isinstance(page, dict):
                raise CheckFailed(
                    f"Render API answered logs of {resource} with a {type(page).__name__}, not an object",
                    f"check {URL_ENV} (now {self.base_url}) points at the Render API v1",
                )
            entries.extend(page.get("logs") or [])
            if not page.get("hasMore"):
                break
            params["startTime"] = page.get("nextStartTime")
            params["endTime"] = page.get("nextEndTime")
        return entries


class _LostAnswer(Exception):
    """Internal signal: a write's answer never arrived, so whether Render acted is unknown."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _iso(moment: _dt.datetime) -> str:
    return moment.astimezone(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        return redact(str(body["message"]))[:300]
    text = response.text.strip()
    return redact(text)[:300] if text else response.reason_phrase


def _raise_for_status(
    response: httpx.Response, method: str, path: str, base_url: str, what: str | None
) -> None:
    """The one place a Render HTTP status becomes one of our errors."""
    status = response.status_code
    if status < 400:
        return
    subject = what or f"{method} {path}"
    message = _message(response)
    details = {"status": status, "method": method, "path": path}
    if status in (401, 403):
        raise Unreachable(
            f"Render API at {base_url} rejected the API key ({status}: {message}) for {subject}",
            f"check {KEY_ENV}: it must be a valid key of the workspace that owns the service",
            **details,
        )
    if status == 404:
        raise RenderNotFound(
            f"Render has no {subject} (404: {message})",
            "check render.service in invoke.yaml (name or srv- id) and the workspace of RENDER_API_KEY",
            **details,
        )
    if status == 409:
        raise RenderConflict(
            f"Render refused the {subject} (409 conflict: {message})",
            "run `invoke render-status` to see the service's state (suspended? deploy in progress?)",
            **details,
        )
    if status == 429:
        wait = reset_delay(response.headers.get("Ratelimit-Reset"))
        after = f"wait {wait:.0f}s" if wait is not None else "wait a minute"
        raise Unreachable(
            f"Render API rate limit hit for {subject} (429: {message}); retries exhausted",
            f"{after} and run it again; something else may be calling the API with this key",
            **details,
        )
    if status >= 500:
        raise Unreachable(
            f"Render API answered {status} for {subject}: {message}",
            "Render may be having trouble: https://status.render.com; try again in a minute",
            **details,
        )
    if status in (400, 406, 410, 422):
        raise BadInput(
            f"Render rejected the {subject} ({status}: {message})",
            "check the service type and flags; Render's message says what it did not accept",
            **details,
        )
    raise CheckFailed(
        f"Render API answered {status} for {subject}: {message}",
        "see https://api-docs.render.com for what this status means here",
        **details,
    )
