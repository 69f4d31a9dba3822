"""Tasks: targets, doctor, connect: can we reach the database and Render?"""

from __future__ import annotations

from invoke import Context, task

from oncall.tasks._common import JSON_HELP, boundary, oncall_config, output_for, project_root


@task(help={"json": JSON_HELP})
def targets(ctx: Context, json: bool = False) -> None:
    """List the configured targets and which one is active."""
    from rich.table import Table

    from oncall.config import list_targets

    out = output_for(json)
    with boundary(out, task="targets"):
        built, active = list_targets(oncall_config(ctx), root=project_root(ctx))
        if json:
            out.emit(
                {
                    "ok": True,
                    "code": 0,
                    "active": active,
                    "targets": [
                        {
                            "name": t.name,
                            "system": t.system,
                            "ledger": t.ledger,
                            "database_url_env": t.database_url_env,
                            "production": t.production,
                            "render_service": t.render_service,
                            "migrations": str(t.migrations_dir),
                            "active": t.name == active,
                        }
                        for t in built
                    ],
                }
            )
            return
        table = Table(title="targets")
        for column in ("", "name", "system", "ledger", "database URL from", "render service", "production"):
            table.add_column(column)
        for t in built:
            table.add_row(
                "*" if t.name == active else "",
                t.name,
                t.system,
                t.ledger,
                t.database_url_env,
                t.render_service or "-",
                "yes" if t.production else "no",
            )
        out.print(table)
        out.print(f"active target: {active or '(none)'}  (change with --target or INVOKE_ONCALL_TARGET)")
