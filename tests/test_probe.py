"""oncall.probe against real HTTP(S) servers on 127.0.0.1: one pass, wait mode, errors in words."""

from __future__ import annotations

import io
import shutil
import subprocess
import time
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from oncall.config import SmokeCheckConfig, Target
from oncall.errors import BadInput, ExitCode
from oncall.output import Output
from oncall.probe import Check, SmokeResult, checks_for, smoke
from oncall.probe.conditions import parse_conditions
from oncall.probe.junit import write_smoke_junit
from oncall.redact import redact
from smoke_support import SmokeServer, free_port, leaf, make_ca, reset_once_server

# Short timeouts keep failure tests quick; every call still has a bound, so nothing hangs.
FAST: dict[str, Any] = {"connect_timeout": 2.0, "read_timeout": 1.0, "total_timeout": 5.0}


def check(url: str, name: str | None = None, **conditions: Any) -> Check:
    return Check(name or url, url, conditions=tuple(parse_conditions(conditions, "test")))


def one(result: SmokeResult) -> dict[str, Any]:
    (doc,) = result.as_dict()["checks"]
    return doc  # type: ignore[no-any-return]


def target(**overrides: Any) -> Target:
    fields: dict[str, Any] = {"name": "local", "system": "x", "migrations_dir": Path("sql")}
    fields.update(overrides)
    return Target(**fields)


# ---------------------------------------------------------------- one pass


def test_a_healthy_page_is_code_0() -> None:
    """A 200 page that meets every condition is healthy, exit code 0."""
    with SmokeServer() as server:
        result = smoke([check(server.url("/ok"), max_ms=10_000, body_contains="ok")], **FAST)
    assert (result.ok, result.code) == (True, 0)
    doc = one(result)
    assert (doc["verdict"], doc["status"], doc["attempts"], doc["failed"]) == ("healthy", 200, 1, [])


def test_a_502_is_unhealthy_and_explained_in_words() -> None:
    """An edge 502 is exit 1 and the report says the edge could not reach the app."""
    with SmokeServer() as server:
        result = smoke([check(server.url("/status/502"))], **FAST)
    assert result.code == ExitCode.CHECK_FAILED
    doc = one(result)
    assert doc["verdict"] == "unhealthy"
    assert "could not reach the app" in doc["explanation"]
    assert "logs" in doc["hint"]
    assert doc["attempts"] == 1
    assert doc["retries"] == 0


def test_a_503_says_no_instance_is_available() -> None:
    """A 503 is explained as no instance available, not only as a number."""
    with SmokeServer() as server:
        result = smoke([check(server.url("/status/503"))], **FAST)
    assert result.code == 1
    assert "no instance is available" in one(result)["explanation"]


def test_a_200_page_that_says_bad_gateway_fails_body_not_contains() -> None:
    """A 200 whose body is a Bad Gateway page fails body_not_contains, status passing."""
    with SmokeServer() as server:
        result = smoke([check(server.url("/bad-gateway-body"), body_not_contains="Bad Gateway")], **FAST)
    assert result.code == 1
    doc = one(result)
    assert doc["status"] == 200
    assert [c["name"] for c in doc["failed"]] == ["body_not_contains"]
    assert "502 Bad Gateway" in doc["failed"][0]["observed"]


def test_a_slow_page_over_the_latency_limit_fails_max_ms() -> None:
    """A page slower than max_ms fails that condition with the time it took."""
    with SmokeServer() as server:
        result = smoke([check(server.url("/slow/300"), max_ms=50)], **FAST)
    assert result.code == 1
    (failed,) = one(result)["failed"]
    assert failed["name"] == "max_ms"
    assert int(failed["observed"].split()[0]) >= 300


def test_json_field_condition_passes_and_fails_with_the_value_seen() -> None:
    """A JSON field that matches passes; one that does not shows the value it had."""
    with SmokeServer() as server:
        good = smoke([check(server.url("/json"), json={"status": "ok", "db.connected": True})], **FAST)
        bad = smoke([check(server.url("/json"), json={"status": "down"})], **FAST)
    assert good.code == 0
    assert bad.code == 1
    assert one(bad)["failed"][0] == {
        "name": "json status",
        "expected": '"down"',
        "observed": '"ok"',
        "ok": False,
    }


def test_a_hanging_page_times_out_without_retry_and_is_code_3() -> None:
    """A server that accepts but never answers is a read timeout, not retried, exit 3."""
    with SmokeServer() as server:
        result = smoke([check(server.url("/hang"))], **FAST)
    assert result.code == ExitCode.UNREACHABLE
    doc = one(result)
    assert doc["verdict"] == "unreachable"
    assert doc["error"]["kind"] == "read_timeout"
    assert "sent no answer within 1 s" in doc["error"]["message"]
    assert doc["retries"] == 0


def test_a_trickling_page_hits_the_total_timeout() -> None:
    """A body that never finishes is stopped by the total timeout even though bytes keep coming."""
    with SmokeServer() as server:
        result = smoke([check(server.url("/trickle"))], connect_timeout=2, read_timeout=2, total_timeout=1)
    assert result.code == 3
    doc = one(result)
    assert doc["error"]["kind"] == "total_timeout"
    assert "total timeout of 1 s" in doc["error"]["message"]


def test_a_port_not_listening_is_refused_retried_and_code_3() -> None:
    """Refused connections are retried a bounded number of times, reported, then exit 3."""
    port = free_port()
    result = smoke([check(f"http://127.0.0.1:{port}/health")], network_retries=2, **FAST)
    assert result.code == 3
    doc = one(result)
    assert doc["error"]["kind"] == "refused"
    assert f"connection refused by 127.0.0.1:{port}: nothing is listening there" == doc["error"]["message"]
    assert (doc["attempts"], doc["retries"]) == (1, 2)
    assert result.summary().startswith("smoke: no check got an HTTP answer")


def test_refused_next_to_a_healthy_page_is_code_1() -> None:
    """Code 3 is only for no answer at all: one refused check beside a healthy one is exit 1."""
    with SmokeServer() as server:
        result = smoke([check(server.url("/ok")), check(f"http://127.0.0.1:{free_port()}/")], **FAST)
    assert result.code == 1
    assert [c.verdict for c in result.checks] == ["healthy", "unreachable"]


def test_a_connection_reset_is_retried_and_the_retry_reported() -> None:
    """A connection closed without an answer is a network error: retried within the attempt, reported."""
    with reset_once_server() as server:
        result = smoke([check(server.url())], **FAST)
    assert result.code == 0
    doc = one(result)
    assert (doc["attempts"], doc["retries"]) == (1, 1)


def test_a_redirect_loop_is_a_clear_failure() -> None:
    """A redirect loop fails at once, naming the loop, with every hop reported."""
    with SmokeServer() as server:
        result = smoke([check(server.url("/loop/a"))], **FAST)
        hits = dict(server.hits)
    assert result.code == 1
    doc = one(result)
    (failed,) = doc["failed"]
    assert failed["name"] == "redirects"
    assert failed["observed"].startswith("redirect loop: ")
    assert failed["observed"].endswith(
        "/loop/a -> " + doc["url"].replace("/loop/a", "/loop/b") + " -> " + doc["url"]
    )
    assert [r["status"] for r in doc["redirects"]] == [302, 302]
    assert hits == {"/loop/a": 1, "/loop/b": 1}


def test_redirects_are_followed_up_to_the_limit_and_reported() -> None:
    """A short redirect chain is followed and each hop listed; a longer one than the limit fails."""
    with SmokeServer() as server:
        short = smoke([check(server.url("/chain/2"))], max_redirects=3, **FAST)
        long = smoke([check(server.url("/chain/5"))], max_redirects=3, **FAST)
    doc = one(short)
    assert (short.code, doc["status"], doc["final_url"]) == (0, 200, server.url("/chain/0"))
    assert [r["location"] for r in doc["redirects"]] == [server.url("/chain/1"), server.url("/chain/0")]
    assert long.code == 1
    assert one(long)["failed"][0]["observed"].startswith("more than 3 redirects")


def redirect_to(server: SmokeServer, to: str, code: int = 302) -> str:
    return server.url("/redirect?" + urllib.parse.urlencode({"to": to, "code": code}))


def test_a_checks_headers_follow_redirects_on_its_own_origin_only() -> None:
    """Same origin keeps the configured Authorization; another origin (port) never receives it."""
    secret = {"Authorization": "Bearer redirect-secret-1"}
    with SmokeServer() as site, SmokeServer() as other:
        same = Check(
            "same",
            redirect_to(site, "/echo-auth"),
            headers=secret,
            conditions=tuple(parse_conditions({"body_contains": "redirect-secret-1"}, "t")),
        )
        away = Check(
            "away",
            redirect_to(site, other.url("/echo-auth")),
            headers=secret,
            conditions=tuple(parse_conditions({"body_not_contains": "redirect-secret-1"}, "t")),
        )
        result = smoke([same, away], **FAST)
    docs = {c["name"]: c for c in result.as_dict()["checks"]}
    assert result.code == 0, docs
    assert docs["away"]["final_url"] == other.url("/echo-auth")
    assert docs["same"]["redirects"] == [{"status": 302, "location": site.url("/echo-auth")}]


def test_a_303_makes_a_post_a_get_and_a_307_keeps_it() -> None:
    """303 makes the next hop a GET (a HEAD stays a HEAD); 307 keeps the method."""
    with SmokeServer() as server:
        status = tuple(parse_conditions({"status": "200"}, "t"))
        post_303 = Check("p303", redirect_to(server, "/ok", 303), method="POST", conditions=status)
        head_303 = Check("h303", redirect_to(server, "/ok", 303), method="HEAD", conditions=status)
        post_307 = Check("p307", redirect_to(server, "/ok", 307), method="POST", conditions=status)
        result = smoke([post_303, head_303, post_307], **FAST)
    assert result.code == 0, result.as_dict()
    assert (server.hits["/ok"], server.methods["/ok"]) == (3, Counter({"GET": 1, "HEAD": 1, "POST": 1}))


@pytest.mark.parametrize(
    ("location", "why"),
    [("http://127.0.0.1:99999/", "port 99999 is out of range"), ("ftp://127.0.0.1/x", "not an http(s) URL")],
)
def test_a_location_that_is_not_a_usable_url_is_a_clear_failure(location: str, why: str) -> None:
    """Refused before any lookup or connection: exit 1, the 302 and the Location named."""
    with SmokeServer() as server:
        result = smoke([check(redirect_to(server, location))], **FAST)
    doc = one(result)
    assert (result.code, doc["status"]) == (1, 302)
    (failed,) = doc["failed"]
    assert failed["name"] == "redirects"
    assert f"Location {location!r} is not a URL" in failed["observed"]
    assert why in failed["observed"]


def test_an_undecodable_body_is_an_observation_not_a_network_error() -> None:
    """A 200 whose gzip body is corrupt fails a body condition (exit 1), it is not 'unreachable'."""
    with SmokeServer() as server:
        result = smoke([check(server.url("/bad-gzip"))], **FAST)
    assert result.code == 1
    doc = one(result)
    assert (doc["status"], doc["retries"]) == (200, 0)
    (failed,) = doc["failed"]
    assert failed["name"] == "body"
    assert failed["observed"].startswith("cannot decode the body (Content-Encoding gzip)")


def test_no_checks_is_bad_input() -> None:
    """An empty list of checks is exit 2, not a vacuous success."""
    with pytest.raises(BadInput):
        smoke([])


# ---------------------------------------------------------------- TLS


def test_an_untrusted_certificate_fails_verification_in_words(tmp_path: Path) -> None:
    """A certificate from a CA nobody trusts is exit 3 with the verification failure explained."""
    ca, _ = make_ca(tmp_path)
    with SmokeServer(tls=leaf(ca)) as server:
        result = smoke([check(server.url("/ok"))], **FAST)
    assert result.code == 3
    doc = one(result)
    assert doc["error"]["kind"] == "tls"
    assert "failed verification" in doc["error"]["message"]
    assert "not in the trusted bundle" in doc["error"]["message"]
    assert "--ca-file" in doc["error"]["hint"]
    assert doc["retries"] == 0


def test_a_truly_self_signed_certificate_is_named_as_such(tmp_path: Path) -> None:
    """A self-signed leaf (made with openssl) is reported as self-signed."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    key, crt = tmp_path / "key.pem", tmp_path / "crt.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip

    class SelfSigned:
        def configure_cert(self, context: Any) -> None:
            context.load_cert_chain(str(crt), str(key))

    with SmokeServer(tls=SelfSigned()) as server:
        result = smoke([check(server.url("/ok"))], **FAST)
    assert result.code == 3
    assert "self-signed" in one(result)["error"]["message"]


def test_a_private_ca_is_trusted_with_ca_file_and_cert_days_reads_expiry(tmp_path: Path) -> None:
    """With --ca-file the private CA verifies; cert_days passes for a long cert, fails for a short one."""
    ca, pem = make_ca(tmp_path)
    with SmokeServer(tls=leaf(ca, days=90)) as long_lived, SmokeServer(tls=leaf(ca, days=5)) as expiring:
        result = smoke(
            [
                check(long_lived.url("/ok"), "long", cert_days=14),
                check(expiring.url("/ok"), "expiring", cert_days=14),
            ],
            ca_file=pem,
            **FAST,
        )
    assert result.code == 1
    long_doc, short_doc = result.as_dict()["checks"]
    assert long_doc["verdict"] == "healthy"
    (failed,) = short_doc["failed"]
    assert failed["name"] == "cert_days"
    assert "days left" in failed["observed"]
    assert float(failed["observed"].split("(")[1].split()[0]) < 5.01


def test_a_missing_ca_file_is_bad_input(tmp_path: Path) -> None:
    """A --ca-file that does not exist is exit 2 naming it."""
    with pytest.raises(BadInput) as caught:
        smoke([check("https://127.0.0.1:1/")], ca_file=tmp_path / "nope.pem")
    assert "nope.pem" in caught.value.cause


# ---------------------------------------------------------------- wait mode


def test_wait_mode_waits_for_a_502_to_turn_into_three_passes_in_a_row() -> None:
    """After a restart the page answers 502 for a while; wait mode reports healthy once 3 in a row pass."""
    with SmokeServer(recover_after=1.0) as server:
        result = smoke([check(server.url("/recovering"))], wait=30, consecutive=3, interval=0.2, **FAST)
    assert result.code == 0
    doc = one(result)
    assert doc["history"][0] == "502!"
    assert doc["history"][-3:] == ["200", "200", "200"]
    assert doc["passes_in_a_row"] == 3
    assert doc["attempts"] == len(doc["history"])


def test_a_flapping_page_is_not_healthy_at_the_deadline() -> None:
    """502, 200, 502, ... never passes 3 times in a row: unhealthy, exit 1, called flapping."""
    with SmokeServer() as server:
        result = smoke([check(server.url("/flap"))], wait=1.5, consecutive=3, interval=0.1, **FAST)
    assert result.code == 1
    doc = one(result)
    assert "200" in doc["history"]
    assert doc["explanation"].startswith("flapping: never 3 passes in a row")


def test_a_page_down_until_the_deadline_is_unhealthy_with_the_last_status() -> None:
    """A page that stays 502 is exit 1 at the deadline, explained as the edge not reaching the app."""
    with SmokeServer() as server:
        result = smoke([check(server.url("/status/502"))], wait=0.5, interval=0.1, **FAST)
    assert result.code == 1
    doc = one(result)
    assert doc["attempts"] >= 2
    assert "could not reach the app" in doc["explanation"]


def test_wait_mode_reuses_one_connection_per_server() -> None:
    """Polling the same server goes over one kept-alive connection, not one per request."""
    with SmokeServer() as server:
        result = smoke([check(server.url("/ok"))], wait=10, consecutive=5, interval=0.05, **FAST)
        connections = server.connections
    assert result.code == 0
    assert one(result)["attempts"] == 5
    assert connections == 1


def test_wait_mode_prints_progress_lines_off_a_terminal() -> None:
    """Off a terminal, wait mode prints one line per change, ending with healthy."""
    stdout = io.StringIO()
    with SmokeServer(recover_after=0.5) as server:
        smoke([check(server.url("/recovering"), "admin")], wait=20, interval=0.1, out=Output(stdout=stdout))
    lines = stdout.getvalue().splitlines()
    assert "admin: status: 502 Bad Gateway: the edge could not reach the app" in lines[0]
    assert lines[-1].endswith("(3/3 in a row), healthy")
    assert sum("502" in line for line in lines) == 1


def test_wait_mode_draws_a_live_table_on_a_terminal() -> None:
    """On a terminal wait mode redraws a table with the check's progress."""
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=200)
    with SmokeServer() as server:
        smoke([check(server.url("/ok"), "home")], wait=10, interval=0.05, out=Output(_console=console))
    drawn = buffer.getvalue()
    assert "smoke: waiting" in drawn
    assert "home" in drawn


@pytest.mark.parametrize(("concurrency", "expected"), [(20, 8), (3, 3)], ids=["all at once", "bounded"])
def test_checks_run_concurrently_up_to_the_bound(concurrency: int, expected: int) -> None:
    """All checks are in flight together, but never more than `concurrency` at once."""
    with SmokeServer() as server:
        checks = [check(server.url("/slow/400"), f"c{i}") for i in range(8)]
        result = smoke(checks, concurrency=concurrency, **FAST)
        peak = server.peak_in_flight
    assert result.code == 0
    assert peak == expected


def test_junit_xml_has_a_case_per_check_with_failures_and_errors(tmp_path: Path) -> None:
    """JUnit output: a failure for an unhealthy check, an error for an unreachable one."""
    import xml.etree.ElementTree as ET

    with SmokeServer() as server:
        result = smoke(
            [
                check(server.url("/ok"), "home"),
                check(server.url("/status/502"), "admin"),
                check(f"http://127.0.0.1:{free_port()}/", "gone"),
            ],
            **FAST,
        )
    path = write_smoke_junit(result, tmp_path / "reports" / "smoke.xml")
    root = ET.parse(path).getroot()  # noqa: S314 - our own file
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert cases["home"].find("failure") is None
    failure = cases["admin"].find("failure")
    assert failure is not None
    assert "could not reach the app" in (failure.text or "")
    error = cases["gone"].find("error")
    assert error is not None
    assert error.get("type") == "refused"


# ---------------------------------------------------------------- checks from config


def test_checks_for_joins_paths_to_the_base_url_and_reads_header_env(secret_scan: Any) -> None:
    """Config paths join base_url; header values come from the named env variable and are secrets."""
    token = "Bearer s3cr3t-admin-token-1234"
    secret_scan.add(token)
    cfg = SmokeCheckConfig(
        name="admin",
        url="/admin/case/11",
        header_env={"Authorization": "ADMIN_AUTH"},
        conditions={"max_ms": 5},
    )
    (built,) = checks_for(
        target(base_url="https://app.example.com/", smoke=(cfg,)), environ={"ADMIN_AUTH": token}
    )
    assert built.url == "https://app.example.com/admin/case/11"
    assert built.headers == {"Authorization": token}
    assert [c.name for c in built.conditions] == ["status", "max_ms"]
    assert token not in redact(f"sending {token}")
    assert "s3cr3t" not in repr(built)


def test_a_missing_header_variable_is_bad_input_naming_it() -> None:
    """A header_env variable that is not set is exit 2, naming the variable and the check."""
    cfg = SmokeCheckConfig(name="admin", url="/a", header_env={"Authorization": "TURBO_ADMIN_AUTH"})
    with pytest.raises(BadInput) as caught:
        checks_for(target(base_url="https://x.example", smoke=(cfg,)), environ={})
    assert caught.value.code == ExitCode.BAD_INPUT
    assert caught.value.cause.startswith("TURBO_ADMIN_AUTH is not set")
    assert "'admin'" in caught.value.cause


@pytest.mark.parametrize(
    ("urls", "smoke_list", "base", "needle"),
    [
        (["/health"], (), None, "has no base URL"),
        (["ftp://x.example/"], (), None, "is not an http(s) URL"),
        (["http://x.example:port/"], (), None, "port that is not a number"),
        (None, (), "https://x.example", "has no smoke checks"),
    ],
    ids=["a path without a base URL", "a non-http scheme", "a port that is not a number", "nothing to check"],
)
def test_unusable_checks_are_bad_input(urls: Any, smoke_list: Any, base: Any, needle: str) -> None:
    """Checks that cannot be made into requests are exit 2 with the reason."""
    with pytest.raises(BadInput) as caught:
        checks_for(target(base_url=base, smoke=smoke_list), urls, environ={})
    assert needle in caught.value.cause


def test_url_flags_replace_the_configured_checks() -> None:
    """--url values are checked with the default conditions instead of the target's list."""
    cfg = SmokeCheckConfig(name="admin", url="/a", header_env={"Authorization": "UNSET"})
    built = checks_for(target(base_url="https://x.example", smoke=(cfg,)), ["/health"], environ={})
    assert [(c.name, c.url, [k.name for k in c.conditions]) for c in built] == [
        ("/health", "https://x.example/health", ["status"])
    ]


# ---------------------------------------------------------------- nginx, when Debian ships it here


def test_real_nginx_in_front_of_a_stopped_upstream_gives_502(tmp_path: Path) -> None:
    """nginx proxying to an app that is not listening answers 502, which smoke explains."""
    nginx = shutil.which("nginx")
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light to run this test)")
    port, upstream = free_port(), free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"""
        pid {tmp_path}/nginx.pid;
        error_log {tmp_path}/error.log;
        events {{}}
        http {{
            access_log off;
            client_body_temp_path {tmp_path}/body;
            proxy_temp_path {tmp_path}/proxy;
            fastcgi_temp_path {tmp_path}/fastcgi;
            uwsgi_temp_path {tmp_path}/uwsgi;
            scgi_temp_path {tmp_path}/scgi;
            server {{
                listen 127.0.0.1:{port};
                location / {{ proxy_pass http://127.0.0.1:{upstream}; }}
            }}
        }}
        """
    )
    proc = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;"])
    try:
        for _ in range(100):
            if smoke([check(f"http://127.0.0.1:{port}/")], network_retries=0, **FAST).code != 3:
                break
            time.sleep(0.1)
        result = smoke(
            [check(f"http://127.0.0.1:{port}/admin/case/11", body_not_contains="Bad Gateway")], **FAST
        )
    finally:
        proc.terminate()
        proc.wait(10)
    assert result.code == 1
    doc = one(result)
    assert doc["status"] == 502
    assert "could not reach the app" in doc["explanation"]
    assert {c["name"] for c in doc["failed"]} == {"status", "body_not_contains"}


def test_url_checks_are_named_by_path_unless_paths_repeat() -> None:
    """--url checks are named by their path; the same path on two hosts keeps the full URLs."""
    by_path = checks_for(None, ["http://127.0.0.1:1/health", "http://127.0.0.1:1/admin/case/11"], environ={})
    assert [c.name for c in by_path] == ["/health", "/admin/case/11"]
    same = ["http://127.0.0.1:1/health", "http://127.0.0.1:2/health"]
    assert [c.name for c in checks_for(None, same, environ={})] == same
