"""The places where we reach into Invoke's private parts, each because no public route exists.

Kept here, in the task layer, installed explicitly by `oncall.tasks` (never as a side effect of
importing a library module), and pinned by tests/test_invoke_patches.py, which fails when the
Invoke internals they rely on change underneath:

- `Environment._path_set`: Invoke casts an INVOKE_ONCALL_* value by the type a config file gave
  its key, before any task runs, so `connect_timeout: 4` in invoke.yaml with
  INVOKE_ONCALL_CONNECT_TIMEOUT=soon ends in a ValueError traceback from inside Invoke. The
  `invoke` program builds its own Executor and Config, so there is no hook. For our scalar keys
  Invoke now keeps the text, and `oncall.config.settings()` casts it by DEFAULTS, with a BadInput
  (exit 2) naming the variable.
- `Config._project_prefix`: where the tasks.py Invoke loaded lives (relative paths in config are
  taken from it). Invoke sets it with the public `set_project_location` but offers no getter, and
  the Collection's public `loaded_from` is on a copy the task never sees.

(The exit-2 wrapper of `Program.parse_tasks`/`update_config` lives in `oncall.tasks._cli`.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from invoke.config import Config
from invoke.env import Environment

from oncall.config_defaults import DEFAULTS


def install() -> None:
    """Install the patches (idempotent)."""
    leave_scalar_env_to_settings()


def leave_scalar_env_to_settings() -> None:
    """Make Invoke keep the text of INVOKE_ONCALL_* scalars; `oncall.config.settings()` casts them."""
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


def project_prefix(config: Config | Any) -> str | None:
    """The directory (with a trailing separator) of the tasks.py Invoke loaded, if it loaded one."""
    prefix = getattr(config, "_project_prefix", None)
    return str(prefix) if prefix else None
