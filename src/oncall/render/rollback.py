"""Which deploy a rollback goes back to: pure functions over a service's deploy list (newest first).

A deploy that went live and was superseded has status `deactivated`; the one serving now is
`live`. A rollback goes back to the newest `deactivated` deploy older than the live one whose
commit differs from it (rolling back to the same build again changes nothing: after one rollback
the next one skips the rollback's own source and goes one further back). Deploys that never went
live (build_failed, pre_deploy_failed, update_failed, canceled) are never chosen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

WENT_LIVE = frozenset({"live", "deactivated"})


def commit_of(deploy: Mapping[str, Any]) -> str | None:
    commit = deploy.get("commit") or {}
    value = commit.get("id") if isinstance(commit, Mapping) else None
    return str(value) if value else None


def current_live(deploys: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The deploy serving now (status live), or None when no deploy in the list is live."""
    return next((d for d in deploys if d.get("status") == "live"), None)


def rollback_candidate(deploys: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The deploy `invoke rollback` would go back to, or None when there is none in `deploys`."""
    live = current_live(deploys)
    start = 0 if live is None else list(deploys).index(live) + 1
    live_commit = commit_of(live) if live is not None else None
    for deploy in deploys[start:]:
        if deploy.get("status") != "deactivated":
            continue
        if live_commit is not None and commit_of(deploy) == live_commit:
            continue
        return deploy
    return None
