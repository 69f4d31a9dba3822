"""The sandbox's edge: a reverse proxy on 127.0.0.1 in front of the demo backend, like Render's.

Render's edge answers 502 Bad Gateway when it cannot reach the app (crashed, not listening,
connection reset); the smoke checks look for that status and for "Bad Gateway" in the body. A
suspended service, or one in maintenance mode, gets 503 Service Unavailable without its app being
asked (`suspended()`, `maintenance()`). The
edge forwards everything else unchanged, with `rndr-id`-style request ids so logs can be matched.
"""

from __future__ import annotations

import http.client
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Hop-by-hop headers never cross a proxy (RFC 9110 section 7.6.1).
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
)

BAD_GATEWAY_BODY = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    "<body><h1>Bad Gateway</h1><p>This service is currently unavailable: the edge could not reach it."
    " Please try again shortly.</p></body></html>\n"
)

SUSPENDED_BODY = (
    "<!DOCTYPE html><html><head><title>Service Suspended</title></head>"
    "<body><h1>Service Suspended</h1><p>This service has been suspended by its owner.</p></body></html>\n"
)

MAINTENANCE_BODY = (
    "<!DOCTYPE html><html><head><title>Maintenance</title></head>"
    "<body><h1>Down for maintenance</h1><p>This service is undergoing maintenance.</p></body></html>\n"
)

UPSTREAM_TIMEOUT = 30.0


class EdgeHandler(BaseHTTPRequestHandler):
    server_version = "oncall-sandbox-edge"
    protocol_version = "HTTP/1.1"
    upstream: Callable[[], int | None]
    suspended: Callable[[], bool]
    maintenance: Callable[[], bool]

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        request_id = secrets.token_hex(8)
        if self.suspended():
            self._answer(503, "Service Unavailable", SUSPENDED_BODY, request_id)
            return
        if self.maintenance():
            self._answer(503, "Service Unavailable", MAINTENANCE_BODY, request_id)
            return
        port = self.upstream()
        if port is None:
            self._bad_gateway(request_id)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["X-Forwarded-Proto"] = "http"
        headers["rndr-id"] = request_id
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=UPSTREAM_TIMEOUT)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
        except OSError:
            # Refused, reset or cut off mid-answer: all of them are "could not reach your app".
            self._bad_gateway(request_id)
            return
        finally:
            conn.close()
        self.send_response(resp.status, resp.reason)
        for key, value in resp.getheaders():
            if key.lower() not in HOP_BY_HOP and key.lower() not in ("content-length", "server", "date"):
                self.send_header(key, value)
        self.send_header("rndr-id", request_id)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward

    def _bad_gateway(self, request_id: str) -> None:
        self._answer(502, "Bad Gateway", BAD_GATEWAY_BODY, request_id)

    def _answer(self, status: int, reason: str, page: str, request_id: str) -> None:
        body = page.encode()
        self.send_response(status, reason)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("rndr-id", request_id)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class Edge:
    """The edge server in a daemon thread; `upstream()` gives the backend's port or None when down,
    `suspended()` whether the service is suspended, `maintenance()` whether it is in maintenance
    mode (503 for either, with Render's kind of page)."""

    def __init__(
        self,
        upstream: Callable[[], int | None],
        port: int = 0,
        host: str = "127.0.0.1",
        suspended: Callable[[], bool] = lambda: False,
        maintenance: Callable[[], bool] = lambda: False,
    ) -> None:
        handler = type(
            "BoundEdgeHandler",
            (EdgeHandler,),
            {
                "upstream": staticmethod(upstream),
                "suspended": staticmethod(suspended),
                "maintenance": staticmethod(maintenance),
            },
        )
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="edge", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Edge:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
