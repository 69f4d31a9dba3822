"""Migration sources: read a team's migration folder in its own tool's layout, in place.

    survey(folder, format) -> Layout
        Detect the format (`auto`) or check the one configured, then read every migration in the
        order its tool applies them. `Layout.files` are SourceFile records (version, name, path, up
        SQL, down SQL, transaction mode, the tool's own ledger facts); oncall.migrations.discover
        turns them into Migration objects. `Layout.ignored` lists files the format does not run
        (down files, `meta/`, `migration_lock.toml`) with the reason; `Layout.warnings` names
        prefixes that sort differently as text and as numbers.

    detect(folder) -> str
        The one format the folder's files match; BadInput (exit 2) naming what was found when none
        or several match. A folder nobody could read is never "nothing to apply".

Formats (docs/migrate.md has a section per format):

    oncall          flat *.sql, name order                      oncall_migrations only
    prisma          <ts>_<name>/migration.sql, folder order      _prisma_migrations
    diesel          <version>_<name>/up.sql (+ down.sql)         __diesel_schema_migrations
    golang-migrate  <n>_<name>.up.sql / .down.sql, numeric       schema_migrations (version, dirty)
    dbmate          <version>_<name>.sql, -- migrate:up/down     schema_migrations (version)
    flyway          V<version>__<desc>.sql, versions as numbers  flyway_schema_history
    supabase        supabase/migrations/<ts>_<name>.sql          supabase_migrations.schema_migrations
    drizzle         <n>_<name>.sql + meta/_journal.json          drizzle.__drizzle_migrations

The ledger adapters (reading and writing each tool's table) are in oncall.migrations.sources.ledgers.
"""

from __future__ import annotations

from oncall.migrations.sources.base import FORMATS, Ignored, Layout, SourceFile, ToolFacts
from oncall.migrations.sources.detect import detect, survey

__all__ = ["FORMATS", "Ignored", "Layout", "SourceFile", "ToolFacts", "detect", "survey"]
