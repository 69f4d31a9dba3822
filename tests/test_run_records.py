"""One way to record a run (runlog.record_run) and one database-URL resolver (db.database_url_for)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fix_pg import TestDatabase
from migrate_support import make_set, quiet, target
from oncall.db import DatabaseURL, database_url_for
from oncall.errors import BadInput
from oncall.migrations.admin import baseline, resolve
from oncall.migrations.downgrade import rollback_migration
from oncall.migrations.run import migrate

UP = "CREATE TABLE widgets (id int);\n"
DOWN = "DROP TABLE widgets;\n"


def _unwritable_log(tmp_path: Path) -> Path:
    """A run log path that is a directory: appending to it fails with IsADirectoryError."""
    path = tmp_path / "runs.jsonl"
    path.mkdir()
    return path


@pytest.mark.parametrize("task", ["baseline", "resolve", "rollback-migration"])
def test_admin_runs_succeed_with_a_warning_when_the_run_log_cannot_be_written(
    pg: TestDatabase, tmp_path: Path, task: str
) -> None:
    """baseline, resolve and rollback-migration record their run as migrate does: a warning, not a failure."""
    folder = make_set(
        tmp_path / "db" / "migrations",
        {"20250101120000_widgets.sql": "-- migrate:up\n" + UP + "-- migrate:down\n" + DOWN},
    )
    good = target(folder, tmp_path)
    t = target(folder, tmp_path, run_log=_unwritable_log(tmp_path))
    out = quiet()
    if task == "baseline":
        pg.execute(UP + "ALTER TABLE widgets OWNER TO app")
        assert baseline(t, pg.url, out, to="20250101120000_widgets").ok
    elif task == "resolve":
        resolve(t, pg.url, out, "20250101120000_widgets", applied=True)
    else:
        migrate(good, pg.url, quiet())
        assert rollback_migration(t, pg.url, out).ok
    assert f"warning: could not write the run record to {t.run_log}" in out.stderr.getvalue()


def test_the_resolver_parses_a_given_url_and_names_the_targets_variable(tmp_path: Path) -> None:
    """A string is parsed with the target's variable named as its source; a DatabaseURL passes through."""
    t = target(tmp_path, tmp_path)
    parsed = database_url_for(t, "postgresql://app:pw@127.0.0.1:5432/app")
    assert (parsed.host, parsed.source) == ("127.0.0.1", t.database_url_env)
    assert database_url_for(t, parsed) is parsed


def test_the_resolver_reads_the_given_environment_and_names_a_missing_variable(tmp_path: Path) -> None:
    """Without a URL the target's variable is read from `environ`; unset, BadInput names it."""
    t = target(tmp_path, tmp_path)
    url = database_url_for(t, environ={t.database_url_env: "postgresql://app:pw@db.example:5432/app"})
    assert isinstance(url, DatabaseURL)
    assert url.host == "db.example"
    with pytest.raises(BadInput, match=f"{t.database_url_env} is not set"):
        database_url_for(t, environ={})
