"""Targets: one service's settings, resolved from Invoke's config, the environment and flags.

Settings live under the `oncall` key of Invoke's config. Precedence, highest first:

    task flag  >  INVOKE_ONCALL_* environment variable  >  `-f` runtime file  >  invoke.yaml  >  defaults

Invoke itself ranks a `-f` file above environment variables; issue 2 asks for the environment to win
(an `INVOKE_ONCALL_TARGET=x` set for one cron run must beat a shared config file), so `settings()`
re-applies the scalar `INVOKE_ONCALL_*` variables on top of what Invoke merged. docs/config.md says so.

Secrets never live in config: a target names the environment variable that holds its database URL.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oncall.config_defaults import DEFAULTS, ENV_PREFIX
from oncall.errors import BadInput

LEDGERS = ("oncall", "alembic")


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
    lock_timeout: str = "3s"
    statement_timeout: str = "5min"
    lock_retries: int = 5
    run_log: Path = Path(".oncall/runs.jsonl")
    state_dir: Path = Path(".oncall")
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # Set by the task layer for `database_url_from: render` (oncall.render_env): reads the URL
    # from the Render service when first asked. Config cannot call Render itself (it sits below it).
    database_url_source: Callable[[], str] | None = field(default=None, repr=False, compare=False)

    @property
    def is_alembic(self) -> bool:
        return self.ledger == "alembic"

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


def _cast_like(default: Any, raw: str, name: str) -> Any:
    if isinstance(default, bool):
        return raw not in ("", "0", "false", "False", "no")
    if isinstance(default, int | float):
        try:
            return type(default)(raw)
        except ValueError:
            raise BadInput(
                f"{name}={raw!r} is not a number", f"set {name} to a number like {default}"
            ) from None
    return raw


def settings(layered: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Merge defaults < Invoke's layered `oncall` config < INVOKE_ONCALL_* variables."""
    env = os.environ if environ is None else environ
    merged: dict[str, Any] = dict(DEFAULTS)
    for key, value in dict(layered or {}).items():
        merged[key] = value
    for key, default in DEFAULTS.items():
        if isinstance(default, dict):
            continue
        name = ENV_PREFIX + key.upper()
        if name in env:
            merged[key] = _cast_like(default if default is not None else "", env[name], name)
    return merged


def _as_dict(value: Any) -> dict[str, Any]:
    # Invoke's DataProxy behaves like a mapping but is not a dict.
    if value is None:
        return {}
    return {k: value[k] for k in value}


def _smoke_checks(raw: Any, target_name: str) -> tuple[SmokeCheckConfig, ...]:
    checks = []
    for index, entry in enumerate(raw or []):
        item = _as_dict(entry)
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
                headers=_as_dict(item.get("headers")),
                header_env=_as_dict(item.get("header_env")),
                conditions=_as_dict(item.get("conditions")),
            )
        )
    return tuple(checks)


def build_target(name: str, raw: Mapping[str, Any], merged: Mapping[str, Any], root: Path) -> Target:
    """Build a Target from its config entry; per-target keys beat the global `oncall.*` ones."""
    raw = _as_dict(raw)

    def pick(key: str) -> Any:
        return raw[key] if raw.get(key) is not None else merged[key]

    ledger = str(raw.get("ledger", "oncall"))
    if ledger not in LEDGERS:
        raise BadInput(
            f"target {name} has ledger {ledger!r}",
            f"set ledger to one of: {', '.join(LEDGERS)}",
        )
    migrations = raw.get("migrations")
    if not migrations:
        raise BadInput(
            f"target {name} has no migrations directory", "set migrations: sql/<set> in invoke.yaml"
        )
    render = _as_dict(raw.get("render"))
    render_yaml = raw.get("render_yaml")
    return Target(
        name=name,
        system=str(raw.get("system", name)),
        migrations_dir=(root / str(migrations)).resolve(),
        ledger=ledger,
        database_url_env=str(raw.get("database_url_env", "DATABASE_URL")),
        production=bool(raw.get("production", False)),
        schema=str(raw.get("schema", "public")),
        render_service=str(render["service"]) if render.get("service") else None,
        render_yaml=(root / str(render_yaml)).resolve() if render_yaml else None,
        base_url=raw.get("base_url"),
        base_url_env=raw.get("base_url_env"),
        smoke=_smoke_checks(raw.get("smoke"), name),
        connect_timeout=float(pick("connect_timeout")),
        lock_wait=float(pick("lock_wait")),
        lock_timeout=str(pick("lock_timeout")),
        statement_timeout=str(pick("statement_timeout")),
        lock_retries=int(pick("lock_retries")),
        run_log=root / str(pick("run_log")),
        state_dir=root / str(pick("state_dir")),
        raw=raw,
    )


def resolve_target(
    layered: Mapping[str, Any] | None,
    name: str | None = None,
    *,
    root: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Target:
    """The Target named by the flag, else by INVOKE_ONCALL_TARGET, else by config `oncall.target`."""
    merged = settings(layered, environ)
    targets = _as_dict(merged.get("targets"))
    chosen = name or merged.get("target")
    known = ", ".join(sorted(targets)) or "(none configured)"
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
    targets = _as_dict(merged.get("targets"))
    built = [build_target(n, targets[n], merged, root or Path.cwd()) for n in sorted(targets)]
    active = merged.get("target")
    return built, str(active) if active else None
