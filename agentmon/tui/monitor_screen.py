"""The base of the monitor's screens, and what they may ask of the app (it, not they, owns the reader)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from textual.screen import Screen

from agentmon.report.fleet import FleetView
from agentmon.report.metrics import LimitsFor

T = TypeVar("T")


class Monitor(Protocol):
    """The app as its screens see it (AgentmonApp): a reader, the window, the clock, the last view."""

    window: str
    view: FleetView | None
    db_path: Path  # where labels go: the labels file beside it
    limits_for: LimitsFor

    @property
    def no_color(self) -> bool: ...

    def clock(self) -> float: ...

    def read(self, query: Callable[[sqlite3.Connection], T]) -> T: ...

    def call_from_thread(self, callback: Callable[..., Any], *args: Any) -> Any: ...


class MonitorScreen(Screen):
    @property
    def monitor(self) -> Monitor:
        return cast(Monitor, self.app)
