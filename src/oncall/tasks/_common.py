"""Helpers for the task layer: resolve the target, make the Output, map errors to exit codes.

Tasks stay thin: parse flags, call `target_for` and one library function, print, exit. The only
place an `invoke.Exit` is raised is `boundary`, so every failure leaves with a cause, a hint and
the exit code from DESIGN.md, redacted, and under --json also as one JSON document on stdout.
"""

from __future__ import annotations

import signal
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke import Context, Exit

from oncall.errors import ExitCode, OncallError
from oncall.tasks._invoke_patches import project_prefix

if TYPE_CHECKING:
    from oncall.config import Target
    from oncall.output import Output

# config, report and redact are imported inside the helpers below: every task module imports
# this one, and `invoke --list` (and each shell completion) should not pay for them.

JSON_HELP = "print exactly one JSON document on stdout (human text goes to stderr)"
TARGET_HELP = "target name from invoke.yaml (default: oncall.target / INVOKE_ONCALL_TARGET)"
DEBUG_HELP = "show the Python traceback on unexpected errors"


def project_root(ctx: Context) -> Path:
    """The directory of the tasks.py Invoke loaded; relative paths in config are taken from it."""
    prefix = project_prefix(ctx.config)
    return Path(prefix) if prefix else Path.cwd()


def oncall_config(ctx: Context) -> Any:
    return ctx.config.get("oncall", {})


# One `invoke a b c` is one process: a --target given to one task of a chain carries on to the
# tasks after it, so `invoke migrate --target x verify restart smoke` uses x for every step.
_chain_target: str | None = None
# The Output of the task running now, so that target_for can name the target in its JSON envelope.
_active_output: Output | None = None


def target_for(ctx: Context, name: str | None) -> Target:
    """Resolve the target: this task's --target, else the chain's, else config/env."""
    global _chain_target  # noqa: PLW0603 - per-process chain state is the point
    chosen = name or _chain_target
    from oncall.config import resolve_target

    target = resolve_target(oncall_config(ctx), chosen, root=project_root(ctx))
    if _active_output is not None:
        _active_output.target = target.name
    if name:
        _chain_target = name
    return prepare_target(target)


def prepare_target(target: Target) -> Target:
    """A resolved target made ready for a task: its database URL source, the sandbox guard, the
    shared run history. Refused (exit 4) for a sandbox target reaching a remote, before anything
    connects. Every path to a target goes through here: `target_for` for one, `health --all` for each.
    """
    if target.raw.get("database_url_from"):
        # `database_url_from: render`: the URL comes from the service, when a task first needs it.
        from oncall.render.env import with_service_url

        target = with_service_url(target)
    from oncall.safety import refuse_sandbox_remotes

    refuse_sandbox_remotes(target)  # before any task connects: reads of a remote database too
    from oncall.tasks._shared import share_runs_of

    share_runs_of(target)  # its run records go to its database too, for the whole team (issue 19)
    return target


def output_for(json_: bool) -> Output:
    from oncall.output import Output

    return Output(json_mode=json_)


_CAUGHT_SIGNALS = (signal.SIGHUP, signal.SIGTERM)


def _raise_interrupt(signum: int, frame: object) -> None:
    # The first one starts the cleanup (cancel, rollback, unlock, run record); a SIGTERM that
    # follows a SIGHUP, as when a terminal closes, must not cut that cleanup short.
    for sig in _CAUGHT_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """SIGHUP (the SSH session dropped) and SIGTERM end the task the way Ctrl-C does.

    Python's default for both is to die on the spot: no rollback sent, no lock released, no run
    record. As KeyboardInterrupt they take the Ctrl-C path instead: psycopg cancels the running
    query, every `finally` closes its connection, and the run is recorded as interrupted.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in _CAUGHT_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def boundary(out: Output, *, debug: bool = False, task: str = "") -> Iterator[None]:
    """Turn OncallError into Exit(message, code); never let a traceback reach the user unless --debug."""
    from oncall.redact import redact

    global _active_output  # noqa: PLW0603 - one task runs at a time in a process
    out.task = task or out.task
    _active_output = out
    try:
        with signals_as_interrupts():
            yield
    except OncallError as exc:
        if out.json_mode and not out.emitted:
            out.emit({"ok": False, "code": int(exc.code), "task": task, "error": exc.as_dict()})
        raise Exit(redact(exc.message()), int(exc.code)) from None
    except Exit:
        raise
    except KeyboardInterrupt as exc:
        message = "interrupted" + (f" ({exc.args[0]})" if exc.args else "")
        if out.json_mode and not out.emitted:
            error = {"type": "Interrupted", "cause": message}
            out.emit({"ok": False, "code": int(ExitCode.INTERRUPTED), "task": task, "error": error})
        raise Exit(message, ExitCode.INTERRUPTED) from None
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


DURATION_WORDS = "a duration: 30s, 5m, 1h, 500ms; a bare number is seconds"


def seconds_flag(value: str | float, flag: str, *, allow_zero: bool = True, example: str = "30s") -> float:
    """A duration flag as seconds, through the one parser (oncall.durations); BadInput names the flag.

    Duration flags are declared with text defaults so that Invoke hands `5m` over as text instead
    of failing its own int()/float() cast.
    """
    from oncall.durations import parse_duration

    return parse_duration(value, flag, allow_zero=allow_zero, example=example)


def count_flag(value: str | int, flag: str, *, minimum: int = 0, example: int = 3) -> int:
    """A whole-number flag, taken as text for the same reason as `seconds_flag`."""
    from oncall.durations import parse_count

    return parse_count(value, flag, minimum=minimum, example=example)
