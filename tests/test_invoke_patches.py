"""Pins of the Invoke internals oncall.tasks._invoke_patches and oncall.tasks._cli rely on.

Each test fails when Invoke changes the private part a patch reaches into, so an Invoke upgrade
that breaks a patch fails here by name rather than as a traceback in front of a user.
"""

from __future__ import annotations

import inspect

import pytest
from invoke.config import Config
from invoke.env import Environment
from invoke.program import Program

import oncall.tasks  # noqa: F401 - installs the patches, as `invoke` does by loading tasks.py
from oncall.tasks._invoke_patches import project_prefix


def test_environment_path_set_has_the_signature_the_patch_wraps() -> None:
    """Invoke still routes each environment value through Environment._path_set(key_path, value)."""
    assert list(inspect.signature(Environment._path_set).parameters) == ["self", "key_path", "value"]
    assert getattr(Environment._path_set, "_oncall_scalars", False)


def test_an_oncall_scalar_from_the_environment_reaches_settings_as_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A config file's int and a non-numeric INVOKE_ONCALL_* value: Invoke keeps the text, no ValueError."""
    monkeypatch.setenv("INVOKE_ONCALL_CONNECT_TIMEOUT", "soon")
    monkeypatch.setenv("INVOKE_ONCALL_LOCK_RETRIES", "3")
    config = Config(defaults={"oncall": {"connect_timeout": 4, "lock_retries": 10}})
    config.load_shell_env()
    assert (config.oncall.connect_timeout, config.oncall.lock_retries) == ("soon", "3")


def test_the_project_location_invoke_sets_is_read_back() -> None:
    """Config.set_project_location (public) still keeps the directory where project_prefix reads it."""
    config = Config()
    assert project_prefix(config) is None
    config.set_project_location("/srv/app")
    assert project_prefix(config) == "/srv/app/"


@pytest.mark.parametrize("method", ["parse_tasks", "update_config"])
def test_the_program_steps_tasks_cli_wraps_are_installed(method: str) -> None:
    """Program.parse_tasks and Program.update_config still exist and carry the exit-2 wrappers."""
    wrapped = getattr(Program, method)
    assert wrapped.__name__ == f"{method}_or_exit_2"
