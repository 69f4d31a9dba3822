"""The alerting flags and channels through the real `invoke` command (issue 19 points 1, 2 and 4)."""

from __future__ import annotations

import json
from pathlib import Path

from health_support import page_server, scratch_project, target_entry, webhook_receiver


def _json_url(url: str) -> str:
    return url.replace("http://", "json://", 1)


def _project(tmp_path: Path, **config: object) -> Path:
    project = scratch_project(tmp_path / "project", {"svc": target_entry()})
    if config:
        doc = json.loads((project / "invoke.yaml").read_text())
        doc["oncall"].update(config)
        (project / "invoke.yaml").write_text(json.dumps(doc))
    return project


def test_health_alerts_an_apprise_channel_and_never_prints_its_url(
    run_invoke, pg, tmp_path, secret_scan
) -> None:  # type: ignore[no-untyped-def]
    """ONCALL_NOTIFY_URLS with a token in its path: the channel gets the alert on the second
    failing run (default threshold 2), and the token is in no output."""
    project = _project(tmp_path)
    with webhook_receiver("/hooks/channel-token-5f9e2a") as hook, page_server(502) as page:
        url = _json_url(hook.url)
        secret_scan.add(url, "channel-token-5f9e2a")
        env = {"DATABASE_URL": pg.url, "APP_URL": page.url, "ONCALL_NOTIFY_URLS": url}
        first = run_invoke("health", "--json", "--notify", cwd=project, env=env)
        second = run_invoke("health", "--notify", cwd=project, env=env)
        assert (first.code, second.code) == (1, 1)
        assert first.json()["notify"]["event"] is None
        assert "notify: posted 'failing' to channel 1 (json)" in second.stdout
        assert hook.count == 1
        assert hook.posts[0]["title"] == "oncall health: svc FAILING"


def test_the_threshold_flag_beats_the_config(run_invoke, pg, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """failure_threshold: 5 in invoke.yaml, --failure-threshold 1 on the command line: the flag wins."""
    project = _project(tmp_path, failure_threshold=5)
    with webhook_receiver("/hooks/x") as hook, page_server(502) as page:
        env = {"DATABASE_URL": pg.url, "APP_URL": page.url, "ONCALL_NOTIFY_URLS": _json_url(hook.url)}
        by_config = run_invoke("health", "--json", "--notify", cwd=project, env=env)
        assert by_config.json()["notify"]["event"] is None
        by_flag = run_invoke("health", "--json", "--notify", "--failure-threshold", "1", cwd=project, env=env)
        assert by_flag.json()["notify"]["event"] == "failing"
        assert hook.count == 1


def test_a_zero_failure_threshold_is_bad_input(run_invoke, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """--failure-threshold 0 would alert on nothing: exit 2 naming the flag, before any check."""
    result = run_invoke("health", "--failure-threshold", "0", cwd=_project(tmp_path), env={})
    assert result.code == 2
    assert "--failure-threshold '0' is less than 1" in result.stderr


def test_recover_post_sends_a_short_link_free_summary(run_invoke, pg, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """recover --post: migrate and verify pass, smoke cannot run (no base URL); the channel gets the
    verdict, one line per step and the resume command, and no link."""
    project = scratch_project(tmp_path / "project", {"svc": target_entry(base_url_env=None)})
    with webhook_receiver("/hooks/report") as hook:
        env = {"DATABASE_URL": pg.url, "ONCALL_NOTIFY_URLS": _json_url(hook.url)}
        result = run_invoke("recover", "--json", "--post", "--wait", "2", cwd=project, env=env)
        assert result.code == 2
        assert "incident report:" in result.stderr
        assert result.json()["posted"] == [{"channel": "channel 1 (json)", "sent": True, "error": None}]
        (post,) = hook.posts
    assert post["title"] == "oncall recover svc: NOT RESOLVED"
    assert "- migrate: ok" in post["message"]
    assert "Resume: `invoke recover --target svc --from smoke`" in post["message"]
    assert "http" not in post["message"]


def test_recover_post_without_a_channel_exits_2_before_any_step(run_invoke, pg, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """--post with no channel configured: exit 2 up front, nothing applied."""
    project = scratch_project(tmp_path / "project", {"svc": target_entry(base_url_env=None)})
    result = run_invoke("recover", "--post", cwd=project, env={"DATABASE_URL": pg.url})
    assert result.code == 2
    assert "--post was given" in result.stderr
    assert pg.scalar("select count(*) from pg_tables where tablename = 'ai_usage_logs'") == 0


def test_a_channel_that_failed_is_named_with_a_cause_and_a_hint_and_retried_alone(
    run_invoke, pg, tmp_path, secret_scan
) -> None:  # type: ignore[no-untyped-def]
    """Two channels, the second answers 500: health says which posted, which failed and why (one
    line each, no URL), and the next run posts to the second one only."""
    project = _project(tmp_path)
    with (
        webhook_receiver("/hooks/first-token-7c1d09") as first,
        webhook_receiver("/hooks/second-token-b44e21") as second,
        page_server(502) as page,
    ):
        urls = f"{_json_url(first.url)} {_json_url(second.url)}"
        secret_scan.add(urls, "first-token-7c1d09", "second-token-b44e21")
        env = {"DATABASE_URL": pg.url, "APP_URL": page.url, "ONCALL_NOTIFY_URLS": urls}
        second.status = 500
        failed = run_invoke("health", "--notify", "--failure-threshold", "1", cwd=project, env=env)
        assert failed.code == 1
        assert "notify: posted 'failing' to channel 1 (json)\n" in failed.stdout
        lines = failed.stdout.splitlines()
        cause = next(n for n, line in enumerate(lines) if line.startswith("notify: channel 2 (json)"))
        # The cause ends with what apprise saw (its words, here the HTTP status); then the hint.
        assert lines[cause].startswith("notify: channel 2 (json) did not accept the failing alert: ")
        assert "error=500" in lines[cause]
        assert (
            lines[cause + 1] == "  hint: check that channel's URL and service; the next run posts to it again"
        )
        second.status = 200
        retried = run_invoke("health", "--json", "--notify", "--failure-threshold", "1", cwd=project, env=env)
        assert [(c["channel"], c["event"], c["sent"]) for c in retried.json()["notify"]["channels"]] == [
            ("channel 2 (json)", "failing", True)
        ]
        assert (first.count, second.count) == (1, 2)
