"""The base of the monitor's screens: typed access to the app that they read through."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.screen import Screen

if TYPE_CHECKING:
    from agentmon.tui.app import AgentmonApp


class MonitorScreen(Screen):
    @property
    def monitor(self) -> AgentmonApp:
        """The app, as what it is: the screens read the database, window and clock through it."""
        return cast("AgentmonApp", self.app)
