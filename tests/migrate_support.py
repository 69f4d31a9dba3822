"""Helpers for the migrate tests: custom migration sets in tmp dirs, targets, `-f` config files."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from oncall.config import Target
from oncall.report import Output

REPO = Path(__file__).resolve().parents[1]
TURBO = REPO / "sql" / "turbo-response"
TRDRHUB = REPO / "sql" / "trdrhub"


def make_set(folder: Path, files: dict[str, str]) -> Path:
    """Write migration files (name -> SQL, dedented) into `folder` and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (folder / name).write_text(textwrap.dedent(sql).lstrip(), encoding="utf-8")
    return folder


def target(folder: Path, tmp: Path, *, ledger: str = "oncall", **overrides: Any) -> Target:
    """A Target over `folder` for library calls, with its run log under `tmp`."""
    settings: dict[str, Any] = {
        "name": "t",
        "system": "t",
        "migrations_dir": folder,
        "ledger": ledger,
        "run_log": tmp / "runs.jsonl",
        "state_dir": tmp / "state",
        "lock_wait": 10.0,
    }
    settings.update(overrides)
    return Target(**settings)


def quiet() -> Output:
    """An Output whose human text is collected in memory (readable as .stdout.getvalue())."""
    import io

    return Output(json_mode=False, stdout=io.StringIO(), stderr=io.StringIO())


def write_config(path: Path, targets: dict[str, dict[str, Any]], **settings: Any) -> Path:
    """A runtime config file for `invoke -f`: JSON is valid YAML, so no YAML writer is needed."""
    path.write_text(json.dumps({"oncall": {**settings, "targets": targets}}), encoding="utf-8")
    return path


def invoke_args(config: Path, *args: str) -> list[str]:
    return ["-f", str(config), *args]
