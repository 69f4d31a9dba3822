"""Tasks: sandbox.up, sandbox.status, sandbox.down: the incident on this machine, all on 127.0.0.1."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from invoke import Context, task

from oncall.tasks._common import DEBUG_HELP, JSON_HELP, boundary, exit_with, output_for, project_root

if TYPE_CHECKING:
    from oncall.output import Output
    from oncall.sandbox.manager import SandboxStatus, UpResult

SYSTEM_HELP = "seed system to play: turbo-response (plain SQL, default) or trdrhub (Alembic ledger)"


@task(help={"system": SYSTEM_HELP, "json": JSON_HELP, "debug": DEBUG_HELP})
def up(ctx: Context, system: str = "turbo-response", json: bool = False, debug: bool = False) -> None:
    """Start the sandbox: PostgreSQL at the baseline, the crashing backend, the Render stand-in and edge."""
    from oncall.sandbox import manager

    out = output_for(json)
    with boundary(out, task="sandbox.up", debug=debug):
        result = manager.up(project_root(ctx), system, progress=lambda msg: out.print(f"  {msg}"))
        health = manager.status(project_root(ctx))
        _print_up(out, result, health)
        out.emit(
            {
                "ok": True,
                "code": 0,
                "already_running": result.already_running,
                "cleaned_stale": result.cleaned_stale,
                "seconds": round(result.seconds, 2),
                "env_file": str(result.directory / "env"),
                "env": result.env,
                **_status_doc(health),
            }
        )


@task(help={"json": JSON_HELP, "debug": DEBUG_HELP})
def status(ctx: Context, json: bool = False, debug: bool = False) -> None:
    """Show whether the sandbox runs, with each component's pid, port and health (exit 1 when not)."""
    from oncall.sandbox import manager

    out = output_for(json)
    with boundary(out, task="sandbox.status", debug=debug):
        result = manager.status(project_root(ctx))
        _print_status(out, result)
        code = 0 if result.healthy else 1
        out.emit({"ok": code == 0, "code": code, **_status_doc(result)})
        if not result.running:
            hint = "invoke sandbox.down cleans it up" if result.stale else "start one with invoke sandbox.up"
            what = "a stale sandbox (its processes are gone)" if result.stale else "no sandbox is running"
            exit_with(1, f"{what} in {result.directory}\n  hint: {hint}")
        exit_with(code, "a sandbox component is unhealthy (see the table above)")


@task(help={"json": JSON_HELP, "debug": DEBUG_HELP})
def down(ctx: Context, json: bool = False, debug: bool = False) -> None:
    """Stop every sandbox process by pid and delete its database (exit 0 when nothing runs)."""
    from oncall.sandbox import manager

    out = output_for(json)
    with boundary(out, task="sandbox.down", debug=debug):
        result = manager.down(project_root(ctx))
        if result.stopped:
            out.print(f"sandbox stopped in {result.directory}: {', '.join(result.stopped)}")
        elif result.was_running:
            out.print(f"sandbox files removed from {result.directory} (no process was left running)")
        else:
            out.print(f"no sandbox running in {result.directory}; nothing to stop")
        out.emit(
            {
                "ok": True,
                "code": 0,
                "directory": str(result.directory),
                "was_running": result.was_running,
                "stopped": result.stopped,
            }
        )


def _status_doc(result: SandboxStatus) -> dict[str, Any]:
    state = result.state
    return {
        "running": result.running,
        "stale": result.stale,
        "directory": str(result.directory),
        "system": state.system if state else None,
        "target": state.target if state else None,
        "edge_url": state.edge_url if state else None,
        "render_api_url": state.api_url if state else None,
        "components": [vars(c) for c in result.components],
        "page": result.page,
    }


def _print_status(out: Output, result: SandboxStatus) -> None:
    from rich.table import Table

    if result.state is None:
        return
    state = result.state
    table = Table(title=f"sandbox {state.system} (target {state.target}) in {result.directory}")
    for column in ("component", "pid", "port", "url", "healthy", "detail"):
        table.add_column(column)
    for c in result.components:
        table.add_row(
            c.name,
            str(c.pid or "-"),
            str(c.port or "-"),
            c.url or "-",
            "yes" if c.healthy else "no",
            c.detail,
        )
    out.print(table)
    if result.page.get("status"):
        gateway = " (Bad Gateway: the backend is down)" if result.page.get("bad_gateway") else ""
        out.print(f"page {result.page['url']} -> {result.page['status']}{gateway}")


def _print_up(out: Output, result: UpResult, health: SandboxStatus) -> None:
    from oncall.sandbox.manager import ENV_NAMES, backend_error

    state = result.state
    if result.already_running:
        out.print(
            f"a {state.system} sandbox is already running in {result.directory} (since {state.started_at})"
        )
    else:
        out.print(f"sandbox {state.system} is up in {result.directory} ({result.seconds:.1f} s)")
    _print_status(out, health)
    error = backend_error(result.directory)
    if error:
        out.print(f"the backend crashed at start-up, as production did: {error}")
    out.print(f"\nenvironment (secret values hidden here; all in {result.directory / 'env'}):")
    for name in ENV_NAMES:
        out.print(f"  export {name}={result.env.get(name, '')}")
    out.print(f"\nuse it in this shell:  source {result.directory / 'env'}")
    out.print("then:                  invoke triage      (names the cause; exits 1 while there is one)")
    out.print("                       invoke migrate verify restart smoke")
