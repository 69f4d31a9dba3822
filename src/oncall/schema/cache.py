"""The expectation of an applied set of migrations, kept on disk so unchanged files are not parsed again.

`expected_for(files, default_schema=..., state_dir=...)` returns what `oncall.schema.expect.expect`
would, and stores it through `oncall.migrations.parse_cache` under `<state_dir>/cache/`, keyed by the file
names and contents (in order), the default schema, this model's format, the replay code and the
installed pglast. A scheduled verify of unchanged files therefore reads one JSON file instead of
importing pglast and replaying every statement. The cache is best-effort, like __pycache__: a
missing, corrupt or unwritable entry only means the expectation is built again.

The replay is cumulative (a later file alters what an earlier one created, `REFERENCES t` means
t's primary key as declared so far), so the whole applied set is one entry: applying a new file
builds the expectation once more, and the next runs are warm again.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from oncall.migrations.parse_cache import load_or_build
from oncall.schema import expect as schema_expect
from oncall.schema.expect import Column, Constraint, Expectation, Index, Row, Table

KIND = "verify-expectation"
# Bump when the encoded shape changes; edits to the replay code invalidate entries by themselves.
MODEL = 1


@functools.cache
def _code_stamp() -> str:
    """Identifies the replay code (schema/expect.py) the way __pycache__ does: mtime and size."""
    try:
        stat = Path(schema_expect.__file__).stat()
    except OSError:
        return "unknown"
    return f"{stat.st_mtime_ns}:{stat.st_size}"


def expected_for(
    files: Sequence[tuple[str, str]], *, default_schema: str, state_dir: Path | None
) -> Expectation:
    """expect(files) as of the last run with the same content, or built now and stored for the next."""
    content = json.dumps([MODEL, _code_stamp(), default_schema, [list(f) for f in files]])
    return load_or_build(
        state_dir,
        KIND,
        content,
        lambda: schema_expect.expect(files, default_schema=default_schema),
        encode=encode,
        decode=decode,
    )


class Prepared:
    """expected_for(files) computed in a background thread while the caller waits on the network.

    verify starts one for every discovered file before it connects: connecting (the server forks a
    backend and checks the password) leaves this process idle for milliseconds, and once every file
    is applied (every run but the first after a migration) it is exactly the expectation needed.
    """

    def __init__(
        self, files: Sequence[tuple[str, str]], *, default_schema: str, state_dir: Path | None
    ) -> None:
        self.files = list(files)
        self._value: Expectation | None = None
        self._thread = threading.Thread(
            target=self._build, args=(default_schema, state_dir), name="verify-expectation", daemon=True
        )
        self._thread.start()

    def _build(self, default_schema: str, state_dir: Path | None) -> None:
        # An error is left for the caller to meet again in its own thread, with its own traceback.
        with contextlib.suppress(Exception):
            self._value = expected_for(self.files, default_schema=default_schema, state_dir=state_dir)

    def result_for(self, files: Sequence[tuple[str, str]]) -> Expectation | None:
        """The expectation if it was prepared for exactly these files and could be built, else None."""
        if list(files) != self.files:
            return None
        self._thread.join()
        return self._value


def encode(exp: Expectation) -> dict[str, Any]:
    """A compact JSON form: positional lists, sources as indexes into one list."""
    sources: dict[str, int] = {}

    def src(name: str) -> int:
        return sources.setdefault(name, len(sources))

    texts = [c.default for t in exp.tables.values() for c in t.columns.values() if c.default]
    texts += [col for i in exp.indexes.values() for col in i.columns if col.startswith("(")]
    texts += [i.predicate for i in exp.indexes.values() if i.predicate]
    doc = {
        "schema": exp.default_schema,
        "tables": [
            [
                t.schema,
                t.name,
                src(t.source),
                [
                    [c.name, c.type, c.not_null, c.default, c.serial, c.identity, src(c.source)]
                    for c in t.columns.values()
                ],
            ]
            for t in exp.tables.values()
        ],
        "constraints": [
            [
                c.kind,
                c.schema,
                c.table,
                c.columns,
                c.name,
                c.ref_schema,
                c.ref_table,
                c.ref_columns,
                src(c.source),
            ]
            for c in exp.constraints
        ],
        "indexes": [
            [i.schema, i.name, i.table, i.columns, i.unique, i.method, i.predicate, src(i.source)]
            for i in exp.indexes.values()
        ],
        "rows": [[r.schema, r.table, r.values, r.key, r.values_known, src(r.source)] for r in exp.rows],
        "files": exp.files,
        "notes": exp.notes,
        # Defaults and index expressions that canonical_default can only reduce with pglast, reduced
        # now (pglast is loaded anyway) so that a warm run compares them without it.
        "canonical": {t: schema_expect.canonical_default(t) for t in texts if schema_expect.needs_parser(t)},
    }
    doc["sources"] = list(sources)
    return doc


def decode(doc: Any) -> Expectation:
    """The Expectation back from encode()'s form; ValueError when the entry is not one (rebuilt then)."""
    try:
        sources = doc["sources"]
        exp = Expectation(default_schema=doc["schema"], files=doc["files"], notes=doc["notes"])
        for schema, name, source, columns in doc["tables"]:
            table = Table(schema, name, source=sources[source])
            for cname, ctype, not_null, default, serial, identity, csource in columns:
                table.columns[cname] = Column(
                    cname, ctype, not_null, default, serial, identity, sources[csource]
                )
            exp.tables[(schema, name)] = table
        exp.constraints = [
            Constraint(kind, schema, table, tuple(cols), name, rs, rt, tuple(rc), sources[s])
            for kind, schema, table, cols, name, rs, rt, rc, s in doc["constraints"]
        ]
        for schema, name, table, cols, unique, method, predicate, s in doc["indexes"]:
            exp.indexes[(schema, name)] = Index(
                schema, name, table, tuple(cols), unique, method, predicate, sources[s]
            )
        exp.rows = [
            Row(schema, table, values, tuple(key), known, sources[s])
            for schema, table, values, key, known, s in doc["rows"]
        ]
        canonical = dict(doc["canonical"])
    except (TypeError, KeyError, IndexError, ValueError, AttributeError) as exc:
        raise ValueError(f"not a cached expectation: {exc}") from exc
    schema_expect.remember_canonical(canonical)
    return exp
