"""Production is a property of what a command touches (issue 17, item 1), through the real `invoke`.

A database or Render service that any `production: true` target resolves to asks for --yes,
whichever target reached it; loopback resources are local; sandbox targets refuse anything remote
before connecting. The remote addresses below are never connected to: each test asserts a refusal
that happens first (a `.invalid` host cannot resolve, so a connection attempt would exit 3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from health_support import migrate_target, scratch_project, target_entry
from oncall.sandbox.render_api import RenderStandIn
from render_support import SERVICE, invoke_env

REMOTE_DB = "postgresql://app:{password}@db.prod.example.invalid:5432/app"
REMOTE_API = "https://api.render.example.invalid/v1"
PASSWORD = "s3cret-prod-pw"


def _remote_db(secret_scan: Any) -> str:
    secret_scan.add(PASSWORD)
    return REMOTE_DB.format(password=PASSWORD)


def _prod_and_renamed(tmp_path: Path, **renamed: Any) -> Path:
    """A production target and `ops`, a non-production copy reading its own variable."""
    prod = target_entry(
        production=True, database_url_env="PROD_DATABASE_URL", render_service="turbo-response-backend"
    )
    ops = target_entry(
        database_url_env="OPS_DATABASE_URL", render_service="turbo-response-backend", **renamed
    )
    return scratch_project(tmp_path / "project", {"prod": prod, "ops": ops}, active="ops")


def test_sandbox_target_with_a_production_database_url_is_refused(run_invoke: Any, secret_scan: Any) -> None:
    """The default `sandbox` target reading a remote DATABASE_URL: exit 4, what to unset, no connection."""
    result = run_invoke("migrate", "--target", "sandbox", env={"DATABASE_URL": _remote_db(secret_scan)})
    assert result.code == 4, result.output
    assert "sandbox target" in result.stderr
    assert "db.prod.example.invalid:5432/app" in result.stderr
    assert "unset DATABASE_URL" in result.stderr
    # --yes does not lift it, and --json carries the refusal.
    again = run_invoke("migrate", "--yes", "--json", env={"DATABASE_URL": _remote_db(secret_scan)})
    assert again.code == 4
    assert again.json()["error"]["type"] == "Refused"


def test_sandbox_target_refuses_a_remote_database_for_reads_too(run_invoke: Any, secret_scan: Any) -> None:
    """status, plan, doctor and verify on `sandbox` with a remote DATABASE_URL: exit 4 before connecting.

    The host is `.invalid`: a DNS lookup or connection would end in exit 3 (doctor's dns row), so
    exit 4 with no doctor rows shows the refusal came first.
    """
    env = {"DATABASE_URL": _remote_db(secret_scan).replace("db.prod.example.invalid", "db.example.invalid")}
    for task in ("status", "plan", "doctor", "verify"):
        result = run_invoke(task, "--target", "sandbox", env=env)
        assert result.code == 4, result.output
        assert (
            "target sandbox is a sandbox target but DATABASE_URL points at db.example.invalid:5432/app"
            in (result.stderr)
        )
        assert "`unset DATABASE_URL`" in result.stderr
        assert "`source .sandbox/env`" in result.stderr
    # A name that only starts like a loopback address is a name, resolved by DNS, not this machine.
    lookalike = {"DATABASE_URL": env["DATABASE_URL"].replace("db.example.invalid", "127.db.example.invalid")}
    refused = run_invoke("status", "--target", "sandbox", env=lookalike)
    assert refused.code == 4, refused.output
    assert "points at 127.db.example.invalid:5432/app, not at this machine" in refused.stderr
    as_json = run_invoke("doctor", "--target", "sandbox", "--json", env=env)
    assert as_json.code == 4
    document = as_json.json()
    assert document["error"]["type"] == "Refused"
    assert "checks" not in document


def test_sandbox_target_refuses_a_remote_render_api_url_for_every_task(
    run_invoke: Any, pg: Any, secret_scan: Any
) -> None:
    """RENDER_API_URL at api.render.com on `sandbox`: every task exits 4 naming it, reads too."""
    secret_scan.add("rnd_not-a-real-key")
    secret_scan.add(pg.password)
    env = {
        "DATABASE_URL": pg.url,
        "RENDER_API_KEY": "rnd_not-a-real-key",
        "RENDER_API_URL": "https://api.render.com/v1",
    }
    for task in ("render-status", "status", "doctor"):
        result = run_invoke(task, "--target", "sandbox", env=env)
        assert result.code == 4, result.output
        assert "the Render API is https://api.render.com/v1 (RENDER_API_URL)" in result.stderr
        assert "`unset RENDER_API_URL RENDER_API_KEY`" in result.stderr
    # A key with RENDER_API_URL unset would reach api.render.com too (doctor's Render rows).
    del env["RENDER_API_URL"]
    keyed = run_invoke("doctor", "--target", "sandbox", env=env)
    assert keyed.code == 4, keyed.output
    assert "the Render API is https://api.render.com/v1 (RENDER_API_URL)" in keyed.stderr


def test_renamed_target_reaching_a_production_database_is_refused(
    run_invoke: Any, secret_scan: Any, tmp_path: Path
) -> None:
    """A non-production target whose URL names the production database: exit 4 without --yes."""
    url = _remote_db(secret_scan)
    project = _prod_and_renamed(tmp_path)
    env = {"PROD_DATABASE_URL": url, "OPS_DATABASE_URL": url.replace(PASSWORD, "other-pw")}
    result = run_invoke("migrate", "--target", "ops", cwd=project, env=env)
    assert result.code == 4, result.output
    assert "database db.prod.example.invalid:5432/app is production (target prod reads it)" in result.stderr
    assert "refusing to migrate without --yes" in result.stderr
    for task in (("baseline", "--to", "20251001_baseline"), ("rollback-migration",)):
        refused = run_invoke(*task, "--target", "ops", cwd=project, env=env)
        assert refused.code == 4, refused.output
        assert "is production (target prod reads it)" in refused.stderr


def test_renamed_target_on_a_loopback_database_needs_no_yes(
    run_invoke: Any, pg: Any, secret_scan: Any, tmp_path: Path
) -> None:
    """The same two targets on a loopback database: local, so `ops` migrates without a prompt."""
    secret_scan.add(pg.password)
    project = _prod_and_renamed(tmp_path)
    env = {"PROD_DATABASE_URL": pg.url, "OPS_DATABASE_URL": pg.url}
    result = run_invoke("migrate", "--target", "ops", "--json", cwd=project, env=env)
    assert result.code == 0, result.output
    assert len(result.json()["applied"]) == 2
    # The production-marked target itself still asks, whatever it points at.
    marked = run_invoke("migrate", "--target", "prod", cwd=project, env=env)
    assert marked.code == 4
    assert "target prod is production" in marked.stderr


def test_renamed_target_restarting_a_production_service_is_refused(
    run_invoke: Any, secret_scan: Any, tmp_path: Path
) -> None:
    """A non-production target naming the production service on the real API: exit 4, nothing sent."""
    secret_scan.add("rnd_not-a-real-key")
    project = _prod_and_renamed(tmp_path)
    env = {"RENDER_API_KEY": "rnd_not-a-real-key", "RENDER_API_URL": REMOTE_API}
    for task in ("restart", "deploy"):
        result = run_invoke(
            task, "--target", "ops", "--no-wait" if task == "restart" else "--force", cwd=project, env=env
        )
        assert result.code == 4, result.output
        assert "Render service turbo-response-backend is production (target prod names it)" in result.stderr


def test_sandbox_target_refuses_a_remote_render_api(
    run_invoke: Any, secret_scan: Any, tmp_path: Path
) -> None:
    """A sandbox target (by name, or `sandbox: true`) never calls a Render API off this machine."""
    secret_scan.add("rnd_not-a-real-key")
    own = target_entry(render_service="srv-sandboxonly")
    project = scratch_project(
        tmp_path / "project", {"sandbox-x": own, "lab": {**own, "sandbox": True}}, active="sandbox-x"
    )
    env = {"RENDER_API_KEY": "rnd_not-a-real-key", "RENDER_API_URL": REMOTE_API}
    for name in ("sandbox-x", "lab"):
        result = run_invoke("render-status", "--target", name, cwd=project, env=env)
        assert result.code == 4, result.output
        assert f"target {name} is a sandbox target but the Render API is {REMOTE_API}" in result.stderr


def test_sandbox_flow_on_loopback_stays_prompt_free(api: RenderStandIn, run_invoke: Any) -> None:
    """The repo's sandbox target shares the production service name; on the loopback stand-in, no --yes."""
    result = run_invoke("restart", "--target", "sandbox", "--no-wait", env=invoke_env(api, api.base_url))
    assert result.code == 0, result.output
    assert api.calls("POST") == 1
    assert SERVICE


def test_targets_and_doctor_warn_about_shared_resources(
    run_invoke: Any, pg: Any, secret_scan: Any, tmp_path: Path
) -> None:
    """`targets` lists every pair that shares a database or service; doctor warns for its target."""
    secret_scan.add(pg.password)
    listed = run_invoke("targets", "--json")
    assert listed.code == 0
    warnings = listed.json()["warnings"]
    assert (
        "targets sandbox and turbo-response-backend name the same Render service turbo-response-backend"
        in (warnings)
    )
    human = run_invoke("targets")
    assert "warning: targets sandbox and turbo-response-backend" in human.stdout

    project = _prod_and_renamed(tmp_path)
    env = {"PROD_DATABASE_URL": pg.url, "OPS_DATABASE_URL": pg.url, "APP_URL": "http://127.0.0.1:9"}
    doctor = run_invoke("doctor", "--target", "ops", "--json", cwd=project, env=env)
    rows = {row["check"]: row for row in doctor.json()["checks"]}
    assert rows["shared"]["result"] == "warn"
    assert (
        f"targets ops and prod reach the same database 127.0.0.1:{pg.server.port}/{pg.name}"
        in rows["shared"]["detail"]
    )
    assert "same Render service turbo-response-backend" in rows["shared"]["detail"]


def test_doctor_looks_at_smoke_headers_and_hints_at_the_render_key(
    run_invoke: Any, pg: Any, secret_scan: Any
) -> None:
    """The production target's admin page needs TURBO_ADMIN_AUTH: doctor says so before restart would."""
    secret_scan.add(pg.password)
    result = run_invoke(
        "doctor", "--target", "turbo-response-backend", "--json", env={"DATABASE_URL": pg.url}
    )
    rows = {row["check"]: row for row in result.json()["checks"]}
    assert rows["smoke"]["result"] == "warn"
    assert "TURBO_ADMIN_AUTH is not set" in rows["smoke"]["detail"]
    assert "export TURBO_ADMIN_AUTH=" in rows["smoke"]["hint"]
    assert rows["render api"]["result"] == "skip"
    assert "export RENDER_API_KEY=" in rows["render api"]["hint"]


def test_health_all_skips_a_remote_sandbox_target_with_the_refusal_of_health_target(
    run_invoke: Any, pg: Any, tmp_path: Path, secret_scan: Any
) -> None:
    """`health --all` with a sandbox target whose DATABASE_URL is remote: that target is refused as
    `health --target sandbox` refuses it (exit 4, same words), before any connection (the host is
    `.invalid`: a connection would be exit 3). Under --all it is left out and named as skipped with
    that refusal; the checked target decides the exit code. With nothing else to check, exit 4."""
    sandbox = target_entry(base_url_env=None)
    own = target_entry(database_url_env="SVC_DATABASE_URL", base_url_env=None)
    project = scratch_project(tmp_path / "project", {"sandbox": sandbox, "svc": own}, active="svc")
    migrate_target(project, "svc", pg.url)
    env = {"DATABASE_URL": _remote_db(secret_scan), "SVC_DATABASE_URL": pg.url}
    single = run_invoke("health", "--target", "sandbox", cwd=project, env=env)
    assert single.code == 4, single.output
    cause, hint = single.stderr.strip().splitlines()[-2:]
    assert cause.startswith(
        "target sandbox is a sandbox target but DATABASE_URL points at db.prod.example.invalid:5432/app"
    )
    every = run_invoke("health", "--all", cwd=project, env=env)
    assert every.code == 0, every.output
    assert f"health of sandbox: SKIPPED, not checked: {cause}" in every.stdout
    assert hint in every.stdout
    assert "health of svc: healthy" in every.stdout
    as_json = run_invoke("health", "--all", "--json", cwd=project, env=env)
    assert as_json.code == 0
    doc = as_json.json()
    assert [(t["target"], t["ok"]) for t in doc["targets"]] == [("svc", True)]
    [skipped] = doc["skipped"]
    assert (skipped["target"], skipped["code"], skipped["cause"]) == ("sandbox", 4, cause)
    pg.execute("DROP TABLE oncall_migrations")
    failing = run_invoke("health", "--all", cwd=project, env=env)
    assert failing.code == 1, failing.output
    alone = scratch_project(tmp_path / "alone", {"sandbox": sandbox}, active="sandbox")
    nothing = run_invoke("health", "--all", cwd=alone, env=env)
    assert nothing.code == 4, nothing.output
    assert nothing.stderr.strip().splitlines()[-2:] == [cause, hint]
