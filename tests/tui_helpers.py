"""Shared set-up of the TUI tests: a deterministic fleet and a frozen clock."""

from __future__ import annotations

from pathlib import Path

from conftest import ingest

from agentmon.simulate.demo import DemoFleet
from agentmon.tui.app import AgentmonApp

FROZEN = 1_780_000_000.0  # 2026-05-28T20:26:40Z


DEMO_MINUTES = 12  # the demo a few minutes after launch: its drifting agent has turned


def demo_db(tmp_path: Path) -> Path:
    """The demo fleet launched DEMO_MINUTES before FROZEN (two hours of history, then live), ingested."""
    logs, db = tmp_path / "demo-logs", tmp_path / "demo.db"
    fleet = DemoFleet(logs, now=FROZEN - DEMO_MINUTES * 60, seed=7)
    fleet.start()
    fleet.write_due(FROZEN)
    ingest([logs], db)
    return db


def make_app(db: Path, window: str = "1h", **kwargs) -> AgentmonApp:
    kwargs.setdefault("refresh_interval", 3600)  # no timer refreshes during a test
    return AgentmonApp(db, window=window, clock=lambda: FROZEN, **kwargs)


def text_of(widget) -> str:
    """What a widget shows, as plain text."""
    visual = widget.render()
    return getattr(visual, "plain", None) or str(visual)
