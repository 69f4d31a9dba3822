"""JUnit XML for CI: one <testsuite> per run, one <testcase> per check.

The de facto schema CI systems read (Jenkins, GitLab, GitHub test reporters): a condition that
failed is a <failure>, a check that got no HTTP answer at all is an <error>, and the text inside
says what was seen. Every string is redacted before it is written.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import tempfile
from pathlib import Path
from xml.etree import ElementTree as ET

from oncall.errors import BadInput
from oncall.probe.results import CheckResult, SmokeResult
from oncall.redact import redact


def _case(suite: ET.Element, result: CheckResult) -> None:
    seconds = (result.latency_ms or 0.0) / 1000
    case = ET.SubElement(
        suite, "testcase", classname="smoke", name=redact(result.name), time=f"{seconds:.3f}"
    )
    lines = [f"url: {result.url}", f"attempts: {result.attempts}, network retries: {result.retries}"]
    if result.explanation:
        lines.append(result.explanation)
    lines += [c.describe() for c in result.failed]
    if result.hint:
        lines.append(f"hint: {result.hint}")
    text = redact("\n".join(lines))
    if result.verdict == "unreachable":
        kind = result.last.error.kind if result.last and result.last.error else "unreachable"
        element = ET.SubElement(case, "error", type=kind, message=redact(result.explanation or kind))
        element.text = text
    elif result.verdict == "unhealthy":
        first = result.failed[0].describe() if result.failed else (result.explanation or "unhealthy")
        element = ET.SubElement(case, "failure", type="unhealthy", message=redact(first))
        element.text = text
    out = ET.SubElement(case, "system-out")
    out.text = text


def smoke_junit_xml(result: SmokeResult) -> bytes:
    checks = result.checks
    suite = ET.Element(
        "testsuite",
        name="oncall smoke",
        tests=str(len(checks)),
        failures=str(sum(c.verdict == "unhealthy" for c in checks)),
        errors=str(sum(c.verdict == "unreachable" for c in checks)),
        skipped="0",
        time=f"{result.elapsed_s:.3f}",
        timestamp=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        hostname=socket.gethostname(),
    )
    for check in checks:
        _case(suite, check)
    root = ET.Element("testsuites", name="oncall", tests=suite.get("tests", "0"))
    root.append(suite)
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def write_smoke_junit(result: SmokeResult, path: Path) -> Path:
    """Write atomically (temp file + rename) so a CI reader never sees half a file."""
    data = smoke_junit_xml(result)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        Path(tmp).replace(path)
    except OSError as exc:
        raise BadInput(
            f"cannot write the JUnit report to {path}: {exc.strerror or exc}",
            "pass --junit a path in a writable directory",
        ) from exc
    return path
