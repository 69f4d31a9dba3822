"""Fixture plugin: the secret scan of every test's captured output.

`secret_scan.add(value)` registers a secret the test hands to the code under test; after the test,
its captured stdout, stderr and log records (the report's public capstdout/capstderr/caplog,
which include what run_invoke printed of its subprocess) are searched for every registered secret,
and a leak fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

# Every secret a test hands to the code under test; the scan fails a test whose output shows one.
TEST_SECRETS: set[str] = set()


class SecretScan:
    """Registers the secrets a test uses; `check` asserts one text shows none of them."""

    def add(self, *values: str) -> None:
        for value in values:
            if value and len(value) >= 6:
                TEST_SECRETS.add(value)

    def check(self, text: str, where: str = "output") -> None:
        leaked = [s for s in TEST_SECRETS if s in text]
        assert not leaked, f"a secret used by the test appears in {where}"


@pytest.fixture
def secret_scan() -> SecretScan:
    return SecretScan()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if call.when != "call" or report.failed:
        return
    # Everything the test printed, logged or wrote to stderr, through the report's public view.
    captured = "\n".join((report.capstdout, report.capstderr, report.caplog))
    leaked = [s for s in TEST_SECRETS if s in captured]
    if leaked:
        report.outcome = "failed"
        report.longrepr = (
            f"secret scan: {len(leaked)} secret(s) used by this test appear in its captured output"
        )
