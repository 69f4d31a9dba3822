"""Tasks: smoke: probe the target's pages for 502s and failed conditions, once or until healthy."""

from __future__ import annotations

from invoke import Context, task

from oncall.tasks._common import (
    DEBUG_HELP,
    DURATION_WORDS,
    JSON_HELP,
    TARGET_HELP,
    boundary,
    count_flag,
    exit_with,
    output_for,
    seconds_flag,
    target_for,
)


@task(
    iterable=["url"],
    help={
        "target": TARGET_HELP,
        "url": "probe this URL (repeatable) with the default conditions instead of the target's smoke list",
        "wait": "poll until every check passes --consecutive times in a row, for at most this long "
        f"({DURATION_WORDS}; default: one pass)",
        "consecutive": "passes in a row that count as healthy under --wait (default 3)",
        "interval": "time between polls of a check under --wait (default 1s)",
        "total_timeout": "how long one request may take in all, redirects and body included (default 15s)",
        "concurrency": "most requests in flight at once (default 50)",
        "ca_file": "PEM file of extra CA certificates to trust (a private CA); SSL_CERT_FILE also works",
        "junit": "also write the result as JUnit XML to this file (for CI)",
        "json": JSON_HELP,
        "debug": DEBUG_HELP,
    },
)
def smoke(  # noqa: PLR0917 - Invoke maps each parameter to a flag; they cannot be keyword-only
    ctx: Context,
    target: str | None = None,
    url: list[str] | None = None,
    wait: str | None = None,
    consecutive: str = "3",
    interval: str = "1s",
    total_timeout: str = "15s",
    concurrency: str = "50",
    ca_file: str | None = None,
    junit: str | None = None,
    json: bool = False,
    debug: bool = False,
) -> None:
    """Probe the target's pages (or --url) for 502s and failed conditions; --wait polls until healthy.

    Exit 0 when every check is healthy, 1 when one is not (at the deadline under --wait), 3 when
    no check got any HTTP answer (refused, DNS, timeout, TLS), 2 for bad input such as a missing
    header variable. Read-only: no run record is written.
    """
    from pathlib import Path

    from oncall.errors import BadInput
    from oncall.probe.junit import write_smoke_junit
    from oncall.probe.report import result_table
    from oncall.probe.run import checks_for, describe_failure
    from oncall.probe.run import smoke as run_smoke

    out = output_for(json)
    with boundary(out, task="smoke", debug=debug):
        options = {
            "wait": seconds_flag(wait, "--wait", example="5m") if wait else None,
            "consecutive": count_flag(consecutive, "--consecutive", minimum=1, example=3),
            "interval": seconds_flag(interval, "--interval", example="1s"),
            "total_timeout": seconds_flag(total_timeout, "--total-timeout", allow_zero=False, example="15s"),
            "concurrency": count_flag(concurrency, "--concurrency", minimum=1, example=50),
        }
        try:
            resolved = target_for(ctx, target)
        except BadInput:
            # Absolute --url checks need no target; without --url the error stands.
            if target or not url:
                raise
            resolved = None
        checks = checks_for(resolved, url or None)
        result = run_smoke(checks, **options, ca_file=ca_file, out=out)
        if junit:
            write_smoke_junit(result, Path(junit))
        out.print(result_table(result.checks))
        if result.ok:
            # On failure the summary leads the exit message instead, so it is not said twice.
            out.print(result.summary(), markup=False)
        if junit:
            out.print(f"JUnit report: {junit}", markup=False)
        name = resolved.name if resolved else None
        out.emit({"task": "smoke", "target": name, **result.as_dict(), "junit": junit})
        bad = [c for c in result.checks if c.verdict != "healthy"]
        lines = [result.summary(), *(describe_failure(c) for c in bad)]
        hints = list(dict.fromkeys(c.hint for c in bad if c.hint))
        lines += [f"  hint: {h}" for h in hints[:2]]
        exit_with(result.code, "\n".join(lines))
