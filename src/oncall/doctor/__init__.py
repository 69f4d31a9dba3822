"""Doctor: is this target reachable and usable (database, Render, config), and why not."""

from oncall.doctor.checks import database_checks, run_doctor

__all__ = ["database_checks", "run_doctor"]
