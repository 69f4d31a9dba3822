"""restart, deploy, render-status and migrate --on-render end to end: the real invoke against the stand-in."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from oncall.config import Target
from oncall.output import Output
from oncall.render.ops import deploy, restart
from oncall.render.wait import PollSchedule
from oncall.sandbox.render_api import RenderStandIn, make_service
from render_support import SERVICE, App, client_for, invoke_env, new_key, service_id

REPO = Path(__file__).resolve().parents[1]


def _runs(result: Any) -> list[dict[str, Any]]:
    path = Path(result.env["INVOKE_ONCALL_RUN_LOG"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


# -- deploy -----------------------------------------------------------------------------------


def test_deploy_follows_to_live_and_reports_calls(api: RenderStandIn, run_invoke: Any) -> None:
    """deploy --json: one POST, transitions up to live, exit 0, API calls counted, a run record written."""
    result = run_invoke(
        "deploy", "--target", "sandbox", "--clear-cache", "--json", env=invoke_env(api, api.base_url)
    )
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["ok"] is True
    assert doc["deploy"]["status"] == "live"
    assert doc["action"] == "triggered"
    assert [t["status"] for t in doc["transitions"]][-1] == "live"
    assert doc["api_calls"] == api.calls()
    assert api.calls("POST", "/services/{serviceId}/deploys") == 1
    assert "API calls:" in result.stderr
    runs = _runs(result)
    assert [(r["task"], r["outcome"], r["code"]) for r in runs] == [("deploy", "ok", 0)]
    assert runs[0]["args"]["clear_cache"] is True


@pytest.mark.parametrize("outcome", ["build_failed", "pre_deploy_failed"])
def test_failed_deploy_exits_1(api: RenderStandIn, run_invoke: Any, outcome: str) -> None:
    """A deploy ending build_failed or pre_deploy_failed exits 1 and names the status."""
    api.fail_next_deploy(service_id(api), outcome)
    result = run_invoke("deploy", "--target", "sandbox", env=invoke_env(api, api.base_url))
    assert result.code == 1
    assert f"ended {outcome}" in result.output
    assert _runs(result)[0]["code"] == 1


def test_deploy_in_progress_is_followed_not_repeated(api: RenderStandIn, run_invoke: Any) -> None:
    """A deploy already building (a push) is followed to its end; no second deploy is triggered."""
    api.timings.build = 2.0
    theirs = api.start_deploy(service_id(api))
    result = run_invoke("deploy", "--target", "sandbox", "--json", env=invoke_env(api, api.base_url))
    assert result.code == 0, result.stderr
    assert result.json()["action"] == "adopted"
    assert result.json()["deploy"]["id"] == theirs["id"]
    assert api.calls("POST") == 0


def test_force_while_in_progress_gets_a_queued_202(api: RenderStandIn, run_invoke: Any) -> None:
    """--force during a running deploy: Render answers 202; the queued deploy is found and followed."""
    api.timings.build = 1.5
    theirs = api.start_deploy(service_id(api))
    result = run_invoke(
        "deploy", "--target", "sandbox", "--force", "--json", env=invoke_env(api, api.base_url)
    )
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["action"] == "queued"
    assert doc["deploy"]["id"] != theirs["id"]
    assert "queued" in [t["status"] for t in doc["transitions"]]
    assert api.calls("GET", "/services/{serviceId}/deploys") >= 2  # the in-progress check + status=queued


def test_lost_deploy_answer_leaves_exactly_one_deploy(api: RenderStandIn, run_invoke: Any) -> None:
    """The deploy POST's connection drops after Render created it: exit 0 and exactly one deploy exists."""
    api.inject("drop_after", method="POST", path=r"/deploys$")
    result = run_invoke("deploy", "--target", "sandbox", "--json", env=invoke_env(api, api.base_url))
    assert result.code == 0, result.stderr
    assert result.json()["action"] == "recovered"
    assert len(api.deploys(service_id(api))) == 1
    assert api.calls("POST", "/services/{serviceId}/deploys") == 1


def test_deploy_timeout_exits_1_saying_it_still_runs(api: RenderStandIn, run_invoke: Any) -> None:
    """--timeout passes with the deploy still building: exit 1, it keeps running, how to follow it."""
    api.timings.build = 600
    result = run_invoke("deploy", "--target", "sandbox", "--timeout", "2", env=invoke_env(api, api.base_url))
    assert result.code == 1
    assert "still build_in_progress" in result.output
    assert "render-status" in result.output
    assert api.deploys(service_id(api))[0]["status"] == "build_in_progress"


def test_deploy_production_without_yes_is_refused(api: RenderStandIn, run_invoke: Any) -> None:
    """A production target off a terminal without --yes: exit 4, nothing triggered."""
    result = run_invoke("deploy", "--target", "turbo-response-backend", env=invoke_env(api, api.base_url))
    assert result.code == 4
    assert "--yes" in result.output
    assert api.calls("POST") == 0


def test_deploy_production_with_yes_runs(api: RenderStandIn, run_invoke: Any) -> None:
    """--yes confirms a production target."""
    result = run_invoke(
        "deploy", "--target", "turbo-response-backend", "--yes", env=invoke_env(api, api.base_url)
    )
    assert result.code == 0, result.stderr
    assert api.calls("POST") == 1


def test_bad_key_exits_3(api: RenderStandIn, run_invoke: Any, secret_scan: Any) -> None:
    """A key Render rejects: exit 3, a hint to check RENDER_API_KEY, the key never printed."""
    wrong = new_key()
    secret_scan.add(wrong)
    env = invoke_env(api, api.base_url)
    env["RENDER_API_KEY"] = wrong
    result = run_invoke("deploy", "--target", "sandbox", "--json", env=env)
    assert result.code == 3
    assert result.json()["error"]["type"] == "Unreachable"
    assert "RENDER_API_KEY" in result.output


def test_missing_key_exits_2(api: RenderStandIn, run_invoke: Any) -> None:
    """No RENDER_API_KEY: exit 2 saying how to set it."""
    result = run_invoke("render-status", "--target", "sandbox", env={"RENDER_API_URL": api.base_url})
    assert result.code == 2
    assert "RENDER_API_KEY" in result.output


def test_unknown_service_exits_2(run_invoke: Any, secret_scan: Any) -> None:
    """The target's service is not in the workspace: exit 2 with a hint."""
    standin = RenderStandIn(api_key=new_key(), services=[make_service("something-else")])
    secret_scan.add(standin.api_key)
    with standin as base_url:
        result = run_invoke("render-status", "--target", "sandbox", env=invoke_env(standin, base_url))
    assert result.code == 2
    assert "no Render service named 'turbo-response-backend'" in result.output


def test_two_services_with_one_name_exit_2_naming_both(run_invoke: Any, secret_scan: Any) -> None:
    """Two services share the target's name: exit 2 naming both ids."""
    a, b = make_service(SERVICE), make_service(SERVICE)
    standin = RenderStandIn(api_key=new_key(), services=[a, b])
    secret_scan.add(standin.api_key)
    with standin as base_url:
        result = run_invoke("deploy", "--target", "sandbox", env=invoke_env(standin, base_url))
    assert result.code == 2
    assert a["id"] in result.output
    assert b["id"] in result.output
    assert standin.calls("POST") == 0


def test_suspended_service_deploy_and_restart_exit_1(run_invoke: Any, secret_scan: Any) -> None:
    """A suspended service: deploy and restart exit 1 saying to resume it; nothing is sent."""
    standin = RenderStandIn(api_key=new_key(), services=[make_service(SERVICE, suspended=True)])
    secret_scan.add(standin.api_key)
    with standin as base_url:
        env = invoke_env(standin, base_url)
        deployed = run_invoke("deploy", "--target", "sandbox", env=env)
        restarted = run_invoke("restart", "--target", "sandbox", "--no-wait", env=env)
        status = run_invoke("render-status", "--target", "sandbox", "--json", env=env)
    assert deployed.code == restarted.code == status.code == 1
    assert "suspended" in deployed.output
    assert "resume" in restarted.output.lower()
    assert status.json()["service"]["suspended"] is True
    assert standin.calls("POST") == 0


def test_rate_limit_storm_during_deploy_still_succeeds(api: RenderStandIn, run_invoke: Any) -> None:
    """A burst of 429s while polling: the client waits Ratelimit-Reset and the deploy still ends live."""
    api.timings.build = 1.0
    api.inject("429", method="GET", path=r"/deploys/", times=3, reset=1)
    result = run_invoke("deploy", "--target", "sandbox", "--json", env=invoke_env(api, api.base_url))
    assert result.code == 0, result.stderr
    assert result.json()["deploy"]["status"] == "live"
    assert api.calls() < 30


def test_ctrl_c_off_a_terminal_says_how_to_cancel(
    api: RenderStandIn, secret_scan: Any, tmp_path: Path
) -> None:
    """SIGINT while waiting, with no terminal: exit 1, the deploy keeps running, how to cancel it."""
    from fix_invoke import INVOKE, clean_env

    api.timings.build = 600
    env = clean_env(tmp_path, invoke_env(api, api.base_url))
    proc = subprocess.Popen(
        [str(INVOKE), "deploy", "--target", "sandbox"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: api.calls("GET", "/services/{serviceId}/deploys/{deployId}") >= 1)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    print(stdout, stderr)
    assert proc.returncode == 1
    assert "keeps running on Render" in stdout + stderr
    assert "/cancel" in stdout + stderr
    assert api.deploys(service_id(api))[0]["status"] == "build_in_progress"


class _Terminal(io.StringIO):
    """Typed answers on what claims to be a terminal (the prompt's input; Render is real)."""

    def isatty(self) -> bool:
        return True


def test_ctrl_c_on_a_terminal_offers_to_cancel(api: RenderStandIn) -> None:
    """SIGINT while waiting on a terminal: answering y cancels the deploy on Render; exit code 1."""
    api.timings.build = 600
    target = Target(
        "sandbox",
        "turbo-response",
        REPO / "examples/turbo-response-backend/backend/migrations",
        render_service=SERVICE,
    )
    out = Output(stdout=io.StringIO(), stderr=io.StringIO())
    main = threading.main_thread().ident
    assert main is not None

    def interrupt() -> None:
        _wait_for(lambda: api.calls("GET", "/services/{serviceId}/deploys/{deployId}") >= 1)
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    result = deploy(
        target,
        out,
        client=client_for(api, api.base_url),
        timeout=60,
        schedule=PollSchedule(base=0.2, fast=0.1),
        stdin=_Terminal("y\n"),
    )
    assert result.interrupted
    assert result.code == 1
    assert result.deploy["status"] == "canceled"
    assert api.deploys(service_id(api))[0]["status"] == "canceled"


# -- restart ----------------------------------------------------------------------------------


def test_restart_waits_until_the_site_answers(api: RenderStandIn, run_invoke: Any) -> None:
    """restart: 200 from Render, then smoke until the page answers 2xx; says how long it took."""
    app = App(healthy=False)

    def restarted(_service_id: str) -> None:
        time.sleep(0.5)
        app.healthy = True

    api.on_restart = restarted
    with app.serving():
        env = invoke_env(api, api.base_url, ONCALL_SANDBOX_URL=app.url)
        result = run_invoke("restart", "--target", "sandbox", "--json", env=env)
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["waited"] is True
    assert doc["smoke"]["ok"] is True
    assert "answers again" in doc["message"]
    assert api.restarts[service_id(api)] == 1
    assert [(r["task"], r["code"]) for r in _runs(result)] == [("restart", 0)]


def test_restart_survives_a_run_log_that_cannot_be_written(api: RenderStandIn, tmp_path: Path) -> None:
    """The restart happened on Render: a run log that cannot be written is a warning, not a failure."""
    run_log = tmp_path / "runs.jsonl"
    run_log.mkdir()  # a directory: appending to it fails
    target = Target(
        "sandbox",
        "turbo-response",
        REPO / "examples/turbo-response-backend/backend/migrations",
        render_service=SERVICE,
        run_log=run_log,
    )
    out = Output(stdout=io.StringIO(), stderr=io.StringIO())
    result = restart(target, out, yes=True, wait=False, client=client_for(api, api.base_url))
    assert result.code == 0
    assert api.restarts[service_id(api)] == 1
    assert f"warning: could not write the run record to {run_log}" in out.stderr.getvalue()


def test_restart_that_never_comes_back_exits_1(api: RenderStandIn, run_invoke: Any) -> None:
    """The page still answers 502 when --wait-timeout passes: exit 1."""
    app = App(healthy=False)
    with app.serving():
        env = invoke_env(api, api.base_url, ONCALL_SANDBOX_URL=app.url)
        result = run_invoke("restart", "--target", "sandbox", "--wait-timeout", "3", env=env)
    assert result.code == 1
    assert "did not answer healthy" in result.output


def test_restart_no_wait_only_posts(api: RenderStandIn, run_invoke: Any) -> None:
    """--no-wait: one POST restart, no smoke checks needed."""
    result = run_invoke("restart", "--target", "sandbox", "--no-wait", env=invoke_env(api, api.base_url))
    assert result.code == 0, result.stderr
    assert api.calls("POST", "/services/{serviceId}/restart") == 1


def test_restart_cron_job_is_refused_exit_2(run_invoke: Any, secret_scan: Any) -> None:
    """A cron-job service cannot be restarted: exit 2 before anything is sent."""
    standin = RenderStandIn(api_key=new_key(), services=[make_service(SERVICE, type="cron_job")])
    secret_scan.add(standin.api_key)
    with standin as base_url:
        result = run_invoke("restart", "--target", "sandbox", "--no-wait", env=invoke_env(standin, base_url))
    assert result.code == 2
    assert "cron job" in result.output
    assert standin.calls("POST") == 0


def test_restart_production_without_yes_exit_4(api: RenderStandIn, run_invoke: Any) -> None:
    """Production restart off a terminal without --yes: exit 4, no POST."""
    result = run_invoke(
        "restart", "--target", "turbo-response-backend", "--no-wait", env=invoke_env(api, api.base_url)
    )
    assert result.code == 4
    assert api.calls("POST") == 0


# -- render-status ----------------------------------------------------------------------------


def test_render_status_shows_service_and_last_deploys(api: RenderStandIn, run_invoke: Any) -> None:
    """render-status --json: the service, not suspended, its deploys newest first; exit 0."""
    api.start_deploy(service_id(api))
    _wait_for(lambda: api.deploys(service_id(api))[0]["status"] == "live")
    result = run_invoke("render-status", "--target", "sandbox", "--json", env=invoke_env(api, api.base_url))
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["service"]["name"] == SERVICE
    assert doc["service"]["suspended"] is False
    assert [d["status"] for d in doc["deploys"]] == ["live"]
    human = run_invoke("render-status", "--target", "sandbox", env=invoke_env(api, api.base_url))
    assert "not suspended" in human.stdout
    assert "last deploys" in human.stdout


def test_render_status_after_failed_deploy_exits_1(api: RenderStandIn, run_invoke: Any) -> None:
    """When the newest finished deploy failed, render-status says so and exits 1."""
    api.fail_next_deploy(service_id(api), "build_failed")
    api.start_deploy(service_id(api))
    _wait_for(lambda: api.deploys(service_id(api))[0]["status"] == "build_failed")
    result = run_invoke("render-status", "--target", "sandbox", env=invoke_env(api, api.base_url))
    assert result.code == 1
    assert "build_failed" in result.output


# -- migrate --on-render (one-off jobs) -------------------------------------------------------


def test_migrate_on_render_runs_a_job_to_success(api: RenderStandIn, run_invoke: Any) -> None:
    """migrate --on-render CMD: a one-off job with that start command, exit 0 when it succeeds."""
    result = run_invoke(
        "migrate", "--target", "sandbox", "--on-render", "alembic upgrade head", "--json",
        env=invoke_env(api, api.base_url),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    jobs = api.jobs(service_id(api))
    assert [(j["startCommand"], j["status"]) for j in jobs] == [("alembic upgrade head", "succeeded")]
    assert result.json()["job"]["id"] == jobs[0]["id"]
    assert [(r["task"], r["code"]) for r in _runs(result)] == [("migrate --on-render", 0)]


def test_migrate_on_render_failed_job_exits_1_with_its_logs(api: RenderStandIn, run_invoke: Any) -> None:
    """A job that fails: exit 1, its last log lines shown."""
    api.fail_next_job(service_id(api))

    def job_log(_service_id: str, job: dict[str, Any]) -> str:
        api.add_log(job["id"], "alembic: can't locate revision 20251116", level="error")
        return "failed"

    api.on_job = job_log
    result = run_invoke(
        "migrate",
        "--target",
        "sandbox",
        "--on-render",
        "alembic upgrade head",
        env=invoke_env(api, api.base_url),
    )
    assert result.code == 1
    assert "ended failed" in result.output
    assert "can't locate revision" in result.output


def test_migrate_on_render_dry_run_creates_nothing(api: RenderStandIn, run_invoke: Any) -> None:
    """--dry-run says what job would run and creates none."""
    result = run_invoke(
        "migrate", "--target", "sandbox", "--on-render", "alembic upgrade head", "--dry-run",
        env=invoke_env(api, api.base_url),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert "would run `alembic upgrade head`" in result.output
    assert api.jobs(service_id(api)) == []


def test_migrate_on_render_production_without_yes_exit_4(api: RenderStandIn, run_invoke: Any) -> None:
    """The production guard applies to one-off jobs."""
    result = run_invoke(
        "migrate", "--target", "turbo-response-backend", "--on-render", "node migrate.js",
        env=invoke_env(api, api.base_url),
    )  # fmt: skip
    assert result.code == 4
    assert api.jobs(service_id(api)) == []


def test_no_secret_in_any_output(api: RenderStandIn, run_invoke: Any) -> None:
    """The API key never appears in stdout, stderr, JSON or the run log, even with --debug."""
    api.fail_next_deploy(service_id(api), "build_failed")
    result = run_invoke(
        "deploy", "--target", "sandbox", "--json", "--debug", env=invoke_env(api, api.base_url)
    )
    log_text = Path(result.env["INVOKE_ONCALL_RUN_LOG"]).read_text()
    assert api.api_key not in result.output + log_text
    assert os.environ.get("RENDER_API_KEY") is None or os.environ["RENDER_API_KEY"] not in result.output
