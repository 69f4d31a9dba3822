"""Readable at 80 columns and in a pipe (issue 17, item 4), through the real `invoke`.

run_invoke's stdout is a pipe, so each run here is a piped run; COLUMNS=80 is the narrow terminal
width a user would export. Identifiers (target names, migration versions, deploy and service ids)
must appear whole, and no line may carry a table border.
"""

from __future__ import annotations

from typing import Any

from oncall.sandbox.render_api import RenderStandIn
from render_support import invoke_env, service_id

BORDERS = set("│┃┏┓┗┛┡┩└┘┌┐├┤┬┴┼─━╭╮╰╯")
NARROW = {"COLUMNS": "80"}


def _plain(output: str) -> list[str]:
    lines = output.splitlines()
    for line in lines:
        assert not set(line) & BORDERS, f"a border in piped output: {line!r}"
    return lines


def _whole(identifier: str, lines: list[str]) -> None:
    assert any(identifier in line.split() for line in lines), f"{identifier} is cut or missing"


def test_targets_at_80_columns_keep_every_name_whole(run_invoke: Any) -> None:
    listed = run_invoke("targets", "--json").json()["targets"]
    result = run_invoke("targets", env=NARROW)
    lines = _plain(result.stdout)
    for target in listed:
        _whole(target["name"], lines)
        if target["render_service"]:
            _whole(target["render_service"], lines)


def test_status_at_80_columns_keeps_every_version_whole(run_invoke: Any, pg: Any, secret_scan: Any) -> None:
    secret_scan.add(pg.password)
    env = {"DATABASE_URL": pg.url, **NARROW}
    versions = run_invoke("status", "--json", env=env).json()["pending"]
    assert versions
    lines = _plain(run_invoke("status", env=env).stdout)
    for version in versions:
        assert any(version in line for line in lines), f"{version} is cut"


def test_render_status_at_80_columns_keeps_deploy_ids_whole(api: RenderStandIn, run_invoke: Any) -> None:
    api.start_deploy(service_id(api))
    env = invoke_env(api, api.base_url, **NARROW)
    deploys = run_invoke("render-status", "--json", env=env).json()["deploys"]
    assert deploys
    lines = _plain(run_invoke("render-status", env=env).stdout)
    for deploy in deploys:
        _whole(deploy["id"], lines)
    assert any(service_id(api) in line for line in lines)


def test_a_pipe_without_columns_has_no_fixed_width(run_invoke: Any) -> None:
    """No COLUMNS in a pipe: a long line is not folded at 160 (or any) columns."""
    env = {"COLUMNS": ""}
    result = run_invoke("targets", env=env)
    warnings = run_invoke("targets", "--json").json()["warnings"]
    lines = _plain(result.stdout)
    for warning in warnings:
        assert f"warning: {warning}" in lines
