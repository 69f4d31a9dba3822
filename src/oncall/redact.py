"""The one redaction function every string passes through before a user or a file sees it.

Two mechanisms, because neither alone is enough:
- patterns catch secrets we were never told about (a password inside any URL, a bearer token,
  a Render API key, `password=` in a libpq keyword string);
- registered values catch secrets that have no recognisable shape (a header value taken from an
  environment variable, a password that appears alone in a server message).
"""

from __future__ import annotations

import re
import threading
from typing import Any

MASK = "***"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # scheme://user:password@host  ->  scheme://user:***@host
    (re.compile(r"(?P<pre>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^@\s]+)(?=@)"), r"\g<pre>" + MASK),
    # Authorization: Bearer xyz / "authorization": "Bearer xyz"
    (re.compile(r"(?i)(?P<pre>\bbearer\s+)(?P<secret>[A-Za-z0-9._~+/=-]+)"), r"\g<pre>" + MASK),
    # Render API keys
    (re.compile(r"\brnd_[A-Za-z0-9]{8,}\b"), MASK),
    # libpq keyword strings and query parameters: password=xyz
    (
        re.compile(r"(?i)(?P<pre>\b(?:password|passwd|pwd)\s*=\s*)(?P<secret>'[^']*'|[^\s&;]+)"),
        r"\g<pre>" + MASK,
    ),
]

_registered: set[str] = set()
_lock = threading.Lock()

# Very short values would mask ordinary words; a real secret is longer than this.
_MIN_REGISTERED_LENGTH = 4


def register_secret(value: str | None) -> None:
    """Remember a secret value so that every later `redact` call masks it wherever it appears.

    Also its escaped forms: an exception quotes a value through repr (httpx/h11: `Illegal header
    value b'Token abc\\n'`), where a newline or a quote no longer reads as the value itself.
    """
    if value and len(value) >= _MIN_REGISTERED_LENGTH:
        forms = {value, repr(value)[1:-1], repr(value.encode("utf-8", "backslashreplace"))[2:-1]}
        with _lock:
            _registered.update(forms)


def redact(text: str) -> str:
    """Return `text` with every known and every recognisable secret replaced by ***."""
    if not text:
        return text
    with _lock:
        values = sorted(_registered, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_obj(obj: Any) -> Any:
    """Redact every string inside a JSON-like structure (dicts, lists, tuples, scalars)."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {redact(str(k)) if isinstance(k, str) else k: redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact_obj(v) for v in obj]
    return obj
