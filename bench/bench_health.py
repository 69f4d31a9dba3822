"""Benchmark: what a scheduled `invoke health` costs, for one target and for `--all`.

Setup: a private embedded PostgreSQL with one database per target, each migrated to head with
oncall's own migrate; one page server on 127.0.0.1 whose page answers 200 after 300 ms (a real
backend's admin page is not instant). Render is skipped (no API key), as on a host without one.

Figures (library calls, so Invoke's start-up does not blur them; median of RUNS, interleaved):

- one target's health (database chain, verify, one smoke pass) against the check an engineer does
  by hand, run side by side: `psql -c 'select 1'` then one GET of the page with curl-like urllib,
  one after the other. Health does more (DNS, TCP, TLS, login, version, the whole schema, the
  page's conditions), but runs the page and the database in parallel. Target <= 2x.
- `--all` over TARGETS targets against one target: every target is checked in its own thread,
  so the wall time should stay near one target's. Target <= 1.5x.
"""

from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from benchlib import interleaved_medians, report
from oncall.config import DEFAULTS, Target, build_target
from oncall.health import check_target, check_targets
from oncall.migrations.run import migrate
from oncall.output import Output
from oncall.sandbox.pg import EmbeddedPostgres

REPO = Path(__file__).resolve().parents[1]
TARGETS = 6
RUNS = 7
PAGE_DELAY = 0.3
PASSWORD = secrets.token_urlsafe(16)


class _Slow(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(PAGE_DELAY)
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


def _target(index: int, root: Path, page: str) -> Target:
    raw = {
        "system": "turbo-response",
        "migrations": str(REPO / "examples/turbo-response-backend/backend/migrations"),
        "database_url_env": f"BENCH_DB_{index}",
        "base_url": page,
        "smoke": [{"name": "page", "url": "/admin/case/11", "conditions": {"status": "2xx"}}],
    }
    merged = dict(DEFAULTS) | {"run_log": str(root / "runs.jsonl"), "state_dir": str(root / "state")}
    return build_target(f"bench-{index}", raw, merged, root)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-health-") as tmp:
        root = Path(tmp)
        server = EmbeddedPostgres(root / "data").start()
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        page = f"http://127.0.0.1:{httpd.server_address[1]}"
        try:
            server.create_role("bench", PASSWORD)
            environ = dict(os.environ)
            targets = []
            quiet = Output(stdout=io.StringIO(), stderr=io.StringIO())
            for i in range(TARGETS):
                server.create_database(f"health_{i}", owner="bench")
                url = server.url(f"health_{i}", "bench", PASSWORD)
                environ[f"BENCH_DB_{i}"] = url
                target = _target(i, root, page)
                migrate(target, url, quiet, yes=True, write_run_log=False)
                targets.append(target)
            environ.pop("RENDER_API_KEY", None)
            one = targets[0]
            psql = server.bin / "psql"
            env = {**os.environ, "PGPASSWORD": PASSWORD}
            port = server.url().rsplit(":", 1)[1].split("/", 1)[0]

            def health_one() -> None:
                result = check_target(one, environ=environ)
                assert result.ok, [c.as_dict() for c in result.checks if c.status == "fail"]

            def by_hand() -> None:
                subprocess.run(
                    [
                        str(psql),
                        "-h",
                        "127.0.0.1",
                        "-p",
                        port,
                        "-U",
                        "bench",
                        "-d",
                        "health_0",
                        "-Atc",
                        "select 1",
                    ],
                    env=env,
                    check=True,
                    capture_output=True,
                )
                with urllib.request.urlopen(page + "/admin/case/11", timeout=10) as resp:  # noqa: S310
                    assert resp.status == 200

            def health_all() -> None:
                results = check_targets(targets, environ=environ)
                assert all(r.ok for r in results)

            ours, base = interleaved_medians(health_one, by_hand, RUNS)
            ok = report(
                "health of one target (4 checks) vs psql select 1 then one GET, by hand",
                ours,
                base,
                "psql -c + GET, sequential",
                target=2.0,
            )
            all_time, one_time = interleaved_medians(health_all, health_one, RUNS)
            ok &= report(
                f"health --all over {TARGETS} targets vs one target",
                all_time,
                one_time,
                "health of one target",
                target=1.5,
            )
        finally:
            httpd.shutdown()
            httpd.server_close()
            server.destroy()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
