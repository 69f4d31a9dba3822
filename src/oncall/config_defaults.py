"""The typed defaults of every `oncall.*` setting, and how Invoke may fill them from the environment.

Kept apart from `oncall.config` (whose dataclasses cost milliseconds to create) because the task
namespace needs these at import time, on every `invoke --list` and shell completion.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

ENV_PREFIX = "INVOKE_ONCALL_"

# Every scalar setting with its typed default. Invoke only maps INVOKE_ONCALL_* onto keys that
# exist, and casts by the default's type, so each one is declared here.
DEFAULTS: dict[str, Any] = {
    "target": None,
    "connect_timeout": 5.0,
    "lock_wait": 30.0,
    "lock_timeout": "200ms",
    "statement_timeout": "5min",
    "lock_retries": 10,
    "table_lock_wait": 60.0,
    "run_log": ".oncall/runs.jsonl",
    "state_dir": ".oncall",
    # health --notify (issue 19): the variable that holds the apprise channel URLs (the URLs are
    # secrets, so config names the variable, never the URLs), and when to alert, resolve, remind.
    "notify_urls_env": "ONCALL_NOTIFY_URLS",
    "failure_threshold": 2,
    "success_threshold": 1,
    "remind_every": 0.0,
    # where that state lives: auto (the database on Render or without a writable state_dir), file, database
    "notify_state": "auto",
    "targets": {},
}


def _leave_scalar_env_to_settings() -> None:
    """Stop Invoke from casting the INVOKE_ONCALL_* scalars that `settings()` casts itself.

    Invoke casts an environment value by the type of whatever a config file gave the key, before
    any task runs: `connect_timeout: 4` in invoke.yaml with INVOKE_ONCALL_CONNECT_TIMEOUT=2.5 (or
    =soon) ends in a ValueError traceback from inside Invoke. For these keys Invoke now keeps the
    text, and `settings()` casts it by DEFAULTS, with a BadInput (exit 2) naming the variable.
    There is no hook for this in Invoke (the `invoke` program builds its own Executor), hence the
    narrow wrapper around its private `Environment._path_set`.
    """
    from invoke.env import Environment

    original = Environment._path_set
    if getattr(original, "_oncall_scalars", False):
        return
    scalars = {key for key, default in DEFAULTS.items() if not isinstance(default, dict)}

    def _path_set(self: Environment, key_path: Sequence[str], value: str) -> None:
        if len(key_path) == 2 and key_path[0] == "oncall" and key_path[1] in scalars:
            self.data.setdefault("oncall", {})[key_path[1]] = value
            return
        original(self, key_path, value)

    _path_set._oncall_scalars = True  # type: ignore[attr-defined]
    setattr(Environment, "_path_set", _path_set)  # noqa: B010 - mypy rejects assigning to a method


_leave_scalar_env_to_settings()
