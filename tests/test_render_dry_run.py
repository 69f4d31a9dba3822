"""restart --dry-run and deploy --dry-run (issue 17): the exact API call, nothing sent, no key shown."""

from __future__ import annotations

from typing import Any

from oncall.sandbox.render_api import RenderStandIn
from render_support import invoke_env, service_id


def test_restart_dry_run_prints_the_call_and_sends_nothing(api: RenderStandIn, run_invoke: Any) -> None:
    """Even on a production target without --yes: a dry run asks nothing and POSTs nothing."""
    result = run_invoke(
        "restart", "--target", "turbo-response-backend", "--dry-run", env=invoke_env(api, api.base_url)
    )
    assert result.code == 0, result.output
    assert f"would send POST {api.base_url}/services/{service_id(api)}/restart" in result.stdout
    assert api.calls("POST") == 0


def test_deploy_dry_run_json_names_method_url_and_body(api: RenderStandIn, run_invoke: Any) -> None:
    result = run_invoke(
        "deploy",
        "-t",
        "sandbox",
        "--dry-run",
        "--clear-cache",
        "--commit",
        "abc1234",
        "-j",
        env=invoke_env(api, api.base_url),
    )
    assert result.code == 0, result.output
    doc = result.json()
    assert doc["dry_run"] is True
    assert doc["request"] == {
        "method": "POST",
        "url": f"{api.base_url}/services/{service_id(api)}/deploys",
        "body": {"clearCache": "clear", "commitId": "abc1234"},
    }
    assert api.calls("POST") == 0
