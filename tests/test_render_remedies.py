"""rollback (and the other remedies of a bad deploy) end to end: the real invoke against the stand-in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from oncall.render_rollback import rollback_candidate
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
