"""Text tables and the cells in them."""

from __future__ import annotations

from collections.abc import Sequence


def _table_lines(rows: Sequence[tuple[str, ...]]) -> list[str]:
    """Columns padded to their widest cell, two spaces apart; the last one (free text) unpadded."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1]).rstrip() for r in rows]


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"


def _usd(x) -> str:
    return "-" if x is None else f"${x:.4f}"
