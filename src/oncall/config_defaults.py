"""The typed defaults of every `oncall.*` setting, and how Invoke may fill them from the environment.

Kept apart from `oncall.config` (whose dataclasses cost milliseconds to create) because the task
namespace needs these at import time, on every `invoke --list` and shell completion.
"""

from __future__ import annotations

from typing import Any

ENV_PREFIX = "INVOKE_ONCALL_"

# Every scalar setting with its typed default. Invoke only maps INVOKE_ONCALL_* onto keys that
# exist, and casts by the default's type, so each one is declared here.
DEFAULTS: dict[str, Any] = {
    "target": None,
    "connect_timeout": 5.0,
    "lock_wait": 30.0,
    "lock_timeout": "200ms",
    "statement_timeout": "5min",
    "lock_retries": 10,
    "table_lock_wait": 60.0,
    "run_log": ".oncall/runs.jsonl",
    "state_dir": ".oncall",
    # health --notify (issue 19): the variable that holds the apprise channel URLs (the URLs are
    # secrets, so config names the variable, never the URLs), and when to alert, resolve, remind.
    "notify_urls_env": "ONCALL_NOTIFY_URLS",
    "failure_threshold": 2,
    "success_threshold": 1,
    "remind_every": 0.0,
    # where that state lives: auto (the database on Render or without a writable state_dir), file, database
    "notify_state": "auto",
    "targets": {},
}
