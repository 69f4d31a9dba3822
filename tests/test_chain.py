"""`invoke migrate verify restart smoke` against the sandbox: the order, one --target, the stop."""

from __future__ import annotations

from pathlib import Path

import pytest

from fix_invoke import RunInvoke
from fix_secrets import SecretScan
from health_support import (
    SANDBOX_TARGETS,
    SERVICES,
    damage_schema,
    page_status,
    restarts_seen,
    run_log_tasks,
    start_sandbox,
)

pytestmark = pytest.mark.slow


def _step_lines(output: str) -> list[str]:
    """Which step printed what, in order: a coarse trace of the chain's execution."""
    markers = {
        "applied  ": "migrate",
        "verify sandbox": "verify",
        "restart requested": "restart",
        "smoke: ": "smoke",
    }
    seen: list[str] = []
    for line in output.splitlines():
        for marker, step in markers.items():
            if marker in line and (not seen or seen[-1] != step):
                seen.append(step)
    return seen


@pytest.mark.parametrize("system", ["turbo-response", "trdrhub"])
def test_the_chain_fixes_the_incident_with_one_target_flag(
    run_invoke, sandbox_dir, secret_scan, system
) -> None:  # type: ignore[no-untyped-def]
    """A --target given to migrate carries on to verify, restart and smoke; all run in order; exit 0."""
    env = start_sandbox(run_invoke, sandbox_dir, system, secret_scan)
    env.pop("INVOKE_ONCALL_TARGET")  # only the flag names the target
    target = SANDBOX_TARGETS[system]
    assert page_status(env) == 502
    result = run_invoke(
        "migrate", "--target", target, "verify", "restart", "smoke", "--wait", "60", env=env, timeout=300
    )
    assert result.code == 0, result.stderr
    assert run_log_tasks(result.env) == ["migrate", "restart"]
    assert restarts_seen(env, SERVICES[system]) == 1
    assert page_status(env) == 200
    assert f"verify {target}: OK" in result.output


def test_the_chain_takes_its_target_from_the_environment(
    run_invoke: RunInvoke, sandbox_dir: Path, secret_scan: SecretScan
) -> None:
    """INVOKE_ONCALL_TARGET alone selects the target for every step of the chain."""
    env = start_sandbox(run_invoke, sandbox_dir, "trdrhub", secret_scan)
    assert env["INVOKE_ONCALL_TARGET"] == "sandbox-trdrhub"
    result = run_invoke("migrate", "verify", "restart", "smoke", "--wait", "60", env=env, timeout=300)
    assert result.code == 0, result.stderr
    assert "verify sandbox-trdrhub: OK" in result.output
    assert page_status(env) == 200


def test_a_failing_verify_stops_the_chain_before_restart(
    run_invoke: RunInvoke, sandbox_dir: Path, secret_scan: SecretScan
) -> None:
    """migrate succeeds, verify finds a column of the wrong type: exit 1, restart and smoke never run."""
    env = start_sandbox(run_invoke, sandbox_dir, "turbo-response", secret_scan)
    damage_schema(env, "turbo-response")
    result = run_invoke("migrate", "verify", "restart", "smoke", env=env, timeout=300)
    assert result.code == 1
    assert "verify sandbox: FAILED" in result.output
    assert "client_email" in result.output
    assert _step_lines(result.output) == ["migrate", "verify"]
    # The Render stand-in saw no restart, and the run log has migrate's record only.
    assert restarts_seen(env, "turbo-response-backend") == 0
    assert run_log_tasks(result.env) == ["migrate"]
    assert page_status(env) == 502


def test_a_typo_in_a_later_step_runs_nothing(
    run_invoke: RunInvoke, sandbox_dir: Path, secret_scan: SecretScan
) -> None:
    """Invoke parses the whole line first: a bad flag on smoke means migrate never ran (exit 2, bad input)."""
    env = start_sandbox(run_invoke, sandbox_dir, "turbo-response", secret_scan)
    result = run_invoke("migrate", "verify", "restart", "smoke", "--no-such-flag", env=env)
    assert result.code == 2
    assert "No idea what '--no-such-flag' is" in result.stderr
    assert run_log_tasks(result.env) == []
    assert restarts_seen(env, "turbo-response-backend") == 0
