"""Processes the sandbox started, tracked by pid and stopped by pid, never by name.

A pid in a state file may be stale (the machine rebooted, the pid was reused), so before sending a
signal we check that the process is alive and that its command line still names what we started.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def alive(pid: int | None) -> bool:
    """True when `pid` runs (zombies count as gone)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        with contextlib.suppress(OSError, IndexError):
            # Field 3 is the state; a zombie has exited and only waits to be reaped.
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def cmdline(pid: int) -> str:
    """The process's command line, or "" where /proc is not available."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def ours(pid: int | None, marker: str) -> bool:
    """Alive, and (where /proc tells us) its command line contains `marker`: not a reused pid."""
    if not alive(pid):
        return False
    assert pid is not None
    line = cmdline(pid)
    return not line or marker in line


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return not alive(pid)


def terminate(pid: int | None, marker: str, timeout: float = 10.0) -> bool:
    """SIGTERM `pid` if it is ours, SIGKILL after `timeout`; True when something was stopped."""
    if not ours(pid, marker):
        return False
    assert pid is not None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not wait_gone(pid, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_gone(pid, timeout)
    return True


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers do: a port whose old connections linger in TIME_WAIT is free to listen on;
        # one with a listener is not, even with SO_REUSEADDR.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pick_port(preferred: int, host: str = "127.0.0.1") -> int:
    """`preferred` when nothing listens there, else any free port the kernel hands out."""
    if preferred and port_free(preferred, host):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def on_preferred_port(bind: Callable[[int], T], preferred: int) -> T:
    """`bind(preferred)`, or `bind(0)` (a port the kernel picks) when the preferred one is taken.

    Binding is the only test of a port that holds: a port found free, let go and bound a moment
    later can be taken in between, by another server or by any outgoing connection's local port.
    """
    if preferred:
        try:
            return bind(preferred)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
    return bind(0)


def listening(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
