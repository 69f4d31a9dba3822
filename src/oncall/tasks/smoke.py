"""Tasks: smoke (filled in by its issue)."""
