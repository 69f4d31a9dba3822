"""Smoke concurrency: one pass over 50 URLs that each answer after 200 ms, against one URL alone.

The server is an asyncio HTTP/1.1 server in a child process on 127.0.0.1 (so its work does not
share the client's interpreter), answering every request 200 ms after it arrives. Figures, each
from interleaved runs (medians):

- the library: `smoke()` over 50 URLs vs `smoke()` over 1 URL; target ratio <= 1.3;
- the command: `invoke smoke --url ...` x50 vs x1, process start included (what a user waits for);
- the floor this machine allows: the same 50-vs-1 ratio with bare asyncio sockets and no HTTP
  library (when the floor is near 1.3 too, the machine is busy, not the client slow);
- 50 URLs fetched one after another with one httpx.Client (the pass should take <= 0.1 of that);
- peak Python memory of one 50-URL pass (tracemalloc) and the process's max RSS growth.

Run: /tmp/venv/bin/python bench/bench_smoke.py
"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from benchlib import figure, interleaved_medians, median_of, report

DELAY_S = 0.2
URLS = 50
RUNS = 15
CLI_RUNS = 5
ROOT = Path(__file__).resolve().parents[1]
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


class _Slow(asyncio.Protocol):
    """Answers each request (a GET without a body) DELAY_S after its headers end; keeps the connection."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        loop = asyncio.get_running_loop()
        while b"\r\n\r\n" in self.buffer:
            _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            loop.call_later(DELAY_S, self._answer)

    def _answer(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(ANSWER)


async def _serve() -> None:
    server = await asyncio.get_running_loop().create_server(_Slow, "127.0.0.1", 0, backlog=256)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def _urls(port: int, count: int) -> list[str]:
    return [f"http://127.0.0.1:{port}/page/{i}" for i in range(count)]


def library_figure(port: int) -> bool:
    from oncall.probe import Check, smoke
    from oncall.probe.conditions import parse_conditions

    conditions = tuple(parse_conditions({"status": "200", "max_ms": 5000}, "bench"))
    many = [Check(url, url, conditions=conditions) for url in _urls(port, URLS)]

    def run(checks: list[Check]) -> None:
        assert smoke(checks).ok

    ours, single = interleaved_medians(lambda: run(many), lambda: run(many[:1]), RUNS)
    ok = report(
        f"smoke pass, {URLS} URLs x {DELAY_S * 1000:.0f} ms vs 1 URL",
        ours,
        single,
        "the same smoke pass with 1 URL",
        target=1.3,
    )

    def sequential() -> None:
        import httpx

        with httpx.Client() as client:
            for url in _urls(port, URLS):
                client.get(url).raise_for_status()

    report(
        f"smoke pass, {URLS} URLs vs fetching them one after another",
        ours,
        median_of(sequential, runs=1, warmup=0),
        "sequential httpx.Client",
        target=0.1,
    )
    tracemalloc.start()
    run(many)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    figure(f"smoke pass, {URLS} URLs: peak Python memory (tracemalloc)", peak / 2**20, unit="MiB")
    return ok


def cli_figure(port: int) -> None:
    invoke = [str(Path(sys.executable).parent / "invoke"), "smoke", "--total-timeout", "10"]
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}

    def cli(count: int) -> None:
        args = [arg for url in _urls(port, count) for arg in ("--url", url)]
        subprocess.run([*invoke, *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)

    many, one = interleaved_medians(lambda: cli(URLS), lambda: cli(1), CLI_RUNS)
    figure_name = f"invoke smoke, {URLS} URLs vs 1 URL, end to end"
    report(figure_name, many, one, "invoke smoke with 1 URL", target=1.3)


def floor_figure(port: int) -> None:
    async def get(path: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(2)
        writer.close()

    def run(count: int) -> None:
        async def all_at_once() -> None:
            await asyncio.gather(*(get(f"/raw/{i}") for i in range(count)))

        asyncio.run(all_at_once())

    many, one = interleaved_medians(lambda: run(URLS), lambda: run(1), RUNS)
    report(
        f"floor on this machine: {URLS} vs 1 concurrent GETs over bare asyncio sockets",
        many,
        one,
        "1 bare asyncio GET",
        target=1.3,
    )


def main() -> int:
    server = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        ok = library_figure(port)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        growth = (rss_after - rss_before) / 1024
        figure("smoke bench: max RSS growth over the library runs", growth, unit="MiB")
        floor_figure(port)
        cli_figure(port)
    finally:
        server.terminate()
        server.wait(10)
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        asyncio.run(_serve())
    else:
        sys.exit(main())
