"""Text from logs, made safe to show and to export."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def literal(text: str) -> str:
    """Control characters (ANSI escapes included) shown as `\\xNN`, never executed."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def csv_safe(value):
    """A CSV cell that a spreadsheet will not run as a formula (OWASP's advice: prefix a quote)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value
