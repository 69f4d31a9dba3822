"""Secrets that leaked through side doors (issue 12, section 5): each case, every output channel.

The `secret_scan` fixture reads the test's captured output (run_invoke prints what each command
wrote); files and posts that are not captured output are checked with `secret_scan.check`.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from health_support import migrate_target, scratch_project, target_entry, webhook_receiver
from oncall.config import SmokeCheckConfig, Target
from oncall.errors import BadInput, ExitCode
from oncall.probe import checks_for
from oncall.probe.conditions import Observation, parse_conditions
from oncall.redact import redact, register_secret
from oncall.render import RenderClient
from oncall.sandbox.render_api import RenderStandIn
from render_support import SERVICE, invoke_env, new_key, service_id
from smoke_support import SmokeServer


def _target(*smoke: SmokeCheckConfig) -> Target:
    return Target(name="t", system="x", migrations_dir=Path("sql"), base_url="https://x.example", smoke=smoke)


ECHO_CHECK = {
    "name": "page",
    "url": "/echo-auth",
    "header_env": {"Authorization": "ADMIN_AUTH"},
    # The page echoes the header back, and the failing condition quotes the body around it.
    "conditions": {"body_not_contains": "token="},
}


@pytest.mark.parametrize("line_end", ["\n", "\r\n"], ids=["a trailing LF", "a trailing CRLF"])
def test_a_header_env_value_loses_its_trailing_line_break(line_end: str, secret_scan: Any) -> None:
    """`export X="$(cat file)"` habits: the value is sent without the line break that ends it."""
    token = "Token " + secrets.token_hex(12)
    secret_scan.add(token)
    cfg = SmokeCheckConfig(name="admin", url="/a", header_env={"Authorization": "ADMIN_AUTH"})
    (built,) = checks_for(_target(cfg), environ={"ADMIN_AUTH": token + line_end})
    assert built.headers == {"Authorization": token}


@pytest.mark.parametrize(
    "inner", ["\n", "\r\n", "\r", "\x00", "\x1b"], ids=["LF", "CRLF", "CR", "NUL", "ESC"]
)
def test_a_header_env_value_with_a_control_character_inside_is_bad_input(
    inner: str, secret_scan: Any
) -> None:
    """A line break inside the value is exit 2 naming the variable and the header, never the value."""
    first, second = secrets.token_hex(10), secrets.token_hex(10)
    secret_scan.add(first, second)
    cfg = SmokeCheckConfig(name="admin", url="/a", header_env={"Authorization": "ADMIN_AUTH"})
    with pytest.raises(BadInput) as caught:
        checks_for(
            _target(cfg),
            environ={"ADMIN_AUTH": f"Token {first}{inner}{second}"},
        )
    assert caught.value.code == ExitCode.BAD_INPUT
    assert "ADMIN_AUTH" in caught.value.cause
    assert "Authorization" in caught.value.cause
    print(caught.value.cause, caught.value.hint)  # the scan reads it


def test_an_exception_quoting_a_registered_value_is_redacted(secret_scan: Any) -> None:
    """httpx quotes a bad header value through repr (`b'Token ...\\n'`); that form is masked too."""
    value = "Token " + secrets.token_hex(12) + "\r\n"
    secret_scan.add(value.strip())
    register_secret(value)
    message = f"LocalProtocolError: Illegal header value {value.encode()!r}"
    print(redact(message))
    assert redact(message) == "LocalProtocolError: Illegal header value b'***'"
    assert redact(repr(value)) == "'***'"


def test_a_header_env_value_with_a_trailing_line_break_leaks_through_no_channel(
    run_invoke: Any, pg: Any, api: Any, tmp_path: Path, secret_scan: Any
) -> None:
    """stdout, stderr, JSON, JUnit, runs.jsonl, the webhook post and the incident report: none shows it.

    The page echoes the header, so every channel carries text around the value (and before the fix,
    httpx's `Illegal header value b'Token ...\\r\\n'`); the check runs, fails on the echo, and is masked.
    """
    secret = secrets.token_hex(12)
    header = f"Token {secret}"
    secret_scan.add(secret, header)
    entry = target_entry(render_service=SERVICE)
    entry["smoke"] = [ECHO_CHECK]
    project = scratch_project(tmp_path / "project", {"svc": entry})
    migrate_target(project, "svc", pg.url)
    junit = tmp_path / "junit.xml"
    report = tmp_path / "incident.md"
    with webhook_receiver() as hook, SmokeServer() as page:
        secret_scan.add(hook.url)
        env = {
            "DATABASE_URL": pg.url,
            "APP_URL": page.url(""),
            "RENDER_API_KEY": api.api_key,
            "RENDER_API_URL": api.base_url,
            "ONCALL_WEBHOOK_URL": hook.url,
            "ADMIN_AUTH": header + "\r\n",
        }
        human = run_invoke("smoke", "--junit", str(junit), "--total-timeout", "5", cwd=project, env=env)
        machine = run_invoke("smoke", "--json", "--total-timeout", "5", cwd=project, env=env)
        health = run_invoke("health", "--json", "--notify", "--failure-threshold", "1", cwd=project, env=env)
        recover = run_invoke(
            "recover", "--json", "--wait", "1", "--report", str(report), cwd=project, env=env, timeout=180
        )
        posts = json.dumps(hook.posts)
    # The header reached the page without its line break, and the echo was masked.
    (check,) = machine.json()["checks"]
    assert (machine.code, check["status"]) == (1, 200)
    assert check["failed"][0]["observed"] == "found at character 0: 'token=***'"
    assert (human.code, health.code, recover.code) == (1, 1, 1)
    assert "page" in human.stdout
    assert "body_not_contains" in junit.read_text()
    assert hook.count == 1
    assert "token=***" in posts
    runs = Path(machine.env["INVOKE_ONCALL_RUN_LOG"]).read_text()
    assert {json.loads(line)["task"] for line in runs.splitlines()} >= {"health", "recover"}
    for where, text in (
        ("JUnit", junit.read_text()),
        ("runs.jsonl", runs),
        ("the webhook post", posts),
        ("the incident report", report.read_text()),
    ):
        secret_scan.check(text, where)


def _answer(body: str) -> Observation:
    return Observation(status=200, latency_ms=5.0, body=body, body_truncated=False, scheme="https", cert=None)


def test_the_body_excerpt_is_redacted_before_it_is_cut(secret_scan: Any) -> None:
    """A page that echoes a 56-character token: the excerpt masks it whole, no leading part shows."""
    token = secrets.token_hex(28)
    secret_scan.add(token[:8], token[-8:])
    register_secret(token)
    (_, condition) = parse_conditions({"body_not_contains": "token="}, "x")
    result = condition.evaluate(_answer(f"<p>Signed in. Your token={token} expires soon.</p>"))
    print(result.describe())
    assert not result.ok
    assert result.observed == "found at character 19: '<p>Signed in. Your token=*** expires soon.</p>'"


def test_a_needle_inside_a_secret_is_reported_without_an_excerpt(secret_scan: Any) -> None:
    """When the text looked for is part of a secret, where it was found is all that is shown."""
    token = "tok_" + secrets.token_hex(20)
    secret_scan.add(token[4:12])
    register_secret(token)
    (_, condition) = parse_conditions({"body_not_contains": token[:10]}, "x")
    result = condition.evaluate(_answer(f"echo {token}"))
    print(result.describe())
    assert result.observed == "found at character 5: '(inside a secret, not shown)'"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.attacker.example/v1",
        "http://127.0.0.1.attacker.example/v1",
        "http://localhost.attacker.example/v1",
        "http://127.1/v1",
        "http://[::ffff:7f00:1]/v1",
    ],
    ids=[
        "a DNS name starting with 127.",
        "a DNS name starting with 127.0.0.1",
        "a DNS name starting with localhost",
        "a shorthand that is not an IP literal",
        "an IPv4-mapped IPv6 address",
    ],
)
def test_plain_http_to_a_name_that_only_looks_local_is_refused(url: str, secret_scan: Any) -> None:
    """Plain http carries the key in clear text: only a loopback IP literal or `localhost` may have it."""
    key = new_key()
    secret_scan.add(key)
    with pytest.raises(BadInput) as caught:
        RenderClient.from_env({"RENDER_API_KEY": key, "RENDER_API_URL": url})
    print(caught.value.cause, caught.value.hint)
    assert "uses plain http" in caught.value.cause


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/v1", "http://127.42.0.7:9/v1", "http://[::1]:9/v1", "http://localhost:9/v1"],
    ids=["127.0.0.1", "another address in 127.0.0.0/8", "::1", "localhost"],
)
def test_plain_http_to_loopback_is_allowed(url: str) -> None:
    """The stand-in runs on loopback over plain http; those URLs are accepted as they are."""
    with RenderClient.from_env({"RENDER_API_KEY": new_key(), "RENDER_API_URL": url}) as client:
        assert client.base_url == url.removesuffix("/")


def test_render_status_refuses_a_lookalike_loopback_host_before_connecting(
    run_invoke: Any, secret_scan: Any, tmp_path: Path
) -> None:
    """`http://127.attacker.example` is exit 2 naming RENDER_API_URL; a connection attempt would have
    failed its DNS lookup first (exit 3), so the refusal came before anything was sent.

    On a non-sandbox target: a sandbox target refuses any API off this machine first (exit 4)."""
    key = new_key()
    secret_scan.add(key)
    env = {"RENDER_API_KEY": key, "RENDER_API_URL": "http://127.attacker.example/v1"}
    project = scratch_project(tmp_path / "project", {"app": target_entry(render_service=SERVICE)})
    result = run_invoke("render-status", "--json", env=env, cwd=project)
    assert result.code == 2
    cause = result.json()["error"]["cause"]
    assert (
        cause
        == "RENDER_API_URL uses plain http to 127.attacker.example: the API key would travel unencrypted"
    )


MARKUP_CRASH = 'error: relation "x[/]" does not exist at character 15'
COLOURED_CRASH = (
    '\x1b[31merror:\x1b[0m relation "ai_usage_logs" does not exist\x1b]0;pwned\x07\rat character 15\x1b[2K'
)


def test_rich_markup_in_a_log_line_is_printed_as_text(
    api: RenderStandIn, run_invoke: Any, secret_scan: Any
) -> None:
    """`relation "x[/]" does not exist` is a finding about table x[/], not a MarkupError."""
    api.add_log(service_id(api), MARKUP_CRASH)
    result = run_invoke("triage", "--target", "sandbox", env=invoke_env(api, api.base_url))
    assert result.code == 1, result.stderr
    assert 'the backend queries table "x[/]", which does not exist' in result.stdout
    assert f"log: {MARKUP_CRASH}" in result.stdout


def test_escape_sequences_in_a_log_line_never_reach_the_terminal_or_the_json(
    api: RenderStandIn, run_invoke: Any, secret_scan: Any
) -> None:
    """Colours, a window title and a carriage return in a log line: removed or shown, never obeyed."""
    api.add_log(service_id(api), COLOURED_CRASH)
    env = invoke_env(api, api.base_url)
    human = run_invoke("triage", "--target", "sandbox", env=env)
    machine = run_invoke("triage", "--target", "sandbox", "--json", env=env)
    assert human.code == machine.code == 1
    clean = 'error: relation "ai_usage_logs" does not exist\\x0dat character 15'
    assert f"log: {clean}" in human.stdout
    [finding] = machine.json()["findings"]
    assert (finding["object"], finding["sample"]) == ("ai_usage_logs", clean)
    for text in (human.stdout, human.stderr, machine.stdout, machine.stderr):
        assert "\x1b" not in text
        assert "\\u001b" not in text


def test_rich_markup_in_a_log_line_does_not_block_recover(
    api: RenderStandIn, run_invoke: Any, pg: Any, secret_scan: Any
) -> None:
    """recover prints triage's cause before it starts; a bracket in a table name must not stop it."""
    api.add_log(service_id(api), MARKUP_CRASH)
    env = invoke_env(api, api.base_url, DATABASE_URL=pg.url)
    result = run_invoke("recover", "--target", "sandbox", "--dry-run", env=env)
    assert 'triage: the backend queries table "x[/]", which does not exist' in result.stdout
    assert "MarkupError" not in result.output
    assert result.code == 0, result.stderr
