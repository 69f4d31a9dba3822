"""Human output for verify: one rich table (failures first), what drifted, notes, and the verdict.

The verdict of a failed run is left to the task's exit message (cause and hint on stderr), so it is
printed once.
"""

from __future__ import annotations

from oncall.output import Output
from oncall.schema.verify import VerifyResult

_STYLE = {
    "ok": "green",
    "warning": "yellow",
    "missing": "red",
    "differs": "red",
    "fail": "red",
    "drift": "magenta",
}


def render(out: Output, result: VerifyResult) -> None:
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
    for row in result.rows:
        if row.detail and row.result != "ok":
            out.print(f"  {row.result}: {row.kind} {row.name}: {row.detail}", markup=False)
    for note in result.notes:
        out.print(f"  note: {note}", markup=False)
    out.print(
        f"  {len(result.applied)} applied migration(s), {len(result.pending)} pending; "
        f"{result.queries} catalog queries, {result.elapsed_ms:.0f} ms"
    )
    if result.ok:
        out.print(result.verdict(), markup=False)
