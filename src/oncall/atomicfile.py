"""Write a file so that a reader sees the old content or the new, never a half-written one.

Used for the health state between scheduled runs and for the Prometheus textfile, which
node-exporter may read at any moment. The temporary file sits in the same directory (a rename
across filesystems is not atomic) and does not end in `.prom`, so the textfile collector skips it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Replace `path` with `text` in one rename; the directory is created when missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(mode)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
