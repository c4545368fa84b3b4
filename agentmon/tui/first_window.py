"""Which window the monitor opens on: with older data, not an empty 24 h but the shortest window with tasks."""

from __future__ import annotations

import sqlite3

from agentmon.report.fleet import FleetView, fleet_view
from agentmon.report.metrics import WINDOWS, LimitsFor
from agentmon.tui.render import age


def has_tasks(view: FleetView) -> bool:
    return any(a.metrics.tasks for a in view.agents)


def first_window_with_tasks(
    conn: sqlite3.Connection, view: FleetView, now: float, buckets: int, limits_for: LimitsFor
) -> FleetView | None:
    """The view of the shortest longer window that holds ended tasks, when `view`'s holds none; else None.

    Windows that end before the last event are skipped unread: most starts cost nothing more."""
    if has_tasks(view) or not view.agents:
        return None
    last = max((a.last_event_ts or 0.0) for a in view.agents)
    windows = list(WINDOWS)
    for window in windows[windows.index(view.window) + 1 :]:
        seconds = WINDOWS[window]
        if seconds is not None and now - last > seconds:
            continue
        longer = fleet_view(conn, window, now, buckets, limits_for=limits_for)
        if has_tasks(longer):
            return longer
    return None


def no_tasks_hint(view: FleetView) -> str:
    """What the screen says when its agents ended no task in the window."""
    if has_tasks(view) or not view.agents:
        return ""
    last = max((a.last_event_ts for a in view.agents if a.last_event_ts is not None), default=None)
    where = "so far" if WINDOWS[view.window] is None else f"in the last {view.window}"
    seen = f" — last event {age(last, view.now)}" if last is not None else ""
    more = ", press w" if WINDOWS[view.window] is not None else ""
    return f"no tasks {where}{seen}{more}"
