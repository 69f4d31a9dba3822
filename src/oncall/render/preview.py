"""`restart --dry-run` and `deploy --dry-run`: the exact Render API call, without making it.

The service is looked up (a read-only GET) so that the call shows the real srv- id; the write
itself is only described: method, full URL and JSON body. The API key is never part of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from oncall.config import Target
from oncall.render.client import RenderClient, deploy_body
from oncall.render.ops import client_for, service_of, where


@dataclass(frozen=True)
class PlannedCall:
    """One write the task would send, as it would go on the wire."""

    method: str
    url: str
    body: dict[str, Any] | None
    service: dict[str, Any]
    api_calls: int

    def line(self) -> str:
        body = f" {json.dumps(self.body, sort_keys=True)}" if self.body is not None else ""
        return f"{self.method} {self.url}{body}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "code": 0,
            "dry_run": True,
            "request": {"method": self.method, "url": self.url, "body": self.body},
            "service": {"id": self.service.get("id"), "name": self.service.get("name")},
            "api_calls": self.api_calls,
            "message": f"would send {self.line()} ({where(self.service)})",
        }


def planned_restart(target: Target, client: RenderClient | None = None) -> PlannedCall:
    with client_for(client) as api:
        service = service_of(target, api)
        url = f"{api.base_url}/services/{service['id']}/restart"
        return PlannedCall("POST", url, None, service, api.total_calls)


def planned_deploy(
    target: Target,
    *,
    clear_cache: bool,
    commit: str | None,
    image: str | None = None,
    client: RenderClient | None = None,
) -> PlannedCall:
    with client_for(client) as api:
        service = service_of(target, api)
        url = f"{api.base_url}/services/{service['id']}/deploys"
        body = deploy_body(clear_cache=clear_cache, commit_id=commit, image_url=image)
        return PlannedCall("POST", url, body, service, api.total_calls)
