"""Helpers for the doctor/connect/config tests: silent sockets, closed ports, a loopback-only network
namespace, and throw-away project directories with their own invoke.yaml."""

from __future__ import annotations

import contextlib
import json
import select
import shutil
import socket
import ssl
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


def app_project(root: Path) -> Path:
    """A project whose default target `app` is not a sandbox target.

    Sandbox targets refuse a database that is not on this machine before connecting, so the tests
    of doctor's DNS, TCP and pooler rows against such hosts run on this target instead.
    """
    return make_project(root, {"target": "app", "targets": {"app": target_entry()}})


def rows(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """doctor --json checks by name."""
    return {row["check"]: row for row in document["checks"]}


def write_yaml(path: Path, document: Mapping[str, Any]) -> Path:
    """Write a config file for Invoke; JSON is valid YAML, so no YAML library is needed."""
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")
GSSENC_REQUEST = (8).to_bytes(4, "big") + (80877104).to_bytes(4, "big")


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _pump(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes (one thread; SSL data buffered inside counts)."""
    peers = {client: upstream, upstream: client}
    while True:
        pending = isinstance(client, ssl.SSLSocket) and client.pending()
        ready = [client] if pending else select.select(list(peers), [], [], 1.0)[0]
        for sock in ready:
            try:
                data = sock.recv(65536)
            except ssl.SSLWantReadError:
                continue
            except OSError:
                return
            if not data:
                return
            peers[sock].sendall(data)


@contextlib.contextmanager
def tls_terminating_proxy(upstream_port: int, context: ssl.SSLContext) -> Iterator[int]:
    """A TLS front for a plain PostgreSQL on 127.0.0.1, as a pooler that terminates TLS would be.

    The wheel's PostgreSQL is built without SSL, so this answers libpq's SSLRequest with 'S', does
    the handshake with `context`, and relays the decrypted protocol to the real server.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        client: socket.socket = conn
        try:
            first = _recv_exactly(conn, 8)
            if first == GSSENC_REQUEST:
                conn.sendall(b"N")
                first = _recv_exactly(conn, 8)
            if first == SSL_REQUEST:
                conn.sendall(b"S")
                client = context.wrap_socket(conn, server_side=True)
                first = b""
            with socket.create_connection(("127.0.0.1", upstream_port), timeout=10) as upstream:
                upstream.settimeout(None)
                if first:
                    upstream.sendall(first)
                _pump(client, upstream)
        except (OSError, ssl.SSLError):
            pass  # a client that gave up on the handshake (wrong CA) ends here
        finally:
            client.close()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        listener.close()
