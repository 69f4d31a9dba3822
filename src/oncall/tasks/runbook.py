"""Tasks: runbook (filled in by its issue)."""
