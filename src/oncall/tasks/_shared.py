"""Share every run record of a resolved target with the team, through its database (issue 19).

Called where a task resolves its target: from then on each run record of that target is also
written to `oncall_runs` in the target's database (oncall.runbook.history.SharedHistory). A
sharing problem is one warning on stderr; it never changes a task's result.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oncall.config import Target

_shared: set[str] = set()


def _warn(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def share_runs_of(target: Target) -> None:
    """Add the shared-history sink for `target` to the run log, once per process and target."""
    if target.name in _shared:
        return
    from oncall.runbook.history import SharedHistory
    from oncall.runlog import add_sink

    _shared.add(target.name)
    add_sink(SharedHistory(target, warn=_warn))
