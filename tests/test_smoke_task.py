"""`invoke smoke` end to end: the real invoke command against real servers on 127.0.0.1."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from smoke_support import SmokeServer, free_port, leaf, make_ca, runtime_config

FAST = ("--total-timeout", "5")


def test_a_healthy_url_exits_0_with_the_table(run_invoke: Any) -> None:
    """`invoke smoke --url` on a healthy page exits 0 and prints the results table."""
    with SmokeServer() as server:
        result = run_invoke("smoke", "--url", server.url("/ok"), *FAST)
    assert result.code == 0
    for column in (
        "check",
        "URL",
        "status",
        "latency",
        "failed conditions (value seen)",
        "attempts",
        "verdict",
    ):
        assert column in result.stdout
    assert "200 OK" in result.stdout
    assert "smoke: all 1 check(s) healthy in one pass" in result.stdout


def test_a_502_exits_1_and_says_the_edge_could_not_reach_the_app(run_invoke: Any) -> None:
    """A 502 page exits 1; the table and the exit message explain it in words."""
    with SmokeServer() as server:
        result = run_invoke("smoke", "--url", server.url("/status/502"), *FAST)
    assert result.code == 1
    assert "could not reach the app" in result.stdout
    assert "could not reach the app" in result.stderr
    assert "hint: read the service's logs" in result.stderr


def test_nothing_listening_exits_3(run_invoke: Any) -> None:
    """A URL whose port is not listening is exit 3 with the refusal in words."""
    port = free_port()
    result = run_invoke("smoke", "--url", f"http://127.0.0.1:{port}/", *FAST)
    assert result.code == 3
    assert f"connection refused by 127.0.0.1:{port}" in result.stderr


def test_json_output_is_one_document_with_every_check(run_invoke: Any) -> None:
    """--json prints exactly one JSON document with ok, code and each check's conditions."""
    with SmokeServer() as server:
        result = run_invoke(
            "smoke", "--url", server.url("/ok"), "--url", server.url("/status/503"), "--json", *FAST
        )
    assert result.code == 1
    doc = result.json()
    assert (doc["ok"], doc["code"], doc["task"], doc["mode"]) == (False, 1, "smoke", "single")
    ok, down = doc["checks"]
    assert (ok["verdict"], ok["status"]) == ("healthy", 200)
    assert (down["verdict"], down["status"], down["status_text"]) == (
        "unhealthy",
        503,
        "503 Service Unavailable",
    )
    assert down["failed"][0]["name"] == "status"
    assert "no instance is available" in down["explanation"]
    assert "smoke" in result.stderr  # the human table went to stderr


def test_junit_file_is_written_for_ci(run_invoke: Any, tmp_path: Path) -> None:
    """--junit FILE writes JUnit XML with one testcase per check and the failure text."""
    report = tmp_path / "junit.xml"
    with SmokeServer() as server:
        result = run_invoke(
            "smoke",
            "--url",
            server.url("/ok"),
            "--url",
            server.url("/status/502"),
            "--junit",
            str(report),
            *FAST,
        )
    assert result.code == 1
    suite = ET.parse(report).getroot().find("testsuite")  # noqa: S314 - our own file
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    failure = suite.findall("testcase")[1].find("failure")
    assert failure is not None
    assert "502 Bad Gateway" in (failure.get("message") or "")


def test_target_smoke_list_with_conditions_from_a_config_file(run_invoke: Any, tmp_path: Path) -> None:
    """Checks come from the target's smoke list: paths join base_url, each condition is reported."""
    with SmokeServer() as server:
        config = runtime_config(
            tmp_path,
            [
                {"name": "home", "url": "/ok", "conditions": {"status": "200", "body_contains": "ok"}},
                {"name": "api", "url": "/json", "conditions": {"json": {"db.connected": True}}},
                {
                    "name": "admin",
                    "url": "/bad-gateway-body",
                    "conditions": {"body_not_contains": "Bad Gateway"},
                },
                {"name": "report", "url": "/slow/300", "conditions": {"max_ms": 50}},
            ],
            base_url=server.url(""),
        )
        result = run_invoke("-f", str(config), "smoke", "--json", *FAST)
    assert result.code == 1
    checks = {c["name"]: c for c in result.json()["checks"]}
    assert [checks[n]["verdict"] for n in ("home", "api", "admin", "report")] == [
        "healthy",
        "healthy",
        "unhealthy",
        "unhealthy",
    ]
    assert checks["admin"]["failed"][0]["name"] == "body_not_contains"
    assert checks["report"]["failed"][0]["name"] == "max_ms"
    assert result.json()["target"] == "local"


def test_a_missing_auth_variable_exits_2_naming_it(run_invoke: Any, tmp_path: Path) -> None:
    """A header_env variable that is not set is exit 2, and the message names the variable."""
    config = runtime_config(
        tmp_path,
        [{"name": "admin", "url": "/auth", "header_env": {"Authorization": "TURBO_ADMIN_AUTH"}}],
        base_url="http://127.0.0.1:9",
    )
    result = run_invoke("-f", str(config), "smoke", "--json")
    assert result.code == 2
    assert "TURBO_ADMIN_AUTH is not set" in result.stderr
    assert result.json()["error"]["cause"].startswith("TURBO_ADMIN_AUTH is not set")


def test_the_auth_header_is_sent_and_never_printed(run_invoke: Any, tmp_path: Path, secret_scan: Any) -> None:
    """A header value from the environment reaches the server but is masked in table, JSON and JUnit."""
    token = "Bearer adm1n-t0ken-Zq93kLx"
    secret_scan.add(token)
    report = tmp_path / "junit.xml"
    with SmokeServer(expected_auth=token) as server:
        config = runtime_config(
            tmp_path,
            [
                {"name": "admin", "url": "/auth", "header_env": {"Authorization": "TURBO_ADMIN_AUTH"}},
                # The page echoes the token, and the failing condition quotes the body around it.
                {
                    "name": "echo",
                    "url": "/echo-auth",
                    "header_env": {"Authorization": "TURBO_ADMIN_AUTH"},
                    "conditions": {"body_not_contains": "token="},
                },
            ],
            base_url=server.url(""),
        )
        env = {"TURBO_ADMIN_AUTH": token}
        human = run_invoke("-f", str(config), "smoke", "--junit", str(report), *FAST, env=env)
        machine = run_invoke("-f", str(config), "smoke", "--json", *FAST, env=env)
    assert human.code == machine.code == 1
    admin, echo = machine.json()["checks"]
    assert admin["verdict"] == "healthy"
    assert admin["headers"] == ["Authorization"]
    assert "token=***" in echo["failed"][0]["observed"]
    for text in (human.stdout, human.stderr, machine.stdout, machine.stderr, report.read_text()):
        assert "adm1n-t0ken" not in text


def test_wait_mode_from_the_command_line_waits_for_recovery(run_invoke: Any) -> None:
    """--wait polls a page that answers 502 then 200 until it passes --consecutive times in a row."""
    with SmokeServer(recover_after=1.5) as server:
        result = run_invoke(
            "smoke",
            "--url",
            server.url("/recovering"),
            "--wait",
            "60",
            "--consecutive",
            "2",
            "--interval",
            "0.2",
        )
    assert result.code == 0
    assert "502 Bad Gateway" in result.stdout  # a progress line while it was down
    assert "(2/2 in a row), healthy" in result.stdout
    assert "healthy within 60 s" in result.stdout


def test_wait_mode_gives_up_at_the_deadline_with_exit_1(run_invoke: Any) -> None:
    """--wait on a page that stays down exits 1 once the deadline passes."""
    with SmokeServer() as server:
        result = run_invoke("smoke", "--url", server.url("/status/502"), "--wait", "1", "--interval", "0.2")
    assert result.code == 1
    assert "0 of 1 check(s) healthy within 1 s" in result.stderr


def test_ssl_cert_file_trusts_a_private_ca(run_invoke: Any, tmp_path: Path) -> None:
    """SSL_CERT_FILE decides trust as for curl and OpenSSL; --ca-file adds a CA to the default bundle."""
    ca, pem = make_ca(tmp_path)
    with SmokeServer(tls=leaf(ca)) as server:
        untrusted = run_invoke("smoke", "--url", server.url("/ok"), *FAST)
        by_env = run_invoke("smoke", "--url", server.url("/ok"), *FAST, env={"SSL_CERT_FILE": str(pem)})
        by_flag = run_invoke("smoke", "--url", server.url("/ok"), "--ca-file", str(pem), *FAST)
    assert untrusted.code == 3
    assert "failed verification" in untrusted.stderr
    assert (by_env.code, by_flag.code) == (0, 0)


def test_bad_flags_and_config_exit_2(run_invoke: Any, tmp_path: Path) -> None:
    """A --wait that is not a number, or an unknown condition in config, is exit 2."""
    bad_wait = run_invoke("smoke", "--url", "http://127.0.0.1:9/", "--wait", "soon")
    assert bad_wait.code == 2
    assert "--wait 'soon' is not a duration" in bad_wait.stderr
    config = runtime_config(
        tmp_path,
        [{"name": "x", "url": "/", "conditions": {"body_contain": "x"}}],
        base_url="http://127.0.0.1:9",
    )
    bad_condition = run_invoke("-f", str(config), "smoke")
    assert bad_condition.code == 2
    assert "unknown condition 'body_contain'" in bad_condition.stderr


def test_smoke_is_listed_with_its_summary(run_invoke: Any) -> None:
    """`invoke --list` shows smoke with its one-line summary."""
    result = run_invoke("--list")
    assert result.code == 0
    assert "smoke" in result.stdout
    assert "Probe the target's pages" in result.stdout
