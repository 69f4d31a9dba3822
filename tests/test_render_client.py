"""The Render client against the stand-in over real HTTP: lookup, errors, retries, lost deploy answers."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from oncall.errors import BadInput, CheckFailed, Refused, Unreachable
from oncall.render.client import RenderClient, RenderConflict, RenderNotFound, reset_delay
from oncall.sandbox.render_api import RenderStandIn, make_service
from render_support import SERVICE, client_for, new_key, service_id


def test_find_service_by_exact_name_across_pages(secret_scan: Any) -> None:
    """Exact-name lookup follows cursors (limit 100) and ignores services whose names only contain it."""
    others = [make_service(f"{SERVICE}-{i:03d}") for i in range(230)]
    wanted = make_service(SERVICE)
    standin = RenderStandIn(api_key=new_key(), services=[*others, wanted])
    secret_scan.add(standin.api_key)
    with standin as base_url:
        client = client_for(standin, base_url)
        # The stand-in filters by name server-side; ask for the full list to exercise pagination.
        every = client.list_services()
        found = client.find_service(SERVICE)
    assert len(every) == 231
    assert found["id"] == wanted["id"]
    assert standin.calls("GET", "/services") == 4  # 100 + 100 + 31, then the filtered lookup


def test_find_service_by_id_fetches_it_directly(api: RenderStandIn) -> None:
    """An srv- id is retrieved with GET /services/{id}, no listing."""
    client = client_for(api, api.base_url)
    assert client.find_service(service_id(api))["name"] == SERVICE
    assert api.calls("GET", "/services") == 0


def test_two_services_with_one_name_is_bad_input_naming_both(secret_scan: Any) -> None:
    """Names are not unique on Render: two matches → BadInput naming both ids."""
    a, b = make_service(SERVICE), make_service(SERVICE)
    standin = RenderStandIn(api_key=new_key(), services=[a, b])
    secret_scan.add(standin.api_key)
    with standin as base_url, pytest.raises(BadInput) as caught:
        client_for(standin, base_url).find_service(SERVICE)
    assert a["id"] in caught.value.cause
    assert b["id"] in caught.value.cause
    assert "srv- id" in (caught.value.hint or "")


def test_unknown_service_name_and_id(api: RenderStandIn) -> None:
    """No such name, or an unknown id (404), is RenderNotFound (exit 2) with a hint."""
    client = client_for(api, api.base_url)
    with pytest.raises(RenderNotFound) as by_name:
        client.find_service("nope")
    with pytest.raises(RenderNotFound) as by_id:
        client.find_service("srv-aaaaaaaaaaaaaaaaaaaa")
    assert by_name.value.code == by_id.value.code == 2
    assert "RENDER_API_KEY" in (by_name.value.hint or "")


def test_bad_key_is_unreachable_and_never_printed(api: RenderStandIn, secret_scan: Any) -> None:
    """401 → Unreachable (exit 3) saying to check RENDER_API_KEY; the key is not in the message."""
    wrong = "rnd_" + "x" * 30
    secret_scan.add(wrong)
    client = RenderClient(wrong, api.base_url, sleep=lambda _s: None)
    with pytest.raises(Unreachable) as caught:
        client.list_services()
    assert caught.value.code == 3
    assert "RENDER_API_KEY" in (caught.value.hint or "")
    assert wrong not in str(caught.value)
    assert api.calls("GET", "/services") == 1  # an auth failure is not retried


def test_missing_key_is_bad_input() -> None:
    """No RENDER_API_KEY in the environment → BadInput (exit 2) saying how to set it."""
    with pytest.raises(BadInput) as caught:
        RenderClient.from_env({"RENDER_API_URL": "http://127.0.0.1:9/v1"})
    assert "RENDER_API_KEY" in caught.value.cause


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("ftp://api.render.com/v1", "'ftp'"),
        ("api.render.com/v1", "scheme"),
        ("http://api.render.com/v1", "unencrypted"),
        ("https://", "host"),
    ],
    ids=["a bad scheme", "no scheme at all", "plain http off loopback", "no host"],
)
def test_bad_render_api_url_is_bad_input_naming_the_problem(url: str, named: str) -> None:
    """A RENDER_API_URL that is not an https URL (http only on loopback) → BadInput naming it."""
    with pytest.raises(BadInput) as caught:
        RenderClient.from_env({"RENDER_API_KEY": "rnd_" + "k" * 20, "RENDER_API_URL": url})
    assert "RENDER_API_URL" in caught.value.cause
    assert named in caught.value.cause


def test_429_storm_backs_off_and_succeeds_with_bounded_calls(api: RenderStandIn) -> None:
    """Four 429s in a row: the GET waits Ratelimit-Reset each time, then succeeds; 5 calls in all."""
    slept: list[float] = []
    client = RenderClient(api.api_key, api.base_url, sleep=slept.append)
    api.inject("429", times=4, reset=2)
    assert client.get_service(service_id(api))["name"] == SERVICE
    assert api.calls("GET", "/services/{serviceId}") == 5
    assert len(slept) == 4
    assert all(2.0 <= s <= 2.25 for s in slept)


def test_endless_429_gives_up_within_the_attempt_bound(api: RenderStandIn) -> None:
    """A storm that never ends: at most max_attempts calls, then Unreachable naming the rate limit."""
    client = RenderClient(api.api_key, api.base_url, sleep=lambda _s: None, max_attempts=4)
    api.inject("429", times=100)
    with pytest.raises(Unreachable) as caught:
        client.list_services()
    assert "rate limit" in caught.value.cause
    assert api.calls("GET", "/services") == 4


def test_retry_budget_bounds_total_waiting(api: RenderStandIn) -> None:
    """A Ratelimit-Reset longer than the retry budget is not waited out: fail at once."""
    slept: list[float] = []
    client = RenderClient(api.api_key, api.base_url, sleep=slept.append, retry_budget=10)
    api.inject("429", times=1, reset=60)
    with pytest.raises(Unreachable):
        client.list_services()
    assert slept == []


def test_get_retries_500_and_dropped_connections(api: RenderStandIn) -> None:
    """GETs retry a 500 and a connection closed without an answer, with growing jittered waits."""
    slept: list[float] = []
    client = RenderClient(api.api_key, api.base_url, sleep=slept.append, rng=lambda: 0.5)
    api.inject("500", method="GET", times=1)
    api.inject("drop", method="GET", times=1)
    assert len(client.list_services()) == 1
    assert api.calls("GET", "/services") == 3
    assert slept == [0.75, 1.5]


def test_post_is_not_retried_after_500(api: RenderStandIn) -> None:
    """A 500 on a write may have acted: restart is sent once and the error surfaces (exit 3)."""
    client = client_for(api, api.base_url)
    api.inject("500", method="POST")
    with pytest.raises(Unreachable):
        client.restart_service(service_id(api))
    assert api.calls("POST") == 1


def test_conflict_is_refused(api: RenderStandIn) -> None:
    """409 (a suspended service here) maps to RenderConflict, a Refused (exit 4)."""
    api.set_suspended(service_id(api), True)
    with pytest.raises(RenderConflict) as caught:
        client_for(api, api.base_url).restart_service(service_id(api))
    assert isinstance(caught.value, Refused)


def test_cron_job_restart_is_bad_input() -> None:
    """Render refuses to restart a cron job (400) → BadInput with its message."""
    cron = make_service("nightly", type="cron_job")
    standin = RenderStandIn(api_key=new_key(), services=[cron])
    with standin as base_url, pytest.raises(BadInput) as caught:
        client_for(standin, base_url).restart_service(cron["id"])
    assert "cron" in caught.value.cause


def test_refused_connection_is_unreachable() -> None:
    """Nothing listening: Unreachable naming the base URL, after bounded retries."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = RenderClient(new_key(), f"http://127.0.0.1:{port}/v1", sleep=lambda _s: None, max_attempts=3)
    with pytest.raises(Unreachable) as caught:
        client.list_services()
    assert f"127.0.0.1:{port}" in caught.value.cause


def test_read_timeout_on_get_is_retried_then_unreachable(api: RenderStandIn) -> None:
    """A GET that times out is retried; when every try times out the error says so."""
    client = RenderClient(api.api_key, api.base_url, sleep=lambda _s: None, read_timeout=0.2, max_attempts=2)
    api.inject("slow", delay=0.5, times=2)
    with pytest.raises(Unreachable) as caught:
        client.list_services()
    assert "timed out" in caught.value.cause


def test_lost_deploy_answer_adopts_the_created_deploy(api: RenderStandIn) -> None:
    """The deploy POST is acted on but its answer is lost: the client finds that deploy, sends no second."""
    client = client_for(api, api.base_url)
    api.inject("drop_after", method="POST", path=r"/deploys$")
    trigger = client.trigger_deploy(service_id(api))
    assert trigger.recovered
    assert trigger.deploy is not None
    assert len(api.deploys(service_id(api))) == 1
    assert trigger.deploy["id"] == api.deploys(service_id(api))[0]["id"]
    assert api.calls("POST", "/services/{serviceId}/deploys") == 1


def test_lost_deploy_answer_before_acting_sends_it_once_more(api: RenderStandIn) -> None:
    """Dropped before anything was created: the client looks, finds nothing new, and POSTs again once."""
    client = client_for(api, api.base_url)
    api.start_deploy(service_id(api), trigger="new_commit")  # someone else's deploy is never adopted
    known = [d["id"] for d in api.deploys(service_id(api))]
    api.inject("drop", method="POST", path=r"/deploys$")
    trigger = client.trigger_deploy(service_id(api), known_ids=known, settle=0.0)
    assert not trigger.recovered
    assert trigger.queued  # the other deploy is still building, so Render queued ours
    assert len(api.deploys(service_id(api))) == 2
    assert api.calls("POST", "/services/{serviceId}/deploys") == 2


def test_deploy_answer_lost_twice_is_unreachable(api: RenderStandIn) -> None:
    """Two lost answers with no deploy appearing: stop and say how to look, never a third POST."""
    client = client_for(api, api.base_url)
    api.inject("drop", method="POST", path=r"/deploys$", times=5)
    with pytest.raises(Unreachable) as caught:
        client.trigger_deploy(service_id(api), settle=0.0)
    assert "render-status" in (caught.value.hint or "")
    assert api.calls("POST", "/services/{serviceId}/deploys") == 2


def test_queued_202_is_found_by_polling_queued_deploys(api: RenderStandIn) -> None:
    """A 202 has no body: the queued deploy is found in list deploys with status=queued."""
    client = client_for(api, api.base_url)
    first = client.trigger_deploy(service_id(api))
    second = client.trigger_deploy(service_id(api))
    assert first.deploy is not None
    assert (second.deploy, second.queued) == (None, True)
    queued = client.find_queued_deploy(service_id(api), known_ids=[first.deploy["id"]])
    assert queued["status"] == "queued"


def test_deploy_list_newest_first_with_filters(api: RenderStandIn) -> None:
    """list_deploys returns newest first and passes status filters as repeated parameters."""
    client = client_for(api, api.base_url)
    client.trigger_deploy(service_id(api))
    deadline = time.monotonic() + 10
    while api.deploys(service_id(api))[0]["status"] != "live" and time.monotonic() < deadline:
        time.sleep(0.05)
    client.trigger_deploy(service_id(api))
    statuses = [d["status"] for d in client.list_deploys(service_id(api))]
    assert statuses[1] == "live"
    assert [d["status"] for d in client.list_deploys(service_id(api), status=["live", "deactivated"])] == [
        "live"
    ]


def test_not_json_answer_is_check_failed(api: RenderStandIn) -> None:
    """A base URL that is not the Render API (HTML at /v1): a clear error, not a traceback."""
    client = RenderClient(api.api_key, api.base_url.removesuffix("/v1") + "/v2", sleep=lambda _s: None)
    with pytest.raises((CheckFailed, BadInput)):
        client.list_services()


@pytest.mark.parametrize(
    ("header", "expected"),
    [("9", 9.0), ("0", 0.0), (None, None), ("soon", None)],
    ids=["seconds until reset", "zero", "absent", "garbage"],
)
def test_ratelimit_reset_as_seconds(header: str | None, expected: float | None) -> None:
    """Ratelimit-Reset is read as seconds until the window resets."""
    assert reset_delay(header) == expected


def test_ratelimit_reset_tolerates_an_epoch_value() -> None:
    """A value that looks like epoch seconds (as Render's docs claim) becomes a delta."""
    assert reset_delay("1700000030", now=1700000000.0) == 30.0
    assert reset_delay("1600000000", now=1700000000.0) == 0.0
