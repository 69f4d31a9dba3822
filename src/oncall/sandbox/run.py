"""The sandbox process: the Render API stand-in and the edge (threads), and the backend (a child).

Started detached by `invoke sandbox.up` and stopped with SIGTERM by `invoke sandbox.down`:

    python -m oncall.sandbox.run --dir .sandbox --root . --system turbo-response \\
        --api-port 18081 --edge-port 18080 --backend-port 10000

The stand-in's restart endpoint restarts the backend; its deploy endpoint runs the service's
pre-deploy command and then restarts. Every line the backend prints becomes a log entry of the
service, which `invoke triage` reads through the API. The process reports its ports and the
backend's pid and state in `<dir>/run.json` (`ready: true` once everything listens).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from oncall.sandbox import procs
from oncall.sandbox.edge import Edge
from oncall.sandbox.manager import SYSTEMS, SystemSpec
from oncall.sandbox.render_api import RenderStandIn, Timings, make_service
from oncall.sandbox.supervisor import Supervisor, backend_command, child_env

# Render's build takes minutes; here a deploy should show its phases and still finish in seconds.
SANDBOX_TIMINGS = Timings(created=0.2, build=1.0, pre_deploy=0.1, update=0.2, job_pending=0.2, job_run=0.1)


class SandboxProcess:
    """Wires the supervisor, the stand-in and the edge together and keeps run.json current."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.directory = Path(args.dir)
        self.spec: SystemSpec = SYSTEMS[args.system]
        self._report_lock = threading.Lock()
        self._log_file = (self.directory / "backend.log").open("a", buffering=1)
        service = make_service(
            self.spec.service,
            runtime="python",
            start_command=shlex.join(backend_command(self.spec.name)[1:]),
            build_command="pip install -e .",
            pre_deploy_command=self.spec.pre_deploy,
            health_check_path="/health",
        )
        self.service_id: str = service["id"]
        self.standin = RenderStandIn(
            api_key=os.environ["RENDER_API_KEY"],
            services=[service],
            port=args.api_port,  # bound in start(): the preferred port, or any when it is taken
            timings=SANDBOX_TIMINGS,
        )
        self.supervisor = Supervisor(
            command=backend_command(self.spec.name),
            port=_bindable(args.backend_port),
            env=child_env(os.environ["DATABASE_URL"]),
            cwd=Path(args.root),
            log=self.log,
            on_change=self.report,
        )
        self.standin.on_restart = self._restart
        self.standin.on_deploy = lambda _service_id, _deploy: self.supervisor.deploy(self.spec.pre_deploy)
        self.standin.on_job = lambda _service_id, job: (
            "succeeded" if self.supervisor.run_command(job["startCommand"]) else "failed"
        )
        self.edge = procs.on_preferred_port(
            lambda port: Edge(
                self.supervisor.upstream, port=port, suspended=self._suspended, maintenance=self._maintenance
            ),
            args.edge_port,
        )
        self.ready = False

    def _suspended(self) -> bool:
        return bool(self.standin.service(self.service_id)["suspended"] == "suspended")

    def _maintenance(self) -> bool:
        mode = self.standin.service(self.service_id)["serviceDetails"].get("maintenanceMode") or {}
        return bool(mode.get("enabled"))

    def _restart(self, _service_id: str) -> None:
        self.supervisor.restart()

    def log(self, line: str) -> None:
        stamp = _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")
        self._log_file.write(f"{stamp} {line}\n")
        level = "error" if line.startswith("error") else "info"
        self.standin.add_log(self.service_id, line, level=level)

    def report(self) -> None:
        doc: dict[str, Any] = {
            "pid": os.getpid(),
            "ready": self.ready,
            "api_port": self.api_port,
            "edge_port": self.edge.port,
            "backend_port": self.supervisor.port,
            "backend_pid": self.supervisor.pid,
            "backend_exit_code": self.supervisor.exit_code,
            "service_id": self.service_id,
            "system": self.spec.name,
        }
        with self._report_lock:
            tmp = self.directory / "run.tmp"
            tmp.write_text(json.dumps(doc, indent=2) + "\n")
            tmp.replace(self.directory / "run.json")

    @property
    def api_port(self) -> int:
        return int(self.standin.base_url.split(":")[-1].split("/")[0])

    def _start_standin(self, port: int) -> str:
        self.standin.port = port
        return self.standin.start()

    def start(self) -> None:
        procs.on_preferred_port(self._start_standin, self.standin.port)
        self.edge.start()
        # The first start is the incident: without the new tables the backend exits at once.
        self.supervisor.start()
        self.ready = True
        self.report()

    def stop(self) -> None:
        self.supervisor.stop()
        self.edge.stop()
        self.standin.stop()
        self._log_file.close()


def _bindable(port: int) -> int:
    # The backend binds its port in a process of its own, so it can only be checked, then handed on;
    # the supervisor moves it to another port if it is taken by then (see Supervisor.start).
    return procs.pick_port(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oncall.sandbox.run")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--system", choices=sorted(SYSTEMS), required=True)
    parser.add_argument("--api-port", type=int, default=0)
    parser.add_argument("--edge-port", type=int, default=0)
    parser.add_argument("--backend-port", type=int, default=0)
    args = parser.parse_args(argv)
    sandbox = SandboxProcess(args)
    stopping = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        sandbox.start()
        while not stopping.wait(0.5):
            pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
