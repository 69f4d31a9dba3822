"""Each task's exit codes, appended to its `invoke --help TASK` text (issue 17: help lists them).

One table rather than a paragraph in each docstring, so that the words for a code are the same in
every task and a new task without a row fails tests/test_flag_vocabulary.py.
"""

from __future__ import annotations

from invoke import Task

MEANING = {
    0: "done / healthy",
    1: "a check failed",
    2: "bad input (flag, config, missing variable)",
    3: "could not reach the database, Render or the site",
    4: "refused for safety (production without --yes, lock held)",
    5: "drift (an applied migration was edited, ledger disagrees)",
    130: "interrupted (Ctrl-C, SIGTERM, SIGHUP)",
}

# Codes a task can end with besides 0, 2 and 130, which every task can.
SPECIFIC = {
    "targets": (),
    "init": (),
    "doctor": (1, 3),
    "connect": (1, 3),
    "status": (1, 3, 5),
    "plan": (1, 3, 5),
    "migrate": (1, 3, 4, 5),
    "baseline": (1, 3, 4, 5),
    "resolve": (1, 3, 4),
    "rollback-migration": (1, 3, 4, 5),
    "verify": (1, 3, 5),
    "smoke": (1, 3),
    "restart": (1, 3, 4),
    "deploy": (1, 3, 4),
    "render-status": (1, 3),
    "triage": (1, 3),
    "runs": (),
    "health": (1, 3, 4, 5),
    "recover": (1, 3, 4, 5),
    "demo": (1, 3),
    "bench": (1,),
    "sandbox.up": (1, 3),
    "sandbox.status": (1,),
    "sandbox.down": (),
    "rollback": (1, 3, 4),
    "events": (1, 3),
    "logs": (1, 3),
    "suspend": (1, 3, 4),
    "resume": (1, 3, 4),
    "scale": (1, 3, 4),
    "maintenance": (1, 3, 4),
}


def exit_codes_text(name: str) -> str:
    codes = sorted({0, 2, 130, *SPECIFIC[name]})
    lines = [f"  {code:<4}{MEANING[code]}" for code in codes]
    return "\n\nExit codes:\n" + "\n".join(lines)


def add_exit_codes(task: Task, name: str) -> None:  # type: ignore[type-arg]
    """Append the task's exit codes to its docstring, which Invoke shows under --help."""
    doc = (task.__doc__ or "").rstrip()
    if "Exit codes:" not in doc:
        task.__doc__ = doc + exit_codes_text(name)
