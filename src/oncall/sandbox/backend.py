"""A small demo backend for each seed system: the app the sandbox's edge proxies to.

Like the real services it checks its tables at start-up with a real query, so a database without
the new migration makes it crash exactly as production did:

    error: relation "ai_usage_logs" does not exist          (turbo-response; exit 1)
    error: relation "ai_usage_records" does not exist       (trdrhub)

The message is PostgreSQL's own (`diag.message_primary`), not a string we made up, so `triage`
reads in the sandbox what it would read in Render's logs. Once the tables exist it serves
`/admin/case/{id}` (the case and its AI usage rows; HTML, or JSON with `Accept: application/json`
or `?format=json`) and `/health`.

    DATABASE_URL=postgresql://... python -m oncall.sandbox.backend --system turbo-response --port 8000
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg

EXIT_CRASH = 1


@dataclass(frozen=True)
class System:
    """What one seed system's backend reads: its start-up check and its case page queries."""

    name: str
    service: str
    startup_check: str
    case_query: str
    usage_query: str


def case_uuid(case_id: int) -> uuid.UUID:
    """trdrhub keys validation sessions by UUID; case N of the demo is the UUID whose integer is N."""
    return uuid.UUID(int=case_id)


SYSTEMS: dict[str, System] = {
    "turbo-response": System(
        name="turbo-response",
        service="turbo-response-backend",
        # The Node app loads usage caps and totals when it boots; both tables come from one migration.
        startup_check="SELECT count(*) FROM ai_usage_logs; SELECT count(*) FROM admin_settings",
        case_query=(
            "SELECT id, client_name, case_type, status, description, created_at FROM cases WHERE id = %s"
        ),
        usage_query=(
            "SELECT analysis_type, tokens_used, estimated_cost, model_used, created_at"
            " FROM ai_usage_logs WHERE case_id = %s ORDER BY id"
        ),
    ),
    "trdrhub": System(
        name="trdrhub",
        service="trdrhub-api",
        startup_check="SELECT count(*) FROM ai_usage_records; SELECT count(*) FROM ai_assist_events",
        case_query=(
            "SELECT s.id, c.name, s.status, u.email, s.created_at FROM validation_sessions s"
            " JOIN companies c ON c.id = s.company_id LEFT JOIN users u ON u.id = s.user_id"
            " WHERE s.id = %s"
        ),
        usage_query=(
            "SELECT feature, tokens_in, tokens_out, estimated_cost_usd, created_at"
            " FROM ai_usage_records WHERE validation_session_id = %s ORDER BY created_at"
        ),
    ),
}


def _key(system: System, case_id: int) -> Any:
    return case_uuid(case_id) if system.name == "trdrhub" else case_id


def startup_check(system: System, database_url: str) -> None:
    """Run the start-up queries; psycopg.Error escapes to `main`, which crashes like the real app."""
    with psycopg.connect(database_url, connect_timeout=5, autocommit=True) as conn:
        for statement in system.startup_check.split("; "):
            conn.execute(statement.encode())


def read_case(system: System, database_url: str, case_id: int) -> dict[str, Any] | None:
    """The case row and its usage rows, as JSON-ready values; None when there is no such case."""
    with psycopg.connect(database_url, connect_timeout=5, autocommit=True) as conn:
        cur = conn.execute(system.case_query.encode(), (_key(system, case_id),))
        row = cur.fetchone()
        if row is None:
            return None
        names = [d.name for d in cur.description or []]
        usage_cur = conn.execute(system.usage_query.encode(), (_key(system, case_id),))
        usage_names = [d.name for d in usage_cur.description or []]
        usage = [dict(zip(usage_names, r, strict=True)) for r in usage_cur.fetchall()]
    return {
        "case": {k: _plain(v) for k, v in zip(names, row, strict=True)},
        "usage": [{k: _plain(v) for k, v in u.items()} for u in usage],
    }


def _plain(value: Any) -> Any:
    return value if isinstance(value, int | float | str | bool) or value is None else str(value)


def render_case_html(system: System, case_id: int, doc: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in doc["case"].items()
    )
    usage = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in u.values()) + "</tr>"
        for u in doc["usage"]
    )
    return (
        f"<!doctype html><title>Case {case_id} - {system.service}</title>"
        f"<h1>Case {case_id}</h1><table>{rows}</table>"
        f"<h2>AI usage ({len(doc['usage'])} rows)</h2><table>{usage}</table>\n"
    )


class Handler(BaseHTTPRequestHandler):
    server_version = "oncall-demo-backend"
    system: System
    database_url: str

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        if path == "/health":
            self._send(200, {"status": "ok", "service": self.system.service})
            return
        prefix = "/admin/case/"
        if path.startswith(prefix) and path[len(prefix) :].isdigit():
            self._case(int(path[len(prefix) :]), parts.query)
            return
        self._send(404, {"error": f"no route for {path}"})

    def _case(self, case_id: int, query: str) -> None:
        try:
            doc = read_case(self.system, self.database_url, case_id)
        except psycopg.Error as exc:
            # A query failing after start-up is logged the way the Node/FastAPI apps log it.
            message = exc.diag.message_primary if isinstance(exc, psycopg.errors.DatabaseError) else None
            print(f"error: {message or exc}", file=sys.stderr, flush=True)
            self._send(500, {"error": "internal server error"})
            return
        if doc is None:
            self._send(404, {"error": f"case {case_id} not found"})
            return
        wants_json = "json" in (self.headers.get("Accept") or "") or parse_qs(query).get("format") == ["json"]
        if wants_json:
            self._send(200, {"id": case_id, **doc})
        else:
            self._send_text(200, render_case_html(self.system, case_id, doc), "text/html; charset=utf-8")

    def _send(self, status: int, doc: dict[str, Any]) -> None:
        self._send_text(status, json.dumps(doc) + "\n", "application/json")

    def _send_text(self, status: int, text: str, content_type: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # One access line per request on stdout, which the supervisor feeds into the service's logs.
        print(f"{self.command} {self.path} {args[1] if len(args) > 1 else ''}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m oncall.sandbox.backend", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--system", choices=sorted(SYSTEMS), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    system = SYSTEMS[args.system]
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url:
        print("error: DATABASE_URL is not set", file=sys.stderr, flush=True)
        return EXIT_CRASH
    print(f"{system.service}: checking tables", flush=True)
    try:
        startup_check(system, database_url)
    except psycopg.Error as exc:
        message = exc.diag.message_primary if isinstance(exc, psycopg.errors.DatabaseError) else None
        print(f"error: {message or str(exc).strip()}", file=sys.stderr, flush=True)
        return EXIT_CRASH
    handler = type("BoundHandler", (Handler,), {"system": system, "database_url": database_url})
    server = ThreadingHTTPServer((args.host, args.port), handler)
    server.daemon_threads = True
    print(f"{system.service}: listening on {args.host}:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
