"""Task: demo: the incident and the runbook's recovery, end to end, on this machine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke import Context, task

from oncall.tasks._common import DEBUG_HELP, JSON_HELP, boundary, exit_with, output_for, project_root

if TYPE_CHECKING:
    from oncall.output import Output
    from oncall.sandbox.demo import DemoResult


@task(
    help={
        "system": "seed system to play: turbo-response (plain SQL, default) or trdrhub (Alembic ledger)",
        "keep": "leave the sandbox running afterwards (stop it with invoke sandbox.down)",
        "json": JSON_HELP,
        "debug": DEBUG_HELP,
    }
)
def demo(
    ctx: Context, system: str = "turbo-response", keep: bool = False, json: bool = False, debug: bool = False
) -> None:
    """Play the incident locally: 502, triage, then migrate verify restart smoke, and the page is back."""
    from oncall.sandbox.demo import run_demo

    out = output_for(json)
    with boundary(out, task="demo", debug=debug):
        out.print(f"oncall demo: the {system} incident and its recovery, all on 127.0.0.1")
        # Relayed lines were laid out by the step that printed them: never re-wrap them.
        result = run_demo(
            project_root(ctx),
            system,
            keep=keep,
            echo=lambda text: out.print(text, markup=False, soft_wrap=True),
        )
        _print_timeline(out, result)
        failed = next((s for s in result.steps if not s.ok), None)
        code = 0 if failed is None else (failed.code if failed.code in (1, 2, 3, 4, 5) else 1)
        out.emit(
            {
                "ok": result.ok,
                "code": code,
                "system": result.system,
                "seconds": round(result.seconds, 2),
                "kept": result.kept,
                "env_file": str(result.env_file) if result.kept else None,
                "steps": [
                    {
                        "step": s.name,
                        "command": s.command,
                        "start": round(s.started, 2),
                        "seconds": round(s.seconds, 2),
                        "code": s.code,
                        "ok": s.ok,
                        "result": s.result,
                    }
                    for s in result.steps
                ],
            }
        )
        if failed is not None:
            exit_with(code, f"demo failed at {failed.name}: {failed.result}")


def _print_timeline(out: Output, result: DemoResult) -> None:
    from rich.table import Table

    table = Table(title=f"timeline: {result.system} incident and recovery")
    for column, justify in (("step", "left"), ("start", "right"), ("duration", "right"), ("result", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for s in result.steps:
        table.add_row(
            s.name,
            f"+{s.started:.1f} s",
            f"{s.seconds:.1f} s",
            s.result if s.ok else f"FAILED: {s.result}",
        )
    out.print()
    out.print(table)
    verdict = "recovered" if result.ok else "did not recover"
    out.print(f"{verdict} in {result.seconds:.1f} s")
    if result.kept and result.env_file:
        out.print(f"the sandbox is still running: source {result.env_file}; stop it with invoke sandbox.down")
