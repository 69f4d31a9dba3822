"""Bad command lines and bad `-f` files exit 2 with a cause and a hint, like every other bad input.

Invoke's `Program.run` prints a ParseError (unknown flag, missing value) and exits 1, and lets a
flag's failed cast (`--last abc` for an int flag), an invalid YAML/JSON `-f` file and a `-f` file
whose value cannot merge with the defaults (`targets:` as a list) escape as tracebacks. The
`invoke` binary builds its own Program, so a subclass is never used and there is no hook: the one
route is to wrap two of Program's public steps, `parse_tasks` and `update_config`, turning those
errors into `Exit(message, 2)`, which `Program.run` prints and exits with. Installed once, when the
task namespace is imported (before Invoke parses the task flags); pinned by tests/test_bad_input.py.

The same install keeps one flag vocabulary (issue 17). Invoke hands out short flags by the first
free letter in parameter order, so `-t` was `--to` in baseline and `-j` was `--junit` in smoke;
`Task.get_arguments` is wrapped so that `-t` is always `--target` and `-j` always `--json` (and
neither letter means anything else). `ParserContext.help_for` is wrapped so that a flag's value is
named by what it is (`--wait=DURATION`, `--url=URL ...`) instead of STRING, and a repeatable flag
no longer reads as a switch. Pinned by tests/test_flag_vocabulary.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from invoke.config import AmbiguousMergeError
from invoke.exceptions import Exit, ParseError, UnknownFileType
from invoke.parser.argument import Argument
from invoke.parser.context import ParserContext
from invoke.program import Program
from invoke.tasks import Task
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


# The short flag each long flag owns in every task that has it; no other flag may take the letter.
RESERVED_SHORT = {"target": "t", "json": "j"}

# What a flag's value is, by parameter name, for `invoke --help TASK` (Invoke would say STRING).
VALUE_NAMES = {
    "target": "NAME",
    "wait": "DURATION",
    "wait_timeout": "DURATION",
    "timeout": "DURATION",
    "total_timeout": "DURATION",
    "connect_timeout": "DURATION",
    "lock_wait": "DURATION",
    "interval": "DURATION",
    "since": "DURATION",
    "consecutive": "N",
    "concurrency": "N",
    "last": "N",
    "to": "VERSION",
    "version": "VERSION",
    "commit": "SHA",
    "url": "URL",
    "ca_file": "FILE",
    "junit": "FILE",
    "report": "FILE",
    "metrics_file": "FILE",
    "on_render": "COMMAND",
    "from_": "STEP",
    "system": "SYSTEM",
    "only": "NAME",
    "task": "TASK",
    "image": "IMAGE",
    "limit": "N",
    "max_lines": "N",
    "instances": "N",
    "type": "TYPES",
    "level": "LEVELS",
    "text": "TEXT",
    "status_code": "CODE",
    "path": "PATH",
    "state": "on|off",
    "uri": "URL",
    "failure_threshold": "N",
    "success_threshold": "N",
    "remind_every": "DURATION",
    "file": "FILE",
}


def own_short_flags(args: list[Argument]) -> list[Argument]:
    """Give -t to --target and -j to --json; take those letters from every other flag."""
    for arg in args:
        for owner, letter in RESERVED_SHORT.items():
            if arg.name == owner:
                # Only its long name and its letter: an auto-picked `-s` for --json would be noise.
                arg.names = (*(name for name in arg.names if len(name) > 1), letter)
            elif letter in arg.names and arg.name != letter:
                arg.names = tuple(name for name in arg.names if name != letter)
    return args


def _help_with_value_names(context: ParserContext, flag: str) -> tuple[str, str]:
    arg = context.flags[flag]
    value = VALUE_NAMES.get(arg.attr_name or arg.name) or ("STRING" if arg.kind in (str, list) else None)
    names = []
    for name in sorted(context.names_for(flag), key=len):
        if value is None:
            names.append(f"--[no-]{name[2:]}" if name in context.inverse_flags.values() else name)
            continue
        names.append(f"{name} {value}" if len(name.strip("-")) == 1 else f"{name}={value}")
    spec = ", ".join(names) + (" ..." if arg.kind is list else "")
    help_text = arg.help or ""
    if arg.kind is list and "repeatable" not in help_text:
        help_text += " (repeatable)"
    return spec, help_text


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

    get_arguments: Callable[..., list[Argument]] = Task.get_arguments

    def get_arguments_with_vocabulary(self: Task, *args: Any, **kwargs: Any) -> list[Argument]:  # type: ignore[type-arg]
        return own_short_flags(get_arguments(self, *args, **kwargs))

    def help_for(self: ParserContext, flag: str) -> tuple[str, str]:
        return _help_with_value_names(self, flag)

    setattr(Task, "get_arguments", get_arguments_with_vocabulary)  # noqa: B010
    setattr(ParserContext, "help_for", help_for)  # noqa: B010
    parse_tasks_or_exit_2._oncall_exit_2 = True  # type: ignore[attr-defined]
    setattr(Program, "parse_tasks", parse_tasks_or_exit_2)  # noqa: B010 - mypy rejects assigning to a method
    setattr(Program, "update_config", update_config_or_exit_2)  # noqa: B010
