"""`x`: the lines that could not be read, with file, offset and reason."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.widgets import DataTable, Footer, Static

from agentmon.tui.monitor_screen import MonitorScreen
from agentmon.tui.render import clock, plain

LIMIT = 1000


class QuarantineScreen(MonitorScreen):
    BINDINGS = [("escape,backspace", "app.pop_screen", "Back")]

    def compose(self) -> ComposeResult:
        yield Static("quarantined lines", id="quarantine-title")
        yield DataTable(id="quarantine-table", cursor_type="row", zebra_stripes=True)
        yield Footer(show_command_palette=False)  # at 80 columns it would cut the keys

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("when", "file", "at byte", "reason", "line")
        self.load()

    def reload_on_fleet(self) -> None:
        self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        rows, total = self.monitor.read(
            lambda conn: (
                conn.execute(
                    "SELECT at, path, offset, reason, excerpt FROM quarantine ORDER BY id DESC LIMIT ?", (LIMIT,)
                ).fetchall(),
                conn.execute("SELECT count(*) FROM quarantine").fetchone()[0],
            )
        )
        self.monitor.call_from_thread(self.show, rows, total)

    def show(self, rows: list[tuple], total: int) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for at, path, offset, reason, excerpt in rows:
            table.add_row(clock(at), plain(path), str(offset), plain(reason), plain(excerpt[:80]))
        shown = f", latest {len(rows)} shown" if total > len(rows) else ""
        self.query_one("#quarantine-title", Static).update(
            f"{total} quarantined line{'s' * (total != 1)}{shown} · esc back"
        )
