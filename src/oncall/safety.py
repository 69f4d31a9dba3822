"""The production guard shared by every task that writes (migrate, restart, deploy, recover)."""

from __future__ import annotations

import sys
from typing import IO

from oncall.config import Target
from oncall.errors import Refused


def guard_production(
    target: Target,
    *,
    action: str,
    where: str,
    yes: bool,
    dry_run: bool = False,
    stdin: IO[str] | None = None,
    prompt_out: IO[str] | None = None,
) -> None:
    """Ask before writing to a production target; refuse (exit 4) without --yes when nobody can answer.

    `where` names what will be touched (host and database, or the Render service) so that the
    person confirming sees exactly that, not just the target's nickname.
    """
    if not target.production or yes or dry_run:
        return
    stream = sys.stdin if stdin is None else stdin
    out = sys.stderr if prompt_out is None else prompt_out
    if not (hasattr(stream, "isatty") and stream.isatty()):
        raise Refused(
            f"target {target.name} is production ({where}); refusing to {action} without --yes",
            f"rerun with --yes to {action} on {where}, or --dry-run to see what would happen",
        )
    out.write(f"{target.name} is PRODUCTION. {action} on {where}? Type 'yes' to continue: ")
    out.flush()
    answer = stream.readline().strip().lower()
    if answer != "yes":
        raise Refused(
            f"not confirmed: did not {action} on {where}", "type 'yes' at the prompt, or pass --yes"
        )
