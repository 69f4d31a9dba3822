"""Bring the sandbox up, report on it, and take it down: the library behind `invoke sandbox.*`.

Everything lives in one directory (`.sandbox/` in the project root, or `ONCALL_SANDBOX_DIR`):

    state.json     pids, ports, system (no secrets)
    env            the variables to export (0600: it holds the database password and API key)
    run.json       written by the sandbox process: its ports and the backend's pid and state
    pg/            the embedded PostgreSQL cluster and its log
    run.log        the sandbox process's own output;  backend.log  the backend's, as Render logs it

Processes are tracked by pid and stopped by pid, after checking the pid still runs what we started.
A directory left by a killed run (a pid that is gone) is cleaned up before a new sandbox starts.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from oncall.errors import BadInput, CheckFailed, Refused
from oncall.redact import redact, register_secret
from oncall.sandbox import procs
from oncall.sandbox.pg import EmbeddedPostgres

SANDBOX_DIR_ENV = "ONCALL_SANDBOX_DIR"
RUN_MARKER = "oncall.sandbox.run"
BACKEND_MARKER = "oncall.sandbox.backend"
READY_TIMEOUT = 45.0

# Preferred ports, so a sandbox keeps the same URLs from one day to the next; a taken port is
# replaced by a free one. 10000 is the PORT Render gives a web service by default.
PREFERRED_PORTS = {"postgres": 55432, "render_api": 18081, "edge": 18080, "backend": 10000}
# Other preferred ports, e.g. `edge=28080,render_api=28081`: for a second sandbox on one machine,
# and for tests, which must not depend on ports that any other process may hold or let go of.
PORTS_ENV = "ONCALL_SANDBOX_PORTS"

ENV_NAMES = ("DATABASE_URL", "RENDER_API_KEY", "RENDER_API_URL", "ONCALL_SANDBOX_URL", "INVOKE_ONCALL_TARGET")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SystemSpec:
    """One seed system as the sandbox plays it."""

    name: str
    target: str
    service: str
    migrations: str
    alembic: bool
    page: str
    pre_deploy: str


SYSTEMS: dict[str, SystemSpec] = {
    "turbo-response": SystemSpec(
        name="turbo-response",
        target="sandbox",
        service="turbo-response-backend",
        migrations="examples/turbo-response-backend/backend/migrations",
        alembic=False,
        page="/admin/case/11",
        pre_deploy="invoke migrate --yes",
    ),
    "trdrhub": SystemSpec(
        name="trdrhub",
        target="sandbox-trdrhub",
        service="trdrhub-api",
        migrations="examples/trdrhub-api/apps/api/alembic.ini",
        alembic=True,
        page="/admin/case/11",
        pre_deploy="invoke migrate --yes",
    ),
}


def system_spec(name: str) -> SystemSpec:
    if name not in SYSTEMS:
        raise BadInput(f"unknown sandbox system {name!r}", f"choose one of: {', '.join(SYSTEMS)}")
    return SYSTEMS[name]


def preferred_ports(environ: Mapping[str, str] | None = None) -> dict[str, int]:
    """PREFERRED_PORTS, with those that `ONCALL_SANDBOX_PORTS` names replaced; BadInput when malformed."""
    env = os.environ if environ is None else environ
    ports = dict(PREFERRED_PORTS)
    for item in (part.strip() for part in env.get(PORTS_ENV, "").split(",")):
        if not item:
            continue
        name, _, value = (half.strip() for half in item.partition("="))
        if name not in ports or not value.isdigit() or not 0 < int(value) < 65536:
            raise BadInput(
                f"{PORTS_ENV} entry {item!r} is not NAME=PORT with NAME one of {', '.join(ports)}",
                f"for example: export {PORTS_ENV}=edge=28080,render_api=28081",
            )
        ports[name] = int(value)
    return ports


def sandbox_dir(root: Path, environ: Mapping[str, str] | None = None) -> Path:
    """`ONCALL_SANDBOX_DIR` when set (tests use a temporary one), else `.sandbox/` in the project root."""
    env = os.environ if environ is None else environ
    chosen = env.get(SANDBOX_DIR_ENV)
    directory = Path(chosen).resolve() if chosen else (root / ".sandbox").resolve()
    # The nearest part of the path that exists must be a directory, or every write below fails.
    existing = next(p for p in (directory, *directory.parents) if p.exists())
    if not existing.is_dir():
        source = SANDBOX_DIR_ENV if chosen else "the sandbox directory"
        raise BadInput(
            f"{source} {directory} is not a directory: {existing} is a file",
            f"point {SANDBOX_DIR_ENV} at a directory (or a path to create), or unset it",
        )
    return directory


@dataclass
class SandboxState:
    """What `state.json` holds: enough to find, check and stop every process by pid."""

    system: str
    target: str
    service: str
    root: str
    started_at: str
    pg_pid: int | None = None
    pg_port: int = 0
    run_pid: int | None = None
    api_port: int = 0
    edge_port: int = 0
    database: str = ""

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self.edge_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/v1"


@dataclass
class UpResult:
    state: SandboxState
    directory: Path
    env: dict[str, str]
    already_running: bool = False
    cleaned_stale: list[str] = field(default_factory=list)
    backend: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class Component:
    name: str
    pid: int | None
    port: int | None
    url: str | None
    alive: bool
    healthy: bool
    detail: str


@dataclass
class SandboxStatus:
    directory: Path
    running: bool
    stale: bool
    state: SandboxState | None
    components: list[Component] = field(default_factory=list)
    page: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        # The backend is the patient, not the infrastructure: a crashed backend is the incident.
        infra = [c for c in self.components if c.name != "backend"]
        return self.running and all(c.healthy for c in infra)


@dataclass
class DownResult:
    directory: Path
    was_running: bool
    stopped: list[str] = field(default_factory=list)


# --- files -------------------------------------------------------------------------------------


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)


def read_state(directory: Path) -> SandboxState | None:
    try:
        doc = json.loads((directory / "state.json").read_text())
        return SandboxState(**doc)
    except (OSError, ValueError, TypeError):
        return None


def read_run(directory: Path) -> dict[str, Any]:
    """The sandbox process's own report (ports, backend pid and state); {} before it wrote one."""
    try:
        doc = json.loads((directory / "run.json").read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def read_env(directory: Path) -> dict[str, str]:
    """The variables in `<dir>/env`, registered with the redactor (they hold a password and a key)."""
    env: dict[str, str] = {}
    try:
        lines = (directory / "env").read_text().splitlines()
    except OSError:
        return env
    for line in lines:
        if line.startswith("export ") and "=" in line:
            key, _, value = line[len("export ") :].partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    _register(env)
    return env


def _register(env: Mapping[str, str]) -> None:
    from urllib.parse import unquote, urlsplit

    register_secret(env.get("RENDER_API_KEY"))
    if env.get("DATABASE_URL"):
        password = urlsplit(env["DATABASE_URL"]).password
        if password:
            register_secret(password)
            register_secret(unquote(password))


def _write_env(directory: Path, env: Mapping[str, str]) -> None:
    path = directory / "env"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("# oncall sandbox: source this file (it holds a password and an API key; mode 0600)\n")
        fh.writelines(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One sandbox.up/down at a time per directory (two terminals, or a test and a demo)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# Only what the sandbox writes is ever removed: ONCALL_SANDBOX_DIR may point anywhere.
_OWNED = ("state.json", "env", "run.json", "run.tmp", "state.tmp", "pg")


def _remove_owned(directory: Path) -> None:
    for name in _OWNED:
        path = directory / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _pg_for(directory: Path) -> EmbeddedPostgres:
    return EmbeddedPostgres(directory / "pg" / "data")


# --- up ----------------------------------------------------------------------------------------


def up(
    root: Path,
    system: str,
    *,
    environ: Mapping[str, str] | None = None,
    progress: Progress = lambda _msg: None,
) -> UpResult:
    """Start PostgreSQL (baseline only), the backend (which crashes) and the stand-in with its edge."""
    spec = system_spec(system)
    directory = sandbox_dir(root, environ)
    started = time.monotonic()
    with _locked(directory):
        cleaned: list[str] = []
        state = read_state(directory)
        if state and _all_alive(directory, state):
            if state.system != spec.name:
                raise Refused(
                    f"a {state.system} sandbox is already running in {directory} (edge {state.edge_url})",
                    f"run invoke sandbox.down first, then invoke sandbox.up --system {spec.name}",
                )
            return UpResult(
                state, directory, read_env(directory), already_running=True, backend=read_run(directory)
            )
        if state or (directory / "pg").exists() or (directory / "run.json").exists():
            cleaned = _stop_all(directory, state)
            _remove_owned(directory)
            progress(f"cleaned a stale sandbox in {directory} (stopped: {', '.join(cleaned) or 'nothing'})")
        try:
            result = _start(root, spec, directory, progress, preferred_ports(environ))
        except BaseException:
            _stop_all(directory, read_state(directory))
            _remove_owned(directory)
            raise
        result.cleaned_stale = cleaned
        result.seconds = time.monotonic() - started
        return result


def _start(
    root: Path, spec: SystemSpec, directory: Path, progress: Progress, ports: Mapping[str, int]
) -> UpResult:
    from oncall.sandbox.database import provision

    state = SandboxState(
        system=spec.name, target=spec.target, service=spec.service, root=str(root), started_at=_now()
    )
    server = _start_postgres(directory, progress, ports["postgres"])
    state.pg_pid, state.pg_port = server.pid(), server.port
    _write_json(directory / "state.json", asdict(state))
    db = provision(server, spec.name, root / spec.migrations, alembic=spec.alembic)
    register_secret(db.password)
    state.database = db.name
    progress(f"applied the baseline {db.baseline.name} to database {db.name} (owner {db.user}, no superuser)")

    api_key = "rnd_" + secrets.token_hex(16)
    register_secret(api_key)
    # The preferred ports, as wishes: the sandbox process binds each one, or a port the kernel picks
    # when it is taken, and reports what it got (read back below). Picking a free port here to hand
    # over would leave it unbound while that process starts, for anyone else to take.
    state.api_port, state.edge_port = ports["render_api"], ports["edge"]
    env = {
        "DATABASE_URL": server.url(db.name, db.user, db.password),
        "RENDER_API_KEY": api_key,
        "RENDER_API_URL": state.api_url,
        "ONCALL_SANDBOX_URL": state.edge_url,
        "INVOKE_ONCALL_TARGET": spec.target,
    }
    _write_env(directory, env)

    progress(f"starting the Render stand-in, the edge and the {spec.service} backend")
    run_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    argv = [
        sys.executable,
        "-m",
        RUN_MARKER,
        "--dir",
        str(directory),
        "--root",
        str(root),
        "--system",
        spec.name,
        "--api-port",
        str(state.api_port),
        "--edge-port",
        str(state.edge_port),
        "--backend-port",
        str(procs.pick_port(ports["backend"])),
    ]
    (directory / "backend.log").write_text("")  # a new sandbox starts new logs
    with (directory / "run.log").open("wb") as log:
        proc = subprocess.Popen(
            argv,
            cwd=root,
            env=run_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # detached: survives the task that started it, and Ctrl-C there
        )
    state.run_pid = proc.pid
    _write_json(directory / "state.json", asdict(state))
    run = _wait_ready(directory, proc)
    state.api_port, state.edge_port = int(run["api_port"]), int(run["edge_port"])
    env["RENDER_API_URL"], env["ONCALL_SANDBOX_URL"] = state.api_url, state.edge_url
    _write_env(directory, env)
    _write_json(directory / "state.json", asdict(state))
    return UpResult(state, directory, env, backend=run)


def _start_postgres(
    directory: Path, progress: Progress, preferred: int, attempts: int = 3
) -> EmbeddedPostgres:
    """Start the cluster; a port taken between picking and listening (another sandbox) is replaced."""
    server = _pg_for(directory)
    register_secret(server.password)
    for attempt in range(1, attempts + 1):
        server.port = procs.pick_port(preferred)
        progress(f"starting PostgreSQL 16 on 127.0.0.1:{server.port}")
        try:
            server.start()
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, RuntimeError) as exc:
            if attempt < attempts and not procs.port_free(server.port):
                preferred = 0
                continue
            raise CheckFailed(
                f"embedded PostgreSQL did not start on 127.0.0.1:{server.port}: {_last_line(server.logfile)}",
                f"see {server.logfile}",
            ) from exc
        return server
    raise AssertionError("unreachable: the loop returns or raises")


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return redact(lines[-1]) if lines else "(empty log)"


def _wait_ready(directory: Path, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        run = read_run(directory)
        if run.get("ready"):
            return run
        if proc.poll() is not None:
            raise CheckFailed(
                f"the sandbox process exited with status {proc.returncode} while starting:"
                f" {_last_line(directory / 'run.log')}",
                f"see {directory / 'run.log'}",
            )
        time.sleep(0.05)
    raise CheckFailed(
        f"the sandbox process did not report ready within {READY_TIMEOUT:.0f}s",
        f"see {directory / 'run.log'}",
    )


# --- status ------------------------------------------------------------------------------------


# What a pid's command line must contain to be ours: the program and this sandbox's directory (or
# port), so a pid reused after a reboot, or another sandbox's process, is never signalled.
# /proc separates arguments with NUL, read as spaces; the trailing space stops /a matching /ab.


def _run_marker(directory: Path) -> str:
    return f"{RUN_MARKER} --dir {directory} "


def _pg_marker(directory: Path) -> str:
    return f" -D {directory / 'pg' / 'data'} "


def _backend_marker(system: str | None, port: object) -> str:
    return f"{BACKEND_MARKER} --system {system} --port {port} "


def _all_alive(directory: Path, state: SandboxState) -> bool:
    return procs.ours(state.pg_pid, _pg_marker(directory)) and procs.ours(
        state.run_pid, _run_marker(directory)
    )


def _http_get(url: str, headers: Mapping[str, str] | None = None, timeout: float = 3.0) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=dict(headers or {}))  # noqa: S310 - our own 127.0.0.1 URLs
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            return int(resp.status), resp.read(4096).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read(4096).decode(errors="replace")


def status(root: Path, *, environ: Mapping[str, str] | None = None) -> SandboxStatus:
    """Is a sandbox running here; for each component its pid, port and health; and the page's status."""
    directory = sandbox_dir(root, environ)
    state = read_state(directory)
    if state is None:
        return SandboxStatus(directory, running=False, stale=(directory / "pg").exists(), state=None)
    env = read_env(directory)
    run = read_run(directory)
    spec = system_spec(state.system)
    components = [
        _pg_component(directory, state, env),
        _api_component(directory, state, env),
        _backend_component(state, run),
        _edge_component(directory, state),
    ]
    running = _all_alive(directory, state)
    result = SandboxStatus(directory, running=running, stale=not running, state=state, components=components)
    if components[-1].alive:
        try:
            code, body = _http_get(state.edge_url + spec.page)
            result.page = {
                "url": state.edge_url + spec.page,
                "status": code,
                "bad_gateway": "Bad Gateway" in body,
            }
        except OSError as exc:
            result.page = {"url": state.edge_url + spec.page, "error": str(exc)}
    return result


def _pg_component(directory: Path, state: SandboxState, env: Mapping[str, str]) -> Component:
    alive = procs.ours(state.pg_pid, _pg_marker(directory))
    healthy, detail = False, "not running"
    if alive:
        import psycopg

        try:
            with psycopg.connect(env.get("DATABASE_URL", ""), connect_timeout=3) as conn:
                version = conn.execute("SHOW server_version").fetchone()
            healthy, detail = True, f"PostgreSQL {version[0] if version else '?'}, database {state.database}"
        except psycopg.Error as exc:
            detail = redact(str(exc).strip().splitlines()[0])
    return Component("postgres", state.pg_pid, state.pg_port, None, alive, healthy, detail)


def _api_component(directory: Path, state: SandboxState, env: Mapping[str, str]) -> Component:
    alive = procs.ours(state.run_pid, _run_marker(directory))
    healthy, detail = False, "not running"
    if alive:
        try:
            code, _ = _http_get(
                f"{state.api_url}/services?limit=1",
                {"Authorization": f"Bearer {env.get('RENDER_API_KEY', '')}", "Accept": "application/json"},
            )
            healthy, detail = code == 200, f"GET /v1/services -> {code}"
        except OSError as exc:
            detail = str(exc)
    return Component("render-api", state.run_pid, state.api_port, state.api_url, alive, healthy, detail)


def _backend_component(state: SandboxState, run: Mapping[str, Any]) -> Component:
    pid = run.get("backend_pid")
    port = run.get("backend_port")
    alive = procs.ours(pid, _backend_marker(state.system, port))
    up_ = alive and isinstance(port, int) and procs.listening(port)
    exit_code = run.get("backend_exit_code")
    if up_:
        detail = "live"
    elif alive:
        detail = "starting"
    elif exit_code is not None:
        detail = f"crashed (exit {exit_code}); see backend.log"
    else:
        detail = "not running"
    return Component("backend", pid if alive else None, port, None, alive, bool(up_), detail)


def _edge_component(directory: Path, state: SandboxState) -> Component:
    alive = procs.ours(state.run_pid, _run_marker(directory)) and procs.listening(state.edge_port)
    return Component(
        "edge",
        state.run_pid,
        state.edge_port,
        state.edge_url,
        alive,
        alive,
        "proxying to the backend" if alive else "not listening",
    )


# --- down --------------------------------------------------------------------------------------


def _stop_all(directory: Path, state: SandboxState | None) -> list[str]:
    """Stop every process the directory's files name, by pid; the names of what was stopped."""
    stopped = []
    run = read_run(directory)
    if state and procs.terminate(state.run_pid, _run_marker(directory)):
        stopped.append(f"sandbox process {state.run_pid}")
    # The sandbox process stops its backend on SIGTERM; a killed one leaves it orphaned.
    backend_pid = run.get("backend_pid")
    marker = _backend_marker(state.system if state else run.get("system"), run.get("backend_port"))
    if isinstance(backend_pid, int) and procs.terminate(backend_pid, marker):
        stopped.append(f"backend {backend_pid}")
    server = _pg_for(directory)
    pg_pid = server.pid() or (state.pg_pid if state else None)
    if procs.ours(pg_pid, _pg_marker(directory)):
        # pg_ctl signals the pid in postmaster.pid, which we have just checked is this cluster's.
        server.stop()
        if pg_pid is not None and not procs.wait_gone(pg_pid, 10):
            procs.terminate(pg_pid, _pg_marker(directory))
        stopped.append(f"postgres {pg_pid}")
    return stopped


def down(root: Path, *, environ: Mapping[str, str] | None = None) -> DownResult:
    """Stop the sandbox's processes by pid and remove its database; logs stay for a post-mortem."""
    directory = sandbox_dir(root, environ)
    if not directory.exists():
        return DownResult(directory, was_running=False)
    with _locked(directory):
        state = read_state(directory)
        stopped = _stop_all(directory, state)
        _remove_owned(directory)
    return DownResult(directory, was_running=bool(state) or bool(stopped), stopped=stopped)


def backend_error(directory: Path) -> str | None:
    """The last `error: ...` line the backend printed (the crash cause), from backend.log."""
    try:
        lines = (directory / "backend.log").read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        _, _, message = line.partition(" ")
        if message.startswith("error:"):
            return redact(message)
    return None
