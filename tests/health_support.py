"""Helpers for the health, recover, runs and chain tests: small real servers and a scratch project.

- `WebhookReceiver`: a Slack-compatible incoming webhook on 127.0.0.1 that counts POSTs.
- `PageServer`: a backend page whose status can be switched (200, 502 with Render's body, a hang).
- `scratch_project`: a directory with its own tasks.py and invoke.yaml, so `invoke health --all`
  sees only the targets a test configures (never the production ones in the repo's invoke.yaml).
- `parse_prometheus_text`: a strict reader of the text exposition format (0.0.4).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BAD_GATEWAY_BODY = "<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>"


class _Server(ThreadingHTTPServer):
    daemon_threads = True


@dataclass
class WebhookReceiver:
    """Counts and keeps every JSON body POSTed to it; answers `status` (200 by default)."""

    status: int = 200
    posts: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    url: str = ""

    @property
    def count(self) -> int:
        return len(self.posts)

    def texts(self) -> list[str]:
        return [str(p.get("text", "")) for p in self.posts]


@contextmanager
def webhook_receiver(
    path: str = "/services/T000/B000/hook-token-xyz", *, tls: Any = None
) -> Iterator[WebhookReceiver]:
    """A POST receiver on 127.0.0.1; with `tls` (a trustme leaf certificate) it serves https."""
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver.paths.append(self.path)
            receiver.posts.append(json.loads(body or b"{}"))
            self.send_response(receiver.status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            return

    server = _Server(("127.0.0.1", 0), Handler)
    scheme = "http"
    if tls is not None:
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.configure_cert(context)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    receiver.url = f"{scheme}://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class PageServer:
    """A backend that answers every GET with `status` (502 uses Render's body); `hang` never answers."""

    status: int = 200
    hang: bool = False
    hits: int = 0
    url: str = ""
    _release: threading.Event = field(default_factory=threading.Event)


@contextmanager
def page_server(status: int = 200) -> Iterator[PageServer]:
    page = PageServer(status=status)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            page.hits += 1
            if page.hang:
                page._release.wait(60)
                return
            body = (BAD_GATEWAY_BODY if page.status == 502 else '{"status": "ok"}').encode()
            self.send_response(page.status)
            self.send_header("Content-Type", "text/html" if page.status == 502 else "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = _Server(("127.0.0.1", 0), Handler)
    page.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield page
    finally:
        page._release.set()
        server.shutdown()
        server.server_close()


def target_entry(
    *,
    system: str = "turbo-response",
    database_url_env: str = "DATABASE_URL",
    base_url_env: str | None = "APP_URL",
    render_service: str | None = None,
    production: bool = False,
    smoke_path: str = "/admin/case/11",
) -> dict[str, Any]:
    """One target entry for invoke.yaml, pointing at the repo's real sql/ sets."""
    trdrhub = system == "trdrhub"
    entry: dict[str, Any] = {
        "system": system,
        "migrations": str(REPO / "sql" / "trdrhub")
        if trdrhub
        else str(REPO / "examples/turbo-response-backend/backend/migrations"),
        "ledger": "alembic" if trdrhub else "oncall",
        "database_url_env": database_url_env,
        "production": production,
        "smoke": [
            {
                "name": "page",
                "url": smoke_path,
                "conditions": {"status": "2xx", "body_not_contains": "Bad Gateway", "max_ms": 5000},
            }
        ],
    }
    if base_url_env:
        entry["base_url_env"] = base_url_env
    if render_service:
        entry["render"] = {"service": render_service}
    return entry


def scratch_project(root: Path, targets: Mapping[str, Mapping[str, Any]], active: str | None = None) -> Path:
    """A project directory whose invoke.yaml configures exactly `targets`; returns it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "tasks.py").write_text("from oncall.tasks import ns\n\n__all__ = ['ns']\n", encoding="utf-8")
    config = {"oncall": {"target": active or next(iter(targets)), "targets": dict(targets)}}
    # JSON is valid YAML, and needs no YAML library here.
    (root / "invoke.yaml").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return root


# ------------------------------------------------------------------ Prometheus text exposition

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
_SAMPLE = re.compile(
    rf"^(?P<name>{_NAME})(?:\{{(?P<labels>(?:{_LABEL})(?:,{_LABEL})*)?,?\}})?"
    rf" (?P<value>\S+)(?: (?P<ts>-?\d+))?$"
)
_HELP = re.compile(rf"^# HELP (?P<name>{_NAME}) (?P<text>.*)$")
_TYPE = re.compile(rf"^# TYPE (?P<name>{_NAME}) (?P<type>counter|gauge|histogram|summary|untyped)$")
_ONE_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


@dataclass
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], value)


def parse_prometheus_text(text: str) -> tuple[dict[str, str], list[Sample]]:
    """Parse exposition text strictly: returns ({family: type}, samples); AssertionError if malformed.

    Checked: every line is a HELP, TYPE or sample line; a family's TYPE comes before its samples and
    at most once; all samples of a family are contiguous; label values are properly escaped; values
    are floats; no duplicate series; the text ends with a newline.
    """
    assert text.endswith("\n"), "the exposition must end with a newline"
    types: dict[str, str] = {}
    samples: list[Sample] = []
    seen_series: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    finished_families: set[str] = set()
    current: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        assert line == line.strip(), f"line {number}: stray whitespace"
        assert line, f"line {number}: empty line"
        if line.startswith("#"):
            help_match, type_match = _HELP.match(line), _TYPE.match(line)
            assert help_match or type_match, (
                f"line {number}: a comment that is neither HELP nor TYPE: {line!r}"
            )
            name = (help_match or type_match).group("name")  # type: ignore[union-attr]
            assert name not in finished_families, f"line {number}: family {name} continues after another"
            if type_match:
                assert name not in types, f"line {number}: second TYPE for {name}"
                assert not any(s.name == name for s in samples), (
                    f"line {number}: TYPE after samples of {name}"
                )
                types[name] = type_match.group("type")
            if current is not None and current != name:
                finished_families.add(current)
            current = name
            continue
        match = _SAMPLE.match(line)
        assert match, f"line {number}: not a sample line: {line!r}"
        name = match.group("name")
        assert name in types, f"line {number}: sample of {name} without a TYPE"
        if current != name:
            assert name not in finished_families, f"line {number}: samples of {name} are not contiguous"
            if current is not None:
                finished_families.add(current)
            current = name
        labels = {key: _unescape(value) for key, value in _ONE_LABEL.findall(match.group("labels") or "")}
        raw = match.group("value")
        value = float(raw) if raw not in ("+Inf", "-Inf", "NaN") else float(raw.replace("Inf", "inf"))
        assert not math.isnan(value) or raw == "NaN", f"line {number}: bad value {raw!r}"
        series = (name, tuple(sorted(labels.items())))
        assert series not in seen_series, f"line {number}: duplicate series {series}"
        seen_series.add(series)
        samples.append(Sample(name, labels, value))
    return types, samples


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.05) -> bool:
    """Poll `predicate` until true or `timeout` seconds pass (a generous bound, never asserted on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def load_target(project: Path, name: str):  # type: ignore[no-untyped-def]
    """The Target `name` as the project's invoke.yaml configures it (no INVOKE_ONCALL_* applied)."""
    from oncall.config import resolve_target

    config = json.loads((project / "invoke.yaml").read_text(encoding="utf-8"))["oncall"]
    return resolve_target(config, name, root=project, environ={})


def migrate_target(project: Path, name: str, database_url: str, to: str | None = None) -> None:
    """Apply the target's migrations (up to `to`) with oncall's own migrate, quietly."""
    import io

    from oncall.migrations.run import migrate
    from oncall.output import Output

    quiet = Output(stdout=io.StringIO(), stderr=io.StringIO())
    migrate(load_target(project, name), database_url, quiet, yes=True, to=to, write_run_log=False)


def closed_port_url(pg_url: str) -> str:
    """The same URL with the port of a socket nobody listens on (a database that is down)."""
    from urllib.parse import urlsplit, urlunsplit

    from oncall.sandbox.pg import free_port

    parts = urlsplit(pg_url)
    netloc = parts.netloc.rsplit(":", 1)[0] + f":{free_port()}"
    return urlunsplit(parts._replace(netloc=netloc))


# ------------------------------------------------------------------ the sandbox, for chain and recover


SANDBOX_TARGETS = {"turbo-response": "sandbox", "trdrhub": "sandbox-trdrhub"}
# The Render service each seed system plays in the sandbox.
SERVICES = {"turbo-response": "turbo-response-backend", "trdrhub": "trdrhub-api"}
DAMAGE = {
    # A column type verify compares and migrate never touches again (CREATE TABLE IF NOT EXISTS).
    "turbo-response": ("cases", "client_email", "text", "varchar(255)"),
    "trdrhub": ("users", "email", "text", "varchar(255)"),
}


def start_sandbox(run_invoke: Any, directory: Path, system: str, secret_scan: Any) -> dict[str, str]:
    """`invoke sandbox.up --system S` in `directory`; returns the env its tasks need (secrets registered)."""
    from urllib.parse import unquote, urlsplit

    from oncall.sandbox import manager

    up = run_invoke("sandbox.up", "--system", system, env={manager.SANDBOX_DIR_ENV: str(directory)})
    assert up.code == 0, up.stderr
    env = manager.read_env(directory)
    password = urlsplit(env["DATABASE_URL"]).password or ""
    secret_scan.add(env["RENDER_API_KEY"], password, unquote(password))
    return {**env, manager.SANDBOX_DIR_ENV: str(directory)}


def stop_sandbox(directory: Path) -> None:
    from oncall.sandbox import manager

    manager.down(REPO, environ={manager.SANDBOX_DIR_ENV: str(directory)})


def damage_schema(env: Mapping[str, str], system: str, *, undo: bool = False) -> None:
    """Change (or restore) one column type so that verify fails after a successful migrate."""
    import psycopg

    table, column, broken, right = DAMAGE[system]
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {right if undo else broken}".encode())


def restarts_seen(env: Mapping[str, str], service: str) -> int:
    """How many restarts the sandbox's Render stand-in recorded for `service` (its event log)."""
    from oncall.render import RenderClient

    with RenderClient.from_env(env) as client:
        sid = str(client.find_service(service)["id"])
        return sum(1 for e in client.list_events(sid, limit=100) if e.get("type") == "server_restarted")


def page_status(env: Mapping[str, str], path: str = "/admin/case/11") -> int:
    """The status the sandbox's edge answers for `path` right now."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(env["ONCALL_SANDBOX_URL"] + path, timeout=10) as resp:  # noqa: S310
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def run_log_tasks(env: Mapping[str, str]) -> list[str]:
    """The task of every record in the run log a run_invoke subprocess wrote, oldest first."""
    path = Path(env["INVOKE_ONCALL_RUN_LOG"])
    if not path.exists():
        return []
    return [json.loads(line)["task"] for line in path.read_text().splitlines() if line.strip()]


def legacy_alert_state(fail_streak: int) -> dict[str, Any]:
    """An alert state as oncall wrote it before channels had their own record: one alert open, told
    per target (`notified`), with no `channels` key."""
    return {
        "status": "failing",
        "since": "2026-11-30T11:00:00+00:00",
        "code": 1,
        "failing": ["smoke"],
        "notified": True,
        "updated": "2026-11-30T11:50:00+00:00",
        "fail_streak": fail_streak,
        "pass_streak": 0,
        "last_sent": "2026-11-30T11:10:00+00:00",
    }
