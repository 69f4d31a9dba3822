"""The production guard shared by every task that writes (migrate, restart, deploy, recover).

Production is a property of what a command touches, not of the target's name: a database
(host, port, dbname) or a Render service that any `production: true` target resolves to is
production, whichever target reached it (a renamed copy of a production target, or the sandbox
target reading the same DATABASE_URL). A target marked `production: true` itself always asks: the
mark is the user's own statement about it. A loopback database, and a Render service reached
through a loopback RENDER_API_URL, are local: a non-production target touching them never asks,
so the sandbox flows stay prompt-free.

Sandbox targets (a name starting with `sandbox`, or `sandbox: true`) go further: every task through
one (reads too: status, doctor, verify) refuses a database that is not on this machine, and a
RENDER_API_URL that is not on this machine, as soon as the task layer resolves the target, before
any connection is made (`refuse_sandbox_remotes`), whatever --yes says. An unset RENDER_API_URL
means api.render.com, refused as soon as a RENDER_API_KEY could reach it.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from oncall.config import Target
from oncall.errors import Refused

# The Render API address variable and its default, as oncall.render.client reads them (this module
# sits below the Render package, so the names are repeated here rather than imported).
RENDER_URL_ENV = "RENDER_API_URL"
RENDER_DEFAULT_URL = "https://api.render.com/v1"
RENDER_KEY_ENV = "RENDER_API_KEY"
DEFAULT_PORT = 5432


@dataclass(frozen=True)
class Database:
    """Which database a URL names: enough to tell whether two targets reach the same one."""

    host: str
    port: int
    dbname: str

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}/{self.dbname}"


def is_loopback_host(host: str | None) -> bool:
    """127.0.0.0/8, ::1, localhost, or a Unix socket directory: this machine.

    An address is parsed, not matched by prefix: `127.attacker.example` is a name anyone can
    register, and a sandbox target must not take it for this machine.
    """
    name = (host or "").strip().lower().strip("[]")
    if name == "localhost" or name.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def database_of(url: str | None) -> Database | None:
    """The (host, port, dbname) a postgresql:// URL names; None when unset or not a URL."""
    if not url or "://" not in url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port or DEFAULT_PORT
    except ValueError:
        return None
    host = unquote(parts.hostname or "localhost")
    dbname = unquote(parts.path.lstrip("/")) or unquote(parts.username or "")
    return Database(host, port, dbname)


def render_api_is_loopback(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    url = (env.get(RENDER_URL_ENV) or "").strip() or RENDER_DEFAULT_URL
    try:
        return is_loopback_host(urlsplit(url).hostname)
    except ValueError:
        return False


def target_database(target: Target, environ: Mapping[str, str] | None = None) -> Database | None:
    env = os.environ if environ is None else environ
    return database_of(env.get(target.database_url_env))


def production_reason(
    target: Target,
    *,
    database: Database | None = None,
    service: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """Why touching `database` / `service` through `target` is production work, or None.

    `service` is the Render service as the API returned it (its id and name are both compared
    with the `render.service` of every production target) or as configured ({"id": ref}).
    """
    if target.production:
        return f"target {target.name} is production"
    env = os.environ if environ is None else environ
    if database is not None and not database.is_loopback:
        for peer in target.production_peers:
            if database_of(env.get(peer.database_url_env)) == database:
                return f"database {database} is production (target {peer.name} reads it)"
    if service is not None and not render_api_is_loopback(env):
        refs = {str(service[key]) for key in ("id", "name") if service.get(key)}
        for peer in target.production_peers:
            if peer.render_service and peer.render_service in refs:
                return f"Render service {peer.render_service} is production (target {peer.name} names it)"
    return None


def _interactive(stream: IO[str]) -> bool:
    return bool(hasattr(stream, "isatty") and stream.isatty())


def guard_production(
    target: Target,
    *,
    action: str,
    where: str,
    yes: bool,
    dry_run: bool = False,
    stdin: IO[str] | None = None,
    prompt_out: IO[str] | None = None,
    database: Database | None = None,
    service: Mapping[str, Any] | None = None,
) -> None:
    """Ask before writing to production; refuse (exit 4) without --yes when nobody can answer.

    `where` names what will be touched (host and database, or the Render service) so that the
    person confirming sees exactly that, not just the target's nickname. `database` and `service`
    say what is touched, so that a non-production target reaching a production resource asks too.
    """
    refuse_outside_sandbox(target, database)
    reason = production_reason(target, database=database, service=service)
    if reason is None or yes or dry_run:
        return
    stream = sys.stdin if stdin is None else stdin
    out = sys.stderr if prompt_out is None else prompt_out
    if not _interactive(stream):
        raise Refused(
            f"{reason} ({where}); refusing to {action} without --yes",
            f"rerun with --yes to {action} on {where}, or --dry-run to see what would happen",
        )
    out.write(f"{reason}: PRODUCTION. {action} on {where}? Type 'yes' to continue: ")
    out.flush()
    answer = stream.readline().strip().lower()
    if answer != "yes":
        raise Refused(
            f"not confirmed: did not {action} on {where}", "type 'yes' at the prompt, or pass --yes"
        )


def refuse_unattended(
    target: Target,
    *,
    action: str,
    where: str,
    yes: bool,
    dry_run: bool = False,
    stdin: IO[str] | None = None,
    database: Database | None = None,
    service: Mapping[str, Any] | None = None,
) -> None:
    """Refuse production work without --yes off a terminal *before* connecting anywhere.

    The prompt itself comes later, once the plan is known; this only spares an unattended run the
    connection to a production database or API that it would be refused anyway.
    """
    refuse_outside_sandbox(target, database)
    if yes or dry_run or _interactive(sys.stdin if stdin is None else stdin):
        return
    guard_production(
        target, action=action, where=where, yes=False, stdin=stdin, database=database, service=service
    )


def refuse_outside_sandbox(target: Target, database: Database | None) -> None:
    """A sandbox target writes only to this machine: refuse a non-loopback database (exit 4).

    --yes does not lift it: the sandbox target reaching a remote database is a shell that kept a
    production DATABASE_URL, not a decision.
    """
    if not target.sandbox or database is None or database.is_loopback:
        return
    raise Refused(
        f"target {target.name} is a sandbox target but {target.database_url_env} points at "
        f"{database}, not at this machine",
        f"`source .sandbox/env` (invoke sandbox.up writes it), or pick the real target with "
        f"--target; `unset {target.database_url_env}` to stop reaching {database.host}",
    )


def refuse_remote_render_api(target: Target, api_url: str) -> None:
    """A sandbox target talks only to a Render stand-in on this machine, never to api.render.com."""
    try:
        local = is_loopback_host(urlsplit(api_url).hostname)
    except ValueError:
        local = False
    if target.sandbox and not local:
        raise Refused(
            f"target {target.name} is a sandbox target but the Render API is {api_url} "
            f"({RENDER_URL_ENV}), not this machine",
            f"`source .sandbox/env` (it sets {RENDER_URL_ENV} to the stand-in), "
            f"`unset {RENDER_URL_ENV} {RENDER_KEY_ENV}` to call no Render API, "
            "or pick the real target with --target",
        )


def refuse_sandbox_remotes(target: Target, environ: Mapping[str, str] | None = None) -> None:
    """A sandbox target refuses a remote database or RENDER_API_URL before any task connects (exit 4).

    Called where the task layer resolves the target, so reads (status, doctor, verify) are held
    back too: a sandbox shell that kept a production DATABASE_URL must not even read production.
    The database is checked from the target's variable when set (unset is the task's own BadInput);
    RENDER_API_URL when set, or when RENDER_API_KEY is (unset then means api.render.com); with
    neither, no Render call can be made, so database-only tasks run without the Render stand-in.
    """
    if not target.sandbox:
        return
    env = os.environ if environ is None else environ
    if target.database_url_source is None:
        refuse_outside_sandbox(target, target_database(target, env))
    api_url = (env.get(RENDER_URL_ENV) or "").strip()
    if api_url or (env.get(RENDER_KEY_ENV) or "").strip():
        # With a key and no RENDER_API_URL, doctor and health would call api.render.com.
        refuse_remote_render_api(target, api_url or RENDER_DEFAULT_URL)


def shared_resources(targets: Iterable[Target], environ: Mapping[str, str] | None = None) -> list[str]:
    """One warning per pair of targets that reach the same database or the same Render service."""
    env = os.environ if environ is None else environ
    listed = list(targets)
    warnings = []
    for index, first in enumerate(listed):
        for second in listed[index + 1 :]:
            pair = f"targets {first.name} and {second.name}"
            db_first, db_second = target_database(first, env), target_database(second, env)
            if db_first is not None and db_first == db_second:
                warnings.append(f"{pair} reach the same database {db_first}")
            elif first.database_url_env == second.database_url_env:
                warnings.append(f"{pair} read their database URL from the same {first.database_url_env}")
            if first.render_service and first.render_service == second.render_service:
                warnings.append(f"{pair} name the same Render service {first.render_service}")
    return warnings
