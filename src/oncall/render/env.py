"""The service's own database URL, read from its Render environment: `database_url_from: render`.

A target may say

    database_url_from: render      # instead of the environment variable named by database_url_env
    database_url_key: DATABASE_URL # the service's variable to read (default DATABASE_URL)

and migrate, verify, status and doctor then touch exactly the database the crashing service uses:
`GET /services/{id}/env-vars/{key}` once, when a task first needs the URL. The value is a secret:
it is registered with the redactor (the whole URL and its password) the moment it arrives, and
never printed, logged or written; what is shown is host, port and database (`describe`).

`compare(service_url, target_url)` is doctor's row: host/port/database of the service's URL, and
warnings for the 6543 transaction pooler, a host other than the target's, and another Supabase
project than the target's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from oncall.config import Target
from oncall.db import connect as db
from oncall.errors import BadInput, Unreachable
from oncall.redact import register_secret
from oncall.render.client import RenderClient
from oncall.render.ops import client_for, service_of, where
from oncall.status import Status

SOURCES = ("env", "render")
DEFAULT_KEY = "DATABASE_URL"
# Supabase names a project in its direct host (db.<ref>.supabase.co) and its pooler user (postgres.<ref>).
_DIRECT_REF = re.compile(r"^db\.(?P<ref>[a-z0-9]{20})\.supabase\.co$")
_POOLER_USER = re.compile(r"^[a-z_]+\.(?P<ref>[a-z0-9]{20})$")


def source_of(target: Target) -> str:
    """`env` (the default) or `render`; anything else is BadInput naming the target."""
    value = str(target.raw.get("database_url_from") or "env")
    if value not in SOURCES:
        raise BadInput(
            f"target {target.name} has database_url_from: {value!r}",
            "set database_url_from to render (the service's own variable) or env (database_url_env)",
        )
    return value


def key_of(target: Target) -> str:
    return str(target.raw.get("database_url_key") or DEFAULT_KEY)


def service_database_url(target: Target, *, client: RenderClient | None = None) -> str:
    """The service's database URL from its Render environment, or BadInput/Unreachable saying why not."""
    key = key_of(target)
    with client_for(client) as api:
        service = service_of(target, api)
        try:
            value = api.get_env_var(str(service["id"]), key)
        except Unreachable as exc:
            if exc.details.get("status") == 403:
                raise Unreachable(
                    f"Render refused to show the environment of {where(service)} (403) to this API key",
                    "the key's user needs a role that may read the service's environment variables "
                    "(workspace admin or developer), or set database_url_env instead",
                    status=403,
                ) from exc
            raise
    if value is None:
        raise BadInput(
            f"{where(service)} has no environment variable {key} of its own",
            f"set {key} on the service (a variable of a linked environment group is not readable per "
            f"service), set database_url_key, or drop database_url_from: render from target {target.name}",
        )
    _register(value)
    return value


def _register(value: str) -> None:
    register_secret(value)
    try:
        parsed = db.parse_database_url(value, source="the service's database URL")
    except BadInput:
        return
    register_secret(parsed.password)


def with_service_url(target: Target) -> Target:
    """The target, reading its database URL from the Render service when it says so (lazily)."""
    if source_of(target) != "render":
        return target
    cached: list[str] = []

    def fetch() -> str:
        if not cached:
            cached.append(service_database_url(target))
        return cached[0]

    return replace(target, database_url_source=fetch)


def describe(url: db.DatabaseURL) -> str:
    """What may be shown of a database URL: host, port and database, never user or password."""
    return f"{url.host}:{url.port}/{url.dbname}"


def supabase_project(url: db.DatabaseURL) -> str | None:
    """The Supabase project ref a URL points at (direct host or pooler user), if it names one."""
    if m := _DIRECT_REF.match(url.host.lower()):
        return m.group("ref")
    if url.host.lower().endswith(".pooler.supabase.com") and (m := _POOLER_USER.match(url.user)):
        return m.group("ref")
    return None


def compare(service_url: db.DatabaseURL, target_url: db.DatabaseURL | None) -> list[str]:
    """Warnings about the service's database URL, alone and against the target's own."""
    warnings = []
    if db.pooler_mode(service_url).mode == "transaction":
        warnings.append(
            f"the service uses the transaction pooler ({service_url.hostport}): prepared statements and "
            "session features break there; migrations need 5432"
        )
    if target_url is None:
        return warnings
    theirs, ours = supabase_project(service_url), supabase_project(target_url)
    if theirs and ours and theirs != ours:
        warnings.append(f"the service uses Supabase project {theirs}, this target's URL project {ours}")
    elif service_url.host.lower() != target_url.host.lower() and not (theirs and theirs == ours):
        warnings.append(
            f"the service's database host {service_url.host} is not this target's ({target_url.host}): "
            "migrate and verify here would touch another database"
        )
    if service_url.dbname != target_url.dbname:
        warnings.append(f"the service uses database {service_url.dbname}, this target {target_url.dbname}")
    return warnings


def service_url_row(
    target: Target, client: RenderClient, service: dict[str, Any], environ_url: Callable[[], str | None]
) -> tuple[str, str, str | None]:
    """Doctor's row: (result, detail, hint) for the service's own database URL.

    `environ_url` gives the target's own URL (None when it has none): compared only when it is
    not itself read from the service.
    """
    key = key_of(target)
    value = client.get_env_var(str(service["id"]), key)
    if value is None:
        return Status.SKIP, f"the service sets no {key} of its own (an environment group may)", None
    _register(value)
    theirs = db.parse_database_url(value, source=f"the service's {key}")
    ours_raw = environ_url() if source_of(target) == "env" else None
    ours = db.parse_database_url(ours_raw, source=target.database_url_env) if ours_raw else None
    warnings = compare(theirs, ours)
    detail = f"{key} on Render: {describe(theirs)}"
    if not warnings:
        same = " (the same database as this target's URL)" if ours is not None else ""
        return Status.OK, detail + same, None
    return (
        Status.WARN,
        detail + "; " + "; ".join(warnings),
        f"compare with {target.database_url_env}, or set database_url_from: render on target {target.name}",
    )
