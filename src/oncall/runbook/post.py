"""Post a recover run's outcome to the alert channels (`invoke recover --post`, issue 19 point 4).

The same channels as `health --notify`: the Slack-style webhook (ONCALL_WEBHOOK_URL) and the
apprise URLs (ONCALL_NOTIFY_URLS), except PagerDuty: a report is news for the team, not a page, and
a PagerDuty event is always a trigger or a resolve. The body is a short, link-free Markdown
summary (verdict, one line per step, the resume command, where the full report is); the full
report stays a file, because it quotes logs and schema details a chat channel need not hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oncall.config import Target
from oncall.errors import BadInput
from oncall.health.channels import PAGERDUTY_SCHEMES, WEBHOOK_ENV, channel_urls, deliver, scheme_of
from oncall.health.notify import webhook_url
from oncall.redact import redact

if TYPE_CHECKING:
    from oncall.runbook.recover import RecoverResult


@dataclass(frozen=True)
class ReportChannels:
    webhook: str | None
    urls: list[str]


def report_channels(target: Target, environ: Mapping[str, str]) -> ReportChannels:
    """Where --post sends the summary; BadInput before anything runs when there is nowhere."""
    urls = [u for u in channel_urls(environ, target.notify_urls_env) if scheme_of(u) not in PAGERDUTY_SCHEMES]
    webhook = webhook_url(environ) if (environ.get(WEBHOOK_ENV) or "").strip() else None
    if webhook is None and not urls:
        raise BadInput(
            f"--post was given but neither {WEBHOOK_ENV} nor {target.notify_urls_env} names a channel "
            "(PagerDuty URLs get no reports)",
            f"export {target.notify_urls_env}='json://host/path' or another apprise URL, or {WEBHOOK_ENV}",
        )
    return ReportChannels(webhook, urls)


def report_summary(result: RecoverResult) -> str:
    """The short Markdown summary: verdict, steps, resume command, report file; no links."""
    failed = result.failed
    verdict = "RESOLVED" if failed is None else f"NOT RESOLVED: {failed.name} failed (exit {failed.code})"
    lines = [f"**recover {result.target}: {verdict}** in {result.duration:.1f} s", ""]
    for step in result.steps:
        summary = f": {step.summary}" if step.summary else ""
        lines.append(f"- {step.name}: {step.status}{summary}")
    if failed is not None:
        lines += ["", f"Resume: `{result.resume_command()}`"]
    if result.others:
        lines += [
            "",
            f"Others ran {len(result.others)} task(s) on {result.target} in the last hour (see the report).",
        ]
    if result.report_path is not None:
        lines += ["", f"Full report: `{result.report_path}`"]
    return redact("\n".join(lines))


def post_report(result: RecoverResult, channels: ReportChannels) -> list[dict[str, Any]]:
    """Send the summary to every report channel; one result per channel, never raises."""
    verdict = "RESOLVED" if result.failed is None else "NOT RESOLVED"
    return deliver(
        webhook=channels.webhook,
        channel_urls=channels.urls,
        event="report",
        text=report_summary(result),
        target=result.target,
        key=f"oncall-recover-{result.target}",
        title=f"oncall recover {result.target}: {verdict}",
    )
