"""`h`: the remote hosts (ssh:// sources): connected or not, how far behind, and why not."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from agentmon.report.hosts import describe
from agentmon.tui.monitor_screen import MonitorScreen
from agentmon.tui.render import clock, plain


class HostsScreen(MonitorScreen):
    BINDINGS = [("escape,backspace", "app.pop_screen", "Back")]

    def compose(self) -> ComposeResult:
        yield Static("remote hosts · esc back", id="hosts-title")
        with VerticalScroll():
            yield Static(id="hosts-body")
        yield Footer(show_command_palette=False)  # at 80 columns it would cut the keys

    def on_mount(self) -> None:
        self.reload_on_fleet()

    def reload_on_fleet(self) -> None:
        view = self.monitor.view
        body = Text()
        if view is None or not view.remote:
            body.append(
                "no ssh:// sources: `agentmon watch ssh://HOST/PATH` follows logs on other hosts (docs/remote.md)",
                style="dim",
            )
        for h in view.remote if view is not None else []:
            down = not h["connected"] and h["last_error"]
            body.append_text(plain(h["source"], "bold red" if down else "bold"))
            body.append("\n  ")
            body.append_text(plain(describe(h), "red" if down else ""))
            if h["connected_since"]:
                body.append(f"\n  connected since {clock(h['connected_since'])}", style="dim")
            if h["last_error"] and h["connected"]:
                body.append(f"\n  last error at {clock(h['last_error_at'])}: ", style="dim")
                body.append_text(plain(h["last_error"], "dim"))
            body.append("\n\n")
        self.query_one("#hosts-body", Static).update(body)
