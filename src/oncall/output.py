"""Human output (rich) and machine output (--json), both through `oncall.redact`.

One `Output` is made per task run and passed down. In `--json` mode stdout carries exactly one
JSON document (`emit`) and human text goes to stderr, so a scheduler can parse stdout.

Every document has the same envelope (issue 17): `schema_version`, `task`, `target`, `ok`, `code`
and `duration_s` (the task's wall time), then the task's details; docs/schemas/<task>.json holds
each task's schema. Under --json, stderr gets only lines of text (progress and the verdict):
tables and other rich renderables are for people at a terminal and would only fill cron mail.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, cast

from oncall.redact import redact, redact_obj

if TYPE_CHECKING:
    from rich.console import Console


_TRAILING_BLANKS = re.compile(r"[ \t]+\n")
# C0 and C1 control characters and DEL, tab excepted: ESC among them, so no ANSI sequence passes.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def visible_controls(text: str, names: dict[str, str] | None = None) -> str:
    """Text from outside (log lines) made safe for a terminal: every control character but tab
    shown as an escape (`\\x1b`), or by its name in `names` (e.g. `{"\\n": "\\\\n"}`)."""
    names = names or {}
    return _CONTROL.sub(lambda m: names.get(m.group(), f"\\x{ord(m.group()):02x}"), text)


class RedactingWriter:
    """A text stream wrapper that redacts everything written through it."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        masked = redact(text)
        if not self.isatty():
            # rich pads every line of a table to the table's width; in a pipe that is only noise.
            masked = _TRAILING_BLANKS.sub("\n", masked)
        self._stream.write(masked)
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return bool(getattr(self._stream, "isatty", lambda: False)())

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", "utf-8") or "utf-8"


def _redact_cell(cell: Any) -> Any:
    from rich.text import Text

    if isinstance(cell, str):
        return redact(cell)
    if isinstance(cell, Text):
        masked = redact(cell.plain)
        # Keep the styling when nothing was masked; a masked cell keeps its base style only.
        return cell if masked == cell.plain else Text(masked, style=cell.style)
    return cell


# Columns whose values people type back (a target, a migration version, a deploy or service id):
# never cut, never folded. Every other column folds first when the terminal is narrow.
IDENTIFIER_COLUMNS = frozenset(
    {"target", "name", "version", "migration", "deploy", "deploy id", "service", "id", "render service"}
)


def _cell_width(cell: Any) -> int:
    from rich.text import Text

    text = cell.plain if isinstance(cell, Text) else str(cell)
    return max((len(line) for line in text.splitlines()), default=0)


def _fit_table(table: Any, *, terminal: bool) -> None:
    """Keep identifiers whole at any width; off a terminal, plain lines without borders."""
    for column in table.columns:
        header = str(column.header).strip().lower()
        if header in IDENTIFIER_COLUMNS:
            widest = max((_cell_width(c) for c in column.cells), default=0)
            column.min_width = max(widest, _cell_width(column.header))
            column.no_wrap, column.overflow = True, "ignore"
        else:
            column.no_wrap, column.overflow = False, "fold"
    if not terminal:
        table.box = None
        table.show_edge = False
        table.show_lines = False
        table.pad_edge = False


def _masked_table(table: Any) -> Any:
    """A copy of the rich Table `table` with every cell, the title and the caption redacted.

    rich offers no public way to change a cell once added (Column.cells is read-only), so the copy
    is rebuilt through its public API: the table's settings copied, each column copied empty
    (Column.copy) and every row added again with its style and section end. The caller's table is
    left as it was.
    """
    import copy

    cells = [list(column.cells) for column in table.columns]
    masked = copy.copy(table)
    masked.columns = [column.copy() for column in table.columns]
    masked.rows = []
    for index, row in enumerate(table.rows):
        masked.add_row(
            *(_redact_cell(column[index]) if index < len(column) else None for column in cells),
            style=row.style,
            end_section=row.end_section,
        )
    masked.title = _redact_cell(table.title)
    masked.caption = _redact_cell(table.caption)
    return masked


def _redacting_hook(terminal: bool = True) -> Any:
    """A rich render hook that masks secrets in strings, Text and table cells *before* layout.

    The RedactingWriter alone would mask after rich has measured the columns, so a masked cell
    would be shorter than its column and the table's borders would no longer line up. Tables are
    also fitted here (`_fit_table`), after their cells are final.
    """
    from rich.console import RenderHook
    from rich.table import Table

    class _Hook(RenderHook):
        def process_renderables(self, renderables: list[Any]) -> list[Any]:
            processed = []
            for renderable in renderables:
                if isinstance(renderable, Table):
                    masked = _masked_table(renderable)
                    _fit_table(masked, terminal=terminal)
                    processed.append(masked)
                else:
                    processed.append(_redact_cell(renderable))
            return processed

    return _Hook()


def json_default(value: Any) -> Any:
    """Serialise the few non-JSON types our result objects carry."""
    import datetime as _dt
    import decimal
    import pathlib

    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, pathlib.Path):
        return str(value)
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return str(value)


SCHEMA_VERSION = 1
# "No width limit" off a terminal: wide enough for any line we print, small enough for rich's layout.
UNLIMITED_WIDTH = 4000


def _pipe_width() -> int:
    raw = os.environ.get("COLUMNS", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else UNLIMITED_WIDTH


@dataclass
class Output:
    """Where a task's words go: a rich console for people, one JSON document for machines."""

    json_mode: bool = False
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    _console: Console | None = None
    emitted: bool = False
    # The envelope of the JSON document: set by the task layer (boundary, target_for).
    task: str = ""
    target: str | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def console(self) -> Console:
        """Rich console for human text: stdout normally, stderr under --json."""
        if self._console is None:
            from rich.console import Console

            stream = self.stderr if self.json_mode else self.stdout
            terminal = stream.isatty()
            # Off a terminal (a pipe, CI logs, cron mail) lines are as long as they need to be, or
            # COLUMNS when set: no fixed width that folds a URL for no reader.
            width = None if terminal else _pipe_width()
            self._console = Console(
                file=cast("IO[str]", RedactingWriter(stream)), highlight=False, soft_wrap=False, width=width
            )
            self._console.push_render_hook(_redacting_hook(terminal))
        return self._console

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if self.json_mode:
            from rich.text import Text

            if not all(isinstance(o, str | Text) for o in objects):
                return  # a table on stderr under --json is noise in a scheduler's mail; stdout has it all
        self.console.print(*objects, **kwargs)

    def envelope(self, document: dict[str, Any]) -> dict[str, Any]:
        """The document with the common keys first; a detail's own `target` or `ok` wins."""
        code = document.get("code")
        if code is None:
            code = 0 if document.get("ok", True) else 1
        return {
            "schema_version": SCHEMA_VERSION,
            "task": document.get("task") or self.task,
            "target": document.get("target", self.target),
            "ok": bool(document.get("ok", code == 0)),
            "code": int(code),
            "duration_s": round(time.monotonic() - self.started, 3),
            **{k: v for k, v in document.items() if k not in ("schema_version", "task", "ok", "code")},
        }

    def emit(self, document: dict[str, Any]) -> None:
        """Write the run's one JSON document to stdout (only in --json mode; at most once)."""
        if not self.json_mode or self.emitted:
            return
        self.emitted = True
        document = redact_obj(self.envelope(document))
        text = json.dumps(document, default=json_default, indent=2, sort_keys=False)
        self.stdout.write(text + "\n")
        self.stdout.flush()
