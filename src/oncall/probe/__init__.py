"""HTTP smoke checks: is the site serving again, by named conditions, once or until healthy.

results      CheckResult and SmokeResult: what a run saw
run          checks_for (checks from config), smoke (the run), describe_failure
http         one attempt: request, redirects, network errors in words, TLS trust
conditions   parse and evaluate conditions
network      asyncio-native sockets under httpx
report       table, live view, progress lines
junit        JUnit XML for CI
"""

from oncall.probe.http import Check
from oncall.probe.results import CheckResult, SmokeResult
from oncall.probe.run import checks_for, describe_failure, smoke, smoke_async

__all__ = ["Check", "CheckResult", "SmokeResult", "checks_for", "describe_failure", "smoke", "smoke_async"]
