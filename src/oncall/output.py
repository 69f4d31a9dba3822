"""Human output (rich) and machine output (--json), both through `oncall.redact`.

One `Output` is made per task run and passed down. In `--json` mode stdout carries exactly one
JSON document (`emit`) and all human text goes to stderr, so a scheduler can parse stdout.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, cast

from oncall.redact import redact, redact_obj

if TYPE_CHECKING:
    from rich.console import Console


class RedactingWriter:
    """A text stream wrapper that redacts everything written through it."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
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


def _redacting_hook() -> Any:
    """A rich render hook that masks secrets in strings, Text and table cells *before* layout.

    The RedactingWriter alone would mask after rich has measured the columns, so a masked cell
    would be shorter than its column and the table's borders would no longer line up.
    """
    from rich.console import RenderHook
    from rich.table import Table

    class _Hook(RenderHook):
        def process_renderables(self, renderables: list[Any]) -> list[Any]:
            processed = []
            for renderable in renderables:
                if isinstance(renderable, Table):
                    for column in renderable.columns:
                        column._cells = [_redact_cell(c) for c in column._cells]
                    renderable.title = _redact_cell(renderable.title)
                    renderable.caption = _redact_cell(renderable.caption)
                    processed.append(renderable)
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


@dataclass
class Output:
    """Where a task's words go: a rich console for people, one JSON document for machines."""

    json_mode: bool = False
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    _console: Console | None = None
    emitted: bool = False

    @property
    def console(self) -> Console:
        """Rich console for human text: stdout normally, stderr under --json."""
        if self._console is None:
            from rich.console import Console

            stream = self.stderr if self.json_mode else self.stdout
            # Off a terminal (CI logs, cron mail, tests) rich would wrap at 80 columns; tables of
            # URLs and hints read better wider, and COLUMNS still wins when set.
            width = None if stream.isatty() else int(os.environ.get("COLUMNS", "160"))
            self._console = Console(
                file=cast("IO[str]", RedactingWriter(stream)), highlight=False, soft_wrap=False, width=width
            )
            self._console.push_render_hook(_redacting_hook())
        return self._console

    def print(self, *objects: Any, **kwargs: Any) -> None:
        self.console.print(*objects, **kwargs)

    def emit(self, document: dict[str, Any]) -> None:
        """Write the run's one JSON document to stdout (only in --json mode; at most once)."""
        if not self.json_mode or self.emitted:
            return
        self.emitted = True
        text = json.dumps(redact_obj(document), default=json_default, indent=2, sort_keys=False)
        self.stdout.write(text + "\n")
        self.stdout.flush()
