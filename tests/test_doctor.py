"""`invoke doctor`: one row per check, one JSON document, and the exit codes of DESIGN.md.

Every case runs the real `invoke` command against real PostgreSQL, real sockets, and the Render
stand-in on 127.0.0.1.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from doctor_support import (
    INVOKE,
    app_project,
    closed_port,
    in_loopback_namespace,
    loopback_namespace_available,
    make_project,
    rows,
    silent_listener,
    target_entry,
)
from fix_invoke import RunInvoke, clean_env
from fix_pg import TestDatabase
from fix_secrets import SecretScan
from oncall.sandbox.render_api import RenderStandIn, make_service

DATABASE_ROWS = (
    "database url",
    "pooler",
    "dns",
    "tcp",
    "login",
    "tls",
    "server version",
    "current user",
    "create privilege",
)


def _last_lines(stderr: str) -> list[str]:
    """The exit message Invoke prints: the cause line and the hint line."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[-2:]


def _doctor(run_invoke, url: str | None, *args: str, **env: str):  # type: ignore[no-untyped-def]
    full_env = dict(env)
    if url is not None:
        full_env["DATABASE_URL"] = url
    result = run_invoke("doctor", "--json", *args, env=full_env)
    return result, rows(result.json())


def test_healthy_target_passes_every_database_check(pg: TestDatabase, run_invoke: RunInvoke) -> None:
    """Against a reachable database every database row is ok, Render rows skip, and the exit is 0."""
    result, by_name = _doctor(run_invoke, pg.url)
    document = result.json()
    assert (result.code, document["ok"], document["code"], document["target"]) == (0, True, 0, "sandbox")
    assert [name for name in by_name if name in DATABASE_ROWS] == list(DATABASE_ROWS)
    assert {by_name[name]["result"] for name in DATABASE_ROWS} == {"ok"}
    assert by_name["current user"]["detail"] == f"app in database {pg.name}"
    assert by_name["server version"]["detail"].startswith(f"PostgreSQL {pg.server.version}.")
    assert by_name["render api"] == {
        **by_name["render api"],
        "result": "skip",
        "detail": "RENDER_API_KEY not set",
    }
    assert isinstance(document["total_s"], float)


def test_human_output_is_a_table_with_total_time(pg: TestDatabase, run_invoke: RunInvoke) -> None:
    """Without --json, stdout has the table (check, result, detail, hint) and the total time."""
    result = run_invoke("doctor", env={"DATABASE_URL": pg.url})
    assert result.code == 0
    for word in ("check", "result", "detail", "hint", "database url", "create privilege", "render.yaml"):
        assert word in result.stdout
    assert "total " in result.stdout
    # The two warnings: the sandbox target has no smoke base URL here, and shares DATABASE_URL.
    assert " s: 9 ok, 2 warn, 0 fail, 3 skip" in result.stdout
    # The nine passing rows collapse into one line; --verbose shows each.
    assert (
        "9 ok: database url, pooler, dns, tcp, login, tls, server version, current user, create privilege"
        in (result.stdout)
    )
    verbose = run_invoke("doctor", "--verbose", env={"DATABASE_URL": pg.url})
    assert [line.split()[0] for line in verbose.stdout.splitlines() if line.startswith("login ")] == ["login"]
    assert "9 ok:" not in verbose.stdout


def test_json_mode_prints_exactly_one_document(pg: TestDatabase, run_invoke: RunInvoke) -> None:
    """--json: stdout parses as one JSON document; no table on stderr (issue 17)."""
    result = run_invoke("doctor", "--json", env={"DATABASE_URL": pg.url})
    json.loads(result.stdout)
    assert "detail" not in result.stderr  # the table's header: the table stays off stderr
    assert "total " in result.stderr  # the one-line verdict stays


def test_missing_variable_is_bad_input(run_invoke: RunInvoke) -> None:
    """DATABASE_URL unset: exit 2, the url row fails naming the variable, later database rows skip."""
    result, by_name = _doctor(run_invoke, None)
    assert result.code == 2
    assert by_name["database url"]["result"] == "fail"
    assert _last_lines(result.stderr)[0] == (
        "database url: DATABASE_URL is not set (target sandbox reads its database URL from it)"
    )
    assert {by_name[name]["result"] for name in DATABASE_ROWS[1:]} == {"skip"}


def test_empty_url_is_bad_input(run_invoke: RunInvoke) -> None:
    """An empty DATABASE_URL: exit 2, 'set but empty'."""
    result, _ = _doctor(run_invoke, "")
    assert result.code == 2
    assert _last_lines(result.stderr)[0] == "database url: DATABASE_URL is set but empty (target sandbox)"


def test_bad_scheme_is_bad_input(run_invoke: RunInvoke, secret_scan: SecretScan) -> None:
    """A mysql:// URL: exit 2, the scheme is named, the password is not."""
    secret_scan.add("scheme-secret-9")
    result, _ = _doctor(run_invoke, "mysql://app:scheme-secret-9@127.0.0.1:3306/app")
    assert result.code == 2
    assert _last_lines(result.stderr)[0] == (
        "database url: DATABASE_URL has scheme 'mysql'; PostgreSQL URLs start with postgresql:// or postgres://"
    )


def test_unknown_host_is_unreachable(run_invoke: RunInvoke, tmp_path: Path) -> None:
    """A host that does not resolve: exit 3 on the dns row, tcp and later rows skip."""
    url = "postgresql://app:pw@no-such-host.invalid:5432/app"
    result = run_invoke("doctor", "--json", env={"DATABASE_URL": url}, cwd=app_project(tmp_path / "proj"))
    by_name = rows(result.json())
    assert result.code == 3
    assert by_name["dns"]["result"] == "fail"
    assert by_name["tcp"]["result"] == "skip"
    assert _last_lines(result.stderr)[0].startswith("dns: DNS: host 'no-such-host.invalid' does not resolve")


def test_refused_port_is_unreachable(run_invoke: RunInvoke) -> None:
    """Nothing listening on the port: exit 3, 'connection refused' on the tcp row."""
    port = closed_port()
    result, by_name = _doctor(run_invoke, f"postgresql://app:pw@127.0.0.1:{port}/app")
    assert result.code == 3
    assert by_name["tcp"]["result"] == "fail"
    assert _last_lines(result.stderr)[0] == (f"tcp: connection refused by 127.0.0.1:{port}")


def test_wrong_password_names_the_user(
    pg: TestDatabase, run_invoke: RunInvoke, secret_scan: SecretScan
) -> None:
    """A wrong password: exit 3, the login row names the user, the password appears nowhere."""
    secret_scan.add("wrong-password-77")
    result, by_name = _doctor(run_invoke, pg.url.replace(pg.password, "wrong-password-77"))
    assert result.code == 3
    assert by_name["login"]["result"] == "fail"
    assert _last_lines(result.stderr)[0] == (
        f"login: authentication failed for user 'app' on 127.0.0.1:{pg.server.port}"
    )
    assert "wrong-password-77" not in result.output


def test_missing_database_is_unreachable(pg: TestDatabase, run_invoke: RunInvoke) -> None:
    """A database name that does not exist: exit 3, the name is in the cause."""
    result, _ = _doctor(run_invoke, pg.url.rsplit("/", 1)[0] + "/nope_db")
    assert result.code == 3
    assert _last_lines(result.stderr)[0] == (
        f"login: database 'nope_db' does not exist on 127.0.0.1:{pg.server.port}"
    )


def test_silent_server_times_out_instead_of_hanging(run_invoke: RunInvoke) -> None:
    """A socket that accepts but never answers: tcp ok, login fails with 'no answer' and exit 3."""
    with silent_listener() as port:
        result, by_name = _doctor(
            run_invoke, f"postgresql://app:pw@127.0.0.1:{port}/app", "--connect-timeout", "2"
        )
    assert result.code == 3
    assert (by_name["tcp"]["result"], by_name["login"]["result"]) == ("ok", "fail")
    assert _last_lines(result.stderr)[0] == (
        f"login: no answer from 127.0.0.1:{port} within the connect timeout"
    )
    assert result.json()["connect_timeout"] == 2.0


def test_transaction_pooler_port_fails_as_bad_input(run_invoke: RunInvoke) -> None:
    """Port 6543 is flagged as a transaction-mode pooler: exit 2 (first failure), the other rows still run.

    Detection is by URL; port 6543 on 127.0.0.1 may or may not have a listener, so the tcp row is
    not asserted, only that it ran.
    """
    result, by_name = _doctor(run_invoke, "postgresql://app:pw@127.0.0.1:6543/app", "--connect-timeout", "2")
    assert result.code == 2
    assert by_name["pooler"]["result"] == "fail"
    assert "advisory locks, SET and prepared statements" in by_name["pooler"]["hint"]
    assert by_name["tcp"]["result"] in ("ok", "fail")
    assert _last_lines(result.stderr)[0].startswith(
        "pooler: 127.0.0.1:6543 is a transaction-mode pooler: port 6543 is the transaction-mode pooler port"
    )


def test_pgbouncer_flag_fails_even_when_login_works(pg: TestDatabase, run_invoke: RunInvoke) -> None:
    """?pgbouncer=true marks a transaction pooler: exit 2 although the login itself succeeds."""
    result, by_name = _doctor(run_invoke, pg.url + "?pgbouncer=true")
    assert (result.code, by_name["pooler"]["result"]) == (2, "fail")
    assert by_name["login"]["result"] == "ok"


@pytest.mark.skipif(not loopback_namespace_available(), reason="needs unshare -rn (user + net namespaces)")
def test_ipv6_only_host_from_ipv4_network_gets_the_session_pooler_hint(tmp_path: Path) -> None:
    """'Network is unreachable' to an IPv6-only address: exit 3 with Supabase's session-pooler hint."""
    env = clean_env(tmp_path, {"DATABASE_URL": "postgresql://postgres:pw@[2001:db8::1]:5432/postgres"})
    argv = [str(INVOKE), "doctor", "--json", "--connect-timeout", "2"]
    proc = in_loopback_namespace(argv, env, cwd=app_project(tmp_path / "proj"))
    by_name = rows(json.loads(proc.stdout))
    assert proc.returncode == 3
    assert by_name["dns"]["detail"] == "2001:db8::1 (IPv6); IPv6 only"
    assert by_name["tcp"]["detail"].startswith("network is unreachable for [2001:db8::1]:5432")
    assert "pooler.supabase.com, port 5432, user postgres.<ref>" in by_name["tcp"]["hint"]


def test_missing_create_right_warns_but_passes(pg: TestDatabase, run_invoke: RunInvoke) -> None:
    """A role that may not CREATE in the schema gets a warning; warnings do not fail (exit 0)."""
    pg.execute("CREATE ROLE viewer LOGIN PASSWORD 'viewer-pass-1'")
    pg.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    result, by_name = _doctor(run_invoke, pg.server.url(pg.name, "viewer", "viewer-pass-1"))
    assert result.code == 0
    assert by_name["create privilege"]["result"] == "warn"
    assert (
        by_name["create privilege"]["detail"]
        == "viewer may not CREATE in schema public: migrations would fail"
    )


def test_unknown_target_lists_known_ones(run_invoke: RunInvoke, tmp_path: Path) -> None:
    """--target nope: exit 2, the cause names it and the hint lists the configured targets."""
    project = make_project(tmp_path / "proj", {"targets": {"web": target_entry(), "api": target_entry()}})
    result = run_invoke("doctor", "--target", "nope", cwd=project)
    assert result.code == 2
    assert _last_lines(result.stderr) == ["unknown target 'nope'", "hint: known targets: api, web"]


def test_bad_connect_timeout_is_bad_input(run_invoke: RunInvoke, tmp_path: Path) -> None:
    """--connect-timeout soon: exit 2 naming the value."""
    env = {"DATABASE_URL": "postgresql://a:b@c/d"}
    result = run_invoke("doctor", "--connect-timeout", "soon", env=env, cwd=app_project(tmp_path / "proj"))
    assert result.code == 2
    assert _last_lines(result.stderr)[0] == "--connect-timeout 'soon' is not a duration"


# -- Render ------------------------------------------------------------------------------------


@pytest.fixture
def render_api(secret_scan: SecretScan) -> Iterator[RenderStandIn]:
    key = "rnd_" + secrets.token_hex(16)
    secret_scan.add(key)
    api = RenderStandIn(api_key=key)
    api.start()
    try:
        yield api
    finally:
        api.stop()


def _render_env(api: RenderStandIn, pg: Any, key: str | None = None) -> dict[str, str]:
    return {"DATABASE_URL": pg.url, "RENDER_API_KEY": key or api.api_key, "RENDER_API_URL": api.base_url}


def test_render_key_and_service_by_exact_name(
    pg: TestDatabase, run_invoke: RunInvoke, render_api: RenderStandIn
) -> None:
    """With RENDER_API_KEY the key is accepted and the target's service resolves by exact name."""
    wanted = render_api.add_service(make_service("turbo-response-backend"))
    render_api.add_service(make_service("turbo-response-backend-staging"))
    result = run_invoke("doctor", "--json", env=_render_env(render_api, pg))
    by_name = rows(result.json())
    assert result.code == 0
    assert by_name["render api"]["result"] == "ok"
    assert by_name["render service"]["result"] == "ok"
    assert wanted["id"] in by_name["render service"]["detail"]


def test_render_service_by_srv_id(
    pg: TestDatabase, run_invoke: RunInvoke, render_api: RenderStandIn, tmp_path: Path
) -> None:
    """A render.service given as a srv- id resolves to that service."""
    service = render_api.add_service(make_service("api"))
    project = make_project(
        tmp_path / "proj",
        {"target": "t", "targets": {"t": target_entry(render={"service": service["id"]})}},
    )
    result = run_invoke("doctor", "--json", env=_render_env(render_api, pg), cwd=project)
    assert result.code == 0
    assert rows(result.json())["render service"]["detail"].startswith(f"{service['id']} -> {service['id']}")


def test_bad_render_key_is_unreachable(
    pg: TestDatabase, run_invoke: RunInvoke, render_api: RenderStandIn, secret_scan: SecretScan
) -> None:
    """A key Render rejects (401): exit 3 on the render api row; the key is never printed."""
    bad = "rnd_" + secrets.token_hex(16)
    secret_scan.add(bad)
    result = run_invoke("doctor", "--json", env=_render_env(render_api, pg, key=bad))
    by_name = rows(result.json())
    assert result.code == 3
    assert by_name["render api"]["result"] == "fail"
    assert by_name["render service"]["result"] == "skip"
    assert "rejected the API key (401" in by_name["render api"]["detail"]
    assert bad not in result.output


def test_render_service_not_found_is_bad_input(
    pg: TestDatabase, run_invoke: RunInvoke, render_api: RenderStandIn
) -> None:
    """No service with the target's name: exit 2, the name is in the cause."""
    render_api.add_service(make_service("something-else"))
    result = run_invoke("doctor", "--json", env=_render_env(render_api, pg))
    assert result.code == 2
    assert _last_lines(result.stderr)[0] == (
        "render service: no Render service named 'turbo-response-backend' visible to this API key"
    )


def test_two_services_with_one_name_is_an_error_naming_both(
    pg: TestDatabase, run_invoke: RunInvoke, render_api: RenderStandIn
) -> None:
    """Two services named like the target's: exit 2, both srv- ids in the cause."""
    first = render_api.add_service(make_service("turbo-response-backend"))
    second = render_api.add_service(make_service("turbo-response-backend"))
    result = run_invoke("doctor", "--json", env=_render_env(render_api, pg))
    cause = _last_lines(result.stderr)[0]
    assert result.code == 2
    assert cause.startswith("render service: 2 Render services are named 'turbo-response-backend'")
    assert first["id"] in cause
    assert second["id"] in cause


# -- render.yaml --------------------------------------------------------------------------------


def _yaml_project(tmp_path: Path, text: str, **entry: Any) -> Path:
    project = make_project(tmp_path / "proj", {"target": "t", "targets": {"t": target_entry(**entry)}})
    path = project / entry.get("render_yaml", "render.yaml")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return project


def test_post_deploy_command_in_render_yaml_fails(
    pg: TestDatabase, run_invoke: RunInvoke, tmp_path: Path
) -> None:
    """render.yaml in the project root with postDeployCommand: exit 1, line named, preDeployCommand hinted."""
    project = _yaml_project(
        tmp_path,
        "services:\n  - type: web\n    name: trdrhub-api\n    postDeployCommand: alembic upgrade head\n",
    )
    result = run_invoke("doctor", "--json", env={"DATABASE_URL": pg.url}, cwd=project)
    row = rows(result.json())["render.yaml"]
    assert result.code == 1
    assert row["detail"] == "render.yaml line 4: postDeployCommand is not a Render key; Render never runs it"
    assert row["hint"].startswith("rename it to preDeployCommand")


def test_pre_deploy_command_in_configured_render_yaml_passes(
    pg: TestDatabase, run_invoke: RunInvoke, tmp_path: Path
) -> None:
    """A target's render_yaml with preDeployCommand is ok and shows the command."""
    project = _yaml_project(
        tmp_path,
        "services:\n  - type: web\n    name: api\n    preDeployCommand: alembic upgrade head\n",
        render_yaml="deploy/render.yaml",
    )
    result = run_invoke("doctor", "--json", env={"DATABASE_URL": pg.url}, cwd=project)
    assert result.code == 0
    assert (
        rows(result.json())["render.yaml"]["detail"] == "render.yaml: preDeployCommand: alembic upgrade head"
    )


def test_configured_render_yaml_that_is_missing_is_bad_input(
    pg: TestDatabase, run_invoke: RunInvoke, tmp_path: Path
) -> None:
    """A target naming a render_yaml that does not exist: exit 2, the path is named."""
    project = make_project(
        tmp_path / "proj", {"target": "t", "targets": {"t": target_entry(render_yaml="render.missing.yaml")}}
    )
    result = run_invoke("doctor", "--json", env={"DATABASE_URL": pg.url}, cwd=project)
    assert result.code == 2
    assert "render.missing.yaml" in rows(result.json())["render.yaml"]["detail"]
