"""squawk (the `squawk-cli` wheel) as a second opinion in `invoke plan --squawk`.

Why opt-in and not instead of our lint: squawk lints one file at a time, so it cannot know that a
table was created by an EARLIER file of the same run (it flags indexing it, dropping its indexes,
...), it asks for `SET lock_timeout`/`statement_timeout` that oncall sets around every file, and it
knows nothing of oncall's transaction modes. Our own pass (oncall.migrations.lint) keeps the rules
where that context matters; squawk adds what it knows and we don't: breaking changes for running
clients (ban-drop-table, ban-drop-column, renaming-column/table), column types (prefer-text-field,
prefer-bigint-over-int, prefer-timestamptz, ban-char-field), domain and serial rules, and new rules
as squawk grows. Its findings pass through the same filter as ours (nothing about a table the
run itself created) and come out as LintFinding with source "squawk".

One squawk process per transaction mode reads the up SQL of every pending file (written to a
temporary folder: a dbmate file's down section or a Prisma folder layout must not be linted).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oncall.errors import BadInput, CheckFailed
from oncall.migrations.files import Migration
from oncall.migrations.lint import LintFinding, new_relations, touches_only
from oncall.migrations.statements import Statement

# Rules our own pass implements (with the run's context) and rules oncall makes moot: it sets both
# timeouts around every file, records progress for reruns, and runs CONCURRENTLY files outside a
# transaction by itself.
OWN_OR_MOOT_RULES = (
    "adding-required-field",
    "adding-field-with-default",
    "adding-not-nullable-field",
    "changing-column-type",
    "constraint-missing-not-valid",
    "disallowed-unique-constraint",
    "require-concurrent-index-creation",
    "require-concurrent-index-deletion",
    "prefer-robust-stmts",
    "transaction-nesting",
    "ban-concurrent-index-creation-in-transaction",
    "require-lock-timeout",
    "require-statement-timeout",
    "require-timeout-settings",
)

# squawk's advice on column types and style: worth knowing, not a risk to the running service.
_ADVICE_PREFIX = "prefer-"
SQUAWK_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class SquawkInput:
    """One pending file as squawk sees it: its up SQL, its mode, and what the run created before it."""

    migration: Migration
    in_transaction: bool
    created_before: frozenset[str]


def squawk_binary() -> str | None:
    """The squawk executable: on PATH, or beside this interpreter (a venv that is not activated)."""
    beside = Path(sys.executable).parent / "squawk"
    return shutil.which("squawk") or (str(beside) if beside.is_file() else None)


def squawk_findings(
    pending: Sequence[tuple[Migration, bool]], *, server_version: int
) -> dict[str, list[LintFinding]]:
    """squawk's findings per version for the run's (migration, runs in a transaction) pairs, in order.

    Filtered as our own are; BadInput if squawk is not installed.
    """
    inputs = []
    created: set[str] = set()
    for migration, in_transaction in pending:
        inputs.append(SquawkInput(migration, in_transaction, frozenset(created)))
        created = new_relations(migration.statements, created)
    binary = squawk_binary()
    if binary is None:
        raise BadInput(
            "squawk is not installed (no `squawk` on PATH or beside this Python)",
            "pip install squawk-cli, or run plan without --squawk",
        )
    found: dict[str, list[LintFinding]] = {i.migration.version: [] for i in inputs}
    for in_transaction in (True, False):
        group = [i for i in inputs if i.in_transaction == in_transaction]
        if group:
            for version, finding in _run(binary, group, server_version, in_transaction=in_transaction):
                found[version].append(finding)
    return found


def _run(
    binary: str, group: Sequence[SquawkInput], server_version: int, *, in_transaction: bool
) -> list[tuple[str, LintFinding]]:
    with tempfile.TemporaryDirectory(prefix="oncall-squawk-") as folder:
        by_name: dict[str, SquawkInput] = {}
        for index, entry in enumerate(group):
            # The index keeps names unique across layouts where every file is migration.sql.
            name = f"{index:05d}_{entry.migration.path.name}"
            (Path(folder) / name).write_text(entry.migration.sql, encoding="utf-8")
            by_name[name] = entry
        command = [
            binary,
            "--reporter",
            "json",
            f"--pg-version={server_version // 10000}.0",
            "--exclude=" + ",".join(OWN_OR_MOOT_RULES),
            "--assume-in-transaction" if in_transaction else "--no-assume-in-transaction",
            *sorted(by_name),
        ]
        try:
            done = subprocess.run(
                command,
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=SQUAWK_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CheckFailed(f"squawk ({binary}) did not run: {exc}", "run plan without --squawk") from exc
        try:
            reports = json.loads(done.stdout or "[]")
        except json.JSONDecodeError as exc:
            first = (done.stderr or done.stdout).strip().splitlines()[:1]
            raise CheckFailed(
                f"squawk ({binary}) exited {done.returncode} without a JSON report: {' '.join(first)}",
                "check `squawk --version` (squawk-cli 2.x is expected), or run plan without --squawk",
            ) from exc
    found = []
    for report in reports if isinstance(reports, list) else ():
        source = by_name.get(Path(str(report.get("file", ""))).name)
        finding = _finding(report, source) if source is not None else None
        if source is not None and finding is not None:
            found.append((source.migration.version, finding))
    return found


def _finding(report: dict[str, Any], item: SquawkInput) -> LintFinding | None:
    """One squawk report as our LintFinding, or None when it is about a table the run created."""
    rule = str(report.get("rule_name", ""))
    if rule in OWN_OR_MOOT_RULES:
        return None
    line = int(report.get("line", 0)) + 1  # squawk counts lines from 0
    statements = item.migration.statements
    statement = _statement_on(statements, line)
    if statement is not None:
        created = new_relations(statements[: statements.index(statement)], set(item.created_before))
        if touches_only(statement, created):
            return None
    advice = " ".join(str(part) for part in (report.get("message"), report.get("help")) if part)
    severity = "info" if rule.startswith(_ADVICE_PREFIX) else "warning"
    return LintFinding(rule, line, advice, severity, source="squawk")


def _statement_on(statements: list[Statement], line: int) -> Statement | None:
    """The statement that starts on `line` or last before it."""
    before = [s for s in statements if s.line <= line]
    return before[-1] if before else None
