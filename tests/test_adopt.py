"""Adopting oncall in another repository (issue 15, docs/adopt.md): `oncall init`, then the real
`oncall` command from inside the repository: status, plan, migrate, verify."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from alembic_support import HEAD, run_alembic
from fix_invoke import INVOKE, REPO, InvokeResult, clean_env
from formats_support import WRITERS
from oncall.doctor.scaffold import scaffold
from oncall.errors import BadInput

ONCALL = Path(sys.executable).parent / "oncall"
RunOncall = Callable[..., InvokeResult]


@pytest.fixture
def run_oncall(tmp_path: Path) -> RunOncall:
    """Run the real `oncall` console script in `cwd` (never this repository unless asked)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)

    def _run(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> InvokeResult:
        full_env = clean_env(home, env)
        proc = subprocess.run(
            [str(ONCALL), *args],
            cwd=cwd,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        print(f"$ oncall {' '.join(args)}  -> exit {proc.returncode}")
        print(f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
        return InvokeResult(list(args), proc.returncode, proc.stdout, proc.stderr, full_env)

    return _run


def alembic_repo(root: Path) -> Path:
    """A repository built like seed 000's: apps/api/ with alembic.ini, env.py, versions/; render.yaml."""
    shutil.copytree(
        REPO / "examples" / "trdrhub-api", root, ignore=shutil.ignore_patterns(".oncall", "__pycache__")
    )
    return root


def node_repo(root: Path) -> Path:
    """A repository built like seed 001's: a Node app with backend/migrations/*.sql and render.yaml."""
    shutil.copytree(REPO / "examples" / "turbo-response-backend", root)
    (root / "package.json").write_text('{"name": "turbo-response-backend", "private": true}\n')
    return root


def test_init_writes_a_commented_target_per_service_without_secrets(tmp_path: Path, run_oncall, pg) -> None:  # type: ignore[no-untyped-def]
    repo = alembic_repo(tmp_path / "trdrhub")
    result = run_oncall("init", cwd=repo, env={"DIRECT_DATABASE_URL": pg.url})
    assert result.code == 0, result.output
    written = (repo / "oncall.yaml").read_text()
    assert "format: alembic" in written
    assert 'alembic_ini: "apps/api/alembic.ini"' in written
    assert "database_url_env: DIRECT_DATABASE_URL" in written
    assert 'service: "trdrhub-api"' in written
    assert 'url: "/health"' in written
    assert "# render.yaml preDeployCommand: alembic upgrade head" in written
    assert pg.password not in written
    assert result.stdout.strip().endswith("next: oncall doctor")


def test_init_never_overwrites_a_config(tmp_path: Path, run_oncall) -> None:  # type: ignore[no-untyped-def]
    repo = alembic_repo(tmp_path / "trdrhub")
    (repo / "invoke.yaml").write_text("# ours\n")
    result = run_oncall("init", cwd=repo)
    assert result.code == 2
    assert "invoke.yaml already exists" in result.stderr
    assert not (repo / "oncall.yaml").exists()
    assert (repo / "invoke.yaml").read_text() == "# ours\n"


def test_init_with_nothing_to_detect_writes_nothing(tmp_path: Path, run_oncall) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "empty"
    (empty / "src").mkdir(parents=True)
    (empty / "src" / "app.py").write_text("print('hi')\n")
    result = run_oncall("init", cwd=empty)
    assert result.code == 2
    assert "found no migrations" in result.stderr
    assert sorted(p.name for p in empty.iterdir()) == ["src"]


@pytest.mark.parametrize("fmt", [f for f in WRITERS if f != "diesel"])
def test_init_detects_each_format_where_its_tool_keeps_it(fmt: str, tmp_path: Path) -> None:
    folder = WRITERS[fmt](tmp_path)
    made = scaffold(tmp_path, write=False)
    assert f"format: {fmt}" in made.text
    assert f'migrations: "{folder.relative_to(tmp_path).as_posix()}"' in made.text


def test_invoke_init_is_the_same_task(tmp_path: Path, run_invoke) -> None:  # type: ignore[no-untyped-def]
    repo = node_repo(tmp_path / "turbo")
    result = run_invoke("init", "--path", str(repo), "--json")
    assert result.code == 0, result.output
    assert result.json()["targets"] == ["turbo-response-backend"]
    assert (repo / "oncall.yaml").is_file()


def test_oncall_in_this_repository_reads_the_same_config_as_invoke(run_oncall) -> None:  # type: ignore[no-untyped-def]
    """Same keys, same precedence: INVOKE_ONCALL_TARGET picks the active target for both commands."""
    env = {"INVOKE_ONCALL_TARGET": "sandbox-trdrhub"}
    ours = run_oncall("targets", "--json", cwd=REPO / "examples", env=env)
    theirs = subprocess.run(
        [str(INVOKE), "targets", "--json"],
        cwd=REPO,
        env=clean_env(REPO, env),
        capture_output=True,
        text=True,
        check=False,
    )
    assert ours.code == 0, ours.output
    assert json.loads(ours.stdout)["targets"] == json.loads(theirs.stdout)["targets"]
    assert json.loads(ours.stdout)["active"] == "sandbox-trdrhub"


def test_adopting_in_an_alembic_repository(tmp_path: Path, run_oncall, pg, secret_scan) -> None:  # type: ignore[no-untyped-def]
    """docs/adopt.md, Alembic: init, then status, plan, migrate, verify from apps/api; Alembic agrees."""
    secret_scan.add(pg.password)
    repo = alembic_repo(tmp_path / "trdrhub")
    assert run_oncall("init", cwd=repo).code == 0
    api = repo / "apps" / "api"
    env = {"DIRECT_DATABASE_URL": pg.url}
    status = run_oncall("status", cwd=api, env=env)
    assert status.code == 0, status.output
    assert "a7c41e2b9d3f" in status.stdout
    plan = run_oncall("plan", cwd=api, env=env)
    assert "CREATE TABLE ai_usage_records" in plan.stdout
    assert run_oncall("migrate", "--yes", cwd=api, env=env).code == 0
    verify = run_oncall("verify", cwd=api, env=env)
    assert verify.code == 0, verify.output
    assert run_alembic(api / "alembic.ini", pg.url, "current").stdout.strip().endswith(f"{HEAD} (head)")
    secret_scan.check(status.output + plan.output + verify.output)


def test_adopting_in_a_node_repository_with_plain_sql(tmp_path: Path, run_oncall, pg, secret_scan) -> None:  # type: ignore[no-untyped-def]
    """docs/adopt.md, Node + plain SQL: init reads backend/migrations in place; migrate; verify OK."""
    secret_scan.add(pg.password)
    repo = node_repo(tmp_path / "turbo")
    assert run_oncall("init", cwd=repo).code == 0
    assert 'migrations: "backend/migrations"' in (repo / "oncall.yaml").read_text()
    env = {"DATABASE_URL": pg.url}
    backend = repo / "backend"
    status = run_oncall("status", "--check", cwd=backend, env=env)
    assert status.code == 1  # two pending
    plan = run_oncall("plan", cwd=backend, env=env)
    assert "CREATE TABLE IF NOT EXISTS ai_usage_logs" in plan.stdout
    assert run_oncall("migrate", "--yes", cwd=backend, env=env).code == 0
    assert run_oncall("status", "--check", cwd=backend, env=env).code == 0
    verify = run_oncall("verify", cwd=backend, env=env)
    assert verify.code == 0, verify.output
    secret_scan.check(status.output + plan.output + verify.output)


def test_init_library_refuses_a_file_that_exists(tmp_path: Path) -> None:
    repo = node_repo(tmp_path / "turbo")
    (repo / "oncall.yaml").write_text("x: 1\n")
    with pytest.raises(BadInput):
        scaffold(repo)
    assert (repo / "oncall.yaml").read_text() == "x: 1\n"


def test_oncall_outside_any_configured_repository_points_at_init(tmp_path: Path, run_oncall) -> None:  # type: ignore[no-untyped-def]
    result = run_oncall("status", cwd=tmp_path)
    assert result.code == 2
    assert "no targets configured" in result.stderr
    assert "oncall init" in result.stderr


def test_init_runs_alembic_through_poetry_when_the_project_uses_it(tmp_path: Path) -> None:
    """Seed 000's team runs `poetry run alembic upgrade head`: init writes that as alembic_command."""
    repo = alembic_repo(tmp_path / "trdrhub")
    (repo / "apps" / "api" / "pyproject.toml").write_text('[tool.poetry]\nname = "api"\n')
    made = scaffold(repo, write=False)
    assert "\n      alembic_command: poetry run alembic" in made.text
    plain = scaffold(alembic_repo(tmp_path / "plain"), write=False)
    assert "      # alembic_command: poetry run alembic" in plain.text


def test_oncall_with_a_config_file_elsewhere_takes_paths_from_its_folder(
    tmp_path: Path, run_oncall, pg
) -> None:  # type: ignore[no-untyped-def]
    """-f/--config FILE and no config above the working directory: FILE's folder is the project folder."""
    repo = node_repo(tmp_path / "turbo")
    assert scaffold(repo).targets == ["turbo-response-backend"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_oncall(
        "--config", str(repo / "oncall.yaml"), "status", cwd=elsewhere, env={"DATABASE_URL": pg.url}
    )
    assert result.code == 0, result.output
    assert "20251110_add_usage_tracking" in result.stdout
