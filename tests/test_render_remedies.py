"""rollback (and the other remedies of a bad deploy) end to end: the real invoke against the stand-in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from oncall.render.rollback import rollback_candidate
from oncall.sandbox.render_api import RenderStandIn, make_service
from render_support import SERVICE, App, http_for, invoke_env, new_key, service_id, validate


def _runs(result: Any) -> list[dict[str, Any]]:
    path = Path(result.env["INVOKE_ONCALL_RUN_LOG"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _history(api: RenderStandIn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A good deploy (since superseded) and the bad one live now."""
    sid = service_id(api)
    good = api.add_deploy(sid, "deactivated", commit_id="a" * 40)
    bad = api.add_deploy(sid, "live", commit_id="b" * 40)
    return good, bad


# -- the candidate ----------------------------------------------------------------------------


def _d(dep: str, status: str, commit: str) -> dict[str, Any]:
    return {"id": dep, "status": status, "commit": {"id": commit}}


@pytest.mark.parametrize(
    ("deploys", "expected"),
    [
        ([_d("d3", "live", "c"), _d("d2", "deactivated", "b")], "d2"),
        ([_d("d4", "build_failed", "d"), _d("d3", "live", "c"), _d("d2", "deactivated", "b")], "d2"),
        ([_d("d3", "live", "c"), _d("d2", "update_failed", "b"), _d("d1", "deactivated", "a")], "d1"),
        ([_d("d3", "live", "a"), _d("d2", "deactivated", "b"), _d("d1", "deactivated", "a")], "d2"),
        ([_d("d4", "live", "a"), _d("d3", "deactivated", "a"), _d("d2", "deactivated", "b")], "d2"),
        ([_d("d3", "live", "c"), _d("d2", "build_failed", "b")], None),
        ([], None),
    ],
    ids=[
        "the deploy before the live one",
        "a failed deploy on top is not the current one",
        "deploys that never went live are skipped",
        "after a rollback, the rolled-back deploy is next",
        "a deploy of the live commit is skipped",
        "nothing went live before: no candidate",
        "no deploys: no candidate",
    ],
)
def test_rollback_candidate(deploys: list[dict[str, Any]], expected: str | None) -> None:
    """The newest deactivated deploy older than the live one, with another commit."""
    found = rollback_candidate(deploys)
    assert (found or {}).get("id") == expected


# -- the stand-in -----------------------------------------------------------------------------


def test_standin_rollback_answers_201_with_a_rollback_deploy(api: RenderStandIn) -> None:
    """POST /rollback: 201 and a deploy in Render's schema, trigger rollback, the old commit; it goes live."""
    good, _bad = _history(api)
    sid = service_id(api)
    with http_for(api, api.base_url) as http:
        answer = http.post(f"/services/{sid}/rollback", json={"deployId": good["id"]})
        unknown = http.post(f"/services/{sid}/rollback", json={"deployId": "dep-" + "x" * 20})
    assert answer.status_code == 201
    validate(answer.json(), "/services/{serviceId}/rollback", "post", "201")
    assert answer.json()["trigger"] == "rollback"
    assert answer.json()["commit"]["id"] == good["commit"]["id"]
    assert unknown.status_code == 404
    assert [d["status"] for d in api.deploys(sid)][1:] == ["live", "deactivated"]


# -- rollback through invoke ------------------------------------------------------------------


def test_rollback_goes_back_and_smokes_until_healthy(api: RenderStandIn, run_invoke: Any) -> None:
    """rollback --json: back to the last live deploy, followed to live, smoke healthy; exit 0, one record."""
    good, bad = _history(api)
    app = App(healthy=False)

    def rolled_back(_sid: str, _deploy: dict[str, Any]) -> str:
        app.healthy = True
        return "live"

    api.on_deploy = rolled_back
    with app.serving():
        env = invoke_env(api, api.base_url, ONCALL_SANDBOX_URL=app.url)
        result = run_invoke("rollback", "--target", "sandbox", "--json", env=env)
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["to_deploy"]["id"] == good["id"]
    assert doc["from_deploy"]["id"] == bad["id"]
    assert doc["deploy"]["status"] == "live"
    assert doc["smoke"]["ok"] is True
    assert doc["healthy_after_s"] is not None
    newest = api.deploys(service_id(api))[0]
    assert (newest["trigger"], newest["status"], newest["commit"]["id"]) == ("rollback", "live", "a" * 40)
    assert api.calls("POST", "/services/{serviceId}/rollback") == 1
    assert [(r["task"], r["code"]) for r in _runs(result)] == [("rollback", 0)]


def test_rollback_to_a_named_deploy(api: RenderStandIn, run_invoke: Any) -> None:
    """--to DEPLOY rolls back to that deploy, not the newest candidate."""
    sid = service_id(api)
    oldest = api.add_deploy(sid, "deactivated", commit_id="1" * 40)
    api.add_deploy(sid, "deactivated", commit_id="2" * 40)
    api.add_deploy(sid, "live", commit_id="3" * 40)
    result = run_invoke(
        "rollback", "--target", "sandbox", "--to", oldest["id"], "--no-smoke", "--json",
        env=invoke_env(api, api.base_url),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert result.json()["to_deploy"]["id"] == oldest["id"]
    assert api.deploys(sid)[0]["commit"]["id"] == "1" * 40


def test_rollback_with_no_earlier_live_deploy_exits_2(api: RenderStandIn, run_invoke: Any) -> None:
    """Only the live deploy and a failed one: exit 2, cause and hint, nothing sent."""
    sid = service_id(api)
    api.add_deploy(sid, "build_failed")
    api.add_deploy(sid, "live")
    result = run_invoke("rollback", "--target", "sandbox", "--no-smoke", env=invoke_env(api, api.base_url))
    assert result.code == 2
    assert "no earlier deploy that was live" in result.output
    assert "hint:" in result.output
    assert "Traceback" not in result.output
    assert api.calls("POST") == 0


def test_rollback_to_a_deploy_of_another_service_exits_2(run_invoke: Any, secret_scan: Any) -> None:
    """--to a deploy id of another service: exit 2 naming it, nothing sent."""
    ours, theirs = make_service(SERVICE), make_service("other-service")
    standin = RenderStandIn(api_key=new_key(), services=[ours, theirs])
    secret_scan.add(standin.api_key)
    with standin as base_url:
        standin.add_deploy(ours["id"], "deactivated")
        standin.add_deploy(ours["id"], "live")
        foreign = standin.add_deploy(theirs["id"], "deactivated")
        result = run_invoke(
            "rollback", "--target", "sandbox", "--to", foreign["id"], "--no-smoke", "--json",
            env=invoke_env(standin, base_url),
        )  # fmt: skip
        posts = standin.calls("POST")
    assert result.code == 2
    assert result.json()["error"]["type"] == "BadInput"
    assert f"deploy {foreign['id']} is not a deploy of Render service {SERVICE}" in result.output
    assert posts == 0


def test_rollback_to_a_deploy_that_never_went_live_exits_2(api: RenderStandIn, run_invoke: Any) -> None:
    """--to a build_failed deploy: exit 2, it never went live."""
    sid = service_id(api)
    failed = api.add_deploy(sid, "build_failed")
    api.add_deploy(sid, "live")
    result = run_invoke(
        "rollback",
        "--target",
        "sandbox",
        "--to",
        failed["id"],
        "--no-smoke",
        env=invoke_env(api, api.base_url),
    )
    assert result.code == 2
    assert "never went live" in result.output
    assert api.calls("POST") == 0


def test_rollback_production_without_yes_exits_4(api: RenderStandIn, run_invoke: Any) -> None:
    """The production guard: off a terminal without --yes, exit 4 and no rollback."""
    _history(api)
    result = run_invoke(
        "rollback", "--target", "turbo-response-backend", "--no-smoke", env=invoke_env(api, api.base_url)
    )
    assert result.code == 4
    assert "--yes" in result.output
    assert api.calls("POST") == 0


def test_rollback_dry_run_names_the_deploy_and_sends_nothing(api: RenderStandIn, run_invoke: Any) -> None:
    """--dry-run says which deploy it would go back to; no POST, no run record."""
    good, _bad = _history(api)
    result = run_invoke("rollback", "--target", "sandbox", "--dry-run", env=invoke_env(api, api.base_url))
    assert result.code == 0, result.stderr
    assert f"would roll back Render service {SERVICE}" in result.output
    assert good["id"] in result.output
    assert api.calls("POST") == 0
    assert _runs(result) == []


def test_render_status_shows_what_a_rollback_would_pick(api: RenderStandIn, run_invoke: Any) -> None:
    """render-status names the rollback candidate (JSON and text)."""
    good, _bad = _history(api)
    env = invoke_env(api, api.base_url)
    doc = run_invoke("render-status", "--target", "sandbox", "--json", env=env).json()
    assert doc["rollback_to"]["id"] == good["id"]
    human = run_invoke("render-status", "--target", "sandbox", env=env)
    assert f"rollback would go back to: {good['id']}" in human.stdout


# -- suspend and resume -----------------------------------------------------------------------


def _edge_for(api: RenderStandIn, app: App) -> Any:
    """The sandbox's edge in front of `app`, answering 503 while the stand-in's service is suspended."""
    from oncall.sandbox.edge import Edge

    port = int(app.url.rsplit(":", 1)[1])
    sid = service_id(api)
    return Edge(lambda: port, suspended=lambda: api.service(sid)["suspended"] == "suspended")


def test_suspend_makes_the_edge_answer_503_and_resume_brings_it_back(
    api: RenderStandIn, run_invoke: Any
) -> None:
    """suspend: the edge answers 503; resume: Render's deploy goes live and the smoke checks pass."""
    import httpx

    sid = service_id(api)
    api.add_deploy(sid, "live")
    app = App(healthy=True)
    with app.serving():
        edge = _edge_for(api, app).start()
        try:
            env = invoke_env(api, api.base_url, ONCALL_SANDBOX_URL=edge.url)
            suspended = run_invoke("suspend", "--target", "sandbox", "--json", env=env)
            assert suspended.code == 0, suspended.stderr
            assert suspended.json()["changed"] is True
            assert httpx.get(edge.url + "/admin/case/11").status_code == 503
            status = run_invoke("render-status", "--target", "sandbox", env=env)
            assert status.code == 1
            assert "SUSPENDED" in status.stdout
            resumed = run_invoke("resume", "--target", "sandbox", "--json", env=env)
            assert resumed.code == 0, resumed.stderr
            assert httpx.get(edge.url + "/admin/case/11").status_code == 200
        finally:
            edge.stop()
    doc = resumed.json()
    assert doc["deploy"]["trigger"] == "service_resumed"
    assert doc["deploy"]["status"] == "live"
    assert doc["smoke"]["ok"] is True
    kinds = [e["event"]["type"] for e in _events(api)]
    assert "service_suspended" in kinds
    assert "service_resumed" in kinds
    assert [(r["task"], r["code"]) for r in _runs(resumed)] == [("suspend", 0), ("resume", 0)]


def _events(api: RenderStandIn) -> list[dict[str, Any]]:
    with http_for(api, api.base_url) as http:
        events: list[dict[str, Any]] = http.get(f"/services/{service_id(api)}/events").json()
    return events


def test_suspend_a_cron_job_exits_2(run_invoke: Any, secret_scan: Any) -> None:
    """A cron job cannot be suspended through the API: exit 2, nothing sent."""
    standin = RenderStandIn(api_key=new_key(), services=[make_service(SERVICE, type="cron_job")])
    secret_scan.add(standin.api_key)
    with standin as base_url:
        result = run_invoke("suspend", "--target", "sandbox", env=invoke_env(standin, base_url))
        posts = standin.calls("POST")
    assert result.code == 2
    assert "cron job" in result.output
    assert "hint:" in result.output
    assert posts == 0


def test_suspend_production_without_yes_exits_4(api: RenderStandIn, run_invoke: Any) -> None:
    """The production guard applies to suspend."""
    result = run_invoke("suspend", "--target", "turbo-response-backend", env=invoke_env(api, api.base_url))
    assert result.code == 4
    assert api.calls("POST") == 0
    assert api.service(service_id(api))["suspended"] == "not_suspended"


def test_suspend_and_resume_when_already_there_change_nothing(api: RenderStandIn, run_invoke: Any) -> None:
    """resume of a running service and suspend of a suspended one: exit 0, nothing sent."""
    env = invoke_env(api, api.base_url)
    resumed = run_invoke("resume", "--target", "sandbox", "--no-smoke", env=env)
    api.set_suspended(service_id(api), True)
    suspended = run_invoke("suspend", "--target", "sandbox", env=env)
    assert resumed.code == suspended.code == 0
    assert "not suspended; nothing to do" in resumed.output
    assert "already suspended; nothing to do" in suspended.output
    assert api.calls("POST") == 0


def test_standin_suspend_resume_scale_answer_202_empty(api: RenderStandIn) -> None:
    """suspend, resume and scale answer 202 with no body, as Render's spec says."""
    sid = service_id(api)
    with http_for(api, api.base_url) as http:
        answers = [
            http.post(f"/services/{sid}/scale", json={"numInstances": 2}),
            http.post(f"/services/{sid}/suspend"),
            http.post(f"/services/{sid}/resume"),
        ]
    assert [(a.status_code, a.content) for a in answers] == [(202, b"")] * 3
    assert api.service(sid)["serviceDetails"]["numInstances"] == 2


# -- scale ------------------------------------------------------------------------------------


def test_scale_changes_the_instance_count(api: RenderStandIn, run_invoke: Any) -> None:
    """scale 3: Render runs 3 instances; an instance_count_changed event is recorded."""
    result = run_invoke("scale", "3", "--target", "sandbox", "--json", env=invoke_env(api, api.base_url))
    assert result.code == 0, result.stderr
    doc = result.json()
    assert (doc["before"], doc["after"]) == (1, 3)
    assert api.service(service_id(api))["serviceDetails"]["numInstances"] == 3
    [event] = [e["event"] for e in _events(api) if e["event"]["type"] == "instance_count_changed"]
    assert event["details"] == {"fromInstances": 1, "toInstances": 3}


@pytest.mark.parametrize(
    ("count", "render_says"),
    [("0", "at least 1"), ("101", "above the limit of 100")],
    ids=["zero", "beyond the plan's limit"],
)
def test_scale_refused_by_render_shows_its_error(
    api: RenderStandIn, run_invoke: Any, count: str, render_says: str
) -> None:
    """scale 0 / scale 101: Render's own 400 message shown, exit 2, the count unchanged."""
    result = run_invoke("scale", count, "--target", "sandbox", env=invoke_env(api, api.base_url))
    assert result.code == 2
    assert render_says in result.output
    assert "hint:" in result.output
    assert api.service(service_id(api))["serviceDetails"]["numInstances"] == 1


def test_scale_bad_count_and_production_guard(api: RenderStandIn, run_invoke: Any) -> None:
    """A count that is not a number: exit 2; production without --yes: exit 4; nothing sent."""
    env = invoke_env(api, api.base_url)
    words = run_invoke("scale", "many", "--target", "sandbox", env=env)
    guarded = run_invoke("scale", "2", "--target", "turbo-response-backend", env=env)
    dry = run_invoke("scale", "2", "--target", "sandbox", "--dry-run", env=env)
    assert words.code == 2
    assert guarded.code == 4
    assert dry.code == 0
    assert "would scale" in dry.output
    assert api.calls("POST") == 0


# -- maintenance mode -------------------------------------------------------------------------


def test_maintenance_on_and_off_around_a_migration(api: RenderStandIn, run_invoke: Any) -> None:
    """maintenance on: the edge serves a 503 maintenance page; off: traffic again; events recorded."""
    import httpx

    app = App(healthy=True)
    sid = service_id(api)
    with app.serving():
        port = int(app.url.rsplit(":", 1)[1])
        from oncall.sandbox.edge import Edge

        edge = Edge(
            lambda: port,
            maintenance=lambda: bool(
                api.service(sid)["serviceDetails"].get("maintenanceMode", {}).get("enabled")
            ),
        ).start()
        try:
            env = invoke_env(api, api.base_url)
            on = run_invoke(
                "maintenance",
                "on",
                "--uri",
                "https://status.example.com/down",
                "--target",
                "sandbox",
                "--json",
                env=env,
            )
            assert on.code == 0, on.stderr
            during = httpx.get(edge.url + "/admin/case/11")
            off = run_invoke("maintenance", "off", "--target", "sandbox", env=env)
            after = httpx.get(edge.url + "/admin/case/11")
        finally:
            edge.stop()
    assert on.json()["after"] == {"enabled": True, "uri": "https://status.example.com/down"}
    assert during.status_code == 503
    assert "maintenance" in during.text.lower()
    assert off.code == 0, off.stderr
    assert after.status_code == 200
    kinds = [e["event"]["type"] for e in _events(api)]
    assert kinds.count("maintenance_mode_enabled") == 2
    assert "maintenance_mode_uri_updated" in kinds


def test_standin_patch_answers_the_service_in_schema(api: RenderStandIn) -> None:
    """PATCH maintenanceMode: 200 with the service, valid against Render's schema."""
    sid = service_id(api)
    body = {"serviceDetails": {"maintenanceMode": {"enabled": True, "uri": ""}}}
    with http_for(api, api.base_url) as http:
        answer = http.patch(f"/services/{sid}", json=body)
    assert answer.status_code == 200
    validate(answer.json(), "/services/{serviceId}", "patch", "200")
    assert answer.json()["serviceDetails"]["maintenanceMode"]["enabled"] is True


def test_maintenance_on_a_worker_exits_2(run_invoke: Any, secret_scan: Any) -> None:
    """A background worker has no maintenance mode: exit 2 before anything is sent."""
    standin = RenderStandIn(api_key=new_key(), services=[make_service(SERVICE, type="background_worker")])
    secret_scan.add(standin.api_key)
    with standin as base_url:
        result = run_invoke("maintenance", "on", "--target", "sandbox", env=invoke_env(standin, base_url))
        patches = standin.calls("PATCH")
    assert result.code == 2
    assert "only web services have maintenance mode" in result.output
    assert patches == 0


def test_maintenance_bad_input_and_guard(api: RenderStandIn, run_invoke: Any) -> None:
    """off with --uri, a state that is not on/off: exit 2; production without --yes: exit 4."""
    env = invoke_env(api, api.base_url)
    with_uri = run_invoke("maintenance", "off", "--uri", "/x", "--target", "sandbox", env=env)
    maybe = run_invoke("maintenance", "maybe", "--target", "sandbox", env=env)
    guarded = run_invoke("maintenance", "on", "--target", "turbo-response-backend", env=env)
    assert (with_uri.code, maybe.code, guarded.code) == (2, 2, 4)
    assert api.calls("PATCH") == 0


# -- deploy --image ---------------------------------------------------------------------------

IMAGE = "docker.io/example/turbo-response-backend"


def _image_standin(secret_scan: Any) -> RenderStandIn:
    from render_support import FAST

    standin = RenderStandIn(
        api_key=new_key(), services=[make_service(SERVICE, image_path=f"{IMAGE}:1.0")], timings=FAST
    )
    secret_scan.add(standin.api_key)
    return standin


def test_deploy_image_goes_live_with_that_image(run_invoke: Any, secret_scan: Any) -> None:
    """deploy --image URL on an image-backed service: imageUrl sent, the deploy carries the image, live."""
    standin = _image_standin(secret_scan)
    with standin as base_url:
        result = run_invoke(
            "deploy",
            "--target",
            "sandbox",
            "--image",
            f"{IMAGE}:1.1",
            "--json",
            env=invoke_env(standin, base_url),
        )
        deploys = standin.deploys(service_id(standin))
    assert result.code == 0, result.stderr
    assert result.json()["deploy"]["image"] == f"{IMAGE}:1.1"
    assert [(d["status"], d["image"]["ref"]) for d in deploys] == [("live", f"{IMAGE}:1.1")]


def test_deploy_image_of_another_repository_shows_renders_error(run_invoke: Any, secret_scan: Any) -> None:
    """An image of another repository: Render's 400 shown, exit 2, no deploy."""
    standin = _image_standin(secret_scan)
    with standin as base_url:
        result = run_invoke(
            "deploy",
            "--target",
            "sandbox",
            "--image",
            "ghcr.io/other/app:2",
            env=invoke_env(standin, base_url),
        )
        deploys = standin.deploys(service_id(standin))
    assert result.code == 2
    assert "must match the service's image" in result.output
    assert deploys == []


def test_deploy_image_on_a_repository_service_exits_2(api: RenderStandIn, run_invoke: Any) -> None:
    """--image on a service built from a repository, or with --commit: exit 2 before anything is sent."""
    env = invoke_env(api, api.base_url)
    repo = run_invoke("deploy", "--target", "sandbox", "--image", f"{IMAGE}:1.1", env=env)
    both = run_invoke("deploy", "--target", "sandbox", "--image", f"{IMAGE}:1.1", "--commit", "abc", env=env)
    assert repo.code == both.code == 2
    assert "--image is for image services" in repo.output
    assert "exclude each other" in both.output
    assert api.calls("POST") == 0


def test_standin_image_deploy_answers_in_schema(secret_scan: Any) -> None:
    """POST deploys with imageUrl: 201 with an `image` {ref, sha} and no commit, valid against the spec."""
    standin = _image_standin(secret_scan)
    with standin as base_url, http_for(standin, base_url) as http:
        answer = http.post(f"/services/{service_id(standin)}/deploys", json={"imageUrl": f"{IMAGE}:1.2"})
    assert answer.status_code == 201
    validate(answer.json(), "/services/{serviceId}/deploys", "post", "201")
    assert "commit" not in answer.json()
    assert answer.json()["image"]["ref"] == f"{IMAGE}:1.2"


# -- deploy: the commit it ships, smoke after live ---------------------------------------------


def test_deploy_shows_its_commit_and_smokes_after_live(api: RenderStandIn, run_invoke: Any) -> None:
    """deploy --commit SHA: names the commit, and once live runs the smoke checks until healthy."""
    app = App(healthy=False)

    def went_live(_sid: str, _deploy: dict[str, Any]) -> str:
        app.healthy = True
        return "live"

    api.on_deploy = went_live
    with app.serving():
        env = invoke_env(api, api.base_url, ONCALL_SANDBOX_URL=app.url)
        result = run_invoke("deploy", "--target", "sandbox", "--commit", "c0ffee" * 6 + "abcd", env=env)
        as_json = run_invoke("deploy", "--target", "sandbox", "--json", env=env)
    assert result.code == 0, result.stderr
    assert "deploys commit c0ffeec0ffee: sandbox commit" in result.stdout
    assert "answers the smoke checks healthy" in result.stdout
    assert as_json.json()["smoke"]["ok"] is True


def test_deploy_live_but_still_502_exits_1(api: RenderStandIn, run_invoke: Any) -> None:
    """The deploy goes live but the page keeps answering 502: exit 1 saying so."""
    app = App(healthy=False)
    with app.serving():
        env = invoke_env(api, api.base_url, ONCALL_SANDBOX_URL=app.url)
        result = run_invoke("deploy", "--target", "sandbox", "--wait-timeout", "2", env=env)
    assert result.code == 1
    assert "is live after" in result.output
    assert "did not answer healthy within 2 s" in result.output


def test_deploy_without_smoke_checks_says_they_were_skipped(api: RenderStandIn, run_invoke: Any) -> None:
    """No base URL for the smoke checks: the deploy still succeeds and says why they did not run."""
    result = run_invoke("deploy", "--target", "sandbox", env=invoke_env(api, api.base_url))
    assert result.code == 0, result.stderr
    assert "smoke checks skipped: " in result.stdout
