"""The whole runbook as one command: migrate, verify, restart, smoke, with a timeline and a report.

    recover(target, out, *, yes, dry_run=False, start_at="migrate", report=None) -> RecoverResult

1. The production guard, once, up front (naming the database and the Render service); every step
   after it runs as if `--yes` was given, so nobody is asked four times at 3 a.m.
2. "Before": one read-only health snapshot (`oncall.health.check_target`: database, schema with
   pending migrations, Render service, one smoke pass) and, when Render can be asked, the crash
   cause from the service's last 30 minutes of logs (`oncall.runbook.triage`) — what was wrong.
3. The steps in order, each timed, printed as it starts and ends; the first failure stops the
   run (as Invoke's chain does) and its exit code is the run's:
       migrate   oncall.migrations.migrate (locked, one transaction per file, run record)
       verify    oncall.schema.verify (every declared object present, nothing pending)
       restart   oncall.render.ops.restart with wait: smoke until the service answers again
       smoke     oncall.probe.smoke in wait mode: K passes in a row before the deadline
4. "After": another health snapshot, the timeline (step, start, duration, result), and when a
   step failed, the command that resumes from it (`invoke recover --target T --from STEP`).
   Every step is idempotent, so resuming re-runs the failed step and the ones after it.
5. A Markdown incident report (what was wrong, what was applied, timings, final state) under
   `target.state_dir/incidents/` or at `report`, and one run record.

`--dry-run` runs migrate's dry run (the plan and its SQL), resolves the Render service without
restarting it, skips verify and smoke, and writes neither a report nor a run record.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oncall.atomicfile import write_atomic
from oncall.config import Target
from oncall.db.connect import bounded, database_url_for
from oncall.errors import BadInput, ExitCode, OncallError
from oncall.health.run import check_target
from oncall.migrations.run import migrate
from oncall.output import Output
from oncall.probe.run import checks_for, describe_failure, smoke
from oncall.redact import redact
from oncall.render import ops as render_ops
from oncall.render.client import RenderClient
from oncall.runbook.history import shared_runs
from oncall.runbook.triage import triage
from oncall.runlog import record_run
from oncall.safety import Database, guard_production
from oncall.schema.verify import verify
from oncall.status import Status

STEPS = ("migrate", "verify", "restart", "smoke")
OK, FAILED, SKIPPED = Status.OK, Status.FAILED, Status.SKIPPED
PLANNED, NOT_RUN = "dry run", "not run"
DEFAULT_SMOKE_WAIT = 300.0
SNAPSHOT_TIMEOUT = 15.0


@dataclass
class StepRecord:
    """One step of the timeline."""

    name: str
    status: str = NOT_RUN
    code: int = 0
    started: _dt.datetime | None = None
    duration: float = 0.0
    summary: str = ""
    hint: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "status": self.status,
            "code": self.code,
            "started": self.started.isoformat(timespec="milliseconds") if self.started else None,
            "duration_s": round(self.duration, 3),
            "summary": self.summary,
            "hint": self.hint,
            "details": self.details,
        }


@dataclass
class RecoverResult:
    target: str
    system: str
    database: str
    service: str | None
    dry_run: bool
    start_at: str
    started: _dt.datetime
    steps: list[StepRecord]
    before: dict[str, Any] | None = None
    triage: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    duration: float = 0.0
    report_path: Path | None = None
    # Shared run records of this target by other runs during the incident (oncall_runs), oldest first.
    others: list[dict[str, Any]] = field(default_factory=list)
    yes: bool = False

    @property
    def failed(self) -> StepRecord | None:
        return next((s for s in self.steps if s.status == FAILED), None)

    @property
    def ok(self) -> bool:
        return self.failed is None

    @property
    def code(self) -> int:
        failed = self.failed
        return failed.code if failed else 0

    @property
    def applied(self) -> list[str]:
        migrate = next((s for s in self.steps if s.name == "migrate"), None)
        if migrate is None:
            return []
        return [str(a.get("version")) for a in migrate.details.get("applied", [])]

    def resume_command(self) -> str | None:
        """The command that re-runs the failed step and the ones after it."""
        failed = self.failed
        if failed is None:
            return None
        yes = " --yes" if self.yes else ""
        return f"invoke recover --target {self.target} --from {failed.name}{yes}"

    def as_dict(self) -> dict[str, Any]:
        failed = self.failed
        return {
            "ok": self.ok,
            "code": self.code,
            "task": "recover",
            "target": self.target,
            "system": self.system,
            "database": self.database,
            "render_service": self.service,
            "dry_run": self.dry_run,
            "from": self.start_at,
            "started": self.started.isoformat(timespec="milliseconds"),
            "duration_s": round(self.duration, 3),
            "failed_step": failed.name if failed else None,
            "resume": self.resume_command(),
            "applied": self.applied,
            "steps": [s.as_dict() for s in self.steps],
            "before": self.before,
            "triage": self.triage,
            "after": self.after,
            "report": str(self.report_path) if self.report_path else None,
            "others": self.others,
        }


StepFn = Callable[[], StepRecord]


def _database_where(target: Target) -> tuple[Any, str]:
    url = database_url_for(target)
    return url, url.where


def _snapshot(target: Target, timeout: float) -> dict[str, Any]:
    return check_target(target, timeout=timeout).as_dict()


def _triage(target: Target) -> dict[str, Any] | None:
    """The crash cause from the service's recent logs, when Render can be asked; never fails recover."""
    if not target.render_service or not (os.environ.get("RENDER_API_KEY") or "").strip():
        return None

    try:
        client = RenderClient.from_env(
            connect_timeout=5.0, read_timeout=10.0, max_attempts=2, retry_budget=10.0
        )
        with client:
            found = bounded(lambda: triage(target, "30m", client=client), SNAPSHOT_TIMEOUT, "triage")
    except OncallError as exc:
        return {"error": exc.cause, "findings": []}
    return found.as_dict()


def _step_migrate(target: Target, url: Any, out: Output, dry_run: bool, record: StepRecord) -> None:
    result = migrate(target, url, out, dry_run=dry_run, yes=True)
    record.details = {"applied": result.applied, "planned": result.as_dict().get("planned", [])}
    if dry_run:
        planned = record.details["planned"]
        record.status = PLANNED
        record.summary = (
            f"would apply {len(planned)}: {', '.join(planned)}" if planned else "nothing to apply"
        )
        return
    versions = [str(a.get("version")) for a in result.applied]
    record.summary = f"applied {len(versions)}: {', '.join(versions)}" if versions else "nothing pending"


def _step_verify(target: Target, url: Any, record: StepRecord) -> None:
    result = verify(target, url)
    record.details = {k: v for k, v in result.as_dict().items() if k != "rows"}
    record.details["failures"] = [r.as_dict() for r in result.failures]
    record.summary = result.verdict()
    if not result.ok:
        record.status, record.code, record.hint = FAILED, result.code, result.hint


def _step_restart(target: Target, out: Output, dry_run: bool, smoke_wait: float, record: StepRecord) -> None:
    if not target.render_service:
        record.status = SKIPPED
        record.summary = f"target {target.name} names no render.service; nothing to restart"
        return

    if dry_run:
        with RenderClient.from_env() as client:
            service = render_ops.service_of(target, client)
        record.status = PLANNED
        record.summary = f"would restart {render_ops.where(service)} and wait up to {smoke_wait:g} s"
        return
    result = render_ops.restart(target, out, yes=True, wait=True, wait_timeout=smoke_wait)
    record.details = result.as_dict()
    record.summary = result.message
    if not result.ok:
        record.status, record.code = FAILED, result.code
        record.hint = "the service did not answer healthy in time; invoke triage shows why"


def _step_smoke(target: Target, out: Output, dry_run: bool, smoke_wait: float, record: StepRecord) -> None:
    if dry_run:
        record.status = SKIPPED
        record.summary = "dry run: nothing changed, so nothing to prove"
        return

    result = smoke(checks_for(target), wait=smoke_wait, out=out)
    record.details = result.as_dict()
    record.summary = result.summary()
    if not result.ok:
        record.status, record.code = FAILED, result.code
        failures = [describe_failure(c) for c in result.checks if c.verdict != "healthy"]
        record.summary += ": " + "; ".join(failures)
        record.hint = next((c.hint for c in result.checks if c.hint), None)


def _run_step(name: str, body: Callable[[StepRecord], None], out: Output, index: int) -> StepRecord:
    record = StepRecord(name, status=OK, started=_dt.datetime.now(_dt.UTC))
    out.print(f"[{index}/{len(STEPS)}] {name} …")
    start = time.monotonic()
    try:
        body(record)
    except OncallError as exc:
        record.status, record.code, record.summary, record.hint = FAILED, int(exc.code), exc.cause, exc.hint
    except KeyboardInterrupt:
        # Ctrl-C during a long wait: stop here, but still leave the timeline and the report.
        record.status, record.code = FAILED, int(ExitCode.CHECK_FAILED)
        record.summary = f"interrupted (Ctrl-C) during {name}"
        record.hint = "resume when ready; every step is safe to run again"
    except Exception as exc:  # noqa: BLE001 - the timeline and incident report must survive a crashed step
        record.status, record.code = FAILED, int(ExitCode.CHECK_FAILED)
        record.summary = f"internal error in {name}: {type(exc).__name__}: {exc}"
        record.hint = "rerun with --debug and report it"
    record.duration = time.monotonic() - start
    mark = {OK: "ok", FAILED: f"FAILED (exit {record.code})", SKIPPED: "skipped", PLANNED: "dry run"}
    verdict = mark.get(record.status, record.status)
    out.print(f"[{index}/{len(STEPS)}] {name} {verdict} in {record.duration:.2f}s: {record.summary}")
    return record


def recover(
    target: Target,
    out: Output,
    *,
    yes: bool,
    dry_run: bool = False,
    start_at: str = "migrate",
    report: Path | None = None,
    smoke_wait: float = DEFAULT_SMOKE_WAIT,
) -> RecoverResult:
    """Run the runbook's steps from `start_at`, stopping at the first failure (module docstring)."""
    if start_at not in STEPS:
        raise BadInput(f"--from {start_at!r} is not a step", f"choose one of: {', '.join(STEPS)}")
    if report is not None:
        check_report_path(report)
    url, database = _database_where(target)
    service = target.render_service
    todo = STEPS[STEPS.index(start_at) :]
    writes = [s for s in todo if s in ("migrate", "restart")]
    if writes:
        where = database + (f" and Render service {service}" if service and "restart" in writes else "")
        touches = {"id": service} if service and "restart" in writes else None
        guard_production(
            target,
            action=f"recover ({' + '.join(writes)})",
            where=where,
            yes=yes,
            dry_run=dry_run,
            database=Database(url.host, url.port, url.dbname) if "migrate" in writes else None,
            service=touches,
        )
    started = _dt.datetime.now(_dt.UTC)
    clock = time.monotonic()
    result = RecoverResult(
        target.name, target.system, database, service, dry_run, start_at, started, [], yes=yes
    )
    out.print(f"recover {target.name}: {database}" + (f", Render service {service}" if service else ""))
    result.before = _snapshot(target, SNAPSHOT_TIMEOUT)
    out.print("before: " + _one_line(result.before))
    result.triage = _triage(target)
    for finding in (result.triage or {}).get("findings", []):
        # The cause quotes a table name from the service's logs: data, never markup.
        out.print(
            f"triage: {finding['cause']} (seen {finding['count']}x in the service's logs)", markup=False
        )
    bodies: dict[str, Callable[[StepRecord], None]] = {
        "migrate": lambda r: _step_migrate(target, url, out, dry_run, r),
        "verify": lambda r: _skip_in_dry_run(r) if dry_run else _step_verify(target, url, r),
        "restart": lambda r: _step_restart(target, out, dry_run, smoke_wait, r),
        "smoke": lambda r: _step_smoke(target, out, dry_run, smoke_wait, r),
    }
    for index, name in enumerate(STEPS, start=1):
        if name not in todo:
            result.steps.append(StepRecord(name, status=SKIPPED, summary=f"skipped: resumed from {start_at}"))
            continue
        if result.failed is not None:
            result.steps.append(StepRecord(name, summary=f"not run: {result.failed.name} failed"))
            continue
        result.steps.append(_run_step(name, bodies[name], out, index))
    if not dry_run:
        result.after = _snapshot(target, SNAPSHOT_TIMEOUT)
    result.duration = time.monotonic() - clock
    if not dry_run:
        result.others = others_meanwhile(target, started, out)
        result.report_path = write_report(result, report or default_report_path(target, started))
        _append_record(target, out, result)
    return result


# How far back before `recover` began the incident report looks for what others did.
INCIDENT_LOOKBACK = _dt.timedelta(hours=1)


def others_meanwhile(target: Target, started: _dt.datetime, out: Output) -> list[dict[str, Any]]:
    """What other runs (other engineers, the scheduler) recorded for this target in the incident's
    window, from the shared history; this process's own records are left out."""
    records = shared_runs(
        target,
        last=50,
        since=started - INCIDENT_LOOKBACK,
        warn=lambda line: out.print(line, markup=False),
    )
    mine = (socket.gethostname(), os.getpid())
    return [r for r in reversed(records) if (r.get("host"), r.get("pid")) != mine]


def _skip_in_dry_run(record: StepRecord) -> None:
    record.status = SKIPPED
    record.summary = "dry run: the schema is unchanged; verify after a real run"


def _one_line(snapshot: dict[str, Any]) -> str:
    parts = []
    for check in snapshot.get("checks", []):
        status = {Status.PASS: "ok", Status.FAIL: "FAIL", Status.SKIP: "skip"}.get(
            check["status"], check["status"]
        )
        detail = f" ({check['cause']})" if check["status"] == Status.FAIL and check.get("cause") else ""
        parts.append(f"{check['name']} {status}{detail}")
    return "; ".join(parts)


def default_report_path(target: Target, started: _dt.datetime) -> Path:
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    return target.state_dir / "incidents" / f"{stamp}-{target.name}.md"


def _append_record(target: Target, out: Output, result: RecoverResult) -> None:
    record_run(
        target,
        out.stderr,
        task="recover",
        args={"from": result.start_at, "yes": result.yes, "dry_run": result.dry_run},
        outcome="recovered" if result.ok else f"failed at {result.failed.name if result.failed else '?'}",
        code=result.code,
        durations={s.name: s.duration for s in result.steps if s.started} | {"total": result.duration},
        details={
            "applied": result.applied,
            "report": str(result.report_path),
            "resume": result.resume_command(),
        },
        started_at=result.started,
    )


# ------------------------------------------------------------------ the incident report


def _clock(moment: _dt.datetime | None) -> str:
    return moment.strftime("%H:%M:%S") if moment else "-"


def _md(text: Any) -> str:
    # Table cells: a pipe or a newline would break the row.
    return str(text or "").replace("|", "\\|").replace("\n", " ")


def _health_table(snapshot: dict[str, Any] | None) -> list[str]:
    if not snapshot:
        return ["(not taken)"]
    lines = ["| check | result | detail |", "|---|---|---|"]
    for check in snapshot.get("checks", []):
        lines.append(f"| {check['name']} | {check['status']} | {_md(check.get('cause'))} |")
    return lines


def format_report(result: RecoverResult) -> str:
    """The incident report in Markdown, for the postmortem (redacted when written)."""
    failed = result.failed
    verdict = "RESOLVED" if failed is None else f"NOT RESOLVED — {failed.name} failed (exit {failed.code})"
    finished = result.started + _dt.timedelta(seconds=result.duration)
    try:
        who = f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        who = f"uid {os.getuid()}@{socket.gethostname()}"
    lines = [
        f"# Incident: {result.target} — {verdict}",
        "",
        f"- target: `{result.target}` (system {result.system})",
        f"- database: `{result.database}`",
        f"- Render service: `{result.service or '-'}`",
        f"- run by: {who}",
        f"- started: {result.started.isoformat(timespec='seconds')}; finished: "
        f"{finished.isoformat(timespec='seconds')}; took {result.duration:.1f} s",
        f"- to run it again: `invoke recover --target {result.target}"
        + (f" --from {result.start_at}" if result.start_at != "migrate" else "")
        + "`",
        "",
        "## What was wrong",
        "",
        "Read-only health snapshot taken before any step ran:",
        "",
        *_health_table(result.before),
        "",
    ]
    pending = _pending_before(result.before)
    if pending:
        lines += [f"Pending migrations found before: {', '.join(f'`{p}`' for p in pending)}.", ""]
    lines += _triage_lines(result.triage)
    lines += [
        "## What was done",
        "",
        "| step | start (UTC) | duration | result | detail |",
        "|---|---|---|---|---|",
    ]
    for step in result.steps:
        lines.append(
            f"| {step.name} | {_clock(step.started)} | {step.duration:.2f} s | {step.status}"
            + (f" (exit {step.code})" if step.status == FAILED else "")
            + f" | {_md(step.summary)} |"
        )
    lines.append("")
    applied: list[dict[str, Any]] = next(
        (s.details.get("applied", []) for s in result.steps if s.name == "migrate"), []
    )
    if applied:
        lines += ["Applied migrations:", ""]
        lines += [
            f"- `{a.get('version')}` ({a.get('transaction_mode', '?')}, {a.get('duration_ms', '?')} ms)"
            for a in applied
        ]
        lines.append("")
    else:
        lines += ["No migration was applied.", ""]
    lines += ["## Final state", "", *_health_table(result.after), ""]
    lines += _others_lines(result.others)
    if failed is not None:
        lines += [
            f"**{failed.name} failed (exit {failed.code}):** {failed.summary}",
            "",
            f"Hint: {failed.hint}" if failed.hint else "",
            "",
            f"Resume with `{result.resume_command()}` (each step is idempotent).",
            "",
        ]
    lines += [
        "## Follow-ups",
        "",
        "- [ ] Why did the code reach production before its migration? Run migrations before the new "
        "version takes traffic (`preDeployCommand` in render.yaml, not `postDeployCommand`, which Render "
        "does not know), or as a CI step before the deploy.",
        "- [ ] Is `invoke health --notify` scheduled for this service (runbooks/scheduling.md)?",
        "",
    ]
    return "\n".join(lines)


def _what_it_changed(record: dict[str, Any]) -> str:
    """ "applied V1, V2" for a migrate, "service srv-..." for a restart or deploy, else nothing."""
    details = record.get("details")
    if not isinstance(details, dict):
        return ""
    parts = []
    applied = details.get("applied")
    if isinstance(applied, list) and applied:
        parts.append("applied " + ", ".join(map(str, applied)))
    if details.get("service"):
        parts.append(f"service {details['service']}")
    if details.get("error"):
        parts.append(f"error: {details['error']}")
    return "; ".join(parts)


def _others_lines(others: list[dict[str, Any]]) -> list[str]:
    """What the rest of the team did to this target around the incident (the shared history)."""
    lines = ["## What others did meanwhile", ""]
    if not others:
        return [*lines, "No other run of this target was recorded in the shared history in that window.", ""]
    lines += ["| time (UTC) | who | task | outcome | code | detail |", "|---|---|---|---|---|---|"]
    for record in others:
        detail = _what_it_changed(record)
        when = str(record.get("time", ""))[:19].replace("T", " ")
        who = f"{_md(record.get('user'))}@{_md(record.get('host'))}"
        cells = [when, who, _md(record.get("task")), _md(record.get("outcome")), str(record.get("code", ""))]
        lines.append("| " + " | ".join([*cells, _md(detail)]) + " |")
    return [*lines, ""]


def _triage_lines(triage: dict[str, Any] | None) -> list[str]:
    if triage is None:
        return []
    if triage.get("error"):
        return [f"Triage of the service's logs failed: {triage['error']}", ""]
    findings = triage.get("findings", [])
    if not findings:
        return ["Triage: no known crash signature in the service's logs of the last 30 minutes.", ""]
    lines = ["Triage of the service's logs (last 30 minutes):", ""]
    for finding in findings:
        lines.append(
            f"- {finding['cause']} — seen {finding['count']} time(s), first {finding.get('first_seen')}, "
            f"last {finding.get('last_seen')}; sample: `{_md(finding.get('sample'))}`"
        )
    lines.append("")
    return lines


def _pending_before(snapshot: dict[str, Any] | None) -> list[str]:
    for check in (snapshot or {}).get("checks", []):
        if check["name"] == "schema":
            return [str(p) for p in check.get("details", {}).get("pending", [])]
    return []


def check_report_path(path: Path) -> None:
    """BadInput naming `path` when the report could not be written there; checked before recovering.

    A report that fails after migrate and restart ran would turn a recovery into an error at the end.
    """
    hint = "pass --report a path in a writable directory, or leave it out for the default"
    if path.is_dir():
        raise BadInput(f"--report {path} is a directory", hint)
    existing = next(p for p in path.parents if p.exists())
    if not existing.is_dir():
        raise BadInput(f"--report {path} cannot be written: {existing} is a file, not a directory", hint)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BadInput(f"--report {path} cannot be written: {existing} is not writable", hint)


def write_report(result: RecoverResult, path: Path) -> Path:
    """Write the redacted report to `path` (created with its directories); returns the path."""
    write_atomic(path, redact(format_report(result)), mode=0o600)
    return path
