"""The crash signatures triage knows: a pattern per cause, in words, with the fix and the next command.

`classify(line)` returns (signature, object) for the first signature whose pattern matches, most
specific first (a column of a relation before a bare column before a relation; a localhost refusal
before any refusal). `describe(signature, object, target, service)` says what it means, how to fix
it, and the next command: `invoke migrate` for schema, `invoke rollback` for code the deploy broke,
the service's Environment page for its DATABASE_URL, `invoke scale` where the instance count helps.

The lines are real ones: libpq/psycopg, node-postgres, pgbouncer/Supavisor, Alembic, Python, Node
and Render's own messages. Supabase's direct host (`db.<ref>.supabase.co`) has only an IPv6
address unless the IPv4 add-on is on, so an IPv4-only network reports `ENETUNREACH 2a05:…:5432`
(Node) or "Network is unreachable" (libpq); the session pooler on port 5432 speaks IPv4.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from oncall.config import Target


@dataclass(frozen=True)
class Signature:
    name: str
    pattern: re.Pattern[str]
    group: str | None = None  # the named group that is the finding's object, if any


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_IPV6 = r"\[?(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}\]?"
_LOCAL = r"(?:127\.0\.0\.1|::1|\[::1\]|localhost)"

SIGNATURES: tuple[Signature, ...] = (
    Signature(
        "missing_column",
        _rx(r'column "(?P<object>[^"]+)" of relation "(?P<relation>[^"]+)" does not exist'),
        "object",
    ),
    # The SELECT form: column "plan" does not exist / column u.plan does not exist.
    Signature("missing_column", _rx(r'column "?(?P<object>[\w.$]+)"? does not exist'), "object"),
    Signature("missing_relation", _rx(r'relation "(?P<object>[^"]+)" does not exist'), "object"),
    Signature(
        "prepared_statement_pooler",
        _rx(r'prepared statement "(?P<object>[^"]+)" (?:already exists|does not exist)'),
        "object",
    ),
    Signature(
        "too_many_connections",
        _rx(
            r"(?i)(remaining connection slots are reserved|too many clients already"
            r"|max client connections reached|MaxClientsInSessionMode|too many connections)"
        ),
    ),
    Signature(
        "password_failed",
        _rx(r'password authentication failed for user "(?P<object>[^"]+)"'),
        "object",
    ),
    Signature(
        "ipv6_unreachable",
        _rx(
            rf"(?i)(?:ENETUNREACH\s+(?P<object>{_IPV6}):\d+"
            rf"|\((?P<libpq>{_IPV6})\),? port \d+ failed: Network is unreachable"
            rf"|dial tcp (?P<go>{_IPV6}):\d+: connect: (?:network is unreachable|no route to host))"
        ),
        "object",
    ),
    Signature(
        "host_not_found",
        _rx(
            r"(?:getaddrinfo (?:ENOTFOUND|EAI_AGAIN) (?P<object>[\w.-]+)"
            r'|could not translate host name "(?P<libpq>[^"]+)" to address)'
        ),
        "object",
    ),
    Signature(
        "database_url_unset",
        _rx(
            rf"(?i)(?:ECONNREFUSED {_LOCAL}:(?:5432|6543)"
            rf"|connection to server at \"?{_LOCAL}\"?[^\n]*failed: Connection refused"
            r"|connection to server on socket \"[^\"]*\.s\.PGSQL\.5432\" failed)"
        ),
    ),
    Signature(
        "database_refused",
        _rx(
            r"(?i)(ECONNREFUSED[^\n]*:(?:5432|6543)\b"
            r"|connection to server at [^\n]*failed: Connection refused"
            r"|could not connect to server: Connection refused"
            r"|psycopg2?\.OperationalError[^\n]*Connection refused"
            r"|(?:postgres|database|db)[^\n]{0,80}connection refused)"
        ),
    ),
    Signature(
        "alembic_missing_revision",
        _rx(r"Can't locate revision identified by '(?P<object>[^']+)'"),
        "object",
    ),
    Signature("alembic_multiple_heads", _rx(r"Multiple head revisions are present")),
    Signature(
        "module_not_found",
        _rx(
            r"(?:ModuleNotFoundError: No module named '(?P<object>[^']+)'"
            r"|Error: Cannot find module '(?P<node>[^']+)')"
        ),
        "object",
    ),
    Signature(
        "out_of_memory",
        _rx(
            r"(?i)(ran out of memory|JavaScript heap out of memory|\bMemoryError\b|out of memory"
            r"|Killed process \d+|OOMKilled|oom-kill)"
        ),
    ),
    Signature(
        "port_not_bound",
        _rx(
            r"(?i)(no open ports detected|Port scan timeout reached|bind your service to at least one port"
            r"|EADDRINUSE)"
        ),
    ),
)

SCHEMA_SIGNATURES = frozenset({"missing_relation", "missing_column"})


def classify(message: str) -> tuple[str, str] | None:
    """(signature, object) for a log line that matches a known signature, else None."""
    for signature in SIGNATURES:
        match = signature.pattern.search(message)
        if match is None:
            continue
        return signature.name, _object(signature, match)
    return None


def _object(signature: Signature, match: re.Match[str]) -> str:
    found = match.groupdict()
    if signature.name == "missing_column":
        column = found["object"]
        relation = found.get("relation")
        # `u.plan` is an alias and a column: the alias names no table, so only the column counts.
        bare = column.rsplit(".", 1)[-1]
        return f"{relation}.{bare}" if relation else bare
    # Alternatives of one signature name their object in different groups; take the one that matched.
    values = [v for k, v in found.items() if v and k != "relation"]
    if not values:
        return ""
    # An IPv6 host comes bracketed ([2a05::1]); a table name such as `x[/]` keeps its brackets.
    value = values[0]
    return value[1:-1] if value.startswith("[") and value.endswith("]") else value


def _instances(service: Mapping[str, Any]) -> int | None:
    details = service.get("serviceDetails") or {}
    count = details.get("numInstances") if isinstance(details, Mapping) else None
    return count if isinstance(count, int) else None


def _env_page(service: Mapping[str, Any]) -> str:
    dashboard = service.get("dashboardUrl")
    return f"{dashboard}/env" if dashboard else "the Render dashboard → the service → Environment"


def describe(
    signature: str, key: str, target: Target, service: Mapping[str, Any]
) -> tuple[str, str, str | None]:
    """(cause, hint, next command) for a finding."""
    name = target.name
    fix_url = f"fix DATABASE_URL in Render ({_env_page(service)}), then `invoke restart --target {name}`"
    count = _instances(service)
    if signature == "missing_relation":
        return (
            f'the backend queries table "{key}", which does not exist in its database',
            f"create it: invoke migrate --target {name} (then invoke restart)",
            f"invoke migrate --target {name}",
        )
    if signature == "missing_column":
        return (
            f"the backend uses column {key}, which does not exist in its database",
            f"add it: invoke migrate --target {name} (then invoke restart)",
            f"invoke migrate --target {name}",
        )
    if signature == "prepared_statement_pooler":
        return (
            f'prepared statement "{key}" clashes in a transaction pooler (pgbouncer, or Supavisor on 6543): '
            "statements prepared on one connection are not there on the next",
            "point the service's DATABASE_URL at the session pooler (port 5432) or turn prepared statements "
            "off (Prisma ?pgbouncer=true, psycopg prepare_threshold=None, asyncpg statement_cache_size=0)",
            fix_url,
        )
    if signature == "too_many_connections":
        fewer = f"invoke scale {count - 1} --target {name}" if count and count > 1 else None
        return (
            "the database has no connection slots left: pool size × instances (and other clients) "
            "exceed max_connections",
            "lower the pool size, connect through the pooler (Supabase: Supavisor), or run fewer instances",
            fewer or fix_url,
        )
    if signature == "password_failed":
        return (
            f'the database rejected the password for user "{key}"',
            "the service's DATABASE_URL has an old or wrong password (Supabase's pooler wants the user "
            "postgres.<project-ref>); reset it and update the URL",
            fix_url,
        )
    if signature == "ipv6_unreachable":
        return (
            f"the backend cannot reach the database's IPv6 address {key}: the host has only IPv6 "
            "(Supabase's direct db.<ref>.supabase.co) and the network has none",
            "use Supabase's session pooler (aws-0-<region>.pooler.supabase.com:5432, user "
            "postgres.<ref>), which speaks IPv4, or enable the IPv4 add-on",
            fix_url,
        )
    if signature == "host_not_found":
        return (
            f"the database host {key} does not resolve (a typo, a deleted project, or an IPv6-only name)",
            "check the host in the service's DATABASE_URL against the database's dashboard",
            fix_url,
        )
    if signature == "database_url_unset":
        return (
            "the backend connects to a database on localhost: its DATABASE_URL is probably not set, "
            "so the driver fell back to its default",
            "set DATABASE_URL on the Render service (or its environment group)",
            fix_url,
        )
    if signature == "database_refused":
        return (
            "the backend cannot reach its database: connection refused",
            "check the service's DATABASE_URL (host, port 5432 vs 6543) and the database; "
            f"`invoke doctor --target {name}` tests the same URL from here",
            f"invoke doctor --target {name}",
        )
    if signature == "alembic_missing_revision":
        return (
            f"Alembic cannot find revision {key}, which the database's alembic_version names: the "
            "code is older than the database (a rollback past a migration) or a migration file is missing",
            "deploy code that has the revision (`invoke deploy`), or compare with `invoke status`",
            f"invoke status --target {name}",
        )
    if signature == "alembic_multiple_heads":
        return (
            "Alembic found several head revisions: two branches each added a migration",
            "run `alembic merge heads` in the repository, commit and deploy; `invoke status` names the heads",
            f"invoke status --target {name}",
        )
    if signature == "module_not_found":
        return (
            f"the deployed code imports {key}, which is not installed: the deploy is broken",
            f"roll back now (`invoke rollback --target {name}`), then add {key} to the dependencies, deploy",
            f"invoke rollback --target {name}",
        )
    if signature == "out_of_memory":
        more = f"invoke scale {count + 1} --target {name}" if count else None
        return (
            "the backend ran out of memory and was killed",
            "look for a memory spike in the dashboard's Metrics; a larger instance type or fewer workers "
            "helps; more instances share the load when it follows traffic",
            more,
        )
    return (
        "Render found no open port: the app did not bind $PORT on 0.0.0.0",
        "start the server on host 0.0.0.0 and port $PORT (Render sets PORT, default 10000)",
        f"invoke rollback --target {name}",
    )
