"""Tasks: verify (filled in by its issue)."""
