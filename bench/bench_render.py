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
from oncall.render.client import DEPLOY_TERMINAL, RenderClient
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
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
