"""Helpers for the doctor/connect/config tests: silent sockets, closed ports, a loopback-only network
namespace, and throw-away project directories with their own invoke.yaml."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
INVOKE = Path(sys.executable).parent / "invoke"


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts connections and never says a word; yields its port."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        server.close()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound once, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def loopback_namespace_available() -> bool:
    """Whether `unshare -rn` can give a process a network namespace with only loopback.

    In such a namespace any non-loopback address fails locally with "Network is unreachable":
    no packet leaves the machine, which is how the IPv6-only case is tested honestly.
    """
    if not (shutil.which("unshare") and shutil.which("ip")):
        return False
    probe = subprocess.run(
        ["unshare", "-rn", "sh", "-c", "ip link set lo up"], capture_output=True, timeout=30, check=False
    )
    return probe.returncode == 0


def in_loopback_namespace(
    argv: list[str], env: Mapping[str, str], cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    """Run argv inside a fresh loopback-only network namespace."""
    script = 'ip link set lo up && exec "$@"'
    proc = subprocess.run(
        ["unshare", "-rn", "sh", "-c", script, "sh", *argv],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Printed so that the secret scan reads it, as run_invoke does.
    print(f"$ (netns) {' '.join(argv)} -> exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def make_project(root: Path, oncall: Mapping[str, Any]) -> Path:
    """A project directory whose tasks.py loads our collection and whose invoke.yaml is `oncall`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "tasks.py").write_text("from oncall.tasks import ns\n\n__all__ = ['ns']\n")
    write_yaml(root / "invoke.yaml", {"oncall": dict(oncall)})
    (root / "sql").mkdir(exist_ok=True)
    return root


def target_entry(**extra: Any) -> dict[str, Any]:
    """A minimal target entry for a test project."""
    return {"system": "test", "migrations": "sql", "database_url_env": "DATABASE_URL", **extra}


def rows(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """doctor --json checks by name."""
    return {row["check"]: row for row in document["checks"]}


def write_yaml(path: Path, document: Mapping[str, Any]) -> Path:
    """Write a config file for Invoke; JSON is valid YAML, so no YAML library is needed."""
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
