"""verify as a library against real PostgreSQL: seed sets pass; each kind of damage is named."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from fix_pg import TestDatabase
from fix_secrets import SecretScan
from oncall.config import Target
from oncall.errors import CheckFailed, Refused
from oncall.sandbox.pg import EmbeddedPostgres
from oncall.schema.verify import verify
from verify_support import SEEDS, apply, copy_seed, make_target, rows_named, write_files


@pytest.fixture
def turbo(pg: TestDatabase, tmp_path: Path) -> Target:
    """Seed 001 (turbo-response, own ledger) applied to a fresh database."""
    target = make_target(copy_seed("turbo-response", tmp_path))
    apply(pg.url, target)
    return target


@pytest.fixture
def trdrhub(pg: TestDatabase, tmp_path: Path) -> Target:
    """Seed 000 (trdrhub, Alembic) applied to a fresh database."""
    target = make_target(copy_seed("trdrhub", tmp_path), ledger="alembic")
    apply(pg.url, target)
    return target


def failed_names(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.name for r in result.failures]


def test_seed_001_applied_verifies(pg: TestDatabase, turbo: Target) -> None:
    """Seed 001 applied: every expected object is present, exit 0, in at most 3 catalog queries."""
    result = verify(turbo, pg.url)
    assert (result.ok, result.code, result.failures) == (True, 0, [])
    assert result.queries <= 3
    kinds = {r.kind for r in result.rows}
    assert kinds >= {"table", "column", "primary key", "foreign key", "unique", "index", "row", "ledger"}
    row = rows_named(result, "admin_settings[setting_key='cap_warning_threshold']")[0]
    assert (row.expected, row.found, row.result) == ("setting_value='0.8'", "setting_value='0.8'", "ok")
    cap = rows_named(result, "admin_settings[setting_key='monthly_spending_cap']")[0]
    assert cap.found == "setting_value=NULL"
    assert "oncall_migrations" not in " ".join(r.name for r in result.rows)


def test_seed_000_applied_verifies(pg: TestDatabase, trdrhub: Target) -> None:
    """Seed 000 applied with Alembic's ledger: exit 0 and alembic_version holds the last revision."""
    result = verify(trdrhub, pg.url)
    assert (result.code, failed_names(result)) == (0, [])
    row = rows_named(result, "alembic_version")[0]
    assert row.found == "20251116_add_ai_usage_and_events"


def test_dropped_index_is_named(pg: TestDatabase, turbo: Target) -> None:
    """A dropped index fails verify with exit 1 and the index named."""
    pg.execute("DROP INDEX idx_ai_usage_logs_case_id")
    result = verify(turbo, pg.url)
    assert result.code == 1
    assert failed_names(result) == ["idx_ai_usage_logs_case_id"]
    assert result.rows[0].result == "missing"
    assert "20251110_add_usage_tracking.sql" in (result.hint or "")


def test_dropped_column_is_named(pg: TestDatabase, turbo: Target) -> None:
    """A dropped column fails verify with the column named (and the index on it)."""
    pg.execute("ALTER TABLE ai_usage_logs DROP COLUMN created_at")
    result = verify(turbo, pg.url)
    assert result.code == 1
    assert failed_names(result) == ["ai_usage_logs.created_at", "idx_ai_usage_logs_created_at"]


def test_changed_column_type_says_expected_and_found(pg: TestDatabase, turbo: Target) -> None:
    """A changed type is drift: the row says what was expected and what was found."""
    pg.execute("ALTER TABLE ai_usage_logs ALTER COLUMN model_used TYPE text")
    result = verify(turbo, pg.url)
    assert result.code == 1
    [row] = result.failures
    assert (row.name, row.result) == ("ai_usage_logs.model_used", "differs")
    assert row.detail == "type: expected character varying(50), found text"


def test_dropped_nullability_is_drift(pg: TestDatabase, turbo: Target) -> None:
    """A NOT NULL dropped by hand is reported as a nullability difference."""
    pg.execute("ALTER TABLE ai_usage_logs ALTER COLUMN analysis_type DROP NOT NULL")
    [row] = verify(turbo, pg.url).failures
    assert row.name == "ai_usage_logs.analysis_type"
    assert row.detail == "nullability: expected NOT NULL, found NULL allowed"


def test_dropped_foreign_key_is_named(pg: TestDatabase, trdrhub: Target) -> None:
    """A dropped foreign key fails with the constraint and its reference named."""
    pg.execute("ALTER TABLE ai_usage_records DROP CONSTRAINT ai_usage_records_tenant_id_fkey")
    result = verify(trdrhub, pg.url)
    assert result.code == 1
    [row] = result.failures
    assert (row.kind, row.name) == ("foreign key", "ai_usage_records_tenant_id_fkey")
    assert "REFERENCES companies(id)" in row.expected


def test_deleted_settings_row_is_named(pg: TestDatabase, turbo: Target) -> None:
    """A deleted admin_settings row fails with its key named."""
    pg.execute("DELETE FROM admin_settings WHERE setting_key = 'cap_warning_threshold'")
    result = verify(turbo, pg.url)
    assert result.code == 1
    assert failed_names(result) == ["admin_settings[setting_key='cap_warning_threshold']"]


def test_changed_setting_value_is_a_warning(pg: TestDatabase, turbo: Target) -> None:
    """An admin who set the spending cap changed a setting, not the schema: a warning, exit 0."""
    pg.execute("UPDATE admin_settings SET setting_value = '500' WHERE setting_key = 'monthly_spending_cap'")
    result = verify(turbo, pg.url)
    assert result.code == 0
    [row] = result.warnings
    assert (row.found, row.expected) == ("setting_value='500'", "setting_value=NULL")


def test_invalid_index_fails(pg: TestDatabase, turbo: Target) -> None:
    """An index marked INVALID (a failed concurrent build) fails verify with the index named."""
    pg.execute(
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'idx_ai_usage_logs_created_at'::regclass"
    )
    result = verify(turbo, pg.url)
    assert result.code == 1
    [row] = result.failures
    assert (row.name, row.result) == ("idx_ai_usage_logs_created_at", "fail")
    assert row.found.startswith("INVALID")


def test_unexpected_invalid_index_and_not_valid_constraint_fail(pg: TestDatabase, turbo: Target) -> None:
    """Leftovers nobody declared (an INVALID index, a NOT VALID constraint) still fail verify."""
    pg.execute("CREATE INDEX stray ON cases (client_email)")
    pg.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'stray'::regclass")
    pg.execute("ALTER TABLE cases ADD CONSTRAINT cases_name_len CHECK (length(client_name) > 0) NOT VALID")
    result = verify(turbo, pg.url)
    assert result.code == 1
    assert sorted((r.kind, r.name, r.found) for r in result.failures) == [
        ("constraint", "cases_name_len", "NOT VALID on cases"),
        ("index", "stray", "INVALID on cases"),
    ]


def test_second_alembic_row_is_drift(pg: TestDatabase, trdrhub: Target) -> None:
    """The seed's INSERT INTO alembic_version leaves two rows: drift, exit 5, with the DELETE to run."""
    pg.execute("INSERT INTO alembic_version VALUES ('20251001_baseline')")
    result = verify(trdrhub, pg.url)
    assert result.code == 5
    [row] = result.failures
    assert (row.name, row.result) == ("alembic_version", "drift")
    assert "DELETE FROM alembic_version WHERE version_num = '20251001_baseline'" in (row.hint or "")


def test_edited_applied_file_is_drift(pg: TestDatabase, turbo: Target) -> None:
    """A file edited after it was applied is drift, exit 5, with the file named."""
    path = turbo.migrations_dir / "20251110_add_usage_tracking.sql"
    path.write_text(path.read_text() + "\n-- edited\n")
    result = verify(turbo, pg.url)
    assert result.code == 5
    assert failed_names(result) == ["20251110_add_usage_tracking.sql"]


def test_pending_migration_says_run_migrate(pg: TestDatabase, tmp_path: Path) -> None:
    """A pending file fails with exit 1 and 'run invoke migrate'; only applied files are expected."""
    target = make_target(copy_seed("turbo-response", tmp_path))
    apply(pg.url, target, upto=1)
    result = verify(target, pg.url)
    assert result.code == 1
    assert result.applied == ["20251001_baseline.sql"]
    assert result.hint == "run invoke migrate"
    assert failed_names(result) == ["pending migrations"]
    assert not [r for r in result.rows if "ai_usage_logs" in r.name]


def test_nothing_applied_says_so(pg: TestDatabase) -> None:
    """A database with no migrations applied fails with exit 1, saying nothing is applied yet."""
    result = verify(make_target(SEEDS["turbo-response"]), pg.url)
    assert result.code == 1
    assert result.rows[0].detail == "nothing applied yet"
    assert result.applied == []


def test_extra_column_is_a_warning(pg: TestDatabase, turbo: Target) -> None:
    """A column no migration declared is listed as a warning; verify still passes."""
    pg.execute("ALTER TABLE admin_settings ADD COLUMN note text")
    result = verify(turbo, pg.url)
    assert result.code == 0
    assert [(r.name, r.result) for r in result.warnings] == [("admin_settings.note", "warning")]


def test_only_checks_the_named_tables(pg: TestDatabase, turbo: Target) -> None:
    """--only limits the objects to the named tables; damage elsewhere is not reported."""
    pg.execute("DROP INDEX idx_cases_status")
    result = verify(turbo, pg.url, only=["admin_settings,ai_usage_logs"])
    assert result.code == 0
    assert not [r for r in result.rows if r.name.startswith("cases")]


def test_catalog_types_and_defaults_round_trip(pg: TestDatabase, tmp_path: Path) -> None:
    """Many spellings of types and defaults verify against what the server made of them."""
    folder = write_files(
        tmp_path / "types",
        {
            "001_types.sql": """
            CREATE TABLE kitchen (
                id bigserial PRIMARY KEY,
                small smallserial,
                a int8 DEFAULT -1,
                b decimal(12, 2) DEFAULT 0.5,
                c timestamp(3) with time zone DEFAULT CURRENT_TIMESTAMP,
                d timestamp DEFAULT now(),
                e bool DEFAULT TRUE,
                f float DEFAULT 1.5,
                g char(3) DEFAULT 'abc',
                h text[] DEFAULT '{}',
                i jsonb NOT NULL DEFAULT '{}'::jsonb,
                j uuid DEFAULT gen_random_uuid(),
                k varchar DEFAULT 'x' || 'y',
                l interval DEFAULT interval '1 day',
                m integer GENERATED ALWAYS AS IDENTITY,
                n time with time zone,
                o numeric
            );
            CREATE UNIQUE INDEX kitchen_lower_g ON kitchen (lower(g)) WHERE e;
            CREATE INDEX kitchen_i ON kitchen USING gin (i);
            """,
        },
    )
    target = make_target(folder)
    apply(pg.url, target)
    result = verify(target, pg.url)
    assert [(r.name, r.detail) for r in result.failures] == []


def test_quoted_and_schema_qualified_objects_verify(pg: TestDatabase, tmp_path: Path) -> None:
    """Quoted identifiers and objects in another schema are found, and their damage named."""
    folder = write_files(
        tmp_path / "q",
        {
            "001_q.sql": """
            CREATE SCHEMA billing;
            CREATE TABLE billing."Invoice Lines" ("Line No" int PRIMARY KEY, "Amount" numeric(10,2) NOT NULL);
            CREATE TABLE public."Invoice Lines" (other text);
            CREATE INDEX "Amount Idx" ON billing."Invoice Lines" ("Amount");
            """,
        },
    )
    target = make_target(folder)
    apply(pg.url, target)
    assert verify(target, pg.url).code == 0
    pg.execute('DROP INDEX billing."Amount Idx"')
    result = verify(target, pg.url)
    assert failed_names(result) == ['billing."Amount Idx"']


def test_if_not_exists_and_alter_folding_verify(pg: TestDatabase, tmp_path: Path) -> None:
    """CREATE TABLE IF NOT EXISTS of an existing table and later ALTERs verify as the server applied them."""
    folder = write_files(
        tmp_path / "fold",
        {
            "001_a.sql": "CREATE TABLE t (id int PRIMARY KEY, a varchar(10), gone int);"
            "CREATE INDEX t_gone ON t (gone);",
            "002_b.sql": "CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY, other int NOT NULL);"
            "ALTER TABLE t ADD COLUMN c boolean NOT NULL DEFAULT false, DROP COLUMN gone,"
            " ALTER COLUMN a TYPE text; ALTER TABLE t RENAME COLUMN a TO title;"
            "CREATE INDEX t_title ON t (title); ALTER TABLE t RENAME TO things;",
        },
    )
    target = make_target(folder)
    apply(pg.url, target)
    result = verify(target, pg.url)
    assert (result.code, failed_names(result)) == (0, [])
    assert rows_named(result, "things.title")[0].expected == "text"


def test_verify_never_waits_on_a_locked_table(pg: TestDatabase, turbo: Target) -> None:
    """A table locked by DDL in progress makes verify give up within its lock_timeout (exit 4), not hang."""
    holder = psycopg.connect(pg.admin_url)
    holder.execute("LOCK TABLE admin_settings IN ACCESS EXCLUSIVE MODE")
    try:
        with pytest.raises(Refused) as err:
            verify(turbo, pg.url)
        assert err.value.code == 4
    finally:
        holder.rollback()
        holder.close()


def test_verify_lock_error_keeps_verifys_hint(pg: TestDatabase, turbo: Target) -> None:
    """A lock_timeout goes through the one translator but keeps verify's next step and names the host."""
    holder = psycopg.connect(pg.admin_url)
    holder.execute("LOCK TABLE admin_settings IN ACCESS EXCLUSIVE MODE")
    try:
        with pytest.raises(Refused) as err:
            verify(turbo, pg.url)
    finally:
        holder.rollback()
        holder.close()
    assert "127.0.0.1" in err.value.cause
    assert err.value.hint is not None
    assert "invoke status" in err.value.hint


def test_verify_leaves_no_transaction_or_lock_behind(pg: TestDatabase, turbo: Target) -> None:
    """After verify, no session of ours is idle in a transaction and a writer gets its lock at once."""
    verify(turbo, pg.url)
    done = threading.Event()

    def write() -> None:
        with psycopg.connect(pg.url, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '1s'")
            conn.execute("ALTER TABLE admin_settings ADD COLUMN after_verify int")
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    thread.join(30)
    assert done.is_set()


def test_zero_downtime_patterns_verify(pg: TestDatabase, tmp_path: Path) -> None:
    """Concurrent unique index turned constraint, SET SCHEMA, generated columns verify as applied."""
    folder = write_files(
        tmp_path / "zd",
        {
            "001_a.sql": "CREATE TABLE t (id int PRIMARY KEY, email text, n numeric(10) DEFAULT NULL,"
            " twice int GENERATED ALWAYS AS (id * 2) STORED);"
            " CREATE TABLE settings (k text PRIMARY KEY, v numeric(10,4));"
            " INSERT INTO settings VALUES ('cap', 0.8);",
            "002_b.sql": "CREATE UNIQUE INDEX CONCURRENTLY t_email_idx ON t (email);",
            "003_c.sql": "ALTER TABLE t ADD CONSTRAINT t_email_key UNIQUE USING INDEX t_email_idx;"
            " CREATE SCHEMA archive; ALTER TABLE t SET SCHEMA archive;",
        },
    )
    target = make_target(folder)
    apply(pg.url, target)
    result = verify(target, pg.url)
    assert [(r.name, r.detail) for r in result.failures + result.warnings] == []
    assert rows_named(result, "settings[k='cap']")[0].found == "v='0.8000'"


def test_a_read_only_role_can_verify(
    pg: TestDatabase, turbo: Target, pg_server: EmbeddedPostgres, secret_scan: SecretScan
) -> None:
    """verify needs nothing but SELECT: a monitoring role with read rights only gets exit 0."""
    secret_scan.add("reader-password-1")
    pg.execute("DROP ROLE IF EXISTS verify_reader")
    pg.execute("CREATE ROLE verify_reader LOGIN PASSWORD 'reader-password-1'")
    pg.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO verify_reader")
    try:
        result = verify(turbo, pg_server.url(pg.name, "verify_reader", "reader-password-1"))
        assert (result.code, result.failures) == (0, [])
    finally:
        pg.execute("DROP OWNED BY verify_reader")
        pg.execute("DROP ROLE verify_reader")


def test_no_select_on_a_seeded_table_is_a_check_failure(
    pg: TestDatabase, turbo: Target, pg_server: EmbeddedPostgres, secret_scan: SecretScan
) -> None:
    """A role that cannot read admin_settings fails with exit 1 naming the permission problem."""
    secret_scan.add("reader-password-2")
    pg.execute("DROP ROLE IF EXISTS verify_blind")
    pg.execute("CREATE ROLE verify_blind LOGIN PASSWORD 'reader-password-2'")
    pg.execute("GRANT SELECT ON oncall_migrations TO verify_blind")
    try:
        with pytest.raises(CheckFailed) as err:
            verify(turbo, pg_server.url(pg.name, "verify_blind", "reader-password-2"))
        assert err.value.code == 1
        assert "admin_settings" in err.value.cause
    finally:
        pg.execute("DROP OWNED BY verify_blind")
        pg.execute("DROP ROLE verify_blind")


def test_alembic_version_moved_back_by_hand_is_drift(pg: TestDatabase, trdrhub: Target) -> None:
    """alembic_version behind what the ledger recorded: drift, exit 5, one alembic_version row."""
    pg.execute("UPDATE alembic_version SET version_num = '20251001_baseline'")
    result = verify(trdrhub, pg.url)
    assert result.code == 5
    assert [(r.name, r.result) for r in result.failures] == [("alembic_version", "drift")]
    assert "invoke resolve" in (result.hint or "")


def test_ledger_row_without_its_file_is_drift(pg: TestDatabase, turbo: Target) -> None:
    """A ledger row whose file is gone: drift, exit 5, the ledger table named."""
    (turbo.migrations_dir / "20251110_add_usage_tracking.sql").unlink()
    result = verify(turbo, pg.url)
    assert result.code == 5
    [row] = [r for r in result.failures if r.result == "drift"]
    assert row.name == "oncall_migrations"
    assert "20251110_add_usage_tracking" in row.found
