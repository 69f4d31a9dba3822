"""The real runbook (`invoke migrate verify restart smoke`) against the sandbox, for both seed systems."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from sandbox_support import MISSING, force_down, get, read_env_file, sandbox_env, server_dir

pytestmark = pytest.mark.slow

SYSTEMS = ["turbo-response", "trdrhub"]


@pytest.fixture
def sbx() -> Iterator[Path]:
    with server_dir("sandbox") as directory:
        yield directory
        force_down(directory)


def _up(run_invoke, sbx: Path, secret_scan, system: str) -> dict[str, str]:
    """sandbox.up, then the environment a user would `source` (secrets registered for the scan)."""
    assert run_invoke("sandbox.up", "--system", system, env=sandbox_env(sbx)).code == 0
    env = read_env_file(sbx)
    password = urlsplit(env["DATABASE_URL"]).password or ""
    secret_scan.add(env["RENDER_API_KEY"], password, unquote(password))
    return {**sandbox_env(sbx), **env}


@pytest.mark.parametrize("system", SYSTEMS, ids=SYSTEMS)
def test_each_runbook_step_exits_0_and_the_page_comes_back(
    run_invoke, sbx: Path, secret_scan, system: str
) -> None:
    """triage names the relation; migrate, verify, restart, smoke each exit 0; the edge then answers 200."""
    env = _up(run_invoke, sbx, secret_scan, system)
    assert get(env["ONCALL_SANDBOX_URL"] + "/admin/case/11")[0] == 502

    triage = run_invoke("triage", env=env)
    assert f'relation "{MISSING[system]}" does not exist' in triage.output

    for step in ("migrate", "verify", "restart", "smoke"):
        result = run_invoke(step, env=env, timeout=180)
        assert result.code == 0, f"invoke {step}: {result.output}"

    assert get(env["ONCALL_SANDBOX_URL"] + "/admin/case/11")[0] == 200
    status = run_invoke("sandbox.status", "--json", env=env)
    assert {c["name"]: c["healthy"] for c in status.json()["components"]} == {
        "postgres": True,
        "render-api": True,
        "backend": True,
        "edge": True,
    }


@pytest.mark.parametrize("system", SYSTEMS, ids=SYSTEMS)
def test_the_chain_in_one_command_recovers_the_service(
    run_invoke, sbx: Path, secret_scan, system: str
) -> None:
    """`invoke migrate verify restart smoke`, as the README writes it, exits 0 against the incident."""
    env = _up(run_invoke, sbx, secret_scan, system)
    result = run_invoke("migrate", "verify", "restart", "smoke", env=env, timeout=240)
    assert result.code == 0, result.output
    assert get(env["ONCALL_SANDBOX_URL"] + "/admin/case/11")[0] == 200


def test_before_the_migration_verify_and_smoke_fail_with_1_and_the_chain_stops(
    run_invoke, sbx: Path, secret_scan
) -> None:
    """Without migrate, verify exits 1 (pending) and a chain starting with it stops there; smoke sees 502."""
    env = _up(run_invoke, sbx, secret_scan, "turbo-response")
    assert run_invoke("verify", env=env).code == 1
    smoke = run_invoke("smoke", env=env)
    assert smoke.code == 1
    assert "502" in smoke.output
    chain = run_invoke("verify", "restart", "smoke", env=env)
    assert chain.code == 1
    assert "restart requested" not in chain.output


def test_deploy_runs_the_pre_deploy_migration_and_goes_live(run_invoke, sbx: Path, secret_scan) -> None:
    """`invoke deploy` in the sandbox runs the pre-deploy `invoke migrate --yes`, restarts, ends live."""
    env = _up(run_invoke, sbx, secret_scan, "turbo-response")
    result = run_invoke("deploy", env=env, timeout=180)
    assert result.code == 0, result.output
    assert "live" in result.output
    assert get(env["ONCALL_SANDBOX_URL"] + "/admin/case/11")[0] == 200
    assert "Running pre-deploy command 'invoke migrate --yes'" in (sbx / "backend.log").read_text()
