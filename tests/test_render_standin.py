"""The Render API stand-in answers as Render's published API says (checked against render-openapi.json)."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from oncall.sandbox.render_api import ManualClock, RateLimits, RenderStandIn, Timings, make_service
from render_support import FAST, SERVICE, error_schema_ok, http_for, new_key, service_id, validate

StandIn = tuple[RenderStandIn, httpx.Client]


@pytest.fixture
def standin(secret_scan: Any) -> Iterator[StandIn]:
    clock = ManualClock()
    api = RenderStandIn(
        api_key=new_key(),
        services=[make_service(SERVICE, pre_deploy_command="npm run migrate"), make_service("worker-x")],
        clock=clock,
        timings=Timings(created=1, build=10, pre_deploy=5, update=5, job_pending=1, job_run=3),
        tick=0.01,
    )
    secret_scan.add(api.api_key)
    with api as base_url:
        headers = {"Authorization": f"Bearer {api.api_key}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=10) as http:
            yield api, http


def _clock(api: RenderStandIn) -> ManualClock:
    assert isinstance(api.clock, ManualClock)
    return api.clock


def test_services_list_and_retrieve_match_the_schema(standin: StandIn) -> None:
    """GET /services is a bare array of {cursor, service}; GET /services/{id} a service object."""
    api, http = standin
    listed = http.get("/services", params={"limit": 100})
    assert listed.status_code == 200
    validate(listed.json(), "/services")
    assert {e["service"]["name"] for e in listed.json()} == {SERVICE, "worker-x"}
    one = http.get(f"/services/{service_id(api)}")
    validate(one.json(), "/services/{serviceId}")
    assert one.json()["suspended"] == "not_suspended"


def test_every_answer_carries_rate_limit_headers(standin: StandIn) -> None:
    """Ratelimit-Limit/Remaining/Reset are on every response, including 401 and 404."""
    _, http = standin
    for response in (
        http.get("/services"),
        http.get("/services/srv-nope0000000000000000"),
        httpx.get(str(http.base_url) + "/services", timeout=5),
    ):
        assert response.headers["Ratelimit-Limit"] == "400"
        assert int(response.headers["Ratelimit-Remaining"]) >= 0
        assert 0 < int(response.headers["Ratelimit-Reset"]) <= 60


def test_wrong_or_missing_key_gets_401_with_a_message(standin: StandIn) -> None:
    """No or wrong bearer token: 401 with Render's error body."""
    _, http = standin
    bare = httpx.get(str(http.base_url) + "/services", timeout=5)
    wrong = httpx.get(str(http.base_url) + "/services", headers={"Authorization": "Bearer rnd_x"}, timeout=5)
    for response in (bare, wrong):
        assert response.status_code == 401
        error_schema_ok(response.json())
        assert response.json()["message"]


def test_cursor_pagination_returns_items_after_the_cursor() -> None:
    """limit and cursor page through 45 services without repeats; a short page ends the list."""
    api = RenderStandIn(api_key=new_key(), services=[make_service(f"svc-{i:02d}") for i in range(45)])
    with api as base_url, http_for(api, base_url) as h:
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 20}
            if cursor:
                params["cursor"] = cursor
            page = h.get("/services", params=params).json()
            pages += 1
            seen += [e["service"]["name"] for e in page]
            if len(page) < 20:
                break
            cursor = page[-1]["cursor"]
        assert pages == 3
        assert sorted(seen) == [f"svc-{i:02d}" for i in range(45)]
        assert h.get("/services", params={"limit": 101}).status_code == 400


def test_name_filter_accepts_comma_and_repeated_values(standin: StandIn) -> None:
    """?name=a,b and ?name=a&name=b both filter (Render documents form style, clients send both)."""
    _, http = standin
    comma = http.get("/services", params={"name": f"{SERVICE},worker-x"}).json()
    repeated = http.get("/services", params=[("name", SERVICE), ("name", "worker-x")]).json()
    assert len(comma) == len(repeated) == 2
    assert len(http.get("/services", params={"name": SERVICE}).json()) == 1


def test_deploy_moves_through_its_phases_on_the_clock(standin: StandIn) -> None:
    """201 deploy; created → build → pre_deploy → update → live; the previous live one is deactivated."""
    api, http = standin
    sid = service_id(api)
    first = http.post(f"/services/{sid}/deploys", json={})
    assert first.status_code == 201
    validate(first.json(), "/services/{serviceId}/deploys", "post", "201")
    seen = []
    for step in (0, 1, 10, 5, 5):
        _clock(api).advance(step)
        body = http.get(f"/services/{sid}/deploys/{first.json()['id']}").json()
        validate(body, "/services/{serviceId}/deploys/{deployId}")
        seen.append(body["status"])
    assert seen == ["created", "build_in_progress", "pre_deploy_in_progress", "update_in_progress", "live"]
    second = http.post(f"/services/{sid}/deploys", json={"clearCache": "clear"}).json()
    _clock(api).advance(30)
    listed = http.get(f"/services/{sid}/deploys").json()
    validate(listed, "/services/{serviceId}/deploys")
    assert [(e["deploy"]["id"], e["deploy"]["status"]) for e in listed] == [
        (second["id"], "live"),
        (first.json()["id"], "deactivated"),
    ]
    assert listed[1]["deploy"]["finishedAt"]


def test_deploy_while_one_runs_is_queued_with_an_empty_202(standin: StandIn) -> None:
    """A second POST while the first builds answers 202 with no body; list shows it queued, then it runs."""
    api, http = standin
    sid = service_id(api)
    http.post(f"/services/{sid}/deploys", json={})
    queued = http.post(f"/services/{sid}/deploys", json={})
    assert queued.status_code == 202
    assert queued.content == b""
    listed = http.get(f"/services/{sid}/deploys", params={"status": "queued"}).json()
    assert len(listed) == 1
    _clock(api).advance(21)
    _clock(api).advance(1)
    statuses = [e["deploy"]["status"] for e in http.get(f"/services/{sid}/deploys").json()]
    assert statuses[0] in ("created", "build_in_progress")
    assert statuses[1] == "live"


def test_bad_deploy_body_and_suspended_service_are_refused(standin: StandIn) -> None:
    """clearCache outside clear/do_not_clear → 400; a suspended service → 409."""
    api, http = standin
    sid = service_id(api)
    bad = http.post(f"/services/{sid}/deploys", json={"clearCache": "yes"})
    assert bad.status_code == 400
    error_schema_ok(bad.json())
    api.set_suspended(sid, True)
    assert http.post(f"/services/{sid}/deploys", json={}).status_code == 409
    assert http.get(f"/services/{sid}").json()["suspended"] == "suspended"


@pytest.mark.parametrize("outcome", ["build_failed", "pre_deploy_failed", "update_failed"])
def test_injected_deploy_failures_end_in_that_status(standin: StandIn, outcome: str) -> None:
    """fail_next_deploy makes the next deploy end in the injected failure status."""
    api, http = standin
    sid = service_id(api)
    api.fail_next_deploy(sid, outcome)
    dep = http.post(f"/services/{sid}/deploys", json={}).json()
    _clock(api).advance(60)
    final = http.get(f"/services/{sid}/deploys/{dep['id']}").json()
    assert final["status"] == outcome


def test_cancel_a_running_deploy(standin: StandIn) -> None:
    """POST .../cancel answers the deploy as canceled; cancelling again is a 409."""
    api, http = standin
    sid = service_id(api)
    dep = http.post(f"/services/{sid}/deploys", json={}).json()
    cancelled = http.post(f"/services/{sid}/deploys/{dep['id']}/cancel")
    validate(cancelled.json(), "/services/{serviceId}/deploys/{deployId}/cancel", "post")
    assert cancelled.json()["status"] == "canceled"
    assert http.post(f"/services/{sid}/deploys/{dep['id']}/cancel").status_code == 409


def test_restart_answers_200_empty_and_cron_jobs_are_refused() -> None:
    """Restart: 200 with no body, a server_restarted event, the hook called; a cron job gets 400."""
    web, cron = make_service(SERVICE), make_service("nightly", type="cron_job")
    api = RenderStandIn(api_key=new_key(), services=[web, cron])
    restarted: list[str] = []
    api.on_restart = restarted.append
    with api as base_url, http_for(api, base_url) as h:
        ok = h.post(f"/services/{web['id']}/restart")
        assert (ok.status_code, ok.content) == (200, b"")
        refused = h.post(f"/services/{cron['id']}/restart")
        assert refused.status_code == 400
        events = h.get(f"/services/{web['id']}/events").json()
        validate(events, "/services/{serviceId}/events")
        assert events[0]["event"]["type"] == "server_restarted"
        deadline = time.monotonic() + 5
        while not restarted and time.monotonic() < deadline:
            time.sleep(0.01)
    assert restarted == [web["id"]]
    assert cron["id"].startswith("crn-")


def test_jobs_run_pending_running_succeeded_or_failed(standin: StandIn) -> None:
    """POST /jobs → 201 pending; the clock moves it to running then succeeded (or failed when injected)."""
    api, http = standin
    sid = service_id(api)
    created = http.post(f"/services/{sid}/jobs", json={"startCommand": "alembic upgrade head"})
    assert created.status_code == 201
    validate(created.json(), "/services/{serviceId}/jobs", "post", "201")
    job_id = created.json()["id"]
    assert created.json()["status"] == "pending"
    _clock(api).advance(1)
    running = http.get(f"/services/{sid}/jobs/{job_id}").json()
    validate(running, "/services/{serviceId}/jobs/{jobId}")
    assert running["status"] == "running"
    _clock(api).advance(3)
    assert http.get(f"/services/{sid}/jobs/{job_id}").json()["status"] == "succeeded"
    api.fail_next_job(sid)
    failing = http.post(f"/services/{sid}/jobs", json={"startCommand": "false"}).json()
    _clock(api).advance(10)
    assert http.get(f"/services/{sid}/jobs/{failing['id']}").json()["status"] == "failed"
    listed = http.get(f"/services/{sid}/jobs").json()
    validate(listed, "/services/{serviceId}/jobs")
    assert http.post(f"/services/{sid}/jobs", json={}).status_code == 400


def test_logs_answer_in_renders_shape_and_page_by_time(standin: StandIn) -> None:
    """GET /logs needs ownerId and resource; newest first; hasMore with next times pages backward."""
    api, http = standin
    sid = service_id(api)
    owner = api.service(sid)["ownerId"]
    now = dt.datetime.now(dt.UTC)
    for i in range(5):
        api.add_log(sid, f"line {i}", level="info", at=now - dt.timedelta(seconds=50 - i))
    api.add_log(service_id(api, "worker-x"), "other service", at=now)
    assert http.get("/logs", params={"resource": sid}).status_code == 400
    page = http.get("/logs", params={"ownerId": owner, "resource": sid, "limit": 3})
    assert page.status_code == 200
    validate(page.json(), "/logs")
    body = page.json()
    assert [e["message"] for e in body["logs"]] == ["line 4", "line 3", "line 2"]
    assert body["hasMore"] is True
    rest = http.get(
        "/logs",
        params={
            "ownerId": owner,
            "resource": sid,
            "limit": 3,
            "startTime": body["nextStartTime"],
            "endTime": body["nextEndTime"],
        },
    ).json()
    assert [e["message"] for e in rest["logs"]] == ["line 1", "line 0"]
    assert rest["hasMore"] is False


def test_exhausted_limit_answers_429_until_the_window_resets() -> None:
    """Over the GET limit: 429 with Remaining 0 and the seconds until the window resets."""
    limits = RateLimits(get=3, get_window=60)
    api = RenderStandIn(api_key=new_key(), services=[make_service(SERVICE)], limits=limits)
    with api as base_url, http_for(api, base_url) as h:
        codes = [h.get("/services").status_code for _ in range(5)]
        last = h.get("/services")
    assert codes == [200, 200, 200, 429, 429]
    error_schema_ok(last.json())
    assert last.headers["Ratelimit-Remaining"] == "0"
    assert 1 <= int(last.headers["Ratelimit-Reset"]) <= 60


def test_deploy_trigger_limit_is_per_service() -> None:
    """The deploy POST limit counts per service (Render: 10/min/service)."""
    a, b = make_service("a"), make_service("b")
    api = RenderStandIn(api_key=new_key(), services=[a, b], limits=RateLimits(deploy=1), timings=FAST)
    with api as base_url, http_for(api, base_url) as h:
        assert h.post(f"/services/{a['id']}/deploys", json={}).status_code == 201
        assert h.post(f"/services/{a['id']}/deploys", json={}).status_code == 429
        assert h.post(f"/services/{b['id']}/deploys", json={}).status_code == 201


def test_faults_500_slow_and_dropped_connections() -> None:
    """Injected faults: a 500, a slow answer, and a connection closed without an answer."""
    api = RenderStandIn(api_key=new_key(), services=[make_service(SERVICE)])
    with api as base_url, http_for(api, base_url) as h:
        api.inject("500", method="GET", path=r"^/services$")
        assert h.get("/services").status_code == 500
        api.inject("slow", delay=0.3)
        started = time.monotonic()
        assert h.get("/services").status_code == 200
        assert time.monotonic() - started >= 0.3
        api.inject("drop")
        with pytest.raises(httpx.RemoteProtocolError):
            h.get("/services")
        assert h.get("/services").status_code == 200
    assert api.calls("GET", "/services") == 4


def test_runs_as_a_process_from_a_services_file(tmp_path: Any, secret_scan: Any) -> None:
    """python -m oncall.sandbox.render_api serves the services in a file and prints READY <url>."""
    key = new_key()
    secret_scan.add(key)
    services = tmp_path / "services.json"
    services.write_text(json.dumps([{"name": SERVICE}]))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "oncall.sandbox.render_api", "--port", str(port), "--api-key-env", "KEY_VAR",
         "--services-file", str(services)],
        env={"KEY_VAR": key, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line == f"READY http://127.0.0.1:{port}/v1"
        auth = {"Authorization": f"Bearer {key}"}
        listed = httpx.get(line.split()[1] + "/services", headers=auth, timeout=5)
        assert [e["service"]["name"] for e in listed.json()] == [SERVICE]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0
