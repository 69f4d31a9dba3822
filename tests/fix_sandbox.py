"""Fixture plugin: the local stand-ins, a sandbox directory and the Render API stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from fix_secrets import SecretScan
from sandbox_support import server_dir

if TYPE_CHECKING:
    from oncall.sandbox.render_api import RenderStandIn


@pytest.fixture
def sandbox_dir() -> Iterator[Path]:
    """A sandbox directory for one test (chain and recover tests), taken down afterwards."""
    from health_support import stop_sandbox

    with server_dir("sandbox") as directory:
        yield directory
        stop_sandbox(directory)


@pytest.fixture
def api(secret_scan: SecretScan) -> Iterator[RenderStandIn]:
    """A Render stand-in with one service (render_support.SERVICE) on fast timings; its key is scanned for."""
    from oncall.sandbox.render_api import RenderStandIn, make_service
    from render_support import FAST, SERVICE, new_key

    standin = RenderStandIn(api_key=new_key(), services=[make_service(SERVICE)], timings=FAST)
    secret_scan.add(standin.api_key)
    with standin:
        yield standin
