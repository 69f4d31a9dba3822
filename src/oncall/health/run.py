"""Read-only health of one or more targets, for a scheduler: each check bounded in time.

Four checks per target, the runbook's questions asked without changing anything:

    database   can we connect and run a query (doctor's reachability)
    schema     does the live schema match the migrations (verify), nothing pending
    render     the Render service is not suspended and its latest deploy is live
    smoke      one pass of the target's smoke checks (no waiting)

`database`, `render` and `smoke` start together; `schema` runs once `database` passed (when the
database cannot be reached, schema says "skipped: database failed" instead of failing twice). Each
check runs in a daemon thread and is abandoned at its deadline: a check that cannot finish in time
is a failure with a cause (code 3, "no answer within Ns"), never a hang. A check the target cannot
run (no RENDER_API_KEY, no Render service configured, no base URL for smoke) is skipped and says why.

Exit code of a run: 0 when every check passed or was skipped; otherwise the most severe code
among the failed checks, ranked by `SEVERITY`:

    3 unreachable  >  5 drift  >  2 bad input  >  4 refused  >  1 check failed

An unreachable database or API explains the other failures (a 502 while the database is down), so
it ranks first; drift needs a human before anything is rerun; bad input means a check could not run
(the monitor is blind there); a plain failed check is the least specific. `--all` combines the
targets' codes by the same rule.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oncall.config import Target
from oncall.errors import BadInput, CheckFailed, ExitCode, OncallError, Unreachable
from oncall.health.checks import CHECKS
from oncall.health.metrics import write_textfile
from oncall.health.model import (
    CHECK_NAMES,
    DEFAULT_CHECK_TIMEOUT,
    FAIL,
    PASS,
    SKIP,
    CheckEnv,
    CheckFn,
    HealthCheckResult,
    Skip,
    TargetHealth,
    combine_codes,
)
from oncall.health.notify import AlertPolicy, notify_change, notify_channels, policy_for, store_for
from oncall.runlog import record_run


class _Bounded:
    """One check running in a daemon thread; `result()` waits until its own deadline at most.

    A daemon thread, not an executor: an abandoned check (a socket that never answers) must not
    keep the process alive at exit, and a pool's workers would be joined at interpreter shutdown.
    """

    def __init__(self, name: str, fn: CheckFn, env: CheckEnv) -> None:
        self.name = name
        self._fn = fn
        self._env = env
        self._outcome: HealthCheckResult | None = None
        self._start = time.monotonic()
        self._deadline = self._start + env.timeout
        self._thread = threading.Thread(target=self._run, name=f"health-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        start = time.monotonic()
        try:
            seen = self._fn(self._env)
            status = PASS if seen.ok else FAIL
            code = 0 if seen.ok else int(seen.code or ExitCode.CHECK_FAILED)
            outcome = HealthCheckResult(
                self.name, status, code, 0.0, seen.cause, seen.hint, dict(seen.details)
            )
        except Skip as skip:
            outcome = HealthCheckResult(self.name, SKIP, 0, 0.0, skip.reason)
        except OncallError as exc:
            outcome = HealthCheckResult(
                self.name, FAIL, int(exc.code), 0.0, exc.cause, exc.hint, dict(exc.details)
            )
        except Exception as exc:  # noqa: BLE001 - a broken check must fail alone, not kill the run
            outcome = HealthCheckResult(
                self.name,
                FAIL,
                int(ExitCode.CHECK_FAILED),
                0.0,
                f"internal error in the {self.name} check: {type(exc).__name__}: {exc}",
                "rerun `invoke health --debug` and report it",
            )
        outcome.duration = time.monotonic() - start
        self._outcome = outcome

    def result(self) -> HealthCheckResult:
        self._thread.join(max(0.0, self._deadline - time.monotonic()))
        if self._outcome is not None:
            return self._outcome
        timeout = self._env.timeout
        return HealthCheckResult(
            self.name,
            FAIL,
            int(ExitCode.UNREACHABLE),
            time.monotonic() - self._start,
            f"the {self.name} check of {self._env.target.name} got no answer within {timeout:g}s",
            "something it talks to hangs (database, Render API or backend); raise --timeout if it is "
            "merely slow",
            {"timed_out": True, "timeout_s": timeout},
        )


def _skipped(name: str, reason: str) -> HealthCheckResult:
    return HealthCheckResult(name, SKIP, 0, 0.0, reason)


def check_target(
    target: Target,
    *,
    timeout: float = DEFAULT_CHECK_TIMEOUT,
    environ: Mapping[str, str] | None = None,
    checks: Mapping[str, CheckFn] | None = None,
) -> TargetHealth:
    """Run the four checks against one target, each within `timeout` seconds; never raises."""
    fns = dict(checks) if checks is not None else CHECKS
    env = CheckEnv(target, os.environ if environ is None else environ, timeout)
    started = _dt.datetime.now(_dt.UTC)
    start = time.monotonic()
    running = {name: _Bounded(name, fns[name], env) for name in ("database", "render", "smoke")}
    database = running["database"].result()
    if database.status == FAIL:
        schema = _skipped("schema", "skipped: the database check failed")
    elif database.status == SKIP:
        schema = _skipped("schema", f"skipped: no database ({database.cause})")
    else:
        schema = _Bounded("schema", fns["schema"], env).result()
    results = {
        "database": database,
        "schema": schema,
        "render": running["render"].result(),
        "smoke": running["smoke"].result(),
    }
    return TargetHealth(
        target=target.name,
        system=target.system,
        checks=[results[name] for name in CHECK_NAMES],
        started=started,
        duration=time.monotonic() - start,
        finished_ts=time.time(),
    )


@dataclass
class HealthRun:
    """One `invoke health` run: a result per target, and what was written besides."""

    results: list[TargetHealth]
    metrics_file: Path | None = None
    # Targets --all left out because touching them was refused (a sandbox target reaching a remote
    # database): named with the refusal, never counted as healthy.
    skipped: dict[str, OncallError] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def code(self) -> int:
        if self.skipped and not self.results:
            # Nothing was checked at all: that is the refusal, not a healthy run.
            return combine_codes([int(exc.code) for exc in self.skipped.values()])
        return combine_codes([r.code for r in self.results])

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"ok": self.ok, "code": self.code}
        if len(self.results) == 1 and not self.skipped:
            doc.update(self.results[0].as_dict())
            doc["ok"], doc["code"] = self.ok, self.code
        else:
            doc["targets"] = [r.as_dict() for r in self.results]
        if self.skipped:
            doc["skipped"] = [
                {"target": name, "code": int(exc.code), "cause": exc.cause, "hint": exc.hint}
                for name, exc in self.skipped.items()
            ]
        if self.metrics_file is not None:
            doc["metrics_file"] = str(self.metrics_file)
        return doc


def _target_budget(timeout: float) -> float:
    # database, then schema, each bounded by `timeout`; a little slack for thread start-up.
    return 2 * timeout + 5.0


def check_targets(
    targets: Sequence[Target],
    *,
    timeout: float = DEFAULT_CHECK_TIMEOUT,
    environ: Mapping[str, str] | None = None,
    checks: Mapping[str, CheckFn] | None = None,
) -> list[TargetHealth]:
    """Check several targets concurrently, a thread each, each bounded; results in input order."""
    outcomes: dict[int, TargetHealth] = {}

    def work(index: int, target: Target) -> None:
        outcomes[index] = check_target(target, timeout=timeout, environ=environ, checks=checks)

    threads = []
    started = _dt.datetime.now(_dt.UTC)
    deadline = time.monotonic() + _target_budget(timeout)
    for index, target in enumerate(targets):
        thread = threading.Thread(
            target=work, args=(index, target), name=f"health-{target.name}", daemon=True
        )
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    results = []
    for index, target in enumerate(targets):
        if index in outcomes:
            results.append(outcomes[index])
            continue
        budget = _target_budget(timeout)
        error = Unreachable(
            f"health of {target.name} did not finish within {budget:g}s", "run it alone with --target"
        )
        results.append(
            TargetHealth(
                target.name,
                target.system,
                [HealthCheckResult("health", FAIL, int(error.code), budget, error.cause, error.hint)],
                started,
                budget,
                time.time(),
            )
        )
    return results


def _notify(
    health: TargetHealth,
    target: Target,
    env: Mapping[str, str],
    *,
    webhook: str | None,
    urls: Sequence[str],
    policy: AlertPolicy,
) -> dict[str, Any]:
    """Post what is due for one target; a state store that fails is reported, never a crash."""
    try:
        store = store_for(target, env)
        return notify_change(
            health, target.state_dir, webhook, channel_urls=urls, policy=policy, store=store
        ).as_dict()
    except OncallError as exc:
        error = exc.as_dict()
    except OSError as exc:  # notify_state: file, and state_dir cannot be written
        reason = exc.strerror or type(exc).__name__
        error = CheckFailed(
            f"the alert state under {target.state_dir} could not be written: {reason}",
            "give --notify a writable state_dir, or set notify_state: database",
        ).as_dict()
    status = "healthy" if health.ok else "failing"
    return {"event": None, "sent": False, "status": status, "error": error}


def run_health(
    targets: Sequence[Target],
    *,
    timeout: float = DEFAULT_CHECK_TIMEOUT,
    notify: bool = False,
    metrics_file: Path | None = None,
    run_args: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    checks: Mapping[str, CheckFn] | None = None,
    alert_flags: Mapping[str, Any] | None = None,
    skipped: Mapping[str, OncallError] | None = None,
) -> HealthRun:
    """Check the targets, then post what is due, write metrics, and append a run record each.

    `--notify` without a webhook URL or channel URL is refused before any check runs (BadInput),
    so a scheduled job never believes it alerts when it cannot. `alert_flags` holds the
    --failure-threshold/--success-threshold/--remind-every values given (None: the config's).
    `skipped` names the targets the task layer refused to touch (a sandbox target reaching a
    remote), which are not among `targets`: they are named in `HealthRun.skipped` with the refusal,
    and nothing connects to them: no check, no alert state, no run record in their database. A run
    that checked nothing else exits with the refusal's code.
    """
    env = os.environ if environ is None else environ
    channels = {t.name: notify_channels(t, env) for t in targets} if notify else {}
    policies = {t.name: policy_for(t, alert_flags) for t in targets}
    if timeout <= 0:
        raise BadInput(f"--timeout {timeout:g} is not positive", "give each check a few seconds, e.g. 20")
    if len(targets) == 1:
        results = [check_target(targets[0], timeout=timeout, environ=env, checks=checks)]
    else:
        results = check_targets(targets, timeout=timeout, environ=env, checks=checks)
    by_name = {t.name: t for t in targets}
    for health in results:
        target = by_name[health.target]
        if notify:
            webhook, urls = channels[target.name]
            health.notify = _notify(
                health, target, env, webhook=webhook, urls=urls, policy=policies[target.name]
            )
        record_run(
            target,
            sys.stderr,
            task="health",
            args=dict(run_args or {}),
            outcome="healthy" if health.ok else "failing",
            code=health.code,
            durations={c.name: c.duration for c in health.checks if c.status != SKIP}
            | {"total": health.duration},
            details={
                "failed": {c.name: c.cause for c in health.checks if c.status == FAIL},
                "skipped": [c.name for c in health.checks if c.status == SKIP],
                **({"notify": health.notify} if health.notify else {}),
            },
            started_at=health.started,
        )
    if metrics_file is not None:
        write_textfile(metrics_file, results)
    return HealthRun(results, metrics_file, skipped=dict(skipped or {}))
