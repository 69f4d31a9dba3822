"""The sandbox's database: the state production was in when the incident began.

A password-protected, non-superuser role owns one database; the seed system's baseline migration
(the first file of `sql/<set>/`) is applied as that role, the new migration is not. For the
Alembic-managed trdrhub the database also holds `alembic_version` at the baseline revision, as a
real Alembic database would. Case 11 exists, so `/admin/case/11` has something to show once the
backend stops crashing.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from oncall.config import Target
from oncall.errors import BadInput
from oncall.migrations.files import discover
from oncall.sandbox.backend import case_uuid
from oncall.sandbox.pg import EmbeddedPostgres

ROLE = "oncall_app"
REVISION_HEADER = re.compile(r"^--\s*oncall:revision:\s*(\S+)", re.MULTILINE)

# Rows the demo pages read; ids fixed so the smoke check's /admin/case/11 exists.
SEED_SQL = {
    "turbo-response": """
INSERT INTO cases (id, client_name, client_email, case_type, status, description) VALUES
    (10, 'Avery Stone', 'avery@example.com', 'eviction', 'closed', 'Notice to quit answered'),
    (11, 'Jordan Lee', 'jordan@example.com', 'debt_collection', 'open', 'Dispute letter requested'),
    (12, 'Sam Rivera', 'sam@example.com', 'credit_report', 'open', 'Bureau dispute');
SELECT setval(pg_get_serial_sequence('cases', 'id'), 12);
""",
    "trdrhub": f"""
INSERT INTO companies (id, name) VALUES ('{case_uuid(1)}', 'Acme Trading Ltd');
INSERT INTO users (id, company_id, email) VALUES ('{case_uuid(2)}', '{case_uuid(1)}', 'ops@acme.example');
INSERT INTO validation_sessions (id, company_id, user_id, status) VALUES
    ('{case_uuid(11)}', '{case_uuid(1)}', '{case_uuid(2)}', 'completed');
""",
}

ALEMBIC_SQL = """
CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO alembic_version (version_num) VALUES ('{revision}');
"""


@dataclass(frozen=True)
class SandboxDatabase:
    name: str
    user: str
    password: str
    baseline: Path
    revision: str | None


def baseline_file(sql_dir: Path) -> Path:
    files = sorted(sql_dir.glob("*.sql"))
    if not files:
        raise BadInput(
            f"no migrations in {sql_dir}", "run from the project root, where sql/<set>/ holds the migrations"
        )
    return files[0]


def alembic_baseline(ini: Path) -> tuple[Path, str, str]:
    """The first revision of an Alembic project: its file, the SQL Alembic renders for it, its id."""
    target = Target(
        "sandbox", "sandbox", ini.parent, format="alembic", alembic_ini=ini, state_dir=ini.parent / ".oncall"
    )
    first = discover(target)[0]
    assert first.revision is not None
    return first.path, first.sql, first.revision


def provision(server: EmbeddedPostgres, system: str, sql_dir: Path, *, alembic: bool) -> SandboxDatabase:
    """Create the role and database, apply the baseline and the seed rows; return how to connect.

    `sql_dir` is a folder of .sql files, or an Alembic project's alembic.ini (its first revision,
    rendered by Alembic's offline mode, is the baseline).
    """
    import psycopg

    revision = None
    if sql_dir.name == "alembic.ini":
        baseline, text, revision = alembic_baseline(sql_dir)
    else:
        baseline = baseline_file(sql_dir)
        text = baseline.read_text()
    if alembic and revision is None:
        found = REVISION_HEADER.search(text)
        if not found:
            raise BadInput(
                f"{baseline} has no '-- oncall:revision:' header",
                "an Alembic-managed migration set names each file's revision in its header",
            )
        revision = found.group(1)
    password = secrets.token_urlsafe(18)
    dbname = system.replace("-", "_")
    server.create_role(ROLE, password)
    server.create_database(dbname, owner=ROLE)
    with psycopg.connect(server.url(dbname, ROLE, password), autocommit=False) as conn:
        conn.execute(text.encode())
        if revision:
            conn.execute(ALEMBIC_SQL.format(revision=revision).encode())
        conn.execute(SEED_SQL[system].encode())
    return SandboxDatabase(dbname, ROLE, password, baseline, revision)
