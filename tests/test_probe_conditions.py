"""Smoke conditions: how config is read, and what each condition reports it saw."""

from __future__ import annotations

import datetime as dt

import pytest

from oncall.errors import BadInput, ExitCode
from oncall.probe.conditions import CertInfo, Observation, explain_status, parse_conditions, parse_status


def obs(
    status: int = 200, body: str = "ok", latency: float = 10.0, cert: CertInfo | None = None
) -> Observation:
    return Observation(status, latency, body, False, "https" if cert else "http", cert)


@pytest.mark.parametrize(
    ("spec", "passes", "fails"),
    [
        ("2xx", [200, 204, 299], [199, 301, 502]),
        ("2xx|3xx", [200, 302], [404, 502]),
        ("200", [200], [201]),
        ("200-204", [200, 204], [205]),
        (200, [200], [204]),
        ([200, "3xx"], [200, 301], [204]),
        ("200,401", [200, 401], [403]),
    ],
    ids=[
        "a class matches its hundred",
        "two classes joined by a bar",
        "an exact status",
        "a range",
        "a bare integer from YAML",
        "a YAML list mixes exact and class",
        "commas work like bars",
    ],
)
def test_status_specs_match_the_statuses_they_name(spec: object, passes: list[int], fails: list[int]) -> None:
    """Status conditions accept classes, exact codes, ranges and lists."""
    condition = parse_status(spec, "test")
    assert [condition.evaluate(obs(s)).ok for s in passes] == [True] * len(passes)
    assert [condition.evaluate(obs(s)).ok for s in fails] == [False] * len(fails)


def test_a_bad_status_spec_is_bad_input_naming_the_part() -> None:
    """A status spec with a part that is not a status is exit 2, naming that part."""
    with pytest.raises(BadInput) as caught:
        parse_status("2xx|ok", "smoke check 'x'")
    assert caught.value.code == ExitCode.BAD_INPUT
    assert "'ok'" in caught.value.cause


def test_an_unknown_condition_is_bad_input_listing_the_known_ones() -> None:
    """A misspelt condition is refused rather than silently ignored."""
    with pytest.raises(BadInput) as caught:
        parse_conditions({"body_contain": "x"}, "smoke check 'x'")
    assert "body_contain" in caught.value.cause
    assert "body_not_contains" in (caught.value.hint or "")


def test_default_conditions_are_2xx_or_3xx() -> None:
    """Without conditions a check wants a 2xx or 3xx status and nothing else."""
    conditions = parse_conditions(None, "x")
    assert [(c.name, c.evaluate(obs(302)).ok, c.evaluate(obs(502)).ok) for c in conditions] == [
        ("status", True, False)
    ]


def test_a_failed_502_status_is_explained_in_words() -> None:
    """A 502 says the edge could not reach the app, not only the number."""
    result = parse_status("2xx", "x").evaluate(obs(502))
    assert result.observed.startswith("502 Bad Gateway: the edge could not reach the app")
    assert "no instance is available" in (explain_status(503) or "")
    assert explain_status(404) is None


def test_body_not_contains_shows_where_the_text_was_found() -> None:
    """A body that says Bad Gateway fails body_not_contains, quoting the text around it."""
    (_, body) = parse_conditions({"body_not_contains": "Bad Gateway"}, "x")
    result = body.evaluate(obs(200, "<h1>502 Bad Gateway</h1>"))
    assert not result.ok
    assert "found at character 8" in result.observed
    assert "502 Bad Gateway" in result.observed


def test_body_contains_lists_every_needle() -> None:
    """body_contains with a list gives one condition per string."""
    conditions = parse_conditions({"body_contains": ["ok", "ready"]}, "x")[1:]
    assert [c.evaluate(obs(200, "ok")).ok for c in conditions] == [True, False]
    assert conditions[1].evaluate(obs(200, "ok")).observed == "not found in 2 characters"


def test_max_ms_reports_the_time_seen() -> None:
    """max_ms fails above the limit and shows the response time."""
    (_, limit) = parse_conditions({"max_ms": 100}, "x")
    result = limit.evaluate(obs(latency=250.4))
    assert (result.ok, result.observed, result.expected) == (False, "250 ms", "<= 100 ms")


def test_json_fields_compare_by_dotted_path() -> None:
    """json conditions follow dotted paths, list indices included, and show the value seen."""
    body = '{"status": "degraded", "db": {"connected": true}, "items": [1, 2]}'
    conditions = parse_conditions(
        {"json": {"status": "ok", "db.connected": True, "items.1": 2, "db.pool": 5}}, "x"
    )[1:]
    seen = [(c.name, c.evaluate(obs(200, body)).ok, c.evaluate(obs(200, body)).observed) for c in conditions]
    assert seen == [
        ("json status", False, '"degraded"'),
        ("json db.connected", True, "true"),
        ("json items.1", True, "2"),
        ("json db.pool", False, "no field 'db.pool'"),
    ]


def test_json_condition_on_a_non_json_body_says_so() -> None:
    """A json condition against an HTML error page reports that the body is not JSON."""
    (_, field) = parse_conditions({"json": {"status": "ok"}}, "x")
    assert field.evaluate(obs(200, "<html>")).observed == "body is not JSON"


def test_cert_days_counts_days_left_and_needs_https() -> None:
    """cert_days passes with time to spare, fails near expiry, and fails on plain http."""
    (_, cert_days) = parse_conditions({"cert_days": 14}, "x")
    soon = CertInfo(dt.datetime.now(dt.UTC) + dt.timedelta(days=5), "CN=x")
    later = CertInfo(dt.datetime.now(dt.UTC) + dt.timedelta(days=90), "CN=x")
    assert cert_days.evaluate(obs(cert=later)).ok
    near = cert_days.evaluate(obs(cert=soon))
    assert not near.ok
    assert "days left" in near.observed
    plain = cert_days.evaluate(obs())
    assert (plain.ok, plain.observed) == (False, "no certificate: the URL is plain http")


@pytest.mark.parametrize(
    "raw",
    [{"max_ms": "fast"}, {"cert_days": -1}, {"json": "status=ok"}, {"max_ms": True}],
    ids=["max_ms not a number", "negative cert_days", "json not a mapping", "a boolean is not a number"],
)
def test_malformed_condition_values_are_bad_input(raw: dict[str, object]) -> None:
    """Malformed condition values are exit 2 with the key named."""
    with pytest.raises(BadInput) as caught:
        parse_conditions(raw, "smoke check 'x'")
    assert next(iter(raw)) in caught.value.cause
