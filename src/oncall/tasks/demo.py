"""Tasks: demo (filled in by its issue)."""
