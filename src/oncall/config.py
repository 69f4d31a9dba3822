"""Targets: one service's settings, resolved from Invoke's config, the environment and flags.

Settings live under the `oncall` key of Invoke's config. Precedence, highest first:

    task flag  >  INVOKE_ONCALL_* environment variable  >  `-f` runtime file  >  invoke.yaml  >  defaults

Invoke itself ranks a `-f` file above environment variables; issue 2 asks for the environment to win
(an `INVOKE_ONCALL_TARGET=x` set for one cron run must beat a shared config file), so `settings()`
re-applies the scalar `INVOKE_ONCALL_*` variables on top of what Invoke merged. docs/config.md says so.

Secrets never live in config: a target names the environment variable that holds its database URL.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oncall.config_defaults import DEFAULTS, ENV_PREFIX
from oncall.durations import parse_count, parse_duration
from oncall.errors import BadInput

LEDGERS = ("oncall", "alembic")
NOTIFY_STATES = ("auto", "file", "database")

# Keys of one target besides the global ones it may override. An unknown key is an error: a typo
# such as `productoin: true` must not leave a production target unguarded.
TARGET_KEYS = (
    "system",
    "format",
    "migrations",
    "alembic_ini",
    "alembic_command",
    "ledger",
    "database_url_env",
    "database_url_from",  # env (default) or render: the service's own variable (oncall.render.env)
    "database_url_key",
    "production",
    "schema",
    "render",
    "render_yaml",
    "base_url",
    "base_url_env",
    "smoke",
)
RENDER_KEYS = ("service",)
SMOKE_KEYS = ("name", "url", "method", "headers", "header_env", "conditions")
DURATION_KEYS = ("connect_timeout", "lock_wait")
COUNT_KEYS = ("lock_retries",)
# PostgreSQL's own syntax for a time setting: a number with an optional unit (milliseconds without one).
_PG_DURATION = re.compile(r"^\s*[0-9]+(?:\.[0-9]+)?\s*(?:us|ms|s|min|h|d)?\s*$")


@dataclass(frozen=True)
class SmokeCheckConfig:
    """One smoke check as configured; `oncall.probe` turns it into requests and conditions."""

    name: str
    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    header_env: Mapping[str, str] = field(default_factory=dict)
    conditions: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """Everything oncall needs to know about one service and its database."""

    name: str
    system: str
    migrations_dir: Path
    ledger: str = "oncall"
    # How the migrations folder is laid out (oncall.migrations.sources): auto, oncall, prisma, ...
    format: str = "auto"
    # format: alembic (oncall.migrations.sources.alembic): the project's alembic.ini, and the command
    # that runs the team's Alembic (offline rendering, and revisions that only run online).
    alembic_ini: Path | None = None
    alembic_command: str = "alembic"
    database_url_env: str = "DATABASE_URL"
    production: bool = False
    schema: str = "public"
    render_service: str | None = None
    render_yaml: Path | None = None
    base_url: str | None = None
    base_url_env: str | None = None
    smoke: tuple[SmokeCheckConfig, ...] = ()
    connect_timeout: float = 5.0
    lock_wait: float = 30.0
    lock_timeout: str = "200ms"
    statement_timeout: str = "5min"
    lock_retries: int = 10
    table_lock_wait: float = 60.0
    run_log: Path = Path(".oncall/runs.jsonl")
    state_dir: Path = Path(".oncall")
    notify_urls_env: str = "ONCALL_NOTIFY_URLS"
    failure_threshold: int = 2
    success_threshold: int = 1
    remind_every: float = 0.0
    notify_state: str = "auto"
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # Set by the task layer for `database_url_from: render` (oncall.render.env): reads the URL
    # from the Render service when first asked. Config cannot call Render itself (it sits below it).
    database_url_source: Callable[[], str] | None = field(default=None, repr=False, compare=False)

    @property
    def is_alembic(self) -> bool:
        return self.ledger == "alembic" or self.format == "alembic"

    def database_url(self, environ: Mapping[str, str] | None = None) -> str:
        """The raw URL from the target's environment variable; BadInput when unset or empty."""
        if self.database_url_source is not None:
            return self.database_url_source()
        env = os.environ if environ is None else environ
        value = env.get(self.database_url_env)
        if value is None:
            raise BadInput(
                f"{self.database_url_env} is not set (target {self.name} reads its database URL from it)",
                f"export {self.database_url_env}=postgresql://USER:PASSWORD@HOST:5432/DBNAME",
            )
        if not value.strip():
            raise BadInput(
                f"{self.database_url_env} is set but empty (target {self.name})",
                f"export {self.database_url_env}=postgresql://USER:PASSWORD@HOST:5432/DBNAME",
            )
        return value.strip()

    def resolved_base_url(self, environ: Mapping[str, str] | None = None) -> str | None:
        env = os.environ if environ is None else environ
        if self.base_url_env and env.get(self.base_url_env):
            return env[self.base_url_env].rstrip("/")
        return self.base_url.rstrip("/") if self.base_url else None


def _closest(key: str, known: Iterable[str]) -> str:
    """ "; did you mean 'X'?" when a known key is near `key` (difflib), else ""."""
    close = difflib.get_close_matches(key, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _reject_unknown_keys(given: Iterable[Any], known: Iterable[str], where: str) -> None:
    known = tuple(known)
    for key in given:
        if key not in known:
            raise BadInput(
                f"unknown key {key!r} in {where}{_closest(str(key), known)}",
                f"known keys there: {', '.join(sorted(known))} (see docs/config.md)",
            )


def _cast_env(key: str, raw: str, name: str) -> Any:
    """An INVOKE_ONCALL_* value as its setting's type; BadInput naming the variable when it is not one."""
    shown = f"{name}={raw!r}"
    if key in DURATION_KEYS:
        allow_zero = key != "connect_timeout"
        return parse_duration(raw, name, allow_zero=allow_zero, hint=f"export {name}=5s", shown=shown)
    if key in COUNT_KEYS:
        return parse_count(raw, name, hint=f"export {name}=5", shown=shown)
    return raw


def settings(layered: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Merge defaults < Invoke's layered `oncall` config < INVOKE_ONCALL_* variables.

    An unknown key is BadInput naming it and the closest known one; so is `targets` that is not a
    mapping of target names to their settings.
    """
    env = os.environ if environ is None else environ
    merged: dict[str, Any] = dict(DEFAULTS)
    layered_dict = _as_dict(layered, "the oncall config")
    _reject_unknown_keys(layered_dict, DEFAULTS, "the oncall config")
    merged.update(layered_dict)
    for key, default in DEFAULTS.items():
        if isinstance(default, dict):
            continue
        name = ENV_PREFIX + key.upper()
        if name in env:
            merged[key] = _cast_env(key, env[name], name)
    merged["targets"] = _as_dict(merged.get("targets"), "oncall.targets")
    return merged


def _as_dict(value: Any, where: str = "config") -> dict[str, Any]:
    """A config mapping as a dict (Invoke's DataProxy is mapping-like, not a dict); BadInput otherwise."""
    if value is None:
        return {}
    if not hasattr(value, "keys"):
        raise BadInput(
            # The value is not shown: a `headers:` written as one string may hold a literal token.
            f"{where} is a {type(value).__name__}, not a mapping of keys to values",
            "write it as `key: value` lines indented under its name (see docs/config.md)",
        )
    return {k: value[k] for k in value}


def _smoke_checks(raw: Any, target_name: str) -> tuple[SmokeCheckConfig, ...]:
    where = f"smoke of target {target_name}"
    if raw is not None and not isinstance(raw, list | tuple):
        raise BadInput(
            f"{where} is a {type(raw).__name__} ({raw!r}), not a list of checks",
            "write smoke: as a list, e.g. `smoke: [{name: health, url: /health}]`",
        )
    checks = []
    for index, entry in enumerate(raw or []):
        entry_where = f"smoke check #{index + 1} of target {target_name}"
        item = _as_dict(entry, entry_where)
        _reject_unknown_keys(item, SMOKE_KEYS, entry_where)
        if "url" not in item:
            raise BadInput(
                f"smoke check #{index + 1} of target {target_name} has no url",
                "give every entry under smoke: a url (absolute, or a path joined to base_url)",
            )
        checks.append(
            SmokeCheckConfig(
                name=str(item.get("name") or item["url"]),
                url=str(item["url"]),
                method=str(item.get("method", "GET")).upper(),
                headers=_as_dict(item.get("headers"), f"headers of {entry_where}"),
                header_env=_as_dict(item.get("header_env"), f"header_env of {entry_where}"),
                conditions=_as_dict(item.get("conditions"), f"conditions of {entry_where}"),
            )
        )
    return tuple(checks)


def _pg_duration(value: Any, key: str, target_name: str) -> str:
    """A lock_timeout/statement_timeout as PostgreSQL reads it; checked here, not blamed on a migration."""
    text = str(value)
    if isinstance(value, bool) or not _PG_DURATION.match(text):
        raise BadInput(
            f"{key} {text!r} (target {target_name}) is not a PostgreSQL duration",
            f"write {key} as a number with a unit PostgreSQL knows (ms, s, min, h, d), e.g. {key}: 3s",
        )
    return text.strip()


def _target_keys(raw: Mapping[str, Any], name: str) -> dict[str, Any]:
    where = f"target {name}"
    entry = _as_dict(raw, where)
    known = TARGET_KEYS + tuple(key for key in DEFAULTS if key not in ("target", "targets"))
    _reject_unknown_keys(entry, known, where)
    return entry


def build_target(name: str, raw: Mapping[str, Any], merged: Mapping[str, Any], root: Path) -> Target:
    """Build a Target from its config entry; per-target keys beat the global `oncall.*` ones."""
    raw = _target_keys(raw, name)

    def pick(key: str) -> Any:
        return raw[key] if raw.get(key) is not None else merged.get(key, DEFAULTS[key])

    def seconds(key: str, *, allow_zero: bool = True) -> float:
        return parse_duration(pick(key), f"{key}:", allow_zero=allow_zero, hint=f"write e.g. {key}: 5s")

    # An Alembic project's ledger is alembic_version (and oncall's own), whatever else is configured.
    alembic_format = raw.get("format") == "alembic" or (raw.get("alembic_ini") and not raw.get("format"))
    ledger = str(raw.get("ledger") or ("alembic" if alembic_format else "oncall"))
    if ledger not in LEDGERS:
        raise BadInput(
            f"target {name} has ledger {ledger!r}",
            f"set ledger to one of: {', '.join(LEDGERS)}",
        )
    migrations = raw.get("migrations")
    alembic_ini = raw.get("alembic_ini")
    if not migrations and not alembic_ini:
        raise BadInput(
            f"target {name} has no migrations directory",
            "set migrations: to the folder of migrations, or alembic_ini: to an Alembic alembic.ini",
        )
    render = _as_dict(raw.get("render"), f"render of target {name}")
    _reject_unknown_keys(render, RENDER_KEYS, f"render of target {name}")
    render_yaml = raw.get("render_yaml")
    return Target(
        name=name,
        system=str(raw.get("system", name)),
        migrations_dir=(root / str(migrations or Path(str(alembic_ini)).parent)).resolve(),
        ledger=ledger,
        format=str(raw.get("format") or ("alembic" if alembic_ini else "auto")),
        alembic_ini=(root / str(alembic_ini)).resolve() if alembic_ini else None,
        alembic_command=str(raw.get("alembic_command") or "alembic"),
        database_url_env=str(raw.get("database_url_env", "DATABASE_URL")),
        production=bool(raw.get("production", False)),
        schema=str(raw.get("schema", "public")),
        render_service=str(render["service"]) if render.get("service") else None,
        render_yaml=(root / str(render_yaml)).resolve() if render_yaml else None,
        base_url=raw.get("base_url"),
        base_url_env=raw.get("base_url_env"),
        smoke=_smoke_checks(raw.get("smoke"), name),
        connect_timeout=seconds("connect_timeout", allow_zero=False),
        lock_wait=seconds("lock_wait"),
        lock_timeout=_pg_duration(pick("lock_timeout"), "lock_timeout", name),
        statement_timeout=_pg_duration(pick("statement_timeout"), "statement_timeout", name),
        lock_retries=parse_count(pick("lock_retries"), "lock_retries:", hint="write e.g. lock_retries: 5"),
        table_lock_wait=parse_duration(
            pick("table_lock_wait"),
            "table_lock_wait:",
            hint="write e.g. table_lock_wait: 60s (0 turns the wait off)",
        ),
        run_log=root / str(pick("run_log")),
        state_dir=root / str(pick("state_dir")),
        notify_urls_env=str(pick("notify_urls_env")),
        failure_threshold=parse_count(
            pick("failure_threshold"), "failure_threshold:", minimum=1, hint="write e.g. failure_threshold: 2"
        ),
        success_threshold=parse_count(
            pick("success_threshold"), "success_threshold:", minimum=1, hint="write e.g. success_threshold: 1"
        ),
        remind_every=parse_duration(
            pick("remind_every"), "remind_every:", hint="write e.g. remind_every: 30m (0 never reminds)"
        ),
        notify_state=_choice(pick("notify_state"), "notify_state", NOTIFY_STATES),
        raw=raw,
    )


def _choice(value: Any, key: str, allowed: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in allowed:
        raise BadInput(
            f"{key}: {value!r} is not one of {', '.join(allowed)}", f"write e.g. {key}: {allowed[0]}"
        )
    return text


def resolve_target(
    layered: Mapping[str, Any] | None,
    name: str | None = None,
    *,
    root: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Target:
    """The Target named by the flag, else by INVOKE_ONCALL_TARGET, else by config `oncall.target`."""
    merged = settings(layered, environ)
    targets = merged["targets"]
    for other in targets:
        # A typo in any target is found on the first run, not on the night that target is needed.
        _target_keys(targets[other], str(other))
    chosen = name or merged.get("target")
    known = ", ".join(sorted(targets)) or "(none configured)"
    if not targets:
        raise BadInput(
            "no targets configured (no oncall.yaml or invoke.yaml with oncall.targets was found)",
            "run `oncall init` in the repository root to write oncall.yaml, or pass -f FILE",
        )
    if not chosen:
        raise BadInput(
            "no target chosen",
            f"pass --target NAME or set INVOKE_ONCALL_TARGET; known targets: {known}",
        )
    if chosen not in targets:
        raise BadInput(f"unknown target {chosen!r}", f"known targets: {known}")
    return build_target(str(chosen), targets[chosen], merged, root or Path.cwd())


def list_targets(
    layered: Mapping[str, Any] | None, *, root: Path | None = None, environ: Mapping[str, str] | None = None
) -> tuple[list[Target], str | None]:
    """All configured targets and the name of the active one."""
    merged = settings(layered, environ)
    targets = merged["targets"]
    built = [build_target(n, targets[n], merged, root or Path.cwd()) for n in sorted(targets)]
    active = merged.get("target")
    return built, str(active) if active else None
