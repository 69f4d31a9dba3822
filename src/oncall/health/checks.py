"""The four checks `oncall.health` runs, each a thin adapter over the module that owns the work.

    database   oncall.doctor.database_checks (URL, DNS, TCP, login, TLS, version, user)
    schema     oncall.schema.verify (expected objects, nothing pending, no ledger drift)
    render     oncall.render.ops.render_status: not suspended, last finished deploy did not fail
    smoke      oncall.probe.checks_for + smoke(wait=None): one pass, no polling

Each takes a `CheckEnv` and returns an `HealthObservation`, raises an OncallError (a failure with its
code), or raises `Skip` when the target cannot run it. Every call inside has a timeout no longer
than the check's budget, so the thread the runner abandons at the deadline is rare.
"""

from __future__ import annotations

from typing import Any

from oncall.db.connect import database_url_for
from oncall.doctor.checks import FAIL, SKIP, database_checks
from oncall.health.model import CheckEnv, CheckFn, HealthObservation, Skip
from oncall.probe.run import checks_for, describe_failure
from oncall.probe.run import smoke as run_smoke
from oncall.render.client import RenderClient
from oncall.render.ops import render_status
from oncall.schema.verify import verify

# Doctor flags a transaction pooler because `migrate` would break through it; a read-only health
# query works fine there, so that row does not fail the health check.
_NOT_FOR_HEALTH = ("pooler", "create privilege")


def database(env: CheckEnv) -> HealthObservation:
    """Doctor's reachability chain; passes when no row of it failed."""
    rows = database_checks(
        env.target, connect_timeout=min(env.target.connect_timeout, env.timeout), environ=env.environ
    )
    failed = [r for r in rows if r.result == FAIL and r.check not in _NOT_FOR_HEALTH]
    details: dict[str, Any] = {"rows": [r.as_dict() for r in rows if r.result != SKIP]}
    if failed:
        first = failed[0]
        return HealthObservation(
            False, first.code or 1, f"{first.check}: {first.detail}", first.hint, details
        )
    by_name = {r.check: r.detail for r in rows}
    where = by_name.get("database url", "")
    version = by_name.get("server version", "")
    return HealthObservation(True, cause=f"{where}; {version}".strip("; "), details=details)


def schema(env: CheckEnv) -> HealthObservation:
    """`verify` against the live database: every expected object present, nothing pending."""
    url = database_url_for(env.target, environ=env.environ)
    result = verify(env.target, url)
    doc = result.as_dict()
    summary = str(doc.get("summary") or doc.get("verdict") or "")
    if result.ok:
        return HealthObservation(True, cause=summary or "schema matches the migrations", details=doc)
    return HealthObservation(
        False,
        int(result.code),
        summary or "the schema does not match the migrations",
        str(doc.get("hint") or f"invoke verify --target {env.target.name} shows every object"),
        doc,
    )


def render(env: CheckEnv) -> HealthObservation:
    """`render_status`: the service exists, is not suspended, its last finished deploy did not fail."""
    if not (env.environ.get("RENDER_API_KEY") or "").strip():
        raise Skip("skipped: RENDER_API_KEY is not set")
    if not env.target.render_service:
        raise Skip(f"skipped: target {env.target.name} names no render.service")

    # A scheduled check gets one retry inside a third of its budget, not the client's minute.
    budget = max(1.0, env.timeout / 3)
    client = RenderClient.from_env(
        env.environ, connect_timeout=budget, read_timeout=budget, max_attempts=2, retry_budget=budget
    )
    with client:
        status = render_status(env.target, client=client, deploys=5)
    doc = status.as_dict()
    name, sid = doc["service"]["name"], doc["service"]["id"]
    if not status.ok:
        return HealthObservation(
            False,
            status.code,
            f"Render service {name} ({sid}): " + "; ".join(status.problems),
            f"invoke render-status --target {env.target.name} shows the service and its last deploys",
            doc,
        )
    latest = doc["deploys"][0] if doc["deploys"] else None
    seen = f"latest deploy {latest['id']} {latest['status']}" if latest else "no deploys yet"
    return HealthObservation(True, cause=f"{name} ({sid}): {seen}", details=doc)


def smoke(env: CheckEnv) -> HealthObservation:
    """One pass of the target's smoke checks (no waiting), each request within the budget."""
    from urllib.parse import urlsplit

    target = env.target
    if not target.smoke:
        raise Skip(f"skipped: target {target.name} has no smoke checks")
    relative = any(not urlsplit(c.url).scheme for c in target.smoke)
    if relative and target.resolved_base_url(env.environ) is None:
        where = f"${target.base_url_env}" if target.base_url_env else "base_url"
        raise Skip(f"skipped: no base URL for target {target.name} (set {where})")
    checks = checks_for(target, environ=env.environ)
    per_request = max(1.0, env.timeout / 2)
    result = run_smoke(
        checks,
        wait=None,
        connect_timeout=min(5.0, per_request),
        read_timeout=per_request,
        total_timeout=per_request,
        network_retries=1,
    )
    doc = result.as_dict()
    if result.ok:
        return HealthObservation(True, cause=result.summary(), details=doc)
    failures = "; ".join(describe_failure(c) for c in result.checks if c.verdict != "healthy")
    hint = next((c.hint for c in result.checks if c.hint), None)
    return HealthObservation(False, int(result.code), failures or result.summary(), hint, doc)


CHECKS: dict[str, CheckFn] = {"database": database, "schema": schema, "render": render, "smoke": smoke}
