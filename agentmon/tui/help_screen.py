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
            ("h", "remote hosts (ssh:// sources): up or down, lag"),
            ("r", "refresh now"),
            ("?", "this help"),
            ("ctrl+p", "command palette"),
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
        # No blank lines: at 80x24 every key fits on the screen at once (a smaller one scrolls, with a scrollbar).
        lines = []
        for section, keys in KEYS:
            lines.append(Text(section, style="bold underline"))
            for key, what in keys:
                lines.append(Text.assemble((f"  {key:<16}", "bold cyan"), what))
        box = VerticalScroll(id="help-box")
        box.border_title = "keys"
        box.border_subtitle = "esc closes · the mouse is optional"
        with box:
            yield Static(Text("\n").join(lines))
