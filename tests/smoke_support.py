"""Real HTTP(S) servers on 127.0.0.1 for the smoke tests: pages that fail the ways production does.

`SmokeServer` is a stdlib ThreadingHTTPServer in a thread (HTTP/1.1, keep-alive) whose paths each
behave one way:

    /ok                200 "ok"
    /bad-gateway-body  200 whose body is an nginx "502 Bad Gateway" page
    /status/NNN        answers NNN (e.g. /status/502, /status/503)
    /slow/MS           answers 200 after MS milliseconds
    /hang              accepts, reads the request, never answers (until the server stops)
    /trickle           sends headers, then one body byte every 0.2 s for 30 s
    /recovering        502 until `recover_after` seconds after the server started, then 200
    /flap              502, 200, 502, 200, ... by request count
    /loop/a, /loop/b   302 to each other: a redirect loop
    /redirect?to=URL&code=NNN   NNN (default 302) with Location URL, whatever it is
    /chain/N           302 to /chain/N-1 ... /chain/0 answers 200
    /bad-gzip          200 that claims Content-Encoding gzip but is not
    /json              {"status": "ok", "db": {"connected": true}, "items": [1, 2]}
    /echo-auth         200 "token=<the Authorization header>"  (to prove redaction)
    /auth              200 with the right Authorization header, else 401

`tls=` takes a trustme certificate to serve https. `connections` counts accepted connections
(connection reuse is visible in it), `hits[path]` counts requests per path, and `peak_in_flight`
is the most /slow requests served at the same moment (concurrency is visible in it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import ssl
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BAD_GATEWAY_PAGE = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
    "<hr><center>nginx</center></body></html>"
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # The stdlib default backlog of 5 drops simultaneous connects (the kernel retries a second later).
    request_queue_size = 128
    owner: SmokeServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: str = "", headers: dict[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Type", "text/html; charset=utf-8")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        owner.hits[path] += 1
        owner.methods.setdefault(path, Counter())[self.command] += 1
        parts = path.strip("/").split("/")
        if path == "/ok":
            self._send(200, "ok")
        elif path == "/bad-gateway-body":
            self._send(200, BAD_GATEWAY_PAGE)
        elif parts[0] == "status":
            self._send(int(parts[1]), f"status {parts[1]}")
        elif parts[0] == "slow":
            with owner.lock:
                owner.in_flight += 1
                owner.peak_in_flight = max(owner.peak_in_flight, owner.in_flight)
            time.sleep(int(parts[1]) / 1000)
            with owner.lock:
                owner.in_flight -= 1
            self._send(200, "slow but fine")
        elif path == "/hang":
            owner.stopping.wait(60)
            self.close_connection = True
        elif path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Length", "150")
            self.end_headers()
            for _ in range(150):
                if owner.stopping.wait(0.2):
                    break
                self.wfile.write(b"x")
                self.wfile.flush()
        elif path == "/recovering":
            up = time.monotonic() - owner.started >= owner.recover_after
            self._send(200, "back") if up else self._send(502, BAD_GATEWAY_PAGE)
        elif path == "/flap":
            self._send(502, BAD_GATEWAY_PAGE) if owner.hits[path] % 2 else self._send(200, "up for now")
        elif parts[0] == "loop":
            self._send(302, "", {"Location": "/loop/b" if parts[1] == "a" else "/loop/a"})
        elif parts[0] == "chain":
            left = int(parts[1])
            if left:
                self._send(302, "", {"Location": f"/chain/{left - 1}"})
            else:
                self._send(200, "end of chain")
        elif path == "/redirect":
            query = dict(urllib.parse.parse_qsl(self.path.partition("?")[2]))
            self._send(int(query.get("code", "302")), "", {"Location": query["to"]})
        elif path == "/bad-gzip":
            self._send(200, "this is not gzip", {"Content-Encoding": "gzip"})
        elif path == "/json":
            self._send(200, json.dumps({"status": "ok", "db": {"connected": True}, "items": [1, 2]}))
        elif path == "/echo-auth":
            self._send(200, f"token={self.headers.get('Authorization', '')}")
        elif path == "/auth":
            good = owner.expected_auth and self.headers.get("Authorization") == owner.expected_auth
            self._send(200, "welcome") if good else self._send(401, "who are you")
        else:
            self._send(404, "no such page")


class SmokeServer:
    """A ThreadingHTTPServer on 127.0.0.1 with the failure pages above; use as a context manager."""

    def __init__(self, *, tls: Any = None, recover_after: float = 1.0, expected_auth: str | None = None):
        self.recover_after = recover_after
        self.expected_auth = expected_auth
        self.hits: Counter[str] = Counter()
        self.methods: dict[str, Counter[str]] = {}
        self.connections = 0
        self.in_flight = self.peak_in_flight = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.started = time.monotonic()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.scheme = "http"
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.configure_cert(context)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
            self.scheme = "https"
        original = self._httpd.get_request

        def counting_accept() -> tuple[socket.socket, Any]:
            pair = original()
            self.connections += 1
            return pair

        self._httpd.get_request = counting_accept  # type: ignore[method-assign]
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05})

    def url(self, path: str = "/ok") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> SmokeServer:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(10)


class RawServer:
    """A bare TCP server on 127.0.0.1: each accepted connection (numbered from 1) goes to `answer`,
    and is closed when it returns. For the failures an HTTP server library will not produce."""

    def __init__(self, answer: Callable[[int, socket.socket], None]) -> None:
        self._answer = answer
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def _serve(self) -> None:
        self._sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            with conn:
                self._answer(self.accepted, conn)

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()


def _reset_first(number: int, conn: socket.socket) -> None:
    conn.recv(4096)
    if number > 1:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")


def _answer_once_then_close(number: int, conn: socket.socket) -> None:
    conn.recv(4096)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def reset_once_server() -> RawServer:
    """Closes the first connection without a word, then answers 200: a transient network error."""
    return RawServer(_reset_first)


def close_after_one_server() -> RawServer:
    """Answers one request per connection with keep-alive implied, then closes it: a stale keep-alive."""
    return RawServer(_answer_once_then_close)


def free_port() -> int:
    """A port nothing listens on (bound then released): connections to it are refused."""
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def make_ca(tmp: Path) -> tuple[Any, Path]:
    """A throw-away CA (trustme) and its PEM file, for servers whose certificate a test trusts."""
    import trustme

    ca = trustme.CA()
    pem = tmp / "test-ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    return ca, pem


def leaf(ca: Any, *, days: float = 365) -> Any:
    """A certificate for 127.0.0.1 from `ca`, valid for `days` from now."""
    not_after = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    return ca.issue_cert("127.0.0.1", not_after=not_after)


def runtime_config(tmp: Path, smoke: list[dict[str, Any]], *, base_url: str | None = None) -> Path:
    """A `-f` config file defining target `local` whose smoke list is `smoke` (JSON is valid YAML)."""
    target: dict[str, Any] = {
        "migrations": "examples/turbo-response-backend/backend/migrations",
        "smoke": smoke,
    }
    if base_url:
        target["base_url"] = base_url
    path = tmp / "smoke-config.yaml"
    path.write_text(json.dumps({"oncall": {"target": "local", "targets": {"local": target}}}))
    return path


@contextlib.contextmanager
def servers(*items: Any) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for item in items:
            stack.enter_context(item)
        yield
