"""`invoke verify` end to end: the real command, exit codes, the object named, --json on stdout."""

from __future__ import annotations

import json
from pathlib import Path

from fix_invoke import RunInvoke
from fix_pg import TestDatabase
from fix_secrets import SecretScan
from verify_support import apply, copy_seed, make_target, trdrhub_alembic_target


def runtime_config(tmp_path: Path, folder: Path, ledger: str = "oncall") -> Path:
    """An `invoke -f` file with one target `t` over a private copy of a migration set."""
    config = tmp_path / "verify.yaml"
    config.write_text(
        json.dumps(
            {
                "oncall": {
                    "targets": {
                        "t": {"migrations": str(folder), "ledger": ledger, "database_url_env": "DATABASE_URL"}
                    }
                }
            }
        )
    )
    return config


def test_verify_passes_on_the_sandbox_target(
    pg: TestDatabase, run_invoke: RunInvoke, secret_scan: SecretScan
) -> None:
    """Seed 001 applied: `invoke verify --target sandbox --verbose` exits 0 with the table and verdict."""
    secret_scan.add(pg.password)
    apply(pg.url, make_target(Path("examples/turbo-response-backend/backend/migrations").resolve()))
    result = run_invoke("verify", "--target", "sandbox", "--verbose", env={"DATABASE_URL": pg.url})
    assert result.code == 0
    assert "admin_settings[setting_key='cap_warning_threshold']" in result.stdout
    assert "verify sandbox: OK" in result.stdout


def test_a_passing_verify_prints_one_verdict_line(
    pg: TestDatabase, run_invoke: RunInvoke, secret_scan: SecretScan
) -> None:
    """A passing verify prints its verdict with counts and no table; under --json stderr holds only it."""
    secret_scan.add(pg.password)
    apply(pg.url, make_target(Path("examples/turbo-response-backend/backend/migrations").resolve()))
    human = run_invoke("verify", "--target", "sandbox", env={"DATABASE_URL": pg.url})
    assert human.code == 0
    [line] = human.stdout.strip().splitlines()
    assert line.startswith("verify sandbox: OK, ")
    assert "objects" in line
    machine = run_invoke("verify", "--target", "sandbox", "--json", env={"DATABASE_URL": pg.url})
    assert machine.code == 0
    assert machine.stderr.strip().splitlines() == [machine.json()["verdict"]]
    assert len(machine.json()["rows"]) > 30


def test_verify_json_is_one_document(
    pg: TestDatabase, run_invoke: RunInvoke, secret_scan: SecretScan
) -> None:
    """--json prints exactly one JSON document with ok, code, rows; human text goes to stderr."""
    secret_scan.add(pg.password)
    apply(pg.url, trdrhub_alembic_target())
    result = run_invoke("verify", "--target", "sandbox-trdrhub", "--json", env={"DATABASE_URL": pg.url})
    doc = result.json()
    assert (result.code, doc["ok"], doc["code"]) == (0, True, 0)
    assert doc["queries"] <= 3
    assert {"kind", "name", "expected", "found", "result"} <= set(doc["rows"][0])


def test_dropped_index_exits_1_naming_it(
    pg: TestDatabase, run_invoke: RunInvoke, secret_scan: SecretScan
) -> None:
    """A dropped index: exit 1, the index named in the output and in the JSON rows (failures first)."""
    secret_scan.add(pg.password)
    apply(pg.url, make_target(Path("examples/turbo-response-backend/backend/migrations").resolve()))
    pg.execute("DROP INDEX idx_ai_usage_logs_created_at")
    result = run_invoke("verify", "--target", "sandbox", "--json", env={"DATABASE_URL": pg.url})
    assert result.code == 1
    first = result.json()["rows"][0]
    assert (first["name"], first["result"]) == ("idx_ai_usage_logs_created_at", "missing")
    human = run_invoke("verify", "--target", "sandbox", env={"DATABASE_URL": pg.url})
    assert human.code == 1
    assert "index idx_ai_usage_logs_created_at missing" in human.stderr
    [problem] = [line for line in human.stdout.splitlines() if line.strip()]
    assert problem.startswith("  missing: index idx_ai_usage_logs_created_at: expected INDEX")


def test_dropped_fk_exits_1_naming_it(
    pg: TestDatabase, run_invoke: RunInvoke, secret_scan: SecretScan
) -> None:
    """A dropped foreign key: exit 1 with the constraint named."""
    secret_scan.add(pg.password)
    apply(pg.url, make_target(Path("examples/turbo-response-backend/backend/migrations").resolve()))
    pg.execute("ALTER TABLE ai_usage_logs DROP CONSTRAINT ai_usage_logs_case_id_fkey")
    result = run_invoke("verify", "--target", "sandbox", env={"DATABASE_URL": pg.url})
    assert result.code == 1
    assert "ai_usage_logs_case_id_fkey" in result.output


def test_second_alembic_row_exits_5(pg: TestDatabase, run_invoke: RunInvoke, secret_scan: SecretScan) -> None:
    """Two rows in alembic_version: exit 5, alembic_version named, the fix in the hint."""
    secret_scan.add(pg.password)
    apply(pg.url, trdrhub_alembic_target())
    pg.execute("INSERT INTO alembic_version VALUES ('3f2a9c1d7b10')")  # the baseline, beside the head
    result = run_invoke("verify", "--target", "sandbox-trdrhub", env={"DATABASE_URL": pg.url})
    assert result.code == 5
    assert "alembic_version" in result.stderr
    assert "DELETE FROM alembic_version" in result.stderr


def test_edited_file_exits_5(
    pg: TestDatabase, run_invoke: RunInvoke, secret_scan: SecretScan, tmp_path: Path
) -> None:
    """A migration edited after it was applied: exit 5 with the file named."""
    secret_scan.add(pg.password)
    folder = copy_seed("turbo-response", tmp_path)
    apply(pg.url, make_target(folder))
    edited = folder / "20251001_baseline.sql"
    edited.write_text(edited.read_text().replace("VARCHAR(30)", "VARCHAR(40)"))
    config = runtime_config(tmp_path, folder)
    result = run_invoke("-f", str(config), "verify", "--target", "t", env={"DATABASE_URL": pg.url})
    assert result.code == 5
    assert "20251001_baseline.sql" in result.output


def test_pending_exits_1_with_run_migrate(
    pg: TestDatabase, run_invoke: RunInvoke, secret_scan: SecretScan
) -> None:
    """Nothing applied yet: exit 1 and the hint 'run invoke migrate'."""
    secret_scan.add(pg.password)
    result = run_invoke("verify", "--target", "sandbox", env={"DATABASE_URL": pg.url})
    assert result.code == 1
    assert "run invoke migrate" in result.stderr


def test_unknown_only_table_exits_2(pg: TestDatabase, run_invoke: RunInvoke, secret_scan: SecretScan) -> None:
    """--only with a table no applied migration declares is bad input, exit 2."""
    secret_scan.add(pg.password)
    apply(pg.url, make_target(Path("examples/turbo-response-backend/backend/migrations").resolve()))
    result = run_invoke("verify", "--target", "sandbox", "--only", "nope", env={"DATABASE_URL": pg.url})
    assert result.code == 2
    assert "nope" in result.stderr


def test_missing_database_url_exits_2(run_invoke: RunInvoke) -> None:
    """No DATABASE_URL: exit 2 naming the variable."""
    result = run_invoke("verify", "--target", "sandbox")
    assert result.code == 2
    assert "DATABASE_URL" in result.stderr


def test_unreachable_database_exits_3(run_invoke: RunInvoke) -> None:
    """A database nobody listens on: exit 3, password never shown."""
    from oncall.sandbox.pg import free_port

    url = f"postgresql://app:s3cret-not-shown@127.0.0.1:{free_port()}/db"
    result = run_invoke("verify", "--target", "sandbox", "--json", env={"DATABASE_URL": url})
    assert result.code == 3
    assert result.json()["code"] == 3
    assert "s3cret-not-shown" not in result.output


def test_stop_shadow_stops_the_embedded_server_after_the_check(
    pg: TestDatabase, run_invoke: RunInvoke, secret_scan: SecretScan, tmp_path: Path
) -> None:
    """--stop-shadow: the embedded shadow verify started is stopped after the check and named; a
    second (warm) run finds none running and says so, in words and under --json."""
    secret_scan.add(pg.password)
    apply(pg.url, make_target(Path("examples/turbo-response-backend/backend/migrations").resolve()))
    # No SHADOW_DATABASE_URL: verify starts the wheel's PostgreSQL under the run's state dir.
    env = {"DATABASE_URL": pg.url, "SHADOW_DATABASE_URL": ""}
    major = int(pg.scalar("SHOW server_version_num")) // 10000
    shadow = tmp_path / "home" / "state" / "shadow"
    first = run_invoke("verify", "--target", "sandbox", "--stop-shadow", env=env)
    assert first.code == 0, first.output
    assert f"shadow: stopped the embedded PostgreSQL {major} ({shadow / f'pg{major}'})" in first.stdout
    assert first.stdout.strip().splitlines()[-1].startswith("verify sandbox: OK, ")
    assert (shadow / f"pg{major}").is_dir()
    assert not (shadow / f"pg{major}" / "postmaster.pid").exists()
    second = run_invoke("verify", "--target", "sandbox", "--stop-shadow", "--json", env=env)
    assert (second.code, second.json()["shadow_stopped"]) == (0, [])
    assert second.stderr.strip().splitlines() == [second.json()["verdict"]]
    third = run_invoke("verify", "--target", "sandbox", "--stop-shadow", env=env)
    assert f"shadow: no embedded shadow PostgreSQL was running under {shadow}" in third.stdout
