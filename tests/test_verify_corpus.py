"""verify against a construct corpus: migrate, verify exits 0; damage of each object kind exits 1, named.

The expected schema is the shadow replay of the applied files (the session's server is the shadow,
see conftest), so the false alarms the static model raised on real migration sets must be gone, and
every object kind the migrations make is checked.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from oncall.schema.shadow import SHADOW_URL_ENV, stop_shadow
from oncall.schema.verify import verify
from verify_support import apply, copy_seed, make_target, write_files

# Each of the false alarms, as the one- or two-file set that reproduced it.
FALSE_ALARMS = {
    "index on a CREATE TABLE AS table after RENAME COLUMN": [
        "CREATE TABLE src (id int, actor_id text);"
        " CREATE TABLE copied AS SELECT id, actor_id FROM src;"
        " CREATE INDEX copied_actor ON copied (actor_id);",
        "ALTER TABLE copied RENAME COLUMN actor_id TO ap_id;",
    ],
    "RENAME COLUMN inside an expression index": [
        "CREATE TABLE acts (id int PRIMARY KEY, actor_id text);"
        " CREATE INDEX acts_lower ON acts (lower(actor_id));",
        "ALTER TABLE acts RENAME COLUMN actor_id TO ap_id;"
        " ALTER TABLE acts ALTER COLUMN ap_id TYPE varchar(80);",
    ],
    "DROP MATERIALIZED VIEW drops its indexes": [
        "CREATE TABLE src (id int); CREATE MATERIALIZED VIEW mv AS SELECT id FROM src;"
        " CREATE UNIQUE INDEX mv_id ON mv (id);",
        "DROP MATERIALIZED VIEW mv;",
    ],
    "ALTER TYPE RENAME VALUE in a column default": [
        "CREATE TYPE mood AS ENUM ('sad', 'ok'); CREATE TABLE people (id int, m mood NOT NULL DEFAULT 'ok');",
        "ALTER TYPE mood RENAME VALUE 'ok' TO 'fine';",
    ],
    "interval default '12 months' is '1 year'": [
        "CREATE TABLE plans (id int, period interval NOT NULL DEFAULT '12 months',"
        " grace interval DEFAULT '36 hours');",
    ],
    "index key with COLLATE C": [
        "CREATE TABLE tags (name text);"
        ' CREATE INDEX tags_name_c ON tags (name COLLATE "C" text_pattern_ops);',
    ],
    "renames and drops inside DO blocks": [
        "CREATE TABLE t (id int, a text, gone int);"
        " CREATE INDEX t_gone ON t (gone); CREATE INDEX t_a ON t (a);",
        "DO $$ BEGIN ALTER TABLE t RENAME COLUMN a TO b; DROP INDEX t_gone; ALTER TABLE t DROP COLUMN gone;"
        " EXECUTE 'CREATE TABLE made_in_do (x int PRIMARY KEY)'; END $$;",
    ],
    "UPDATE of a seeded row's identifying column": [
        "CREATE TABLE settings (key text PRIMARY KEY, value text);"
        " INSERT INTO settings VALUES ('old_key', '1'), ('kept', '2');",
        "UPDATE settings SET key = 'new_key' WHERE key = 'old_key';",
    ],
}


def _set(tmp_path: Path, name: str, sqls: list[str]) -> Path:
    return write_files(tmp_path / name, {f"{i:03d}_f.sql": sql for i, sql in enumerate(sqls, 1)})


@pytest.mark.parametrize("case", list(FALSE_ALARMS), ids=list(FALSE_ALARMS))
def test_no_false_alarm_on_a_correctly_migrated_database(pg, tmp_path: Path, case: str) -> None:  # type: ignore[no-untyped-def]
    """A set that the static model misread verifies clean: exit 0, no failure, no warning."""
    target = replace(make_target(_set(tmp_path, "m", FALSE_ALARMS[case])), state_dir=tmp_path / "state")
    apply(pg.url, target)
    result = verify(target, pg.url)
    assert [(r.kind, r.name, r.detail) for r in result.failures + result.warnings] == []
    assert (result.code, result.expected_from) == (0, "shadow replay")


CORPUS = {
    "001_create.sql": """
    CREATE EXTENSION IF NOT EXISTS vector;
    CREATE SCHEMA billing;
    CREATE TYPE billing.status AS ENUM ('draft', 'sent', 'paid');
    CREATE DOMAIN billing.amount AS numeric(12,2) CONSTRAINT amount_not_negative CHECK (VALUE >= 0);
    CREATE TYPE billing.pair AS (a int, b text);
    CREATE SEQUENCE billing.invoice_no START 1000 INCREMENT 5;
    CREATE TABLE billing."Invoice" (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        no int NOT NULL DEFAULT nextval('billing.invoice_no'),
        status billing.status NOT NULL DEFAULT 'draft',
        total billing.amount,
        code text COLLATE "C",
        net numeric(12,2),
        tax numeric(12,2),
        gross numeric(12,2) GENERATED ALWAYS AS (net + tax) STORED,
        owner uuid,
        period interval DEFAULT '12 months',
        CONSTRAINT invoice_net_positive CHECK (net >= 0),
        CONSTRAINT invoice_no_unique UNIQUE (no)
    );
    CREATE TABLE billing.line (
        id serial PRIMARY KEY,
        invoice_id bigint REFERENCES billing."Invoice" (id) ON DELETE CASCADE,
        "Qty" int CHECK ("Qty" > 0),
        old_name text,
        embedding vector(3)
    );
    CREATE INDEX line_lower_name ON billing.line (lower(old_name));
    CREATE INDEX line_partial ON billing.line (invoice_id) WHERE "Qty" > 1;
    CREATE INDEX line_name_c ON billing.line (old_name COLLATE "C");
    CREATE VIEW billing.open_invoices AS SELECT id, status FROM billing."Invoice" WHERE status <> 'paid';
    CREATE MATERIALIZED VIEW billing.totals AS SELECT invoice_id, count(*) AS n FROM billing.line GROUP BY 1;
    CREATE UNIQUE INDEX totals_invoice ON billing.totals (invoice_id);
    CREATE MATERIALIZED VIEW billing.line_counts AS SELECT count(*) AS n FROM billing.line;
    CREATE FUNCTION billing.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
    CREATE TRIGGER line_touch BEFORE UPDATE ON billing.line FOR EACH ROW EXECUTE FUNCTION billing.touch();
    CREATE TABLE profiles (id uuid PRIMARY KEY, owner uuid NOT NULL, bio text);
    ALTER TABLE profiles ENABLE ROW LEVEL SECURITY;
    CREATE POLICY "profiles are readable" ON profiles FOR SELECT TO authenticated, anon USING (true);
    CREATE POLICY own_profile ON profiles FOR UPDATE TO authenticated
        USING (owner = current_setting('app.uid')::uuid)
        WITH CHECK (owner = current_setting('app.uid')::uuid);
    GRANT SELECT ON profiles TO anon;
    CREATE TABLE audit (id int);
    CREATE TABLE settings (key text PRIMARY KEY, value text, updated_at timestamptz DEFAULT now());
    INSERT INTO settings (key, value) VALUES ('cap', '0.8'), ('mode', 'live');
    """,
    "002_change.sql": """
    ALTER TYPE billing.status RENAME VALUE 'sent' TO 'issued';
    ALTER TYPE billing.status ADD VALUE 'void';
    ALTER TABLE billing.line RENAME COLUMN old_name TO name;
    ALTER TABLE billing.line ALTER COLUMN "Qty" TYPE bigint;
    ALTER INDEX billing.line_partial RENAME TO line_multi;
    ALTER TABLE billing."Invoice" RENAME CONSTRAINT invoice_net_positive TO invoice_net_nonneg;
    ALTER SEQUENCE billing.invoice_no INCREMENT 10;
    CREATE OR REPLACE VIEW billing.open_invoices AS
        SELECT id, status, net FROM billing."Invoice" WHERE status <> 'paid';
    CREATE OR REPLACE FUNCTION billing.touch() RETURNS trigger LANGUAGE plpgsql
        AS $$ BEGIN NEW."Qty" := coalesce(NEW."Qty", 1); RETURN NEW; END $$;
    ALTER TRIGGER line_touch ON billing.line RENAME TO line_touch_qty;
    ALTER POLICY own_profile ON profiles RENAME TO profile_owner;
    ALTER TABLE profiles FORCE ROW LEVEL SECURITY;
    DROP MATERIALIZED VIEW billing.totals;
    CREATE TABLE billing.dropped (x int);
    DROP TABLE billing.dropped;
    ALTER TABLE billing."Invoice" DROP COLUMN owner;
    ALTER TYPE billing.pair RENAME TO couple;
    UPDATE settings SET key = 'cap_warning' WHERE key = 'cap';
    """,
}

# One damage per object kind, done by hand after the migrations: (SQL, kind, name as verify names it).
DAMAGE = [
    ("DROP TABLE audit", "table", "audit"),
    ("ALTER TABLE billing.line ALTER COLUMN name SET NOT NULL", "column", "billing.line.name"),
    (
        "ALTER TABLE billing.\"Invoice\" ALTER COLUMN period SET DEFAULT '1 day'",
        "column",
        'billing."Invoice".period',
    ),
    (
        'ALTER TABLE billing."Invoice" ALTER COLUMN code TYPE text COLLATE "POSIX"',
        "column",
        'billing."Invoice".code',
    ),
    ('ALTER TABLE billing."Invoice" ALTER COLUMN id DROP IDENTITY', "column", 'billing."Invoice".id'),
    ('ALTER TABLE billing."Invoice" DROP COLUMN gross', "column", 'billing."Invoice".gross'),
    (
        'ALTER TABLE billing."Invoice" DROP CONSTRAINT invoice_net_nonneg',
        "check",
        "billing.invoice_net_nonneg",
    ),
    (
        "ALTER TABLE billing.line DROP CONSTRAINT line_invoice_id_fkey",
        "foreign key",
        "billing.line_invoice_id_fkey",
    ),
    ("DROP INDEX billing.line_multi", "index", "billing.line_multi"),
    (
        "DROP INDEX billing.line_lower_name; CREATE INDEX line_lower_name ON billing.line (upper(name))",
        "index",
        "billing.line_lower_name",
    ),
    (
        'DROP INDEX billing.line_name_c; CREATE INDEX line_name_c ON billing.line (name COLLATE "POSIX")',
        "index",
        "billing.line_name_c",
    ),
    ("ALTER TYPE billing.status ADD VALUE 'extra'", "enum", "billing.status"),
    ("ALTER DOMAIN billing.amount DROP CONSTRAINT amount_not_negative", "domain", "billing.amount"),
    ("ALTER TYPE billing.couple ADD ATTRIBUTE c int", "type", "billing.couple"),
    ("ALTER SEQUENCE billing.invoice_no INCREMENT 1", "sequence", "billing.invoice_no"),
    (
        'CREATE OR REPLACE VIEW billing.open_invoices AS SELECT id, status, net FROM billing."Invoice"',
        "view",
        "billing.open_invoices",
    ),
    ("DROP MATERIALIZED VIEW billing.line_counts", "materialized view", "billing.line_counts"),
    (
        "CREATE OR REPLACE FUNCTION billing.touch() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RETURN NULL; END $$",
        "function",
        "billing.touch()",
    ),
    ("ALTER TABLE billing.line DISABLE TRIGGER line_touch_qty", "trigger", "line_touch_qty on billing.line"),
    ("ALTER TABLE profiles NO FORCE ROW LEVEL SECURITY", "table", "profiles"),
    ('DROP POLICY "profiles are readable" ON profiles', "policy", '"profiles are readable" on profiles'),
    ("ALTER POLICY profile_owner ON profiles TO anon", "policy", "profile_owner on profiles"),
    ("DELETE FROM settings WHERE key = 'mode'", "row", "settings[key='mode']"),
]


@pytest.fixture
def corpus(pg, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The construct corpus applied by oncall's migrate as the non-superuser `app`.

    The extension is installed beforehand by the superuser, as a platform (Supabase) does; the
    shadow replays `CREATE EXTENSION IF NOT EXISTS` itself. The Supabase-style roles are cluster-wide.
    """
    for role in ("authenticated", "anon"):
        pg.execute(
            f"DO $$ BEGIN CREATE ROLE {role} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
    pg.execute("CREATE EXTENSION vector")
    target = make_target(write_files(tmp_path / "corpus", CORPUS))
    apply(pg.url, target)
    return target


def test_the_corpus_verifies_clean(pg, corpus) -> None:  # type: ignore[no-untyped-def]
    """Every construct of the corpus, renamed, dropped and changed by the second file: exit 0, no warning."""
    result = verify(corpus, pg.url)
    assert [(r.kind, r.name, r.detail) for r in result.failures + result.warnings] == []
    assert result.code == 0
    kinds = {r.kind for r in result.rows}
    assert kinds >= {"schema", "extension", "enum", "domain", "type", "sequence", "table", "column", "check",
                     "primary key", "unique", "foreign key", "index", "view", "materialized view", "function",
                     "trigger", "policy", "row"}  # fmt: skip
    assert not [r for r in result.rows if "totals" in r.name or "dropped" in r.name]
    [cap] = [r for r in result.rows if r.kind == "row" and "cap" in r.name]
    assert (cap.name, cap.found) == ("settings[key='cap_warning']", "value='0.8'")
    assert result.queries <= 3


def test_damage_to_every_object_kind_is_named(pg, corpus) -> None:  # type: ignore[no-untyped-def]
    """One hand-made damage per object kind: exit 1, each damaged object named with its kind."""
    for statement, _, _ in DAMAGE:
        pg.execute(statement)
    result = verify(corpus, pg.url)
    assert result.code == 1
    failed = {(r.kind, r.name) for r in result.failures}
    assert [(kind, name) for _, kind, name in DAMAGE if (kind, name) not in failed] == []
    by_name = {r.name: r for r in result.failures}
    period = by_name['billing."Invoice".period']
    assert period.detail == "default: expected '1 year'::interval, found '1 day'::interval"
    assert by_name["billing.status"].detail == (
        "labels: expected ['draft', 'issued', 'paid', 'void'], "
        "found ['draft', 'issued', 'paid', 'void', 'extra']"
    )
    assert by_name["audit"].result == "missing"
    assert "row level security" in by_name["profiles"].detail


def test_dropped_extension_is_named(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """An extension the migrations created and someone dropped: exit 1, the extension named."""
    pg.execute("CREATE EXTENSION vector")
    target = make_target(
        write_files(tmp_path / "ext", {"001_ext.sql": "CREATE EXTENSION IF NOT EXISTS vector;"})
    )
    apply(pg.url, target)
    assert verify(target, pg.url).code == 0
    pg.execute("DROP EXTENSION vector")
    result = verify(target, pg.url)
    assert [(r.kind, r.name, r.found) for r in result.failures] == [("extension", "vector", "missing")]


def test_extra_objects_are_warnings(pg, corpus) -> None:  # type: ignore[no-untyped-def]
    """Objects the migrations did not create (a table, an index, a policy) are warnings, exit 0."""
    pg.execute("CREATE TABLE billing.scratch (x int)")
    pg.execute("CREATE INDEX audit_id ON audit (id)")
    pg.execute("CREATE POLICY extra ON profiles FOR SELECT USING (false)")
    result = verify(corpus, pg.url)
    assert result.code == 0
    assert {(r.kind, r.name) for r in result.warnings} == {
        ("table", "billing.scratch"),
        ("column", "billing.scratch.x"),
        ("index", "audit_id"),
        ("policy", "extra on profiles"),
    }


def test_unreachable_shadow_falls_back_to_the_static_model(pg, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """No shadow: one note says so, the static model checks what it can, the rest is named and counted."""
    from oncall.db.embedded import free_port

    target = replace(make_target(copy_seed("turbo-response", tmp_path)), state_dir=tmp_path / "state")
    apply(pg.url, target)
    monkeypatch.setenv(SHADOW_URL_ENV, f"postgresql://nobody:nothing@127.0.0.1:{free_port()}/postgres")
    result = verify(target, pg.url)
    assert result.code == 0
    assert result.expected_from == "static model"
    [note] = [n for n in result.notes if n.startswith("shadow:")]
    assert note.startswith("shadow: cannot reach the shadow server")
    assert note.endswith("checked with the static model instead")
    assert [u.split(" at ")[0] for u in result.unchecked] == ["function", "DO block"]
    assert "2 object(s) not checkable: function at 20251110_add_usage_tracking.sql" in result.verdict()


def test_embedded_shadow_is_started_once_and_reused(pg, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Without SHADOW_DATABASE_URL the wheel's PostgreSQL (the live major) is the shadow, kept under
    the state dir and reused by the next replay; damage is still caught."""
    monkeypatch.delenv(SHADOW_URL_ENV, raising=False)
    state = tmp_path / "state"
    folder = write_files(tmp_path / "m", {"001_t.sql": "CREATE TABLE t (id int PRIMARY KEY, v text);"})
    target = replace(make_target(folder), state_dir=state)
    apply(pg.url, target)
    major = int(pg.scalar("SHOW server_version_num")) // 10000
    try:
        first = verify(target, pg.url)
        assert (first.code, first.expected_from) == (0, "shadow replay")
        pidfile = state / "shadow" / f"pg{major}" / "postmaster.pid"
        pid = pidfile.read_text().split()[0]
        write_files(folder, {"002_ix.sql": "CREATE INDEX t_v ON t (v);"})
        apply(pg.url, target)
        pg.execute("DROP INDEX t_v")
        second = verify(target, pg.url)
        assert second.expected_from == "shadow replay"
        assert [r.name for r in second.failures] == ["t_v"]
        assert pidfile.read_text().split()[0] == pid
    finally:
        assert stop_shadow(state) == [major]


def test_a_replay_that_needs_a_platform_schema_falls_back_and_names_the_policy(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A policy on Supabase's auth.uid(), which the platform made and no migration did: the shadow
    replay fails, one note says where, the static model checks the rest and names the policy."""
    pg.execute(
        "CREATE SCHEMA auth; GRANT USAGE ON SCHEMA auth TO app;"
        " CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql AS 'SELECT NULL::uuid'"
    )
    folder = write_files(
        tmp_path / "rls",
        {
            "001_rls.sql": "CREATE TABLE notes (id uuid PRIMARY KEY, owner uuid);"
            " ALTER TABLE notes ENABLE ROW LEVEL SECURITY;"
            " CREATE POLICY own_notes ON notes USING (owner = auth.uid());",
        },
    )
    target = replace(make_target(folder), state_dir=tmp_path / "state")
    apply(pg.url, target)
    result = verify(target, pg.url)
    assert (result.code, result.expected_from) == (0, "static model")
    [note] = [n for n in result.notes if n.startswith("shadow:")]
    assert note.startswith("shadow: replay of 001_rls.sql failed: ")
    assert "auth" in note, note
    assert [u.split(" (")[0] for u in result.unchecked] == ["policy at 001_rls.sql:1"]


def test_verify_shadow_false_uses_the_static_model(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A target with verify_shadow: false is checked by the static model, and says so."""
    target = replace(make_target(copy_seed("turbo-response", tmp_path)), raw={"verify_shadow": False})
    apply(pg.url, target)
    result = verify(target, pg.url)
    assert (result.code, result.expected_from) == (0, "static model (verify_shadow: false)")
    assert len(result.unchecked) == 2
