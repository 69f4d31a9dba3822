"""Tables a run surely creates, so that the look at pg_locks before each file can skip them.

Before each attempt, oncall.migrations.lock_wait reads pg_locks for the tables a file locks (a
few milliseconds per file: most of what 300 small migrations cost beyond their DDL). A table that
an earlier statement of the same run created has no other session holding or waiting for a lock
on it, so looking is pointless. Only a plain `CREATE TABLE` counts: it fails if the table exists,
so once it ran the table is ours; `CREATE TABLE IF NOT EXISTS` may have kept a table with
readers. A DROP forgets the name again. Skipping the look never risks queuing behind anyone for
long: lock_timeout stays the backstop of every attempt.
"""

from __future__ import annotations

from collections.abc import Iterable

from oncall.migrations.lock_wait import required_locks
from oncall.migrations.statements import Statement

# (schema as written, or None when unqualified; name)
TableKey = tuple[str | None, str]


def _created(statement: Statement) -> list[TableKey]:
    if statement.kind != "CreateStmt" or statement.node.get("if_not_exists"):
        return []
    return [(made.schema, made.name) for made in statement.creates if made.kind == "table"]


def _dropped(statement: Statement) -> list[TableKey]:
    if statement.kind != "DropStmt":
        return []
    keys: list[TableKey] = []
    for item in statement.node.get("objects") or ():
        parts = [str(p.get("sval", "")) for p in item.get("items") or () if isinstance(p, dict)]
        if parts:
            keys.append((parts[-2] if len(parts) > 1 else None, parts[-1]))
    return keys


def tables_after(statements: Iterable[Statement], before: frozenset[TableKey]) -> frozenset[TableKey]:
    """The tables surely new in the run once `statements` ran, given those new `before` them."""
    new = set(before)
    for statement in statements:
        new.difference_update(_dropped(statement))
        new.update(_created(statement))
    return frozenset(new)


def statements_to_watch(statements: list[Statement], before: frozenset[TableKey]) -> list[Statement]:
    """The statements that lock at least one table that is not surely new when they run."""
    watched = []
    new = set(before)
    for statement in statements:
        if any((need.schema, need.name) not in new for need in required_locks(statement)):
            watched.append(statement)
        new.difference_update(_dropped(statement))
        new.update(_created(statement))
    return watched
