"""Fixture plugin: the real `invoke` command.

`run_invoke("doctor", "--json", env={...})` runs the real `invoke` binary in a subprocess from the
repository root, with a clean INVOKE_* environment, a throw-away HOME and run log, and prints what
it saw (so the secret scan sees it); it returns an InvokeResult.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

from oncall.schema.shadow import stop_shadow

REPO = Path(__file__).resolve().parents[1]
INVOKE = Path(sys.executable).parent / "invoke"


@dataclass
class InvokeResult:
    args: list[str]
    code: int
    stdout: str
    stderr: str
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def clean_env(tmp_home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a subprocess: no INVOKE_*/database/Render settings from the caller."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INVOKE_", "RENDER_", "DATABASE_URL", "DIRECT_DATABASE_URL", "PG"))
    }
    env.update(
        {
            "HOME": str(tmp_home),
            "INVOKE_ONCALL_RUN_LOG": str(tmp_home / "runs.jsonl"),
            "INVOKE_ONCALL_STATE_DIR": str(tmp_home / "state"),
            "COLUMNS": "200",
            "NO_COLOR": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


class RunInvoke(Protocol):
    """The type of the `run_invoke` fixture."""

    def __call__(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 120,
        input: str | None = None,
    ) -> InvokeResult: ...


@pytest.fixture
def run_invoke(tmp_path: Path) -> Iterator[RunInvoke]:
    """Run the real `invoke` command: run_invoke("doctor", "--json", env={...}) -> InvokeResult."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)

    def _run(
        *args: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 120,
        input: str | None = None,
    ) -> InvokeResult:
        full_env = clean_env(home, env)
        proc = subprocess.run(
            [str(INVOKE), *args],
            cwd=cwd or REPO,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
        )
        # Printed so that it is part of the test's captured output, which the secret scan reads.
        print(f"$ invoke {' '.join(args)}  -> exit {proc.returncode}")
        print(f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
        return InvokeResult(list(args), proc.returncode, proc.stdout, proc.stderr, full_env)

    yield _run
    # A verify without the session's shadow server (a test that runs no `pg`) starts the embedded
    # shadow under the run's state dir and leaves it running for the next run: stop it.
    stop_shadow(home / "state")
