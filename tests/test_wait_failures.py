"""Failures keep what was seen (issue 17, item 5): a failed or interrupted wait prints every check's
last state and the next command, through the real `invoke`."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

from fix_invoke import INVOKE, REPO, clean_env
from smoke_support import SmokeServer


def test_ctrl_c_during_smoke_wait_prints_the_last_state_and_exits_130(tmp_path: Path) -> None:
    with SmokeServer() as server:
        url = server.url("/status/502")
        proc = subprocess.Popen(
            [str(INVOKE), "smoke", "--url", url, "--wait", "5m", "--interval", "100ms"],
            cwd=REPO,
            env=clean_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        # Off a terminal the wait prints one line per change of state: the first 502 is the event.
        first = proc.stdout.readline()
        assert "502" in first, first
        proc.send_signal(signal.SIGINT)
        rest, stderr = proc.communicate(timeout=60)
    output = first + rest + stderr
    print(output)
    assert proc.returncode == 130
    assert "interrupted after" in output
    assert "/status/502: " in output
    assert "502 Bad Gateway" in output.split("last seen:", 1)[1]
    assert "next: invoke triage --target" in output


def test_a_wait_that_ends_unhealthy_names_the_next_command(run_invoke: Any) -> None:
    with SmokeServer() as server:
        result = run_invoke(
            "smoke",
            "--url",
            server.url("/status/502"),
            "--wait",
            "1s",
            "--interval",
            "100ms",
            "--consecutive",
            "1",
        )
    assert result.code == 1
    assert "next: invoke triage --target" in result.stderr
