"""The health runner: bounded checks, skips, and how exit codes combine (library level)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from oncall.config import build_target
from oncall.errors import BadInput, Drift, Unreachable
from oncall.health import (
    CheckEnv,
    HealthObservation,
    Skip,
    check_target,
    check_targets,
    combine_codes,
    run_health,
)
from oncall.runlog import read_runs


def _target(tmp_path: Path, name: str = "svc"):  # type: ignore[no-untyped-def]
    merged = {
        "connect_timeout": 5.0,
        "lock_wait": 30.0,
        "lock_timeout": "3s",
        "statement_timeout": "5min",
        "lock_retries": 5,
        "run_log": str(tmp_path / "runs.jsonl"),
        "state_dir": str(tmp_path / "state"),
    }
    return build_target(
        name,
        {"migrations": "examples/turbo-response-backend/backend/migrations", "system": "turbo-response"},
        merged,
        tmp_path,
    )


def _passing(env: CheckEnv) -> HealthObservation:
    return HealthObservation(True, cause="fine")


def _checks(**overrides):  # type: ignore[no-untyped-def]
    fns = {"database": _passing, "schema": _passing, "render": _passing, "smoke": _passing}
    fns.update(overrides)
    return fns


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ([], 0),
        ([0, 0], 0),
        ([1, 3], 3),
        ([1, 5], 5),
        ([5, 3], 3),
        ([2, 1], 2),
        ([2, 5], 5),
        ([4, 1], 4),
    ],
    ids=[
        "nothing ran",
        "all passed",
        "unreachable beats a failed check",
        "drift beats a failed check",
        "unreachable beats drift",
        "bad input beats a failed check",
        "drift beats bad input",
        "refused beats a failed check",
    ],
)
def test_codes_combine_by_severity(codes: list[int], expected: int) -> None:
    """The run's code is the most severe failure: 3 > 5 > 2 > 4 > 1."""
    assert combine_codes(codes) == expected


def test_all_passing_checks_make_a_healthy_target(tmp_path: Path) -> None:
    """Four passing checks: ok, exit 0, in the documented order."""
    health = check_target(_target(tmp_path), checks=_checks(), timeout=5)
    assert (health.ok, health.code) == (True, 0)
    assert [c.name for c in health.checks] == ["database", "schema", "render", "smoke"]


def test_a_hanging_check_fails_at_its_deadline_with_a_cause(tmp_path: Path) -> None:
    """A check that never returns is abandoned at --timeout: failed, code 3, cause names the check."""
    release = threading.Event()

    def hangs(env: CheckEnv) -> HealthObservation:
        release.wait(60)
        return HealthObservation(True)

    try:
        health = check_target(_target(tmp_path), checks=_checks(smoke=hangs), timeout=0.5)
    finally:
        release.set()
    smoke = health.check("smoke")
    assert smoke is not None
    assert (smoke.status, smoke.code) == ("fail", 3)
    assert "smoke check of svc got no answer within 0.5s" in (smoke.cause or "")
    assert health.code == 3


def test_schema_is_skipped_when_the_database_fails(tmp_path: Path) -> None:
    """An unreachable database fails once; schema says it was skipped because of it."""

    def down(env: CheckEnv) -> HealthObservation:
        raise Unreachable("connection refused by 127.0.0.1:1", "is it running?")

    health = check_target(_target(tmp_path), checks=_checks(database=down), timeout=5)
    schema = health.check("schema")
    assert schema is not None
    assert schema.status == "skip"
    assert "database check failed" in (schema.cause or "")
    assert health.code == 3


def test_a_skipped_check_does_not_fail_the_target(tmp_path: Path) -> None:
    """A check the target cannot run is skipped with its reason and leaves the target healthy."""

    def no_key(env: CheckEnv) -> HealthObservation:
        raise Skip("skipped: RENDER_API_KEY is not set")

    health = check_target(_target(tmp_path), checks=_checks(render=no_key), timeout=5)
    render = health.check("render")
    assert render is not None
    assert (render.status, render.cause) == ("skip", "skipped: RENDER_API_KEY is not set")
    assert (health.ok, health.code) == (True, 0)


def test_an_unexpected_exception_fails_only_its_check(tmp_path: Path) -> None:
    """A bug in one check is a failed check (code 1) with the exception named, not a crashed run."""

    def broken(env: CheckEnv) -> HealthObservation:
        raise RuntimeError("boom")

    health = check_target(_target(tmp_path), checks=_checks(render=broken), timeout=5)
    render = health.check("render")
    assert render is not None
    assert render.status == "fail"
    assert "RuntimeError: boom" in (render.cause or "")
    assert [c.status for c in health.checks if c.name != "render"] == ["pass", "pass", "pass"]


def test_worst_code_of_several_failures(tmp_path: Path) -> None:
    """Drift in the schema and a failing page: the target exits 5."""

    def drift(env: CheckEnv) -> HealthObservation:
        raise Drift("migration 20251110_add_usage_tracking was edited after it was applied")

    def bad_page(env: CheckEnv) -> HealthObservation:
        return HealthObservation(False, 1, "page: 502")

    health = check_target(_target(tmp_path), checks=_checks(schema=drift, smoke=bad_page), timeout=5)
    assert health.code == 5


def test_all_targets_run_concurrently_with_one_result_each(tmp_path: Path) -> None:
    """Three targets whose checks wait for each other finish only because they run at the same time."""
    barrier = threading.Barrier(3, timeout=20)

    def meet(env: CheckEnv) -> HealthObservation:
        barrier.wait()
        return HealthObservation(True)

    targets = [_target(tmp_path / n, n) for n in ("a", "b", "c")]
    results = check_targets(targets, checks=_checks(database=meet), timeout=30)
    assert [r.target for r in results] == ["a", "b", "c"]
    assert all(r.ok for r in results)


def test_notify_without_a_webhook_is_refused_before_checking(tmp_path: Path) -> None:
    """--notify with ONCALL_WEBHOOK_URL unset is bad input (2): a scheduler must not think it alerts."""
    with pytest.raises(BadInput, match="ONCALL_WEBHOOK_URL is not set"):
        run_health([_target(tmp_path)], notify=True, environ={}, checks=_checks())


def test_each_health_run_appends_a_run_record(tmp_path: Path) -> None:
    """A health run appends one record per target: task, outcome, code, per-check durations."""
    target = _target(tmp_path)

    def bad_page(env: CheckEnv) -> HealthObservation:
        return HealthObservation(False, 1, "page: 502 from Render's edge")

    run_health([target], environ={}, checks=_checks(smoke=bad_page), run_args={"target": "svc"})
    (record,) = list(read_runs(target.run_log))
    assert (record["task"], record["target"], record["outcome"], record["code"]) == (
        "health",
        "svc",
        "failing",
        1,
    )
    assert set(record["durations"]) == {"database", "schema", "render", "smoke", "total"}
    assert record["details"]["failed"] == {"smoke": "page: 502 from Render's edge"}


def test_a_health_run_survives_a_run_log_that_cannot_be_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run log that cannot be written is a warning naming it; the health result still comes back."""
    target = _target(tmp_path)
    target.run_log.mkdir(parents=True)  # a directory: appending to it fails
    run = run_health([target], environ={}, checks=_checks())
    assert [health.code for health in run.results] == [0]
    assert f"warning: could not write the run record to {target.run_log}" in capsys.readouterr().err


def test_a_target_that_overruns_its_budget_is_a_failure_not_a_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--all: a target still running at its budget gets one failed `health` row (code 3); others report."""
    import oncall.health.run as health_module

    release = threading.Event()

    def slow(env: CheckEnv) -> HealthObservation:
        if env.target.name == "slow":
            release.wait(30)
        return HealthObservation(True)

    monkeypatch.setattr(health_module, "_target_budget", lambda timeout: 0.5)
    targets = [_target(tmp_path / "fast", "fast"), _target(tmp_path / "slow", "slow")]
    try:
        fast, stuck = check_targets(targets, checks=_checks(database=slow), timeout=20)
    finally:
        release.set()
    assert (fast.ok, fast.code) == (True, 0)
    (row,) = stuck.checks
    assert (row.name, row.status, row.code) == ("health", "fail", 3)
    assert "did not finish within 0.5s" in (row.cause or "")
