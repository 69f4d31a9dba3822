"""`invoke demo`: the incident and its recovery end to end, torn down afterwards, for both systems."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fix_invoke import INVOKE, REPO, clean_env
from oncall.sandbox import procs
from sandbox_support import (
    force_down,
    get,
    read_env_file,
    read_state,
    sandbox_env,
    sandbox_pids,
    server_dir,
    wait_for,
)

pytestmark = pytest.mark.slow

STEPS = ["sandbox.up", "page before", "triage", "migrate", "verify", "restart", "smoke", "page after"]


@pytest.fixture
def sbx() -> Iterator[Path]:
    with server_dir("sandbox") as directory:
        yield directory
        force_down(directory)


@pytest.mark.parametrize("system", ["turbo-response", "trdrhub"], ids=["turbo-response", "trdrhub"])
def test_demo_recovers_the_page_and_tears_the_sandbox_down(run_invoke, sbx: Path, system: str) -> None:
    """Every step succeeds in order: 502 before, triage names the cause, the runbook, 200 after, then down."""
    result = run_invoke("demo", "--system", system, "--json", env=sandbox_env(sbx), timeout=240)
    assert result.code == 0, result.stderr
    doc = result.json()
    assert [s["step"] for s in doc["steps"]] == [*STEPS, "sandbox.down"]
    assert all(s["ok"] for s in doc["steps"])
    by_name = {s["step"]: s for s in doc["steps"]}
    assert by_name["page before"]["result"].startswith("502 Bad Gateway")
    assert by_name["page after"]["result"].startswith("200")
    assert all(by_name[name]["code"] == 0 for name in ("migrate", "verify", "restart", "smoke"))
    # The timeline: under --json it is the document's steps (issue 17: no table on stderr).
    assert all({"start", "seconds"} <= set(s) for s in doc["steps"])
    assert "timeline" not in result.stderr
    assert not (sbx / "state.json").exists()
    assert not (sbx / "pg").exists()


def test_demo_keep_leaves_a_recovered_sandbox_running(run_invoke, sbx: Path, secret_scan) -> None:
    """--keep skips the teardown: the sandbox stays up, healthy, and sandbox.down stops it."""
    result = run_invoke("demo", "--keep", env=sandbox_env(sbx), timeout=240)
    env = read_env_file(sbx)
    secret_scan.add(env.get("RENDER_API_KEY", ""))
    assert result.code == 0, result.stderr
    assert "still running" in result.stdout
    assert get(env["ONCALL_SANDBOX_URL"] + "/admin/case/11")[0] == 200
    status = run_invoke("sandbox.status", "--json", env=sandbox_env(sbx))
    assert status.code == 0
    assert {c["name"]: c["healthy"] for c in status.json()["components"]}["backend"] is True
    pids = sandbox_pids(sbx)
    assert run_invoke("sandbox.down", env=sandbox_env(sbx)).code == 0
    assert not any(procs.alive(pid) for pid in pids)


def test_demo_refuses_while_a_sandbox_runs(run_invoke, sbx: Path, secret_scan) -> None:
    """A running sandbox is left alone: the demo exits 4 and says to run sandbox.down first."""
    assert run_invoke("sandbox.up", env=sandbox_env(sbx)).code == 0
    secret_scan.add(read_env_file(sbx)["RENDER_API_KEY"])
    before = read_state(sbx)
    result = run_invoke("demo", env=sandbox_env(sbx))
    assert result.code == 4
    assert "sandbox.down" in result.stderr
    assert read_state(sbx) == before


def test_a_failing_step_stops_the_demo_with_its_code_and_still_tears_down(run_invoke, sbx: Path) -> None:
    """When migrate fails (a 1 ms statement timeout), the later steps do not run and the sandbox is gone."""
    result = run_invoke(
        "demo", "--json", env=sandbox_env(sbx, INVOKE_ONCALL_STATEMENT_TIMEOUT="1ms"), timeout=240
    )
    doc = result.json()
    names = [s["step"] for s in doc["steps"]]
    assert result.code != 0
    assert doc["ok"] is False
    assert result.code == doc["code"]
    assert names == ["sandbox.up", "page before", "triage", "migrate", "sandbox.down"]
    assert doc["steps"][3]["ok"] is False
    assert not (sbx / "state.json").exists()


def test_ctrl_c_during_the_demo_tears_the_sandbox_down(tmp_path: Path, sbx: Path) -> None:
    """SIGINT while the runbook runs: the demo stops every sandbox process and exits 130."""
    home = tmp_path / "home"
    home.mkdir()
    proc = subprocess.Popen(
        [str(INVOKE), "demo"],
        cwd=REPO,
        env=clean_env(home, sandbox_env(sbx)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: (sbx / "run.json").exists() and (sbx / "state.json").exists(), timeout=60)
        wait_for(lambda: len(sandbox_pids(sbx)) >= 2, timeout=60, what="sandbox processes recorded")
        pids = sandbox_pids(sbx)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    print(stderr)
    assert proc.returncode == 130
    assert not any(procs.alive(pid) for pid in pids)
    assert not (sbx / "state.json").exists()


def test_an_unknown_system_is_bad_input(run_invoke, sbx: Path) -> None:
    """demo --system nope exits 2 before starting anything."""
    result = run_invoke("demo", "--system", "nope", env=sandbox_env(sbx))
    assert result.code == 2
    assert not (sbx / "state.json").exists()
