"""Tasks: migrate (filled in by its issue)."""
