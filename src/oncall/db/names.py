"""Object names as PostgreSQL makes them: 63 BYTES at most, cut at a UTF-8 character boundary.

An identifier longer than NAMEDATALEN-1 = 63 bytes is truncated by the server (scan.l's
truncate_identifier, with pg_mbcliplen so a multi-byte character is never split). Names the server
chooses for unnamed constraints and indexes come from makeObjectName (src/backend/commands/
indexcmds.c): `name1_name2_label`, where the LONGER of name1 and name2 loses a byte at a time until
the whole fits, and the label is never cut. Slicing a str to 63 characters gives names that never
existed as soon as a name holds a multi-byte character or two long parts.
"""

from __future__ import annotations

from collections.abc import Iterable

NAMEDATALEN = 64
MAX_IDENTIFIER_BYTES = NAMEDATALEN - 1


def clip_bytes(name: str, limit: int) -> str:
    """The longest prefix of `name` that fits in `limit` UTF-8 bytes (pg_mbcliplen)."""
    data = name.encode("utf-8")
    if len(data) <= limit:
        return name
    # errors="ignore" drops the partial character the byte cut leaves at the end.
    return data[:limit].decode("utf-8", errors="ignore")


def truncate_identifier(name: str) -> str:
    """The name the server stores for `name`: at most 63 bytes, never half a character."""
    return clip_bytes(name, MAX_IDENTIFIER_BYTES)


def make_object_name(name1: str, name2: str | None, label: str | None) -> str:
    """PostgreSQL's makeObjectName: `name1[_name2][_label]` in 63 bytes, the longer name cut first."""
    len1 = len(name1.encode("utf-8"))
    len2 = len(name2.encode("utf-8")) if name2 is not None else 0
    overhead = (1 if name2 is not None else 0) + (len(label.encode("utf-8")) + 1 if label else 0)
    available = MAX_IDENTIFIER_BYTES - overhead
    # The server's own loop: shorten the longer part a byte at a time until both fit together.
    while len1 + len2 > available:
        if len1 > len2:
            len1 -= 1
        else:
            len2 -= 1
    parts = [clip_bytes(name1, len1)]
    if name2 is not None:
        parts.append(clip_bytes(name2, len2))
    if label:
        parts.append(label)
    return "_".join(parts)


def name_addition(names: Iterable[str]) -> str:
    """Column names joined by '_' as ChooseIndexNameAddition does (it stops once past 63 bytes)."""
    joined = ""
    for name in names:
        if joined:
            joined += "_"
        joined += clip_bytes(name, MAX_IDENTIFIER_BYTES)
        if len(joined.encode("utf-8")) >= NAMEDATALEN:
            break
    return joined


def choose_name(name1: str, name2: str | None, label: str, taken: Iterable[str]) -> str:
    """ChooseRelationName / ChooseConstraintName: the first of label, label1, label2... not taken."""
    used = set(taken)
    candidate = make_object_name(name1, name2, label)
    attempt = 0
    while candidate in used:
        attempt += 1
        candidate = make_object_name(name1, name2, f"{label}{attempt}")
    return candidate
