"""One flag vocabulary (issue 17, item 2): every task, as `invoke --help TASK` shows it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from oncall.tasks import ns

TASKS = sorted(ns.task_names)
# Tasks that write somewhere outside this machine, and so must offer --dry-run.
WRITERS = (
    "migrate",
    "baseline",
    "resolve",
    "rollback-migration",
    "restart",
    "deploy",
    "recover",
    "rollback",
    "suspend",
    "resume",
    "scale",
    "maintenance",
)


def _options(help_text: str) -> dict[str, str]:
    """`--long` -> the whole spec and help of that option, from the Options: block."""
    block = help_text.split("Options:", 1)[1] if "Options:" in help_text else ""
    entries: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        if re.match(r"^  -", line):
            current = re.findall(r"--(?:\[no-\])?([a-z-]+)", line.split("  ")[1])[-1]
            entries[current] = line.strip()
        elif current and line.strip():
            entries[current] += " " + line.strip()
    return entries


@pytest.fixture(scope="module")
def helps(run_invoke_module: Any) -> dict[str, str]:
    return {name: run_invoke_module("--help", name).stdout for name in TASKS}


@pytest.fixture(scope="module")
def run_invoke_module(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import subprocess

    from fix_invoke import INVOKE, REPO, clean_env

    home = tmp_path_factory.mktemp("home")

    def run(*args: str) -> Any:
        return subprocess.run(
            [str(INVOKE), *args], cwd=REPO, env=clean_env(home), capture_output=True, text=True, check=True
        )

    return run


def test_t_is_target_and_j_is_json_in_every_task(helps: dict[str, str]) -> None:
    """-t means --target and -j means --json wherever they appear; no other flag takes the letters."""
    for name, text in helps.items():
        options = _options(text)
        for long, short in (("target", "-t"), ("json", "-j")):
            owners = [flag for flag, spec in options.items() if re.search(rf"(^|, ){short}( |,|$)", spec)]
            assert owners in ([long], []), f"{name}: {short} is {owners}"
            if long in options:
                assert owners == [long], f"{name}: --{long} has no {short}"


def test_every_value_flag_names_its_value_and_default(helps: dict[str, str]) -> None:
    """A value flag shows what its value is (not STRING) and its default (or that it is required)."""
    for name, text in helps.items():
        for flag, spec in _options(text).items():
            head = spec.split("  ")[0]
            if "=" not in head:
                continue
            assert "=STRING" not in head, f"{name} --{flag}: {head}"
            assert re.search(r"default|required", spec), f"{name} --{flag} does not say its default: {spec}"


def test_every_task_lists_its_exit_codes(helps: dict[str, str]) -> None:
    for name, text in helps.items():
        assert "Exit codes:" in text, f"{name} --help lists no exit codes"
        assert re.search(r"\b0 ", text.split("Exit codes:", 1)[1]), name


@pytest.mark.parametrize("task", WRITERS)
def test_every_task_that_writes_has_dry_run(helps: dict[str, str], task: str) -> None:
    assert "dry-run" in _options(helps[task]), f"{task} has no --dry-run"


def test_a_duration_flag_takes_units(run_invoke: Any) -> None:
    """rollback-migration --lock-wait 5m is a duration (it was a float flag, and 5m a parse error)."""
    result = run_invoke("rollback-migration", "--lock-wait", "5m", "--target", "sandbox")
    assert result.code == 2
    assert "DATABASE_URL is not set" in result.stderr
    bad = run_invoke("rollback-migration", "--lock-wait", "5x", "--target", "sandbox")
    assert bad.code == 2
    assert "--lock-wait" in bad.stderr
