"""The --metrics-file output: strict Prometheus text exposition, written atomically."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from health_support import parse_prometheus_text
from oncall.health import HealthCheckResult, TargetHealth
from oncall.health.metrics import escape_label, format_metrics, write_textfile


def _health(name: str, smoke: str = "pass", render_status: str = "skip") -> TargetHealth:
    checks = [
        HealthCheckResult("database", "pass", 0, 0.012, "fine"),
        HealthCheckResult("schema", "pass", 0, 0.034, "fine"),
        HealthCheckResult("render", render_status, 0, 0.0, "skipped: RENDER_API_KEY is not set"),
        HealthCheckResult("smoke", smoke, 0 if smoke == "pass" else 1, 0.056, None),
    ]
    return TargetHealth(name, "turbo-response", checks, _dt.datetime.now(_dt.UTC), 0.1, 1_763_700_000.25)


def _value(samples, name, **labels):  # type: ignore[no-untyped-def]
    found = [
        s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, f"{name}{labels}: {found}"
    return found[0]


def test_two_targets_parse_as_strict_exposition_text(tmp_path: Path) -> None:
    """Two targets, one failing: every family typed once, contiguous, values as expected."""
    path = tmp_path / "oncall.prom"
    write_textfile(path, [_health("a"), _health("b", smoke="fail")])
    types, samples = parse_prometheus_text(path.read_text())
    assert set(types.values()) == {"gauge"}
    assert _value(samples, "oncall_health_check_success", target="a", check="smoke") == 1
    assert _value(samples, "oncall_health_check_success", target="b", check="smoke") == 0
    assert _value(samples, "oncall_health_check_duration_seconds", target="b", check="smoke") == 0.056
    assert _value(samples, "oncall_health_success", target="b") == 0
    assert _value(samples, "oncall_health_exit_code", target="b") == 1
    assert _value(samples, "oncall_health_last_run_timestamp_seconds", target="a") == 1_763_700_000.25


def test_a_skipped_check_has_no_success_sample_but_a_skipped_one(tmp_path: Path) -> None:
    """Skipped is not failing: no success/duration series for it, and check_skipped 1."""
    _, samples = parse_prometheus_text(format_metrics([_health("a")]))
    assert not [
        s for s in samples if s.name == "oncall_health_check_success" and s.labels["check"] == "render"
    ]
    assert _value(samples, "oncall_health_check_skipped", target="a", check="render") == 1
    assert _value(samples, "oncall_health_check_skipped", target="a", check="database") == 0


def test_target_success_names_its_skipped_checks(tmp_path: Path) -> None:
    """oncall_health_success does not count a skipped check as passing: a `skipped` label names it."""
    _, samples = parse_prometheus_text(format_metrics([_health("a"), _health("b", render_status="pass")]))
    assert _value(samples, "oncall_health_success", target="a", skipped="render") == 1
    assert _value(samples, "oncall_health_success", target="b", skipped="") == 1


def test_label_values_are_escaped() -> None:
    """Backslash, double quote and newline in a label value are escaped as the format requires."""
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    _, samples = parse_prometheus_text(format_metrics([_health('we"ird\\name')]))
    assert {s.labels["target"] for s in samples} == {'we"ird\\name'}


def test_the_file_is_replaced_whole_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    """A second write replaces the first completely; no *.tmp and no second *.prom is left behind."""
    path = tmp_path / "textfile" / "oncall.prom"
    write_textfile(path, [_health("a"), _health("b")])
    write_textfile(path, [_health("c")])
    _, samples = parse_prometheus_text(path.read_text())
    assert {s.labels["target"] for s in samples} == {"c"}
    assert sorted(p.name for p in path.parent.iterdir()) == ["oncall.prom"]


def test_the_strict_reader_rejects_malformed_text() -> None:
    """The test's parser is strict: a sample without TYPE, split families or bad escapes fail it."""
    import pytest

    bad = [
        "x 1\n",
        '# TYPE x gauge\nx 1\n# TYPE y gauge\ny 1\nx{a="b"} 2\n',
        '# TYPE x gauge\nx{a="b\\q"} 1\n',
        "# TYPE x gauge\nx 1",
        "# TYPE x gauge\nx one\n",
    ]
    for text in bad:
        with pytest.raises((AssertionError, ValueError)):
            parse_prometheus_text(text)
