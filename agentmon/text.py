"""Text from logs, made safe to show and to export."""

from __future__ import annotations

import re

# What a log must not be able to do to a terminal or a reader: C0 (newline, CR and tab included: they forge
# rows), DEL and C1 (ANSI escapes), line and paragraph separators, bidi embeddings, overrides and isolates
# (text that reads backwards), zero-width characters and the byte order mark (names that look alike).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
# The start of an escape cut short by a length limit.
_CUT_ESCAPE = re.compile(r"\\(x[0-9a-f]?|u[0-9a-f]{0,3})?$")
NAME_LIMIT = 60  # characters of an agent, task or model name in a table or on screen
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def literal(text: str, limit: int | None = None) -> str:
    """Text for a person to read: unsafe characters shown as `\\xNN` or `\\uNNNN`, never acted on, and at most
    `limit` characters (an ellipsis marks the cut). The data keeps the text as it was; only display uses this."""
    if limit is None:
        return _UNSAFE.sub(_escape, text)
    shown = _UNSAFE.sub(_escape, text[: limit + 1])  # escaping only lengthens: the rest would be cut anyway
    if len(shown) <= limit:
        return shown
    return _CUT_ESCAPE.sub("", shown[: limit - 1]) + "…"


def csv_safe(value):
    """A CSV cell that a spreadsheet will not run as a formula (OWASP's advice: prefix a quote)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def duration(seconds: float) -> str:
    """A stretch of time, short: 45s, 3m05s, 1h06m, 2d03h."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"
