"""Helpers for the task layer: resolve the target, make the Output, map errors to exit codes.

Tasks stay thin: parse flags, call `target_for` and one library function, print, exit. The only
place an `invoke.Exit` is raised is `boundary`, so every failure leaves with a cause, a hint and
the exit code from DESIGN.md, redacted, and under --json also as one JSON document on stdout.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke import Context, Exit

from oncall.errors import ExitCode, OncallError

if TYPE_CHECKING:
    from oncall.config import Target
    from oncall.report import Output

# config, report and redact are imported inside the helpers below: every task module imports
# this one, and `invoke --list` (and each shell completion) should not pay for them.

JSON_HELP = "print exactly one JSON document on stdout (human text goes to stderr)"
TARGET_HELP = "target name from invoke.yaml (default: oncall.target / INVOKE_ONCALL_TARGET)"
DEBUG_HELP = "show the Python traceback on unexpected errors"


def project_root(ctx: Context) -> Path:
    """The directory of the tasks.py Invoke loaded; relative paths in config are taken from it."""
    prefix = getattr(ctx.config, "_project_prefix", None)
    return Path(prefix) if prefix else Path.cwd()


def oncall_config(ctx: Context) -> Any:
    return ctx.config.get("oncall", {})


# One `invoke a b c` is one process: a --target given to one task of a chain carries on to the
# tasks after it, so `invoke migrate --target x verify restart smoke` uses x for every step.
_chain_target: str | None = None


def target_for(ctx: Context, name: str | None) -> Target:
    """Resolve the target: this task's --target, else the chain's, else config/env."""
    global _chain_target  # noqa: PLW0603 - per-process chain state is the point
    chosen = name or _chain_target
    from oncall.config import resolve_target

    target = resolve_target(oncall_config(ctx), chosen, root=project_root(ctx))
    if name:
        _chain_target = name
    if target.raw.get("database_url_from"):
        # `database_url_from: render`: the URL comes from the service, when a task first needs it.
        from oncall.render_env import with_service_url

        target = with_service_url(target)
    return target


def output_for(json_: bool) -> Output:
    from oncall.report import Output

    return Output(json_mode=json_)


@contextmanager
def boundary(out: Output, *, debug: bool = False, task: str = "") -> Iterator[None]:
    """Turn OncallError into Exit(message, code); never let a traceback reach the user unless --debug."""
    from oncall.redact import redact

    try:
        yield
    except OncallError as exc:
        if out.json_mode and not out.emitted:
            out.emit({"ok": False, "code": int(exc.code), "task": task, "error": exc.as_dict()})
        raise Exit(redact(exc.message()), int(exc.code)) from None
    except Exit:
        raise
    except KeyboardInterrupt:
        raise Exit("interrupted", ExitCode.CHECK_FAILED) from None
    except Exception as exc:  # noqa: BLE001 - the one place unknown errors become a clean exit
        if debug:
            traceback.print_exc()
        message = f"internal error in {task or 'task'}: {type(exc).__name__}: {exc}"
        if out.json_mode and not out.emitted:
            out.emit(
                {"ok": False, "code": 1, "task": task, "error": {"type": "InternalError", "cause": message}}
            )
        hint = "" if debug else "\n  hint: rerun with --debug for the traceback, and report it"
        raise Exit(redact(message) + hint, ExitCode.CHECK_FAILED) from None


def exit_with(code: int, message: str | None = None) -> None:
    """Leave a task with a non-zero code and a message (for checks that failed without an exception)."""
    from oncall.redact import redact

    if code:
        raise Exit(redact(message or ""), code)
