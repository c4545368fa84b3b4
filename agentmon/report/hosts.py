"""The remote sources' connection state, as `status` and the monitor show it (written by
agentmon.remote.follow through Store.set_remote_state)."""

from __future__ import annotations

import sqlite3


def remote_sources(conn: sqlite3.Connection, now: float) -> list[dict]:
    """Each ssh:// source: connected or not, how far behind (bytes listed but not yet committed, and
    seconds since everything the host had written was committed), and its last error."""
    try:
        rows = conn.execute(
            "SELECT source, host, connected, mode, since, caught_up_at, lag_bytes, last_error,"
            " last_error_at, updated FROM remote_sources ORDER BY source"
        ).fetchall()
    except sqlite3.OperationalError:  # a database written before remote sources existed
        return []
    out = []
    for source, host, connected, mode, since, caught_up, lag_bytes, error, error_at, updated in rows:
        out.append(
            {
                "source": source,
                "host": host,
                "connected": bool(connected),
                "mode": mode,
                "connected_since": since if connected else None,
                "lag_bytes": lag_bytes or 0,
                "lag_seconds": None if caught_up is None else max(0.0, now - caught_up),
                "last_error": error,
                "last_error_at": error_at,
                "updated": updated,
            }
        )
    return out


def describe(h: dict) -> str:
    """One line for a person: `ssh://web-1  connected (agentmon)  lag 0 B, 0.4 s` or why it is down."""
    lag = "" if h["lag_seconds"] is None else f"lag {_bytes(h['lag_bytes'])}, {_seconds(h['lag_seconds'])}"
    if h["connected"]:
        return f"connected ({h['mode']})" + (f"  {lag}" if lag else "")
    if h["last_error"] and (h["last_error_at"] or 0) >= h["updated"] - 1:
        error = h["last_error"].removeprefix(f"{h['host']}: ")
        return f"DOWN: {error}" + (f"  {lag}" if lag else "")
    return "not followed now" + (f"  {lag}" if lag else "")


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def _seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"
