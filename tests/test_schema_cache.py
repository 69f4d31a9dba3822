"""The cached expectation: same answer as parsing, reused while files are unchanged, never fatal."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from fix_pg import TestDatabase
from oncall.errors import BadInput
from oncall.schema.cache import KIND, Prepared, decode, encode, expected_for
from oncall.schema.expect import _UNDECIDED, _quick_canonical, canonical_default, expect, parsed_canonical
from oncall.schema.shadow import KIND as SHADOW_KIND
from oncall.schema.verify import verify
from verify_support import SEEDS, apply, copy_seed, make_target, write_files


def seed_files(name: str) -> list[tuple[str, str]]:
    return [(p.name, p.read_text()) for p in sorted(SEEDS[name].glob("*.sql"))]


def entries(state: Path, kind: str = KIND) -> list[Path]:
    return sorted((state / "cache").glob(f"{kind}-*.json"))


@pytest.mark.parametrize("seed", ["turbo-response", "trdrhub"])
def test_encoded_expectation_decodes_to_the_same_one(seed: str) -> None:
    """Every table, column, key, index, row, note and source survives the JSON round trip."""
    exp = expect(seed_files(seed))
    assert decode(json.loads(json.dumps(encode(exp)))) == exp


def test_second_build_reads_the_cache_and_an_edit_builds_again(tmp_path: Path) -> None:
    """Unchanged files give one cache entry read back as is; changed content makes a new entry."""
    files = seed_files("turbo-response")
    first = expected_for(files, default_schema="public", state_dir=tmp_path)
    assert len(entries(tmp_path)) == 1
    assert expected_for(files, default_schema="public", state_dir=tmp_path) == first
    edited = [*files[:-1], (files[-1][0], files[-1][1] + "\nCREATE INDEX ix_extra ON cases (status);\n")]
    again = expected_for(edited, default_schema="public", state_dir=tmp_path)
    assert ("public", "ix_extra") in again.indexes
    assert len(entries(tmp_path)) == 2


def test_default_schema_is_part_of_the_key(tmp_path: Path) -> None:
    """The same files under another default schema are not served from the public entry."""
    files = [("001.sql", "CREATE TABLE t (id int);")]
    expected_for(files, default_schema="public", state_dir=tmp_path)
    other = expected_for(files, default_schema="app", state_dir=tmp_path)
    assert list(other.tables) == [("app", "t")]


def test_corrupt_entry_is_rebuilt(tmp_path: Path) -> None:
    """A cache entry that is not an expectation is ignored, rebuilt and replaced."""
    files = seed_files("turbo-response")
    good = expected_for(files, default_schema="public", state_dir=tmp_path)
    (entry,) = entries(tmp_path)
    entry.write_text(json.dumps({"schema": "public", "tables": [[1]]}))
    assert expected_for(files, default_schema="public", state_dir=tmp_path) == good
    assert decode(json.loads(entry.read_text())) == good


def test_syntax_error_is_never_cached(tmp_path: Path) -> None:
    """A file that does not parse is BadInput naming file:line on every run, not a cached result."""
    files = [("001_bad.sql", "CREATE TABLE t (id int);\nCREATE TABEL u ();\n")]
    for _ in range(2):
        with pytest.raises(BadInput, match=r"001_bad.sql:2"):
            expected_for(files, default_schema="public", state_dir=tmp_path)
    assert entries(tmp_path) == []


def test_prepared_expectation_is_used_only_for_the_same_files(tmp_path: Path) -> None:
    """The background expectation answers for exactly the files it was started with, else None."""
    files = seed_files("turbo-response")
    prepared = Prepared(files, default_schema="public", state_dir=tmp_path)
    assert prepared.result_for(files[:1]) is None
    assert prepared.result_for(files) == expect(files)


def test_prepared_expectation_that_fails_leaves_the_error_to_the_caller(tmp_path: Path) -> None:
    """A background build that raises gives None, so the caller meets the error itself."""
    files = [("001_bad.sql", "CREATE TABEL u ();")]
    assert Prepared(files, default_schema="public", state_dir=tmp_path).result_for(files) is None


CORPUS = [
    "'gpt-4'::character varying", "'gpt-4'", "0", "-1", "'-1'::integer", "now()", "NOW()",
    "CURRENT_TIMESTAMP", "current_timestamp", "true", "FALSE", "NULL::text", "NULL",
    "nextval('a_id_seq'::regclass)", "nextval('public.\"A b\"'::regclass)", "'{}'::text[]", "0.8",
    "'0.80'::numeric", "'a''b'::text", "transaction_timestamp()", "statement_timestamp()",
    "gen_random_uuid()", "uuid_generate_v4()", "clock_timestamp()", "CURRENT_DATE", "CURRENT_USER",
    "session_user", "LOCALTIMESTAMP", "localtime", "current_time", "-0.5", "2147483648",
    "'x'::\"MyType\"", "'x'::public.mood", "'2020-01-01 00:00:00+00'::timestamp with time zone",
    "'2020-01-01'::timestamp(3) without time zone", "''", "'::'::text", "'1.5'::numeric(10,2)",
    "'{a,b}'::character varying(20)[]", "NULL::character varying", "'0'::bit varying", "1.0",
    "'1 day'::interval", "'x'::\"char\"", "'{}'::jsonb", "'[]'::json",
    # not quick: these must fall back to the parser
    "1e5", "007", "-0", "'a'::text AND b", "'a'::text || 'b'::text", "(-1)", "lower((email)::text)",
    "'a\\b'::text", "(now() + '1 day'::interval)", "CURRENT_TIMESTAMP(3)",
]  # fmt: skip


@pytest.mark.parametrize("text", CORPUS)
def test_quick_canonical_form_agrees_with_the_parser(text: str) -> None:
    """Without pglast, a default is reduced exactly as the parser-based reduction does, or not at all."""
    quick = _quick_canonical(text)
    assert quick is _UNDECIDED or quick == parsed_canonical(text)
    assert canonical_default(text) == parsed_canonical(text)


def test_the_usual_spellings_need_no_parser() -> None:
    """Defaults as the seeds and pg_get_expr spell them are all reduced without pglast."""
    usual = ["now()", "0", "false", "'pending'::character varying", "'gpt-4'", "'open'::text", "NULL",
             "nextval('cases_id_seq'::regclass)", "CURRENT_TIMESTAMP", "'-1'::integer"]  # fmt: skip
    assert [t for t in usual if _quick_canonical(t) is _UNDECIDED] == []


def test_warm_verify_matches_cold_and_imports_no_parser(pg: TestDatabase, tmp_path: Path) -> None:
    """After one run, verify in a fresh process reads the cached shadow snapshot: same result, no replay,
    and neither pglast nor the apply machinery (run, admin, lock, stamina) is imported."""
    target = make_target(copy_seed("turbo-response", tmp_path), name="turbo")
    target = replace(target, state_dir=tmp_path / "state")
    apply(pg.url, target)
    cold = verify(target, pg.url)
    assert cold.ok, cold.verdict()
    assert cold.expected_from == "shadow replay"
    assert len(entries(target.state_dir, SHADOW_KIND)) == 1
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from oncall.config import Target\n"
        "from oncall.schema.verify import verify\n"
        f"t = Target(name='turbo', system='turbo', migrations_dir=Path({str(target.migrations_dir)!r}),"
        f" state_dir=Path({str(target.state_dir)!r}))\n"
        "r = verify(t, sys.argv[1])\n"
        "unneeded = ('pglast', 'stamina', 'oncall.migrations.run', 'oncall.migrations.admin',"
        " 'oncall.migrations.lock')\n"
        "print(json.dumps({'pglast': [m for m in sys.modules if m.startswith(unneeded)],"
        " 'rows': [x.as_dict() for x in r.rows], 'code': r.code, 'from': r.expected_from}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, pg.url], capture_output=True, text=True, timeout=120, check=True
    )
    warm = json.loads(done.stdout)
    assert warm["pglast"] == []
    assert warm["code"] == 0
    assert warm["from"] == "shadow replay (cached)"
    assert warm["rows"] == [r.as_dict() for r in cold.rows]


def test_verify_after_a_new_migration_uses_the_new_files(pg: TestDatabase, tmp_path: Path) -> None:
    """A warm cache never hides a file applied since: its objects are expected and checked."""
    folder = write_files(tmp_path / "m", {"001_t.sql": "CREATE TABLE t (id int PRIMARY KEY);"})
    target = replace(make_target(folder), state_dir=tmp_path / "state")
    apply(pg.url, target)
    assert verify(target, pg.url).ok
    write_files(folder, {"002_ix.sql": "ALTER TABLE t ADD COLUMN v text; CREATE INDEX ix_t_v ON t (v);"})
    apply(pg.url, target)
    pg.execute("DROP INDEX ix_t_v")
    result = verify(target, pg.url)
    assert result.code == 1
    assert [r.name for r in result.failures] == ["ix_t_v"]
