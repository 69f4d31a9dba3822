"""Deploy-wait polling: how fast a status change is noticed, and how many API calls waiting costs.

The Render stand-in flips each deploy to `live` at a random real-time moment (2-40 s after its
build ends, via the on_deploy hook). Waiters follow their deploy over real HTTP with three
schedules side by side in the same run, each on its own service:

    ours              oncall.render.wait.PollSchedule (base 1.7 s, fast after a change, 38/min budget)
    render-cli 5 s    the Render CLI's --wait pace (pkg/tui/views/deploycreate.go: poll every 5 s)
    fixed 1 s         the naive way to promise "within 1 s": poll every second

Figures: median detection delay (real seconds from the flip to the answer that shows `live`) and
API calls per minute of waiting (status polls / minutes spent waiting, all waiters pooled).
Targets: delay <= 1 s and <= 40 calls/min (a tenth of Render's 400 GET/min).

Then two figures of issue 18, each over real HTTP against the stand-in:

    rollback    `oncall.render.remedies.rollback` on services whose rollback deploy goes live
                1-4 s (random) after it starts, with a page that answers 502 until then: time
                from the call to "healthy" minus the stand-in's own deploy time (createdAt to
                finishedAt of the rollback's deploy). Target <= 1.0 s median.
    logs follow `oncall.render.logs.logs(follow=True)` while lines are written at random moments:
                delay from a line being written to the sink receiving it, and API calls per minute
                of following. Targets <= 1.0 s median at <= 40 calls/min.

    /tmp/venv/bin/python bench/bench_render.py
"""

from __future__ import annotations

import random
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from benchlib import figure, report
from oncall.config import SmokeCheckConfig, Target
from oncall.output import Output
from oncall.render.client import DEPLOY_TERMINAL, RenderClient, parse_time
from oncall.render.logs import LogLine, logs
from oncall.render.remedies import rollback
from oncall.render.wait import PollSchedule, follow
from oncall.sandbox.render_api import RateLimits, RenderStandIn, Timings, make_service

WAITERS = {"ours": 24, "render-cli 5 s": 10, "fixed 1 s": 10}
FLIP_RANGE = (2.0, 40.0)
SCHEDULES = {
    "ours": PollSchedule(),
    "render-cli 5 s": PollSchedule(base=5.0, fast=5.0, per_minute=12.0),
    "fixed 1 s": PollSchedule(base=1.0, fast=1.0, per_minute=60.0),
}


@dataclass
class Sample:
    schedule: str
    delay: float
    polls: int
    waited: float


def _name(kind: str, index: int) -> str:
    return f"bench-{kind.replace(' ', '-')}-{index}"


def main() -> int:
    rng = random.Random(20261121)
    names = [(kind, i) for kind, count in WAITERS.items() for i in range(count)]
    services = {_name(kind, i): make_service(_name(kind, i)) for kind, i in names}
    flips: dict[str, float] = {}
    flip_after = {svc["id"]: rng.uniform(*FLIP_RANGE) for svc in services.values()}

    def on_deploy(service_id: str, _deploy: dict[str, Any]) -> str:
        time.sleep(flip_after[service_id])
        flips[service_id] = time.monotonic()
        return "live"

    api = RenderStandIn(
        services=services.values(),
        timings=Timings(created=0, build=0, pre_deploy=0, update=0),
        limits=RateLimits(get=1_000_000),  # one key serves every waiter of the bench at once
        tick=0.005,
    )
    api.on_deploy = on_deploy
    samples: list[Sample] = []
    lock = threading.Lock()

    def wait_one(kind: str, service: dict[str, Any]) -> None:
        sid = service["id"]
        with RenderClient(api.api_key, api.base_url) as client:
            trigger = client.trigger_deploy(sid)
            assert trigger.deploy is not None
            dep_id = trigger.deploy["id"]
            outcome = follow(
                lambda: client.get_deploy(sid, dep_id),
                terminal=DEPLOY_TERMINAL,
                timeout=120,
                schedule=SCHEDULES[kind],
                first=trigger.deploy,
            )
        live = [t for t in outcome.transitions if t.status == "live"]
        assert live, f"{kind}: deploy ended {outcome.status}"
        with lock:
            samples.append(Sample(kind, live[0].monotonic - flips[sid], outcome.polls, outcome.elapsed))

    started = time.monotonic()
    with api:
        threads = [
            threading.Thread(target=wait_one, args=(kind, services[_name(kind, i)])) for kind, i in names
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=150)
    total = time.monotonic() - started

    def stats(kind: str) -> tuple[float, float]:
        mine = [s for s in samples if s.schedule == kind]
        median = statistics.median(s.delay for s in mine)
        per_minute = sum(s.polls for s in mine) / (sum(s.waited for s in mine) / 60)
        return median, per_minute

    ours_delay, ours_rate = stats("ours")
    cli_delay, cli_rate = stats("render-cli 5 s")
    fast_delay, fast_rate = stats("fixed 1 s")
    ok = figure("deploy wait: median detection delay", ours_delay, unit="s", target=1.0)
    ok &= figure("deploy wait: API calls per minute of waiting", ours_rate, unit="calls/min", target=40.0)
    report(
        "deploy wait: detection delay vs the Render CLI's 5 s pace",
        ours_delay, cli_delay, "render-cli 5 s polling", target=0.5,
    )  # fmt: skip
    report(
        "deploy wait: calls per minute vs fixed 1 s polling",
        ours_rate, fast_rate, "fixed 1 s polling", target=0.7, unit="calls/min",
    )  # fmt: skip
    worst = max(s.delay for s in samples if s.schedule == "ours")
    print(
        f"(samples: {len(samples)}; ours p100 delay {worst:.2f} s; fixed-1s median delay {fast_delay:.2f} s; "
        f"render-cli calls/min {cli_rate:.1f}; bench {total:.1f} s)",
        flush=True,
    )
    ok &= rollback_figures(rng)
    ok &= follow_figures(rng)
    return 0 if ok else 1


ROLLBACKS = 12
ROLLBACK_DEPLOY = (1.0, 4.0)


class _Page:
    """A page that answers 502 until `healthy` is set, on 127.0.0.1 (the service behind the edge)."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        page = self
        self.healthy = False

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                status, body = (200, b"ok") if page.healthy else (502, b"Bad Gateway")
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def rollback_figures(rng: random.Random) -> bool:
    """Rollback to live and healthy, minus the stand-in's own deploy time."""
    services = [make_service(f"bench-rollback-{i}") for i in range(ROLLBACKS)]
    pages = {svc["id"]: _Page() for svc in services}
    takes = {svc["id"]: rng.uniform(*ROLLBACK_DEPLOY) for svc in services}

    def on_deploy(service_id: str, _deploy: dict[str, Any]) -> str:
        time.sleep(takes[service_id])
        pages[service_id].healthy = True
        return "live"

    api = RenderStandIn(
        services=services, timings=Timings(created=0, update=0), limits=RateLimits(get=1_000_000), tick=0.005
    )
    api.on_deploy = on_deploy
    overheads: list[float] = []
    lock = threading.Lock()

    def one(service: dict[str, Any]) -> None:
        sid = service["id"]
        api.add_deploy(sid, "deactivated")
        api.add_deploy(sid, "live")
        target = Target(
            service["name"], "bench", Path("."), render_service=sid, base_url=pages[sid].url,
            smoke=(SmokeCheckConfig("page", "/", conditions={"status": "2xx"}),),
            run_log=Path("/dev/null"),
        )  # fmt: skip
        out = Output(stdout=_Null(), stderr=_Null())
        with RenderClient(api.api_key, api.base_url) as client:
            result = rollback(target, out, client=client)
        assert result.ok, result.message
        final = result.deploy or {}
        created, finished = parse_time(final.get("createdAt")), parse_time(final.get("finishedAt"))
        assert created
        assert finished
        assert result.healthy_after_s is not None
        with lock:
            overheads.append(result.healthy_after_s - (finished - created).total_seconds())

    with api:
        # One at a time: the figure is our overhead, not how 12 rollbacks share two cores.
        for service in services:
            one(service)
    for page in pages.values():
        page.server.shutdown()
    median = statistics.median(overheads)
    print(f"(rollback samples: {len(overheads)}; worst overhead {max(overheads):.2f} s)", flush=True)
    return figure(
        "rollback: to live and healthy minus the stand-in's deploy time", median, unit="s", target=1.0
    )


class _Null:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        return

    def isatty(self) -> bool:
        return False


FOLLOW_LINES = 24
FOLLOW_GAP = (0.3, 3.0)


def follow_figures(rng: random.Random) -> bool:
    """logs --follow: delay from a line written to it being shown, and API calls per minute."""
    service = make_service("bench-logs")
    sid = service["id"]
    api = RenderStandIn(services=[service], tick=0.05)
    written: dict[str, float] = {}
    delays: list[float] = []
    stop = threading.Event()

    def sink(line: LogLine) -> None:
        if line.message in written:
            delays.append(time.monotonic() - written[line.message])

    def sleep(seconds: float) -> None:
        # The follow loop ends on Ctrl-C; the bench's stand-in for one is this event.
        if stop.wait(seconds):
            raise KeyboardInterrupt

    def writer() -> None:
        for i in range(FOLLOW_LINES):
            time.sleep(rng.uniform(*FOLLOW_GAP))
            message = f"line {i}"
            written[message] = time.monotonic()
            api.add_log(sid, message, level="info")
        time.sleep(2.0)
        stop.set()

    target = Target("bench-logs", "bench", Path("."), render_service=sid, run_log=Path("/dev/null"))
    with api, RenderClient(api.api_key, api.base_url) as client:
        threading.Thread(target=writer, daemon=True).start()
        started = time.monotonic()
        logs(target, sink, since="5m", follow=True, client=client, sleep=sleep)
        minutes = (time.monotonic() - started) / 60
        following = client.total_calls - 2  # the service lookup and the first read are not the follow
    assert len(delays) == FOLLOW_LINES, f"{len(delays)} of {FOLLOW_LINES} lines seen"
    ok = figure(
        "logs --follow: median delay from written to shown", statistics.median(delays), unit="s", target=1.0
    )
    ok &= figure(
        "logs --follow: API calls per minute of following", following / minutes, unit="calls/min", target=40.0
    )
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
