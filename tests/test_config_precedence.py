"""Settings precedence through the real `invoke` command:
flag > INVOKE_ONCALL_* environment > `-f` file > invoke.yaml > defaults.

Each case adds one level on top of the previous ones and shows that it wins, for the active target
and for a typed setting (connect_timeout), as `connect --json` reports them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from doctor_support import make_project, target_entry, write_yaml
from fix_invoke import RunInvoke

TARGETS = {name: target_entry() for name in ("from-yaml", "from-file", "from-env", "from-flag")}


def _project(tmp_path: Path, **yaml_settings: Any) -> Path:
    return make_project(tmp_path / "proj", {"targets": TARGETS, **yaml_settings})


def _resolved(  # type: ignore[no-untyped-def]
    run_invoke,
    project: Path,
    core: list[str],
    flags: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> tuple[str, float]:
    """(target, connect_timeout) as `invoke [core] connect --json [flags]` resolves them."""
    # DATABASE_URL is unset on purpose: connect stops at the URL row (exit 2) but still reports
    # which target and timeout it resolved.
    result = run_invoke(*core, "connect", "--json", *flags, env=env or {}, cwd=project)
    assert result.code == 2, result.stderr
    document = result.json()
    return document["target"], document["connect_timeout"]


ENV = {"INVOKE_ONCALL_TARGET": "from-env", "INVOKE_ONCALL_CONNECT_TIMEOUT": "2.5"}
FLAGS = ("--target", "from-flag", "--connect-timeout", "1.5")

# (use a -f file, task flags, environment, expected (target, connect_timeout))
LEVELS = [
    pytest.param((False, (), {}, ("from-yaml", 4.0)), id="invoke.yaml beats the defaults"),
    pytest.param((True, (), {}, ("from-file", 3.0)), id="a -f file beats invoke.yaml"),
    pytest.param((True, (), ENV, ("from-env", 2.5)), id="INVOKE_ONCALL_* variables beat a -f file"),
    pytest.param((True, FLAGS, ENV, ("from-flag", 1.5)), id="task flags beat INVOKE_ONCALL_* variables"),
]


@pytest.mark.parametrize("case", LEVELS)
def test_each_level_beats_the_next(run_invoke, tmp_path, case) -> None:  # type: ignore[no-untyped-def]
    """The highest level that sets target and connect_timeout decides both."""
    with_file, flags, env, expected = case
    # invoke.yaml gives an int on purpose: Invoke itself would cast "2.5" from the environment
    # with int() and crash before any task ran.
    project = _project(tmp_path, target="from-yaml", connect_timeout=4)
    core: list[str] = []
    if with_file:
        runtime = {"oncall": {"target": "from-file", "connect_timeout": 3}}
        core = ["-f", str(write_yaml(tmp_path / "runtime.yaml", runtime))]
    assert _resolved(run_invoke, project, core, flags, env) == expected


def test_defaults_apply_when_nothing_is_set(run_invoke: RunInvoke, tmp_path: Path) -> None:
    """With no level setting it, connect_timeout is the default 5 s."""
    project = _project(tmp_path, target="from-yaml")
    assert _resolved(run_invoke, project, []) == ("from-yaml", 5.0)


def test_no_target_anywhere_is_bad_input_listing_known_ones(run_invoke: RunInvoke, tmp_path: Path) -> None:
    """No target from any level: exit 2, 'no target chosen' and the known targets."""
    project = _project(tmp_path)
    result = run_invoke("connect", cwd=project)
    lines = [line.strip() for line in result.stderr.strip().splitlines()]
    assert result.code == 2
    assert lines[-2:] == [
        "no target chosen",
        "hint: pass --target NAME or set INVOKE_ONCALL_TARGET; known targets: "
        "from-env, from-file, from-flag, from-yaml",
    ]


def test_non_numeric_environment_setting_is_bad_input(run_invoke: RunInvoke, tmp_path: Path) -> None:
    """INVOKE_ONCALL_CONNECT_TIMEOUT=soon: exit 2 naming the variable."""
    project = _project(tmp_path, target="from-yaml")
    result = run_invoke("connect", env={"INVOKE_ONCALL_CONNECT_TIMEOUT": "soon"}, cwd=project)
    assert result.code == 2
    assert "INVOKE_ONCALL_CONNECT_TIMEOUT='soon' is not a duration" in result.stderr


def test_unknown_target_from_the_environment_lists_known_ones(run_invoke: RunInvoke, tmp_path: Path) -> None:
    """INVOKE_ONCALL_TARGET naming no target: exit 2 with the list of targets."""
    project = _project(tmp_path, target="from-yaml")
    result = run_invoke("connect", env={"INVOKE_ONCALL_TARGET": "staging"}, cwd=project)
    assert result.code == 2
    assert "unknown target 'staging'" in result.stderr
    assert "known targets: from-env, from-file, from-flag, from-yaml" in result.stderr
