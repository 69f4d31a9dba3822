"""Every bad input is a clean error: exit 2, one line of cause naming the value, a hint, no traceback.

Issue 12, section 4. Each case ran into a traceback, "internal error" (exit 1), a hang or a wrong
exit code before. The CLI cases run the real `invoke`; none of them needs a database, because a
bad input must be found before anything connects (the URLs point at a closed port on 127.0.0.1).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from oncall.config import resolve_target
from oncall.durations import MAX_SECONDS, parse_count, parse_duration
from oncall.errors import BadInput
from oncall.runlog import load_runs
from render_support import invoke_env

# Nothing listens on the discard port; a run that gets as far as connecting fails with exit 3, not 2.
CLOSED_URL = "postgresql://app:not-a-secret@127.0.0.1:9/app"


def assert_bad_input(result: Any, *named: str) -> None:
    """Exit 2, the named values in the message, a hint, and no Python traceback."""
    assert result.code == 2, result.output
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    assert "hint:" in result.stderr
    for value in named:
        assert value in result.stderr


def write_config(tmp_path: Path, oncall: dict[str, Any] | str) -> str:
    """A runtime config file for `invoke -f`: the `oncall` mapping as YAML (JSON is YAML), or raw text."""
    path = tmp_path / "runtime.yaml"
    text = oncall if isinstance(oncall, str) else json.dumps({"oncall": oncall})
    path.write_text(text, encoding="utf-8")
    return str(path)


def sandbox_with(**keys: Any) -> dict[str, Any]:
    """The repo's sandbox target (from invoke.yaml) with these keys added or replaced."""
    return {"targets": {"sandbox": keys}}


# -- config files and config values ------------------------------------------------------------

CONFIG_CASES = [
    pytest.param(
        "oncall: [unclosed\n", ["runtime.yaml", "not valid"], id="invalid YAML in -f names the file"
    ),
    pytest.param(
        {"targets": ["a", "b"]}, ["oncall.targets", "list", "mapping"], id="targets given as a list is named"
    ),
    pytest.param(sandbox_with(smoke="/health"), ["smoke", "'/health'", "list"], id="smoke given as a string"),
    pytest.param({"connect_timeout": "soon"}, ["connect_timeout", "'soon'"], id="connect_timeout soon"),
    pytest.param({"lock_retries": -1}, ["lock_retries", "-1"], id="negative lock_retries"),
    pytest.param(
        sandbox_with(productoin=True),
        ["'productoin'", "target sandbox", "did you mean 'production'"],
        id="an unknown target key names the closest known key",
    ),
    pytest.param(
        {"lock_retires": 3}, ["'lock_retires'", "did you mean 'lock_retries'"], id="an unknown global key"
    ),
    pytest.param(
        sandbox_with(render={"servcie": "x"}),
        ["'servcie'", "did you mean 'service'"],
        id="an unknown render key",
    ),
    pytest.param(
        {"statement_timeout": "banana"},
        ["statement_timeout", "'banana'"],
        id="a bad statement_timeout setting is named, not blamed on a migration",
    ),
    pytest.param(
        sandbox_with(smoke=[{"url": "/x", "conditions": {"status": "200-100"}}]),
        ["'200-100'"],
        id="a reversed status range",
    ),
]


@pytest.mark.parametrize(("config", "named"), CONFIG_CASES)
def test_a_bad_config_file_exits_2_naming_the_value(
    run_invoke: Any, tmp_path: Path, config: dict[str, Any] | str, named: list[str]
) -> None:
    """A bad -f file is found before anything connects."""
    path = write_config(tmp_path, config)
    command = "smoke" if "200-100" in json.dumps(config) else "status"
    env = {"DATABASE_URL": CLOSED_URL, "ONCALL_SANDBOX_URL": "http://127.0.0.1:9"}
    assert_bad_input(run_invoke("-f", path, command, "--target", "sandbox", env=env), *named)


def test_a_missing_config_file_exits_2(run_invoke: Any, tmp_path: Path) -> None:
    """Invoke skips a missing -f file silently; the settings meant would be lost, so it is an error."""
    result = run_invoke("-f", str(tmp_path / "nope.yaml"), "status", env={"DATABASE_URL": CLOSED_URL})
    assert_bad_input(result, "nope.yaml")


@pytest.mark.parametrize("value", ["nan", "inf", "soon"], ids=lambda v: f"INVOKE_ONCALL_CONNECT_TIMEOUT={v}")
def test_a_bad_connect_timeout_variable_exits_2(run_invoke: Any, value: str) -> None:
    """The variable and its value are named."""
    env = {"DATABASE_URL": CLOSED_URL, "INVOKE_ONCALL_CONNECT_TIMEOUT": value}
    assert_bad_input(run_invoke("status", env=env), f"INVOKE_ONCALL_CONNECT_TIMEOUT={value!r}")


def test_unknown_keys_are_found_in_every_target(tmp_path: Path) -> None:
    """A typo in a target other than the chosen one is still an error: it is found on the first run."""
    layered = {
        "targets": {
            "a": {"migrations": "sql/a"},
            "b": {"migrations": "sql/b", "productoin": True},
        }
    }
    with pytest.raises(BadInput, match="'productoin' in target b; did you mean 'production'"):
        resolve_target(layered, "a", root=tmp_path, environ={})


# -- flags -------------------------------------------------------------------------------------

FLAG_CASES = [
    pytest.param(["runs", "--last", "abc"], ["--last", "'abc'"], id="runs --last given text"),
    pytest.param(["deploy", "--timeout", "x"], ["--timeout", "'x'"], id="deploy --timeout given text"),
    pytest.param(
        ["smoke", "--consecutive", "x"], ["--consecutive", "'x'"], id="smoke --consecutive given text"
    ),
    pytest.param(["smoke", "--consecutive", "0"], ["--consecutive", "0"], id="smoke --consecutive 0"),
    pytest.param(["health", "--timeout", "x"], ["--timeout", "'x'"], id="health --timeout given text"),
    pytest.param(["recover", "--wait", "x"], ["--wait", "'x'"], id="recover --wait given text"),
    pytest.param(["recover", "--wait", "inf"], ["--wait", "'inf'"], id="recover --wait inf"),
    pytest.param(["migrate", "--lock-wait", "nan"], ["--lock-wait", "'nan'"], id="migrate --lock-wait nan"),
    pytest.param(
        ["triage", "--since", "99999999999d"], ["--since", "99999999999d", "30 days"], id="an absurd --since"
    ),
    pytest.param(["runs", "--bogus"], ["--bogus"], id="an unknown flag exits 2, not 1"),
    pytest.param(["runs", "--last"], ["last"], id="a flag without its value exits 2"),
]


@pytest.mark.parametrize(("args", "named"), FLAG_CASES)
def test_a_bad_flag_exits_2_naming_it(run_invoke: Any, args: list[str], named: list[str]) -> None:
    """Checked before any target work: nothing connects, nothing is sent."""
    env = {
        "DATABASE_URL": CLOSED_URL,
        "RENDER_API_KEY": "rnd_not_used",
        "RENDER_API_URL": "http://127.0.0.1:9",
    }
    assert_bad_input(run_invoke(*args, "--target", "sandbox", env=env), *named)


def test_smoke_wait_nan_exits_2_instead_of_polling_forever(run_invoke: Any) -> None:
    """`--wait nan` made the deadline never pass."""
    result = run_invoke("smoke", "--wait", "nan", "--url", "http://127.0.0.1:9/", timeout=60)
    assert_bad_input(result, "--wait", "'nan'")


def test_restart_with_a_negative_wait_restarts_nothing(api: Any, run_invoke: Any) -> None:
    """`restart --wait-timeout -1` used to restart the service and then fail its wait."""
    result = run_invoke(
        "restart", "--target", "sandbox", "--wait-timeout", "-1", env=invoke_env(api, api.base_url)
    )
    assert_bad_input(result, "--wait-timeout", "-1")
    assert sum(api.restarts.values()) == 0


def test_restart_takes_a_wait_timeout_with_a_unit(api: Any, run_invoke: Any) -> None:
    """`--wait-timeout 5m` was an int() traceback; it is five minutes."""
    env = invoke_env(api, api.base_url)
    result = run_invoke("restart", "--target", "sandbox", "--wait-timeout", "5m", "--no-wait", env=env)
    assert result.code == 0, result.output
    assert sum(api.restarts.values()) == 1


# -- URLs --------------------------------------------------------------------------------------

URL_CASES = [
    pytest.param("http://[::1/x", ["'http://[::1/x'", "IPv6"], id="a smoke URL with a bad IPv6 literal"),
    pytest.param(
        "http://127.0.0.1:9/a\r\nX-Injected: 1", ["control characters"], id="a smoke URL with CR LF"
    ),
    pytest.param("not a url", ["'not a url'"], id="a smoke URL that is words, not a path"),
    pytest.param("health", ["'health'", "path starting with /"], id="a smoke path without its leading slash"),
]


@pytest.mark.parametrize(("url", "named"), URL_CASES)
def test_a_bad_smoke_url_exits_2(run_invoke: Any, url: str, named: list[str]) -> None:
    """Refused before any request; a CR/LF never reaches a request line (nor a second output line)."""
    result = run_invoke("smoke", "--url", url, env={"ONCALL_SANDBOX_URL": "http://127.0.0.1:9"})
    assert_bad_input(result, *named)
    assert "X-Injected: 1\n" not in result.stderr


DATABASE_URL_CASES = [
    pytest.param(
        "postgresql://app:pa%zzss@127.0.0.1:9/app",
        ["bad %-escape in its password"],
        id="a bad escape in the password",
    ),
    pytest.param(
        "postgresql://app:pw@127.0.0.1:9/d%b", ["bad %-escape", "'/d%b'"], id="a bad escape in the dbname"
    ),
    pytest.param(
        "postgresql://app:pw@127.0.0.1:9/app?sslmode=bogus", ["sslmode='bogus'"], id="sslmode=bogus"
    ),
    pytest.param(
        "postgresql://app:pw@127.0.0.1:9/app?options=-c%20statement_timeout%3Dbanana",
        ["options=", "statement_timeout='banana'"],
        id="options with statement_timeout=banana is named, not reported as a timeout",
    ),
]


@pytest.mark.parametrize(("url", "named"), DATABASE_URL_CASES)
def test_a_bad_database_url_exits_2(run_invoke: Any, secret_scan: Any, url: str, named: list[str]) -> None:
    """Exit 2 (it was 3: libpq refused it at connect time); the password is never shown."""
    secret_scan.add("pa%zzss")
    assert_bad_input(run_invoke("status", "--target", "sandbox", env={"DATABASE_URL": url}), *named)


def test_a_webhook_url_with_a_bad_ipv6_literal_exits_2(run_invoke: Any, secret_scan: Any) -> None:
    """ONCALL_WEBHOOK_URL is named (its value is a secret, so only the variable is)."""
    webhook = "https://[fe80::1/services/T000/B000/hooktoken123"
    secret_scan.add(webhook, "hooktoken123")
    env = {"DATABASE_URL": CLOSED_URL, "ONCALL_WEBHOOK_URL": webhook}
    result = run_invoke("health", "--notify", "--target", "sandbox", env=env)
    assert_bad_input(result, "ONCALL_WEBHOOK_URL", "IPv6")


def test_a_sandbox_dir_on_a_file_exits_2(run_invoke: Any, tmp_path: Path) -> None:
    """ONCALL_SANDBOX_DIR at a regular file: named, nothing started."""
    file = tmp_path / "not-a-dir"
    file.write_text("x")
    result = run_invoke("sandbox.up", env={"ONCALL_SANDBOX_DIR": str(file)})
    assert_bad_input(result, "ONCALL_SANDBOX_DIR", str(file))


# -- migration files ---------------------------------------------------------------------------


def _directory_named_sql(folder: Path) -> None:
    (folder / "002_more.sql").mkdir()


def _dangling_symlink(folder: Path) -> None:
    (folder / "002_more.sql").symlink_to(folder / "gone.sql")


def _fifo(folder: Path) -> None:
    # Unreadable even for root (tests run as root, so chmod 000 would not stop a read): opening a
    # FIFO blocks until a writer comes, which hung the run.
    os.mkfifo(folder / "002_more.sql")


@pytest.mark.parametrize(
    "make_bad",
    [
        pytest.param(_directory_named_sql, id="a migration path that is a directory"),
        pytest.param(_dangling_symlink, id="a migration path that is a dangling symlink"),
        pytest.param(_fifo, id="a migration path that cannot be read as a file (a FIFO)"),
    ],
)
def test_a_migration_path_that_is_not_a_readable_file_exits_2(
    run_invoke: Any, tmp_path: Path, make_bad: Callable[[Path], None]
) -> None:
    """The path is named; nothing connects."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_init.sql").write_text("create table t (id int);\n")
    make_bad(folder)
    config = write_config(tmp_path, sandbox_with(migrations=str(folder)))
    result = run_invoke(
        "-f", config, "status", "--target", "sandbox", env={"DATABASE_URL": CLOSED_URL}, timeout=30
    )
    assert_bad_input(result, str(folder / "002_more.sql"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file; the FIFO case covers unreadable")
def test_a_chmod_000_migration_exits_2(run_invoke: Any, tmp_path: Path) -> None:
    """Permission denied is named with the path."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    locked = folder / "001_init.sql"
    locked.write_text("create table t (id int);\n")
    locked.chmod(0)
    config = write_config(tmp_path, sandbox_with(migrations=str(folder)))
    result = run_invoke("-f", config, "status", "--target", "sandbox", env={"DATABASE_URL": CLOSED_URL})
    assert_bad_input(result, str(locked))


# -- the run log -------------------------------------------------------------------------------


def test_one_bad_byte_in_the_run_log_costs_one_line(run_invoke: Any, tmp_path: Path) -> None:
    """A non-UTF-8 line is skipped and counted; the rest of the history is shown."""
    log = tmp_path / "runs.jsonl"
    good = {"time": "2026-01-01T00:00:00", "task": "health", "target": "sandbox", "code": 0}
    log.write_bytes(json.dumps(good).encode() + b'\n{"task": "x\xff"}\n' + json.dumps(good).encode() + b"\n")
    result = run_invoke("runs", "--json", env={"INVOKE_ONCALL_RUN_LOG": str(log)})
    assert result.code == 0, result.output
    doc = result.json()
    assert (doc["count"], doc["skipped_lines"]) == (2, 1)
    assert "skipped 1 unreadable line" in result.stderr
    assert load_runs(log).skipped_lines == 1


# -- the one duration parser -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("500ms", 0.5),
        ("2d", 172800),
        ("10 min", 600),
        ("1.5", 1.5),
        (20, 20),
    ],
    ids=repr,
)
def test_durations_read_as_people_type_them(text: str | int, seconds: float) -> None:
    """A unit, or a bare number of seconds."""
    assert parse_duration(text, "--wait") == seconds


@pytest.mark.parametrize(
    "value",
    ["nan", "inf", "-1", "5 minutes", "1e3", "", math.nan, math.inf, -0.5, MAX_SECONDS + 1, "31d", True],
    ids=lambda v: f"{v!r} is refused",
)
def test_durations_that_are_not_sane_are_bad_input(value: object) -> None:
    """nan, inf, negative, absurd and wordy values are BadInput naming the flag."""
    with pytest.raises(BadInput, match="--wait"):
        parse_duration(value, "--wait")


def test_a_zero_duration_is_refused_where_it_means_forever() -> None:
    """A connect timeout of 0 would be libpq's 'wait forever'."""
    with pytest.raises(BadInput, match="more than 0"):
        parse_duration("0", "--connect-timeout", allow_zero=False)


@pytest.mark.parametrize("value", ["abc", "1.5", "", "-1"], ids=lambda v: f"{v!r} is not a count")
def test_counts_are_whole_numbers(value: str) -> None:
    """--last, --consecutive, --concurrency, lock_retries."""
    with pytest.raises(BadInput, match="--last"):
        parse_count(value, "--last")
