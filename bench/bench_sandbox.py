"""Sandbox and demo: how long the README's first command takes, and what the sandbox adds.

Figures:
- `invoke demo` wall time for each seed system, as a user runs it (a subprocess, one run each);
  target: under 60 s on a 2-core machine (issue 7).
- `sandbox.up` (PostgreSQL + role + baseline + the stand-in, edge and crashing backend) against
  the bare embedded PostgreSQL start it builds on (initdb + pg_ctl start of the same wheel), run
  alternately, median of RUNS; target ratio <= 4.
- A page through the edge proxy against the same page straight from the backend, alternately,
  median of REQUESTS; target ratio <= 2.

Each sandbox lives in a temporary directory (ONCALL_SANDBOX_DIR), never the repository's.

Run: /tmp/venv/bin/python bench/bench_sandbox.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from benchlib import figure, interleaved_medians, report
from oncall.sandbox import manager
from oncall.sandbox.pg import EmbeddedPostgres

REPO = Path(__file__).resolve().parents[1]
INVOKE = str(Path(sys.executable).parent / "invoke")
RUNS = 2
REQUESTS = 100


def _clean_env(directory: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INVOKE_", "RENDER_", "DATABASE_URL", "ONCALL_SANDBOX"))
    }
    env.update(
        {
            manager.SANDBOX_DIR_ENV: str(directory),
            "INVOKE_ONCALL_RUN_LOG": str(directory / "runs.jsonl"),
            "INVOKE_ONCALL_STATE_DIR": str(directory / "state"),
        }
    )
    return env


def bench_demo(system: str, scratch: Path) -> bool:
    directory = scratch / f"demo-{system}"
    start = time.perf_counter()
    proc = subprocess.run(
        [INVOKE, "demo", "--system", system],
        cwd=REPO,
        env=_clean_env(directory),
        capture_output=True,
        timeout=300,
        check=False,
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        print(f"invoke demo --system {system} failed with exit {proc.returncode}", file=sys.stderr)
        return False
    return figure(f"invoke demo --system {system}: wall time", seconds, unit="s", target=60.0)


def bench_up(scratch: Path) -> bool:
    counter = iter(range(1000))

    def sandbox() -> None:
        environ = {manager.SANDBOX_DIR_ENV: str(scratch / f"up-{next(counter)}")}
        manager.up(REPO, "turbo-response", environ=environ)
        manager.down(REPO, environ=environ)

    def bare() -> None:
        server = EmbeddedPostgres(scratch / f"pg-{next(counter)}" / "data")
        server.start()
        server.destroy()

    ours, base = interleaved_medians(sandbox, bare, RUNS)
    return report(
        "sandbox.up + down (turbo-response)",
        ours,
        base,
        "embedded PostgreSQL initdb + start + stop",
        target=4.0,
    )


def bench_edge(scratch: Path) -> bool:
    import psycopg

    environ = {manager.SANDBOX_DIR_ENV: str(scratch / "edge")}
    up = manager.up(REPO, "turbo-response", environ=environ)
    try:
        with psycopg.connect(up.env["DATABASE_URL"], autocommit=True) as conn:
            conn.execute(
                (
                    REPO
                    / "examples/turbo-response-backend/backend/migrations/20251110_add_usage_tracking.sql"
                ).read_bytes()
            )
        service = up.backend["service_id"]
        request = urllib.request.Request(  # noqa: S310 - 127.0.0.1
            f"{up.state.api_url}/services/{service}/restart",
            method="POST",
            headers={"Authorization": f"Bearer {up.env['RENDER_API_KEY']}"},
        )
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - 127.0.0.1
        backend_port = int(up.backend["backend_port"])
        deadline = time.monotonic() + 30
        while not manager.procs.listening(backend_port) and time.monotonic() < deadline:
            time.sleep(0.05)
        via_edge = f"{up.state.edge_url}/admin/case/11"
        direct = f"http://127.0.0.1:{backend_port}/admin/case/11"

        def fetch(url: str) -> None:
            with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - 127.0.0.1
                resp.read()

        ours, base = interleaved_medians(lambda: fetch(via_edge), lambda: fetch(direct), REQUESTS)
    finally:
        manager.down(REPO, environ=environ)
    return report("GET /admin/case/11 through the edge", ours, base, "same page from the backend", target=2.0)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        scratch = Path(tmp)
        results = [
            bench_demo("turbo-response", scratch),
            bench_demo("trdrhub", scratch),
            bench_up(scratch),
            bench_edge(scratch),
        ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
