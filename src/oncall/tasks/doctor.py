"""Tasks: targets, doctor, connect: can we reach the database and Render?"""

from __future__ import annotations

import sys

from invoke import Context, task

from oncall.tasks._common import (
    DEBUG_HELP,
    JSON_HELP,
    TARGET_HELP,
    boundary,
    exit_with,
    oncall_config,
    output_for,
    project_root,
    seconds_flag,
    target_for,
)


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


TIMEOUT_HELP = "seconds each network step may take (default: oncall.connect_timeout, 5)"


def _timeout(raw: str | float | None, default: float) -> float:
    if raw is None:
        return default
    return seconds_flag(raw, "--connect-timeout", allow_zero=False, example="5s")


@task(
    help={
        "target": TARGET_HELP,
        "json": JSON_HELP,
        "connect_timeout": TIMEOUT_HELP,
        "debug": DEBUG_HELP,
    }
)
def doctor(
    ctx: Context,
    target: str | None = None,
    json: bool = False,
    connect_timeout: str | None = None,
    debug: bool = False,
) -> None:
    """Diagnose the target: database URL, DNS, TCP, TLS, login, rights, Render key and service.

    Exit 0 when nothing failed (warnings do not fail), 2 bad input, 3 unreachable, 1 other failures.
    """
    _run_checks(
        ctx,
        "doctor",
        target=target,
        json=json,
        connect_timeout=connect_timeout,
        debug=debug,
        database_only=False,
    )


@task(
    help={
        "target": TARGET_HELP,
        "shell": "open psql on the target (password via PGPASSWORD, never argv); exits with psql's code",
        "json": JSON_HELP,
        "connect_timeout": TIMEOUT_HELP,
        "debug": DEBUG_HELP,
    }
)
def connect(  # noqa: PLR0917 - a task's parameters are its CLI flags
    ctx: Context,
    target: str | None = None,
    shell: bool = False,
    json: bool = False,
    connect_timeout: str | None = None,
    debug: bool = False,
) -> None:
    """Check the target's database connection (doctor's database part); --shell opens psql."""
    if not shell:
        _run_checks(
            ctx,
            "connect",
            target=target,
            json=json,
            connect_timeout=connect_timeout,
            debug=debug,
            database_only=True,
        )
        return
    out = output_for(json)
    with boundary(out, task="connect", debug=debug):
        from oncall.db.connect import check_login, database_url_for, find_psql, run_psql
        from oncall.errors import BadInput
        from oncall.redact import redact

        if json:
            raise BadInput("--shell and --json do not go together", "drop --json to open psql")
        chosen = target_for(ctx, target)
        url = database_url_for(chosen)
        psql = find_psql()
        # Log in first so that a wrong password or a dead host gets our cause, hint and exit 3
        # rather than psql's exit 2, which means bad input here.
        check_login(url, connect_timeout=_timeout(connect_timeout, chosen.connect_timeout))
        # stderr, so that stdout carries only what psql prints.
        print(redact(f"psql on {url.where} (sslmode={url.sslmode}) with {psql}"), file=sys.stderr, flush=True)
        code = run_psql(url, psql)
    exit_with(code, f"psql exited with {code}")


def _run_checks(
    ctx: Context,
    name: str,
    *,
    target: str | None,
    json: bool,
    connect_timeout: str | None,
    debug: bool,
    database_only: bool,
) -> None:
    out = output_for(json)
    with boundary(out, task=name, debug=debug):
        from oncall.doctor.checks import failure_message, run_doctor, show

        chosen = target_for(ctx, target)
        timeout = _timeout(connect_timeout, chosen.connect_timeout)
        report = run_doctor(
            chosen, root=project_root(ctx), connect_timeout=timeout, database_only=database_only
        )
        show(out, report, title=f"{name}: target {chosen.name}")
        out.emit({"task": name, "connect_timeout": timeout, **report.as_dict()})
        exit_with(report.code, failure_message(report))
