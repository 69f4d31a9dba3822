"""Bad command lines and bad `-f` files exit 2 with a cause and a hint, like every other bad input.

Invoke's `Program.run` prints a ParseError (unknown flag, missing value) and exits 1, and lets a
flag's failed cast (`--last abc` for an int flag), an invalid YAML/JSON `-f` file and a `-f` file
whose value cannot merge with the defaults (`targets:` as a list) escape as tracebacks. The
`invoke` binary builds its own Program, so a subclass is never used and there is no hook: the one
route is to wrap two of Program's public steps, `parse_tasks` and `update_config`, turning those
errors into `Exit(message, 2)`, which `Program.run` prints and exits with. Installed once, when the
task namespace is imported (before Invoke parses the task flags); pinned by tests/test_bad_input.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from invoke.config import AmbiguousMergeError
from invoke.exceptions import Exit, ParseError, UnknownFileType
from invoke.program import Program
from invoke.util import yaml  # type: ignore[attr-defined]  # the YAML Invoke itself loads -f with

from oncall.errors import ExitCode

BAD_INPUT = int(ExitCode.BAD_INPUT)
FLAG_HINT = "run `invoke --help TASK` for the task's flags and their values"


def _bad_flags(exc: Exception) -> Exit:
    return Exit(f"{exc}\n  hint: {FLAG_HINT}", BAD_INPUT)


def _conflicting_key(base: Any, new: Any, path: str = "") -> str | None:
    """'key X is a list where a mapping is expected' for the first key whose shape differs from `base`."""
    for key in new:
        if key not in base:
            continue
        here = f"{path}.{key}" if path else str(key)
        base_is_map, new_is_map = hasattr(base[key], "keys"), hasattr(new[key], "keys")
        if base_is_map != new_is_map:
            expected = "a mapping" if base_is_map else f"a single {type(base[key]).__name__}"
            return f"key {here} is a {type(new[key]).__name__} where {expected} is expected"
        if base_is_map:
            found = _conflicting_key(base[key], new[key], here)
            if found:
                return found
    return None


def _read_config_file(path: str) -> Any:
    with Path(path).open(encoding="utf-8") as handle:
        return json.load(handle) if path.endswith(".json") else yaml.safe_load(handle)  # type: ignore[no-untyped-call]


def _bad_config_file(program: Program, path: str, exc: Exception) -> Exit:
    if isinstance(exc, AmbiguousMergeError):
        try:
            data = _read_config_file(path)
        except (OSError, ValueError, yaml.YAMLError):
            data = None
        key = _conflicting_key(program.config, data) if isinstance(data, Mapping) else None
        cause = f"config file {path}: {key or 'a value cannot merge with the defaults'}"
        hint = "write it as in docs/config.md: `targets:` maps target names to their settings"
    elif isinstance(exc, UnknownFileType):
        cause = f"config file {path} is not .yaml, .yml, .json or .py"
        hint = "name the -f file FILE.yaml"
    else:
        first = str(exc).strip().splitlines()
        cause = f"config file {path} is not valid: {' '.join(line.strip() for line in first[:4])}"
        hint = "fix the file's syntax (YAML: indent with spaces, close every bracket and quote)"
    return Exit(f"{cause}\n  hint: {hint}", BAD_INPUT)


def _runtime_file(program: Program) -> str | None:
    value = program.args["config"].value
    return str(value) if value else None


def install() -> None:
    """Wrap Program.parse_tasks and Program.update_config once (idempotent)."""
    parse_tasks: Callable[[Program], None] = Program.parse_tasks
    update_config: Callable[..., None] = Program.update_config
    if getattr(parse_tasks, "_oncall_exit_2", False):
        return

    def parse_tasks_or_exit_2(self: Program) -> None:
        try:
            parse_tasks(self)
        except (ParseError, ValueError) as exc:  # ValueError: a typed flag's cast, e.g. int('abc')
            raise _bad_flags(exc) from None

    def update_config_or_exit_2(self: Program, merge: bool = True) -> None:
        path = _runtime_file(self)
        if path and not Path(path).is_file():
            # Invoke skips a missing -f file silently; the settings the user meant would be lost.
            raise Exit(
                f"config file {path} does not exist or is not a file\n  hint: check the path given to -f",
                BAD_INPUT,
            )
        try:
            update_config(self, merge)
        except (ValueError, yaml.YAMLError, UnknownFileType, OSError) as exc:
            raise _bad_config_file(self, path or "(-f)", exc) from None

    parse_tasks_or_exit_2._oncall_exit_2 = True  # type: ignore[attr-defined]
    setattr(Program, "parse_tasks", parse_tasks_or_exit_2)  # noqa: B010 - mypy rejects assigning to a method
    setattr(Program, "update_config", update_config_or_exit_2)  # noqa: B010
