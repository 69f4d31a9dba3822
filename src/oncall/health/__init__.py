"""Health: four read-only checks per target (database, schema, render, smoke), alerts and metrics.

model     what a check returns, and how codes combine
checks    the four checks, each a thin adapter over the module that owns the work
run       run them with deadlines, record, notify, write metrics
notify    post state changes to a webhook
metrics   Prometheus textfile
"""

from oncall.health.model import (
    CheckEnv,
    CheckFn,
    HealthCheckResult,
    HealthObservation,
    Skip,
    TargetHealth,
    combine_codes,
)
from oncall.health.run import HealthRun, check_target, check_targets, run_health

__all__ = [
    "CheckEnv",
    "CheckFn",
    "HealthCheckResult",
    "HealthObservation",
    "HealthRun",
    "Skip",
    "TargetHealth",
    "check_target",
    "check_targets",
    "combine_codes",
    "run_health",
]
