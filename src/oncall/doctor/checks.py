"""Doctor: can we reach the database and Render, and with what rights? One result row per check.

Checks run in dependency order; once a link of the database chain fails (URL -> DNS -> TCP -> login)
the checks after it are skipped, because their answers would only repeat the first failure:

    database url      the target's variable is set and parses             fail: 2
    pooler            a transaction-mode pooler (port 6543, ?pgbouncer=true) fail: 2, unknown mode: warn
    dns               the host resolves (IPv4 / IPv6 listed)              fail: 3
    tcp               some address accepts within the connect timeout     fail: 3
    login             libpq start-up: TLS negotiation, password, database  fail: 3
    tls               TLS in use, and the sslmode                         plain text to a remote host: warn
    server version    the server's version                                 (information)
    current user      who we are, superuser or not                        (information)
    create privilege  may we CREATE in the target's schema                no: warn
    render api        RENDER_API_KEY is accepted                          fail: 3 (skip without a key)
    render service    the target's service resolves by exact name or id  not found / ambiguous: 2
    render.yaml       no postDeployCommand (not a Render key)            fail: 1 (skip without a file)
    smoke             base URL resolves, every header_env variable set    warn (skip without checks)
    shared            no other target reaches the same database/service  warn
    alembic           (format: alembic) the revisions read (any heads),
                      and `<alembic_command> --version` runs               fail: 2

A transaction pooler fails (exit 2) rather than warns: the URL doctor checks is the one `migrate`
uses, and a migration through it silently loses its advisory lock, its SET lock_timeout and its
prepared statements. A pooler of unknown mode only warns, because session mode is fine.
Missing CREATE only warns: a read-only role is right for health checks, and `migrate` says so itself.

The exit code is that of the first failed check (the root cause); warnings never fail the run.
Every check is bounded in time (see `oncall.db.connect.bounded`), so doctor cannot hang.
"""

from __future__ import annotations

import errno
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oncall.config import Target
from oncall.db import connect as db
from oncall.db.errors import SUPABASE_IPV6_HINT
from oncall.errors import ExitCode, OncallError
from oncall.migrations.files import alembic_project
from oncall.migrations.sources.alembic import heads, read_graph
from oncall.migrations.sources.alembic_offline import run_alembic
from oncall.output import Output
from oncall.probe import run as probe
from oncall.render.client import RenderClient
from oncall.render.env import service_url_row
from oncall.safety import shared_resources
from oncall.status import Status

OK, WARN, FAIL, SKIP = Status.OK, Status.WARN, Status.FAIL, Status.SKIP
_SERVICE_ID = re.compile(r"^(srv|crn)-[a-z0-9]+$")


@dataclass
class DoctorRow:
    """One row of the doctor table."""

    check: str
    result: str = OK
    detail: str = ""
    hint: str | None = None
    duration: float = 0.0
    code: int = 0  # the exit code this row asks for when it failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "result": self.result,
            "detail": self.detail,
            "hint": self.hint,
            "duration_ms": round(self.duration * 1000, 1),
            "code": self.code,
        }


@dataclass
class DoctorReport:
    """All rows of one run, the target they were run for, and the wall time."""

    target: str
    checks: list[DoctorRow] = field(default_factory=list)
    total: float = 0.0

    @property
    def first_failure(self) -> DoctorRow | None:
        return next((c for c in self.checks if c.result == FAIL), None)

    @property
    def code(self) -> int:
        failed = self.first_failure
        return failed.code if failed else int(ExitCode.OK)

    @property
    def ok(self) -> bool:
        return self.first_failure is None

    def get(self, name: str) -> DoctorRow:
        return next(c for c in self.checks if c.check == name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "code": self.code,
            "target": self.target,
            "checks": [c.as_dict() for c in self.checks],
            "total_s": round(self.total, 3),
        }


class _Rows:
    """Collects rows; `run` times one check and turns an OncallError into a failed row."""

    def __init__(self) -> None:
        self.checks: list[DoctorRow] = []

    def add(self, check: DoctorRow) -> DoctorRow:
        self.checks.append(check)
        return check

    def skip(self, name: str, why: str) -> DoctorRow:
        return self.add(DoctorRow(name, SKIP, why))

    @contextmanager
    def run(self, name: str) -> Iterator[DoctorRow]:
        row = DoctorRow(name)
        started = time.monotonic()
        try:
            yield row
        except OncallError as exc:
            row.result, row.detail, row.hint, row.code = FAIL, exc.cause, exc.hint, int(exc.code)
        finally:
            row.duration = time.monotonic() - started
            self.checks.append(row)

    def failed(self, name: str) -> bool:
        return any(c.check == name and c.result == FAIL for c in self.checks)


DATABASE_CHECKS = (
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


def _skip_rest(rows: _Rows, after: str, why: str) -> None:
    for name in DATABASE_CHECKS[DATABASE_CHECKS.index(after) + 1 :]:
        if not any(c.check == name for c in rows.checks):
            rows.skip(name, why)


def _pooler_row(row: DoctorRow, url: db.DatabaseURL) -> None:
    mode = db.pooler_mode(url)
    row.detail = mode.reason
    if mode.mode == "transaction":
        row.result, row.code = FAIL, int(ExitCode.BAD_INPUT)
        row.detail = f"{url.hostport} is a transaction-mode pooler: {mode.reason}"
        row.hint = (
            "migrations need a direct or session-mode connection (advisory locks, SET and prepared "
            "statements break in transaction mode): use port 5432 on the same pooler host (session "
            f"mode) or the direct host, in {url.source}"
        )
    elif mode.mode == "pooler-unknown-mode":
        row.result = WARN
        row.hint = "make sure the pooler runs in session mode (pool_mode = session) for migrations"


def _tcp_row(row: DoctorRow, addresses: list[db.Address], url: db.DatabaseURL, timeout: float) -> None:
    attempts = db.probe_tcp(addresses, url.port, timeout)
    answered = next((a for a in attempts if a.ok), None)
    failed = [a for a in attempts if not a.ok]
    # With one address the error alone says it all; with several, each address gets its own.
    if len(addresses) > 1:
        failures = "; ".join(f"{a.address.ip}: {a.error}" for a in failed)
    else:
        failures = failed[0].error or "" if failed else ""
    if answered is not None:
        row.detail = f"{answered.address.ip} port {url.port} accepted in {answered.seconds * 1000:.0f} ms"
        if failed:
            row.detail += f" (before that {failures})"
        return
    where = url.hostport
    row.result, row.code = FAIL, int(ExitCode.UNREACHABLE)
    if not attempts:
        row.detail, row.hint = f"no address of {where} could be tried", "check the host in the URL"
    elif any(a.unreachable for a in attempts) and all(a.family == "IPv6" for a in addresses):
        row.detail = f"network is unreachable for {where}: the host has only IPv6 addresses ({failures})"
        row.hint = SUPABASE_IPV6_HINT
    elif all(a.errno == errno.ECONNREFUSED for a in attempts):
        row.detail = f"connection refused by {where}" + (f" ({failures})" if len(addresses) > 1 else "")
        row.hint = "is the server running and listening on that port? check the port in the URL"
    else:
        row.detail = f"no connection to {where} within {timeout:g} s ({failures})"
        row.hint = "check firewalls and the provider's network restrictions, or raise --connect-timeout"


def _session_rows(rows: _Rows, url: db.DatabaseURL, target: Target, timeout: float) -> None:
    facts: db.SessionFacts | None = None
    with rows.run("login") as row:
        facts = db.session_facts(url, schema=target.schema, connect_timeout=timeout)
        row.detail = f"logged in to {url.where} (server address {facts.hostaddr or url.host})"
    if facts is None:
        _skip_rest(rows, "login", "skipped: login failed")
        return
    tls = rows.add(DoctorRow("tls"))
    if facts.ssl_in_use:
        protocol = f"{facts.ssl_protocol}, " if facts.ssl_protocol else ""
        tls.detail = f"in use ({protocol}sslmode={url.sslmode})"
        if url.sslmode in ("require", "prefer", "allow"):
            tls.detail += "; server certificate not verified"
    elif url.is_local:
        tls.detail = f"not in use (local host {url.host}, sslmode={url.sslmode})"
    else:
        tls.result = WARN
        tls.detail = f"not in use: plain text to {url.host} (sslmode={url.sslmode})"
        tls.hint = "set sslmode=require (or verify-full with sslrootcert) in the URL"
    rows.add(DoctorRow("server version", OK, f"PostgreSQL {facts.server_version}"))
    rows.add(
        DoctorRow(
            "current user",
            OK,
            f"{facts.current_user} in database {facts.database}"
            + (" (superuser)" if facts.superuser else ""),
        )
    )
    create = rows.add(DoctorRow("create privilege"))
    if facts.schema_exists and facts.may_create:
        create.detail = f"{facts.current_user} may CREATE in schema {facts.schema}"
    elif facts.may_create:
        create.detail = f"schema {facts.schema} does not exist; {facts.current_user} may create it"
    else:
        create.result = WARN
        where = f"schema {facts.schema}" if facts.schema_exists else f"database {facts.database}"
        create.detail = f"{facts.current_user} may not CREATE in {where}: migrations would fail"
        create.hint = (
            f"GRANT CREATE ON SCHEMA {facts.schema} TO {facts.current_user}, or use the owner's URL "
            "for migrations (fine as is for read-only health checks)"
        )


def database_checks(
    target: Target, *, connect_timeout: float, environ: Mapping[str, str] | None = None
) -> list[DoctorRow]:
    """The database chain: URL, pooler, DNS, TCP, login, TLS, version, user, CREATE right."""
    # The driver loads here, once (about 0.1 s), so that no row is charged for importing it.
    import psycopg  # noqa: F401

    rows = _Rows()
    url: db.DatabaseURL | None = None
    with rows.run("database url") as row:
        url = db.database_url_for(target, environ=environ)
        row.detail = f"{target.database_url_env}: {url.where} (sslmode={url.sslmode})"
        if url.foreign_params:
            row.detail += f"; not for libpq, left out: {', '.join(url.foreign_params)}"
    if url is None:
        _skip_rest(rows, "database url", "skipped: no usable database URL")
        return rows.checks
    with rows.run("pooler") as row:
        _pooler_row(row, url)
    addresses: list[db.Address] = []
    with rows.run("dns") as row:
        addresses = db.lookup_addresses(url.host, url.port, connect_timeout)
        families = {a.family for a in addresses}
        only = f"; {families.pop()} only" if len(families) == 1 else ""
        row.detail = ", ".join(str(a) for a in addresses) + only
    if rows.failed("dns"):
        _skip_rest(rows, "dns", "skipped: the host does not resolve")
        return rows.checks
    with rows.run("tcp") as row:
        _tcp_row(row, addresses, url, connect_timeout)
    if rows.failed("tcp"):
        _skip_rest(rows, "tcp", "skipped: nothing answers on the port")
        return rows.checks
    _session_rows(rows, url, target, connect_timeout)
    return rows.checks


def render_checks(
    target: Target, *, timeout: float, environ: Mapping[str, str] | None = None
) -> list[DoctorRow]:
    """RENDER_API_KEY accepted, and the target's service found by exact name or srv- id."""
    env = os.environ if environ is None else environ
    rows = _Rows()
    if not (env.get("RENDER_API_KEY") or "").strip():
        rows.skip("render api", "RENDER_API_KEY not set").hint = KEY_HINT
        rows.skip("render service", "RENDER_API_KEY not set")
        return rows.checks

    wanted = target.render_service
    # The key check lists only the wanted service by name, so it costs one small page.
    name_filter = wanted if wanted and not _SERVICE_ID.match(wanted) else None
    client = RenderClient.from_env(
        env, connect_timeout=timeout, read_timeout=timeout, max_attempts=2, retry_budget=timeout
    )
    with client:
        with rows.run("render api") as row:
            _bounded_render(lambda: client.list_services(name=name_filter), timeout)
            row.detail = f"key accepted by {client.base_url}"
        if rows.failed("render api"):
            rows.skip("render service", "skipped: the Render API did not accept the request")
        elif not wanted:
            rows.skip("render service", f"target {target.name} names no render.service")
        else:
            with rows.run("render service") as row:
                service = _bounded_render(lambda: client.find_service(wanted), timeout)
                row.detail = (
                    f"{wanted} -> {service.get('id')} ({service.get('type', 'service')} "
                    f"{service.get('name')!r})"
                )
                if service.get("suspended") == "suspended":
                    row.result = WARN
                    row.detail += ", suspended"
                    row.hint = "resume it in the Render dashboard before restarting or deploying"
            if not rows.failed("render service"):
                _service_url_row(rows, target, client, service, env=env, timeout=timeout)
    return rows.checks


def _service_url_row(
    rows: _Rows,
    target: Target,
    client: Any,
    service: dict[str, Any],
    *,
    env: Mapping[str, str],
    timeout: float,
) -> None:
    """The service's own DATABASE_URL: host, port, database; 6543 or another database flagged."""

    def own_url() -> str | None:
        try:
            return target.database_url(env)
        except OncallError:
            return None

    with rows.run("service database url") as row:
        result, detail, hint = _bounded_render(
            lambda: service_url_row(target, client, service, own_url), timeout
        )
        row.result, row.detail, row.hint = result, detail, hint


KEY_HINT = (
    "restart, deploy, triage and render-status need it: export RENDER_API_KEY=rnd_... "
    "(Render dashboard -> Account settings -> API keys)"
)


def smoke_check(target: Target, environ: Mapping[str, str] | None = None) -> DoctorRow:
    """The smoke checks restart, deploy and smoke will run: base URL resolved, header_env variables set."""
    if not target.smoke:
        return DoctorRow("smoke", SKIP, f"target {target.name} has no smoke checks")
    row = DoctorRow("smoke")
    started = time.monotonic()
    try:
        checks = probe.checks_for(target, environ=environ)
    except OncallError as exc:
        # A warning, not a failure: a database-only target is healthy without a site to probe,
        # but restart, deploy and smoke will stop on exactly this.
        row.result, row.detail = WARN, f"{exc.cause}; restart, deploy and smoke will stop here"
        row.hint = exc.hint
    else:
        headers = sorted({str(var) for cfg in target.smoke for var in cfg.header_env.values()})
        row.detail = f"{len(checks)} check(s): {', '.join(c.url for c in checks)}"
        if headers:
            row.detail += f"; header variables set: {', '.join(headers)}"
    row.duration = time.monotonic() - started
    return row


def sharing_check(
    target: Target, others: Sequence[Target], environ: Mapping[str, str] | None = None
) -> DoctorRow:
    """Warn when another target reaches this target's database or Render service."""
    peers = [t for t in others if t.name != target.name]
    found = [w for w in shared_resources([target, *peers], environ) if f" {target.name} " in f" {w} "]
    if not peers:
        return DoctorRow("shared", SKIP, "no other target configured")
    if not found:
        return DoctorRow("shared", OK, "no other target reaches its database or Render service")
    return DoctorRow(
        "shared",
        WARN,
        "; ".join(found),
        "a production guard follows the resource, but give each target its own variable and "
        "service unless they are meant to be the same (see docs/config.md)",
    )


def _bounded_render(fn: Callable[[], Any], timeout: float) -> Any:
    # The client retries within its own budget; this is the hard stop above it.
    return db.bounded(fn, timeout * 3 + 1, "Render API call", stage="render")


_POST_DEPLOY = re.compile(r"^\s*(?:-\s*)?postDeployCommand\s*:", re.MULTILINE)
_PRE_DEPLOY = re.compile(r"^\s*(?:-\s*)?preDeployCommand\s*:\s*(?P<command>.*)$", re.MULTILINE)


def render_yaml_path(target: Target, root: Path) -> Path | None:
    """The target's render_yaml if configured, else render.yaml in the project root if present."""
    if target.render_yaml is not None:
        return target.render_yaml
    found = root / "render.yaml"
    return found if found.is_file() else None


def render_yaml_check(target: Target, root: Path) -> DoctorRow:
    """Flag `postDeployCommand`: Render has no such key, so a migration put there never runs."""
    started = time.monotonic()
    path = render_yaml_path(target, root)
    if path is None:
        return DoctorRow("render.yaml", SKIP, f"no render_yaml configured and no render.yaml in {root}")
    row = DoctorRow("render.yaml")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        row.result, row.code = FAIL, int(ExitCode.BAD_INPUT)
        row.detail = f"cannot read {path}: {exc.strerror or exc}"
        row.hint = f"fix render_yaml of target {target.name} in invoke.yaml, or create the file"
        row.duration = time.monotonic() - started
        return row
    post = [text.count("\n", 0, m.start()) + 1 for m in _POST_DEPLOY.finditer(text)]
    pre = [m.group("command").strip() for m in _PRE_DEPLOY.finditer(text)]
    if post:
        lines = ", ".join(str(n) for n in post)
        row.result, row.code = FAIL, int(ExitCode.CHECK_FAILED)
        row.detail = f"{path.name} line {lines}: postDeployCommand is not a Render key; Render never runs it"
        row.hint = (
            "rename it to preDeployCommand (runs after the build, before the new version takes "
            "traffic; a failure stops the deploy), or run `invoke migrate` as a separate step"
        )
    elif pre:
        row.detail = f"{path.name}: preDeployCommand: {pre[0]}"
    else:
        row.detail = f"{path.name}: no preDeployCommand (migrations are not run by deploys)"
    row.duration = time.monotonic() - started
    return row


def alembic_check(target: Target) -> DoctorRow:
    """An Alembic target: its revisions read statically (branches and merges too), and its alembic
    command runs."""
    started = time.monotonic()
    row = DoctorRow("alembic")
    try:
        found = alembic_project(target)
        assert found is not None  # format: alembic
        revisions = read_graph(found.versions)
        version = run_alembic(found, target.alembic_command, ["--version"]).strip()
    except OncallError as exc:
        row.result, row.code = FAIL, int(exc.code)
        row.detail, row.hint = exc.cause, exc.hint
    else:
        tips = heads(revisions)
        row.detail = (
            f"{len(revisions)} revision(s) in {found.versions}, "
            f"{'head ' if len(tips) == 1 else f'{len(tips)} heads (migrate applies each branch) '}"
            f"{', '.join(tips)}; `{target.alembic_command}`: {version or 'ran'}"
        )
    row.duration = time.monotonic() - started
    return row


def run_doctor(
    target: Target,
    *,
    root: Path,
    connect_timeout: float,
    environ: Mapping[str, str] | None = None,
    database_only: bool = False,
    others: Sequence[Target] = (),
) -> DoctorReport:
    """Every check for `target` (only the database chain when `database_only`), timed.

    `others` are the rest of the configured targets, for the "shared" check.
    """
    started = time.monotonic()
    report = DoctorReport(target.name)
    report.checks.extend(database_checks(target, connect_timeout=connect_timeout, environ=environ))
    if not database_only:
        report.checks.extend(render_checks(target, timeout=connect_timeout, environ=environ))
        report.checks.append(render_yaml_check(target, root))
        report.checks.append(smoke_check(target, environ))
        report.checks.append(sharing_check(target, others, environ))
        if target.format == "alembic":
            report.checks.append(alembic_check(target))
    report.total = time.monotonic() - started
    return report


_STYLE: dict[str, str] = {OK: "green", WARN: "yellow", FAIL: "bold red", SKIP: "dim"}


def show(out: Output, report: DoctorReport, *, title: str, verbose: bool = False) -> None:
    """The table of rows (check, result, detail, hint, time) and the total time, for people.

    Passing rows collapse into one line naming them (what needs a look stays in the table);
    `verbose` shows every row.
    """
    from rich.table import Table

    shown = report.checks if verbose else [row for row in report.checks if row.result != OK]
    passed = [row.check for row in report.checks if row.result == OK]
    table = Table(title=title, title_justify="left")
    for column in ("check", "result", "detail", "hint", "time"):
        table.add_column(column, overflow="fold", no_wrap=column in ("check", "result", "time"))
    for row in shown:
        style = _STYLE[row.result]
        table.add_row(
            row.check,
            f"[{style}]{row.result}[/]",
            row.detail,
            row.hint or "",
            f"{row.duration * 1000:.0f} ms" if row.result != SKIP else "",
        )
    if shown:
        out.print(table)
    else:
        out.print(title, markup=False)
    if passed and not verbose:
        out.print(f"{len(passed)} ok: {', '.join(passed)}  (--verbose shows every row)", markup=False)
    counts = ", ".join(
        f"{sum(c.result == kind for c in report.checks)} {kind}" for kind in (OK, WARN, FAIL, SKIP)
    )
    out.print(f"total {report.total:.2f} s: {counts}")


def failure_message(report: DoctorReport) -> str:
    """The first failed check as the cause line and its hint, for the exit message."""
    failed = report.first_failure
    if failed is None:
        return ""
    message = f"{failed.check}: {failed.detail}"
    return message + (f"\n  hint: {failed.hint}" if failed.hint else "")
