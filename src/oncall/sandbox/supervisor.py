"""Run the demo backend as a child process, the way Render runs a service's start command.

`start` launches the backend and waits until it listens or exits; `restart` is stop + start (a
manual restart on Render restarts the same build); `deploy` runs the service's pre-deploy command
first and only restarts when it succeeds, answering with the deploy's final Render status.

Every line the backend prints (stdout and stderr) goes to `log`, which the sandbox wires to the
Render stand-in's log store, so `invoke triage` reads the crash the way it reads Render's logs.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from oncall.sandbox.procs import listening, pick_port

READY_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
PRE_DEPLOY_TIMEOUT = 300.0


@dataclass
class Supervisor:
    """One backend child: `command` plus `--port`, in `cwd`, with `env`; its output goes to `log`."""

    command: list[str]
    port: int
    env: Mapping[str, str]
    cwd: Path
    log: Callable[[str], None]
    on_change: Callable[[], None] = lambda: None
    _proc: subprocess.Popen[str] | None = field(default=None, init=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False)
    exit_code: int | None = field(default=None, init=False)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def upstream(self) -> int | None:
        """The backend's port while its process lives (the edge asks this on every request)."""
        return self.port if self.pid else None

    def start(self) -> bool:
        """Start the backend; True once it listens, False when it exited first (a crash)."""
        with self._lock:
            if self.pid:
                return True
            # Like Render handing the app a PORT, each start may get a new one: another process
            # can have taken the old port while the backend was down, and a backend that cannot
            # bind would look exactly like the crash the sandbox is there to show.
            chosen = pick_port(self.port)
            if chosen != self.port:
                self.log(f"==> Port {self.port} is taken; starting on {chosen}")
                self.port = chosen
            argv = [*self.command, "--port", str(self.port)]
            shown = ["python", *argv[1:]] if argv[0] == sys.executable else argv
            self.log(f"==> Running '{shlex.join(shown)}'")
            self._proc = subprocess.Popen(
                argv,
                cwd=self.cwd,
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
            )
            self.exit_code = None
            proc = self._proc
        self.on_change()
        assert proc.stdout is not None
        threading.Thread(target=self._pump, args=(proc, proc.stdout), daemon=True).start()
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            if listening(self.port):
                self.log("==> Your service is live")
                return True
            time.sleep(0.05)
        self.log(f"==> No open port detected on {self.port} within {READY_TIMEOUT:.0f}s")
        return False

    def _pump(self, proc: subprocess.Popen[str], stream: IO[str]) -> None:
        for line in stream:
            self.log(line.rstrip("\n"))
        code = proc.wait()
        with self._lock:
            if proc is self._proc:
                self.exit_code = code
        self.on_change()
        if code not in (0, -signal.SIGTERM):
            self.log(f"==> Exited with status {code}")

    def stop(self) -> None:
        with self._lock:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                return
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)

    def restart(self) -> bool:
        self.log("==> Restarting service")
        self.stop()
        return self.start()

    def deploy(self, pre_deploy: str | None) -> str:
        """Run the pre-deploy command, then restart; the deploy's final Render status."""
        if pre_deploy:
            self.log(f"==> Running pre-deploy command '{pre_deploy}'")
            ok = self.run_command(pre_deploy)
            if not ok:
                self.log("==> Pre-deploy command failed")
                return "pre_deploy_failed"
        return "live" if self.restart() else "update_failed"

    def run_command(self, command: str) -> bool:
        """Run a one-off command (pre-deploy, job) in the service's environment, logging its output."""
        try:
            proc = subprocess.run(
                resolve_argv(shlex.split(command)),
                cwd=self.cwd,
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=PRE_DEPLOY_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.log(f"==> {command}: {exc}")
            return False
        for line in proc.stdout.splitlines():
            self.log(line)
        return proc.returncode == 0


def resolve_argv(argv: list[str]) -> list[str]:
    """`invoke ...`/`python ...` run from our own environment, even when its bin/ is not on PATH."""
    if argv and argv[0] in ("invoke", "python", "python3"):
        local = Path(sys.executable).parent / argv[0]
        if argv[0].startswith("python"):
            return [sys.executable, *argv[1:]]
        if local.exists():
            return [str(local), *argv[1:]]
    return argv


def backend_command(system: str) -> list[str]:
    """The demo backend's start command for `system` (the port is added by the supervisor)."""
    return [sys.executable, "-m", "oncall.sandbox.backend", "--system", system]


def child_env(database_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The backend's environment: ours, its DATABASE_URL, unbuffered output for live log lines.

    A service on Render does not hold the account's API key, so neither does the backend, nor
    the pre-deploy commands and jobs that run in its environment.
    """
    env = {k: v for k, v in os.environ.items() if k != "RENDER_API_KEY"}
    env.update(extra or {})
    env["DATABASE_URL"] = database_url
    env["PYTHONUNBUFFERED"] = "1"
    return env
