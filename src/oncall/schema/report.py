"""Human output for verify: what failed, what to look at, and one verdict line with counts.

By default a passing verify prints its verdict and nothing else, whatever the number of objects;
failures and warnings get one line each (kind, name, expected, found, why), and notes (what could
not be checked, where the expectation came from when it was not the shadow) one line each.
`verbose` adds the whole table: every object with what was expected and what was found.
Under --json the document is on stdout and stderr carries only the verdict line.

The verdict of a failed run is left to the task's exit message (cause and hint on stderr), so it is
printed once.
"""

from __future__ import annotations

from oncall.output import Output
from oncall.redact import redact
from oncall.schema.result import DIFFERS, DRIFT, FAIL, MISSING, OK, WARNING, VerifyRow
from oncall.schema.verify import VerifyResult

_STYLE: dict[str, str] = {
    OK: "green",
    WARNING: "yellow",
    MISSING: "red",
    DIFFERS: "red",
    FAIL: "red",
    DRIFT: "magenta",
}


def draw(out: Output, result: VerifyResult, *, verbose: bool = False) -> None:
    if out.json_mode:
        if result.ok:
            say(out, result.verdict())
        return
    if verbose:
        _table(out, result)
    for row in result.failures + result.warnings:
        say(out, _problem_line(row))
    for note in result.notes:
        say(out, f"  note: {note}")
    for name in result.unchecked:
        say(out, f"  not checkable: {name}")
    if verbose:
        say(
            out,
            f"  {len(result.applied)} applied migration(s), {len(result.pending)} pending; expected schema "
            f"from {result.expected_from or 'nothing'}; {result.queries} catalog queries, "
            f"{result.elapsed_ms:.0f} ms",
        )
    if result.ok:
        say(out, result.verdict())


def say(out: Output, text: str) -> None:
    """One plain line, redacted: a run without --verbose never imports rich (its import is most of
    what drawing cost), and object names with brackets are not read as markup."""
    stream = out.stderr if out.json_mode else out.stdout
    stream.write(redact(text) + "\n")
    stream.flush()


def _problem_line(row: VerifyRow) -> str:
    text = f"  {row.result}: {row.kind} {row.name}: expected {row.expected}, found {row.found}"
    return text + (f" ({row.detail})" if row.detail else "")


def _table(out: Output, result: VerifyResult) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(f"verify {result.target} ({result.where})"))
    for column in ("kind", "name", "expected", "found", "result"):
        table.add_column(column, overflow="fold")
    for row in result.rows:
        style = _STYLE.get(row.result, "")
        # Object names hold brackets (admin_settings[setting_key=...]): cells are plain Text, not markup.
        table.add_row(
            Text(row.kind), Text(row.name), Text(row.expected), Text(row.found), Text(row.result, style)
        )
    out.print(table)
