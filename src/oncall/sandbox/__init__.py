"""Local stand-ins for the outside world: embedded PostgreSQL, the Render API and edge, a demo backend."""
