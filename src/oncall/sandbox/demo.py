"""The whole incident and its recovery on one machine: the library behind `invoke demo`.

    sandbox.up           PostgreSQL at the baseline; the backend crashes at start-up
    page before          GET /admin/case/11 through the edge: 502 Bad Gateway
    triage               `invoke triage` reads the service's logs and names the missing relation
    migrate verify       the real `invoke` tasks, each in its own subprocess with the sandbox's
    restart smoke          environment, exactly as an engineer would type them
    page after           GET /admin/case/11: 200
    sandbox.down         always, also on failure and Ctrl-C (unless keep=True)

Each step is timed; the result is a timeline. The runbook steps are run one `invoke` per step
(rather than one `invoke migrate verify restart smoke`) so each gets its own exit code and time;
the chain stops at the first step that fails, as Invoke's does.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from oncall.errors import BadInput, Refused
from oncall.redact import redact
from oncall.sandbox import manager

RUNBOOK = ("migrate", "verify", "restart", "smoke")
STEP_TIMEOUT = 120.0

Echo = Callable[[str], None]


@dataclass
class DemoStep:
    name: str
    command: str
    started: float
    seconds: float = 0.0
    code: int | None = None
    ok: bool = False
    result: str = ""


@dataclass
class DemoResult:
    system: str
    steps: list[DemoStep] = field(default_factory=list)
    kept: bool = False
    directory: Path | None = None
    env_file: Path | None = None

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    @property
    def seconds(self) -> float:
        return max((s.started + s.seconds for s in self.steps), default=0.0)


def invoke_binary() -> str:
    """The `invoke` of this Python environment (its bin/ may not be on PATH), else PATH's."""
    local = Path(sys.executable).parent / "invoke"
    if local.exists():
        return str(local)
    found = shutil.which("invoke")
    if not found:
        raise BadInput("the invoke command is not installed", "python3 -m pip install -e .")
    return found


class _Timeline:
    def __init__(self, result: DemoResult, echo: Echo) -> None:
        self.result = result
        self.echo = echo
        self.origin = time.monotonic()

    def begin(self, name: str, command: str) -> DemoStep:
        step = DemoStep(name, command, started=time.monotonic() - self.origin)
        self.result.steps.append(step)
        self.echo(f"\n── {name}: {command}")
        return step

    def end(self, step: DemoStep, *, ok: bool, result: str, code: int | None = None) -> DemoStep:
        step.seconds = time.monotonic() - self.origin - step.started
        step.ok, step.result, step.code = ok, result, code
        return step


def run_demo(
    root: Path,
    system: str,
    *,
    keep: bool = False,
    echo: Echo = lambda _line: None,
    environ: Mapping[str, str] | None = None,
) -> DemoResult:
    """Play the incident and the runbook against a fresh sandbox; tear it down unless `keep`."""
    spec = manager.system_spec(system)
    base_env = dict(os.environ if environ is None else environ)
    directory = manager.sandbox_dir(root, base_env)
    existing = manager.read_state(directory)
    if existing and manager.status(root, environ=base_env).running:
        raise Refused(
            f"a {existing.system} sandbox is already running in {directory}; the demo needs a fresh one",
            "invoke sandbox.down, then invoke demo",
        )
    result = DemoResult(system=spec.name, directory=directory, env_file=directory / "env")
    line = _Timeline(result, echo)
    try:
        step = line.begin("sandbox.up", f"invoke sandbox.up --system {spec.name}")
        up = manager.up(root, spec.name, environ=base_env, progress=lambda msg: echo(f"   {msg}"))
        line.end(step, ok=True, result=f"up in {up.seconds:.1f} s; the backend crashed at start-up", code=0)
        env = {**base_env, **up.env}
        # The demo's run records stay with the sandbox, not in the project's real run log.
        env.setdefault("INVOKE_ONCALL_RUN_LOG", str(directory / "runs.jsonl"))
        env.setdefault("INVOKE_ONCALL_STATE_DIR", str(directory / "state"))
        # The steps' tables are indented under the demo's headings; let rich fit them to the terminal.
        columns = base_env.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() else shutil.get_terminal_size((163, 24)).columns
        env["COLUMNS"] = str(max(60, width - 3))
        page = up.state.edge_url + spec.page

        steps: list[Callable[[], bool]] = [
            lambda: _page_step(line, "page before", page, expect=502),
            lambda: _triage_step(line, root, env, spec),
            *(functools.partial(_invoke_step, line, root, env, name) for name in RUNBOOK),
            lambda: _page_step(line, "page after", page, expect=200),
        ]
        for run_step in steps:
            if not run_step():
                break
        return result
    finally:
        if keep:
            result.kept = True
        else:
            step = line.begin("sandbox.down", "invoke sandbox.down")
            down = manager.down(root, environ=base_env)
            line.end(step, ok=True, result=f"stopped {len(down.stopped)} processes", code=0)


def _page_step(line: _Timeline, name: str, url: str, *, expect: int) -> bool:
    step = line.begin(name, f"GET {url}")
    try:
        code, body = _get(url)
    except OSError as exc:
        line.echo(f"   no answer: {exc}")
        line.end(step, ok=False, result=f"no answer (expected {expect})", code=3)
        return False
    shown = f"{code} Bad Gateway" if "Bad Gateway" in body else f"{code}"
    line.echo(f"   {shown}: {_first_text(body)}")
    ok = code == expect
    line.end(step, ok=ok, result=f"{shown} (expected {expect})", code=0 if ok else 1)
    return ok


def _first_text(body: str) -> str:
    import re

    text = re.sub(r"<[^>]+>", " ", re.sub(r"(?s)<title>.*?</title>", "", body))
    return " ".join(text.split())[:80]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - the sandbox's 127.0.0.1 edge
            return int(resp.status), resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode(errors="replace")


def _run_invoke(line: _Timeline, root: Path, env: Mapping[str, str], *args: str) -> tuple[int, str]:
    """Run the real `invoke` in a subprocess, relaying its output line by line as it comes."""
    proc = subprocess.Popen(
        [invoke_binary(), *args],
        cwd=root,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    captured: list[str] = []
    assert proc.stdout is not None
    # A step that hangs must not hang the demo: kill it at the deadline (it then reads as failed).
    watchdog = threading.Timer(STEP_TIMEOUT, proc.kill)
    watchdog.start()
    try:
        for raw in proc.stdout:
            text = redact(raw.rstrip("\n"))
            captured.append(text)
            line.echo(f"   {text}")
        return proc.wait(), "\n".join(captured)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _triage_step(line: _Timeline, root: Path, env: Mapping[str, str], spec: manager.SystemSpec) -> bool:
    step = line.begin("triage", "invoke triage")
    code, output = _run_invoke(line, root, env, "triage")
    relation = "ai_usage_logs" if spec.name == "turbo-response" else "ai_usage_records"
    # triage exits non-zero when it finds a problem; what matters here is that it names the cause.
    found = f'relation "{relation}" does not exist' in output or relation in output
    line.end(
        step,
        ok=found,
        result=f'names the cause: relation "{relation}" does not exist' if found else "cause not found",
        code=code,
    )
    return found


def _invoke_step(line: _Timeline, root: Path, env: Mapping[str, str], name: str) -> bool:
    step = line.begin(name, f"invoke {name}")
    code, _ = _run_invoke(line, root, env, name)
    line.end(step, ok=code == 0, result="ok" if code == 0 else f"failed (exit {code})", code=code)
    return code == 0
