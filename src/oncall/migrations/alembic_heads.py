"""Alembic revision graphs (branches, merges, depends_on) and how `alembic_version` moves through them.

    RevisionGraph(nodes)
        .ancestors(revisions)        the revisions and everything below them (depends_on included)
        .heads_of(applied)           the rows alembic_version holds when exactly `applied` is applied
        .upgrade_move(heads, rev)    the rows to insert/delete/update when `rev` is applied on `heads`
        .downgrade_move(heads, rev)  the same when `rev` is undone

    moves_sql(schema, current, ops, expect=...) -> str
        The statements that make those moves, optionally guarded (SQLSTATE OC001) so that the
        transaction fails unless alembic_version then holds exactly `expect`: the one builder of
        every change to alembic_version (migrate, rollback-migration, baseline, resolve).

`alembic_version` holds one row per head of what is applied. The moves follow what Alembic does
(read in its HeadMaintainer.update_to_step, alembic/runtime/migration.py, and checked step by step
against the real `alembic` command in tests/test_alembic_merges.py): a first revision, or one none of
whose parents is a row, INSERTs its row (so the second child of a branch point gets a row of its
own while the first child took over its parent's); a merge whose parents are rows DELETEs all of
them but one and UPDATEs that one; anything else UPDATEs its parent's row. A depends_on counts as a
parent here, as in Alembic (unless an ancestor already depends on the same revision). The rows that
are deleted or updated may differ from Alembic's (it picks from a set), the rows left never do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from psycopg import sql

from oncall.migrations.ledger import (
    ALEMBIC_TABLE,
    ALEMBIC_VERSION_MOVED,
    create_alembic_sql,
    sql_text,
    table_id,
)


@dataclass(frozen=True)
class Node:
    """One revision as the graph sees it: its down_revision(s) and depends_on, as revision ids."""

    revision: str
    downs: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Op:
    """One change of alembic_version: insert `version`, delete `version`, update `version` to `to`,
    or clear the table (`Op.clear()`, the first half of `alembic stamp`)."""

    verb: str
    version: str
    to: str | None = None

    @classmethod
    def clear(cls) -> Op:
        return cls("clear", "")


def stamp_ops(current: list[str] | None, revision: str) -> list[Op]:
    """Whatever rows there are replaced by `revision`, like `alembic stamp`."""
    return [Op.clear(), Op("insert", revision)] if current else [Op("insert", revision)]


def _dedupe(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def apply_ops(heads: Iterable[str], ops: Iterable[Op]) -> list[str]:
    """The rows left after `ops` (sorted)."""
    rows = set(heads)
    for op in ops:
        if op.verb == "clear":
            rows.clear()
            continue
        rows.discard(op.version)
        if op.verb == "insert":
            rows.add(op.version)
        elif op.verb == "update" and op.to is not None:
            rows.add(op.to)
    return sorted(rows)


class RevisionGraph:
    """The revisions of a project, for ancestry and alembic_version moves (ids unknown here are ignored)."""

    def __init__(self, nodes: Iterable[Node]) -> None:
        self.nodes = {node.revision: node for node in nodes}
        self._normalized: dict[str, tuple[str, ...]] = {}

    def ancestors(self, revisions: Iterable[str], *, dependencies: bool = True) -> set[str]:
        """`revisions` and every revision below them (through depends_on too, unless told not to)."""
        seen: set[str] = set()
        stack = [r for r in revisions if r in self.nodes]
        while stack:
            revision = stack.pop()
            if revision in seen:
                continue
            seen.add(revision)
            node = self.nodes[revision]
            stack.extend(r for r in node.downs if r in self.nodes)
            if dependencies:
                stack.extend(r for r in node.depends_on if r in self.nodes)
        return seen

    def below(self, revision: str) -> set[str]:
        """Every ancestor of `revision`, without itself."""
        return self.ancestors([revision]) - {revision}

    def parents(self, revision: str) -> tuple[str, ...]:
        """Alembic's `_normalized_down_revisions`: down_revision(s), then the depends_on that no
        (down_revision) ancestor already depends on."""
        if revision not in self._normalized:
            node = self.nodes[revision]
            inherited: set[str] = set()
            for other in self.ancestors([revision], dependencies=False) - {revision}:
                inherited.update(self.nodes[other].depends_on)
            own = (d for d in node.depends_on if d not in inherited)
            self._normalized[revision] = _dedupe((*node.downs, *own))
        return self._normalized[revision]

    def is_merge(self, revision: str) -> bool:
        """A revision alembic_version reaches from several rows: a merge, or one with a depends_on."""
        return len(self.parents(revision)) > 1

    def heads_of(self, applied: Iterable[str]) -> list[str]:
        """The rows alembic_version holds when exactly `applied` is applied: those below no other."""
        done = set(applied)
        covered: set[str] = set()
        for revision in done:
            covered |= self.below(revision)
        return sorted(done - covered)

    def upgrade_move(self, heads: Iterable[str], revision: str) -> list[Op]:
        """What `alembic upgrade` does to alembic_version when it applies `revision` on `heads`."""
        current = set(heads)
        parents = self.parents(revision)
        present = [p for p in parents if p in current]
        if not present:  # a first revision, or a branch whose parent's row another child took over
            return [Op("insert", revision)]
        if len(present) > 1:  # a merge: one parent's row becomes the merge, the others go
            others = current - set(parents)
            covered = self.ancestors(others) if others else set()
            joined = [p for p in parents if p not in covered]
            return [*(Op("delete", p) for p in joined[:-1]), Op("update", joined[-1], revision)]
        return [Op("update", present[0], revision)]

    def downgrade_move(self, heads: Iterable[str], revision: str) -> list[Op]:
        """What `alembic downgrade` does to alembic_version when it undoes `revision` (a row of `heads`)."""
        current = set(heads)
        parents = self.parents(revision)
        back = self._unmerge_to(current, revision)
        if not parents or not back:  # the parents stay covered by another row: the branch's row goes
            return [Op("delete", revision)]
        if len(parents) > 1:  # undoing a merge: its parents get their rows back
            return [Op("update", revision, back[-1]), *(Op("insert", p) for p in back[:-1])]
        return [Op("update", revision, parents[0])]

    def _unmerge_to(self, current: set[str], revision: str) -> list[str]:
        parents = self.parents(revision)
        others = current - {revision}
        # Another row covers what it stands on; without one, a parent below another parent is no head.
        covered = self.ancestors(others) if others else {r for p in parents for r in self.below(p)}
        return [p for p in parents if p not in covered]


def moves_sql(schema: str, current: list[str] | None, ops: list[Op], *, expect: list[str] | None) -> str:
    """The statements for `ops` (creating the table first when `current is None`, as Alembic's first
    upgrade does). With `expect`, a guard fails the transaction (SQLSTATE OC001) unless the table
    then holds exactly those rows: a concurrent hand edit can never leave extra heads behind."""
    table = table_id(schema, ALEMBIC_TABLE)
    parts: list[sql.Composable] = []
    if current is None:
        parts.append(sql.SQL(create_alembic_sql(schema)))
    for op in ops:
        if op.verb == "clear":
            parts.append(sql.SQL("DELETE FROM {}").format(table))
        elif op.verb == "insert":
            parts.append(
                sql.SQL("INSERT INTO {} (version_num) VALUES ({})").format(table, sql.Literal(op.version))
            )
        elif op.verb == "delete":
            parts.append(
                sql.SQL("DELETE FROM {} WHERE version_num = {}").format(table, sql.Literal(op.version))
            )
        else:
            parts.append(
                sql.SQL("UPDATE {table} SET version_num = {to} WHERE {table}.version_num = {from_}").format(
                    table=table, to=sql.Literal(op.to), from_=sql.Literal(op.version)
                )
            )
    if expect is not None:
        parts.append(_guard(table, expect))
    return sql_text(sql.SQL(";\n").join(parts))


def _guard(table: sql.Identifier, expect: list[str]) -> sql.Composable:
    if len(expect) == 1:  # the one-head form every linear migrate has always sent
        return sql.SQL(
            "DO $oncall_guard$ BEGIN IF (SELECT count(*) FROM {table}) <> 1 OR NOT EXISTS "
            "(SELECT 1 FROM {table} WHERE version_num = {to}) "
            "THEN RAISE EXCEPTION 'alembic_version did not move to %', {to} "
            "USING ERRCODE = {code}; END IF; END $oncall_guard$"
        ).format(table=table, to=sql.Literal(expect[0]), code=sql.Literal(ALEMBIC_VERSION_MOVED))
    # An empty `expect` (back to base) compares with an array that matches nothing.
    rows = sql.SQL(", ").join(sql.Literal(v) for v in expect)
    return sql.SQL(
        "DO $oncall_guard$ BEGIN IF (SELECT count(*) FROM {table}) <> {n} OR "
        "(SELECT count(*) FROM {table} WHERE version_num = ANY (ARRAY[{rows}]::text[])) <> {n} "
        "THEN RAISE EXCEPTION 'alembic_version did not move to %', {names} "
        "USING ERRCODE = {code}; END IF; END $oncall_guard$"
    ).format(
        table=table,
        n=sql.Literal(len(expect)),
        rows=rows,
        names=sql.Literal(", ".join(expect)),
        code=sql.Literal(ALEMBIC_VERSION_MOVED),
    )
