"""Helpers for the Render tests: a stand-in per test, schema checks, a small app to smoke, env for invoke."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from oncall.render import RenderClient
from oncall.sandbox.render_api import RenderStandIn, Timings

# Render's published schema, in the shared/ folder that sits beside the checkout (as in CI).
SPEC_PATH = Path(__file__).resolve().parents[2] / "shared" / "reference" / "render-openapi.json"
SERVICE = "turbo-response-backend"
# Phases short enough for a test, long enough that a poll sees them.
FAST = Timings(created=0.1, build=0.4, pre_deploy=0.2, update=0.3, job_pending=0.1, job_run=0.3)


def service_id(api: RenderStandIn, name: str = SERVICE) -> str:
    """The id the stand-in gave the service called `name`."""
    return str(next(s["id"] for s in api.services() if s["name"] == name))


def new_key() -> str:
    return "rnd_" + secrets.token_hex(16)


def no_sleep(_seconds: float) -> None:
    """Injected into the client so that retry back-off takes no real time in tests."""


def client_for(api: RenderStandIn, base_url: str, **kwargs: Any) -> RenderClient:
    kwargs.setdefault("sleep", no_sleep)
    return RenderClient(api.api_key, base_url, **kwargs)


def http_for(api: RenderStandIn, base_url: str) -> httpx.Client:
    """A plain httpx client with the stand-in's key, for asserting on raw answers."""
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {api.api_key}"}, timeout=10)


def invoke_env(api: RenderStandIn, base_url: str, **extra: str) -> dict[str, str]:
    """Environment for `run_invoke`: the stand-in's key and address, plus anything else."""
    return {"RENDER_API_KEY": api.api_key, "RENDER_API_URL": base_url, **extra}


# -- schema validation ------------------------------------------------------------------------


@cache
def _spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text())


def _loosen(node: Any) -> Any:
    """OpenAPI 3.0 -> JSON Schema: `nullable` allows null; overlapping `oneOf` becomes `anyOf`.

    Render's spec lists alternatives such as web/private service details and event details in a
    `oneOf` without a discriminator; several alternatives accept the same object (one event
    detail schema is an empty object), so a strict oneOf rejects every real answer. Render's own
    generated clients read these as unions, which is what anyOf expresses.
    """
    if isinstance(node, dict):
        out = {k: _loosen(v) for k, v in node.items() if k != "oneOf"}
        if isinstance(node.get("$ref"), str):
            # The spec points into its own oneOf lists (`.../details/oneOf/7/...`): follow the rename.
            out["$ref"] = node["$ref"].replace("/oneOf/", "/anyOf/")
        if "oneOf" in node:
            out["anyOf"] = _loosen(node["oneOf"])
        if node.get("nullable") is True and "type" in node:
            out["type"] = [node["type"], "null"]
        return out
    if isinstance(node, list):
        return [_loosen(v) for v in node]
    return node


@cache
def _registry() -> Any:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    return Registry().with_resource("urn:render", Resource(_loosen(_spec()), specification=DRAFT202012))


def response_schema(path: str, method: str, status: str = "200") -> dict[str, Any]:
    """The JSON schema of one documented response, as a $ref into the spec."""
    op = _spec()["paths"][path][method.lower()]
    response = op["responses"][status]
    if "$ref" in response:
        pointer = response["$ref"]
        return {"$ref": "urn:render" + pointer + "/content/application~1json/schema"}
    assert "content" in response, f"{method} {path} {status} has no body in the spec"
    escaped = path.replace("~", "~0").replace("/", "~1")
    pointer = f"#/paths/{escaped}/{method.lower()}/responses/{status}/content/application~1json/schema"
    return {"$ref": "urn:render" + pointer}


def validate(body: Any, path: str, method: str = "get", status: str = "200") -> None:
    """Raise jsonschema.ValidationError when `body` does not match the spec's response schema."""
    from jsonschema import Draft202012Validator

    Draft202012Validator(response_schema(path, method, status), registry=_registry()).validate(body)


def error_schema_ok(body: Any) -> None:
    from jsonschema import Draft202012Validator

    schema = {"$ref": "urn:render#/components/schemas/error"}
    Draft202012Validator(schema, registry=_registry()).validate(body)


# -- a tiny backend to smoke ------------------------------------------------------------------


class App:
    """An HTTP app on 127.0.0.1 that answers 502 until `healthy` is set (restart sets it)."""

    def __init__(self, healthy: bool = False) -> None:
        self.healthy = healthy
        self.hits = 0
        app = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                app.hits += 1
                status, body = (200, b"case 11") if app.healthy else (502, b"Bad Gateway")
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @contextmanager
    def serving(self) -> Iterator[App]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
