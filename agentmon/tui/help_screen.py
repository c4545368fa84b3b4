"""`?`: every key of the app."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = (
    (
        "Fleet",
        (
            ("↑ ↓  k j  tab", "move between agents"),
            ("enter", "open the agent's details"),
            ("/", "filter by name (enter keeps, esc clears)"),
            ("w", "cycle the window: 1h 24h 7d 30d all"),
            ("e", "export what is on screen to CSV"),
            ("x", "quarantined lines"),
            ("h", "remote hosts (ssh:// sources): up or down, lag, errors"),
            ("r", "refresh now"),
            ("?", "this help"),
            ("q", "quit"),
        ),
    ),
    (
        "Agent screen: its latest tasks",
        (
            ("j k", "select a task"),
            ("s", "label the selected task success"),
            ("f", "label the selected task failure"),
        ),
    ),
    (
        "Agent, quarantine and hosts screens",
        (
            ("esc  backspace", "back to the fleet"),
            ("w", "cycle the window"),
            ("↑ ↓  pgup pgdn", "scroll"),
        ),
    ),
)


class HelpScreen(ModalScreen):
    BINDINGS = [("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        text = Text()
        for section, keys in KEYS:
            text.append(f"{section}\n", style="bold underline")
            for key, what in keys:
                text.append(f"  {key:<16}", style="bold cyan")
                text.append(f"{what}\n")
            text.append("\n")
        text.append("The mouse is optional: every action has a key.", style="dim")
        with VerticalScroll(id="help-box"):
            yield Static(text)
