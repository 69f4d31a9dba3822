"""The four checks `oncall.health` runs, each a thin adapter over the module that owns the work.

    database   oncall.doctor.database_checks (URL, DNS, TCP, login, TLS, version, user)
    schema     oncall.schema.verify (expected objects, nothing pending, no ledger drift)
    render     oncall.render.RenderClient: service found, not suspended, newest finished deploy live
    smoke      oncall.probe.checks_for + smoke(wait=None): one pass, no polling

Each takes a `CheckEnv` and returns an `Observation`, raises an OncallError (a failure with its
code), or raises `Skip` when the target cannot run it. Every call inside has a timeout no longer
than the check's budget, so the thread the runner abandons at the deadline is rare.
"""

from __future__ import annotations

from typing import Any

from oncall.health import CheckEnv, CheckFn, Observation, Skip

# Doctor flags a transaction pooler because `migrate` would break through it; a read-only health
# query works fine there, so that row does not fail the health check.
_NOT_FOR_HEALTH = ("pooler", "create privilege")


def database(env: CheckEnv) -> Observation:
    """Doctor's reachability chain; passes when no row of it failed."""
    from oncall.doctor import FAIL, database_checks

    rows = database_checks(
        env.target, connect_timeout=min(env.target.connect_timeout, env.timeout), environ=env.environ
    )
    failed = [r for r in rows if r.result == FAIL and r.check not in _NOT_FOR_HEALTH]
    details: dict[str, Any] = {"rows": [r.as_dict() for r in rows if r.result != "skip"]}
    if failed:
        first = failed[0]
        return Observation(False, first.code or 1, f"{first.check}: {first.detail}", first.hint, details)
    by_name = {r.check: r.detail for r in rows}
    where = by_name.get("database url", "")
    version = by_name.get("server version", "")
    return Observation(True, cause=f"{where}; {version}".strip("; "), details=details)


def schema(env: CheckEnv) -> Observation:
    """`verify` against the live database: every expected object present, nothing pending."""
    from oncall.db import parse_database_url
    from oncall.schema import verify

    url = parse_database_url(env.target.database_url(env.environ), source=env.target.database_url_env)
    result = verify(env.target, url)
    doc = result.as_dict()
    summary = str(doc.get("summary") or doc.get("verdict") or "")
    if result.ok:
        return Observation(True, cause=summary or "schema matches the migrations", details=doc)
    return Observation(
        False,
        int(result.code),
        summary or "the schema does not match the migrations",
        str(doc.get("hint") or f"invoke verify --target {env.target.name} shows every object"),
        doc,
    )


_ACTIVE = frozenset(
    {"created", "queued", "build_in_progress", "update_in_progress", "pre_deploy_in_progress"}
)


def render(env: CheckEnv) -> Observation:
    """The Render service exists, is not suspended, and its newest finished deploy is live."""
    if not (env.environ.get("RENDER_API_KEY") or "").strip():
        raise Skip("skipped: RENDER_API_KEY is not set")
    wanted = env.target.render_service
    if not wanted:
        raise Skip(f"skipped: target {env.target.name} names no render.service")
    from oncall.render import DEPLOY_FAILED, RenderClient

    budget = max(1.0, env.timeout / 3)
    client = RenderClient.from_env(
        env.environ, connect_timeout=budget, read_timeout=budget, max_attempts=2, retry_budget=budget
    )
    with client:
        service = client.find_service(wanted)
        sid = str(service.get("id"))
        details: dict[str, Any] = {
            "service": {k: service.get(k) for k in ("id", "name", "type", "suspended")}
        }
        if service.get("suspended") == "suspended":
            return Observation(
                False,
                1,
                f"Render service {wanted} ({sid}) is suspended",
                "resume it in the Render dashboard; nothing is served while it is suspended",
                details,
            )
        deploys = client.list_deploys(sid, limit=5)
    details["deploys"] = [{k: d.get(k) for k in ("id", "status", "createdAt", "finishedAt")} for d in deploys]
    if not deploys:
        return Observation(True, cause=f"{wanted} ({sid}): no deploys yet", details=details)
    newest = deploys[0]
    finished = next((d for d in deploys if d.get("status") not in _ACTIVE), None)
    note = ""
    if newest.get("status") in _ACTIVE:
        note = f"; deploy {newest.get('id')} is {newest.get('status')}"
    if finished is None:
        return Observation(True, cause=f"{wanted} ({sid}): first deploy in progress{note}", details=details)
    status = str(finished.get("status"))
    if status in DEPLOY_FAILED:
        return Observation(
            False,
            1,
            f"latest deploy {finished.get('id')} of {wanted} ended {status}{note}",
            f"invoke render-status --target {env.target.name}; fix the cause, then invoke deploy",
            details,
        )
    return Observation(
        True, cause=f"{wanted} ({sid}): deploy {finished.get('id')} {status}{note}", details=details
    )


def smoke(env: CheckEnv) -> Observation:
    """One pass of the target's smoke checks (no waiting), each request within the budget."""
    from urllib.parse import urlsplit

    from oncall.probe import checks_for, describe_failure
    from oncall.probe import smoke as run_smoke

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
        return Observation(True, cause=result.summary(), details=doc)
    failures = "; ".join(describe_failure(c) for c in result.checks if c.verdict != "healthy")
    hint = next((c.hint for c in result.checks if c.hint), None)
    return Observation(False, int(result.code), failures or result.summary(), hint, doc)


CHECKS: dict[str, CheckFn] = {"database": database, "schema": schema, "render": render, "smoke": smoke}
