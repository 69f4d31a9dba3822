"""An on-disk cache of what we derive from SQL files, keyed by the file's content.

Parsing with PostgreSQL's parser is the costliest part of `status`, `verify` and `health` runs
whose files have not changed since the last run (importing pglast alone costs tens of ms). Like
Python's __pycache__, the derived value is stored under `<state_dir>/cache/` and reused while
the content hash, the kind/format of the value and the installed parser are the same.

The cache is best-effort: a missing, unreadable, corrupt or unwritable cache never fails a run,
it only means the value is built again. Values must be JSON-serialisable.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

FORMAT = 1


def _parser_fingerprint() -> str:
    """Identifies the installed pglast without importing it (its import is what we avoid)."""
    spec = importlib.util.find_spec("pglast")
    if spec is None or spec.origin is None:
        return "no-pglast"
    try:
        stat = os.stat(spec.origin)
    except OSError:
        return spec.origin
    return f"{spec.origin}:{stat.st_mtime_ns}:{stat.st_size}"


_FINGERPRINT: str | None = None


def cache_key(kind: str, content: bytes | str) -> str:
    """A file name for `kind` derived from `content`, the format and the installed parser."""
    global _FINGERPRINT  # noqa: PLW0603 - computed once per process
    if _FINGERPRINT is None:
        _FINGERPRINT = _parser_fingerprint()
    data = content.encode() if isinstance(content, str) else content
    digest = hashlib.sha256()
    for part in (kind.encode(), str(FORMAT).encode(), _FINGERPRINT.encode(), data):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return f"{kind}-{digest.hexdigest()[:40]}.json"


def load_or_build(
    state_dir: Path | None,
    kind: str,
    content: bytes | str,
    build: Callable[[], T],
    *,
    encode: Callable[[T], Any] = lambda value: value,
    decode: Callable[[Any], T] = lambda raw: raw,
) -> T:
    """The cached value for (`kind`, `content`), or `build()` stored for next time."""
    if state_dir is None:
        return build()
    path = state_dir / "cache" / cache_key(kind, content)
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        return decode(json.loads(path.read_text(encoding="utf-8")))
    value = build()
    with contextlib.suppress(OSError, TypeError, ValueError):
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a concurrent reader sees the old file or the whole new one.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(encode(value), handle, separators=(",", ":"))
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return value
