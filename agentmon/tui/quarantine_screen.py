"""`x`: the lines that could not be read, with file, offset and reason. The table lists them a line each, its
file cut to its end; the selected one is shown whole below it, where 80 columns still hold its reason."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import DataTable, Footer, Static

from agentmon.tui.monitor_screen import MonitorScreen
from agentmon.tui.render import clock, plain

LIMIT = 1000
FILE_CHARS = 32  # of a file's path in the table: its end, which names it (the whole path is in the detail)


class QuarantineScreen(MonitorScreen):
    BINDINGS = [("escape,backspace", "app.pop_screen", "Back")]

    def compose(self) -> ComposeResult:
        yield Static("quarantined lines", id="quarantine-title")
        yield DataTable(id="quarantine-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="quarantine-detail")
        yield Footer(show_command_palette=False)  # at 80 columns it would cut the keys

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("when", "file", "at byte", "reason", "line")
        self.rows: list[tuple] = []  # as shown: (at, path, offset, reason, excerpt)
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
        self.rows = rows
        for at, path, offset, reason, excerpt in rows:
            file = path if len(path) <= FILE_CHARS else "…" + path[-(FILE_CHARS - 1) :]
            table.add_row(clock(at), plain(file), str(offset), plain(reason), plain(excerpt[:80]))
        self._detail(table.cursor_row)
        shown = f", latest {len(rows)} shown" if total > len(rows) else ""
        self.query_one("#quarantine-title", Static).update(
            f"{total} quarantined line{'s' * (total != 1)}{shown} · esc back"
        )

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail(event.cursor_row)

    def _detail(self, row: int) -> None:
        """The selected line whole: its file and byte, why it was put aside, and how it began (all literal)."""
        rows = self.rows
        if not 0 <= row < len(rows):
            self.query_one("#quarantine-detail", Static).update("")
            return
        _, path, offset, reason, excerpt = rows[row]
        self.query_one("#quarantine-detail", Static).update(
            Text.assemble(plain(f"{path}:{offset}", "bold"), "\n", plain(reason), "\n", plain(excerpt[:400], "dim"))
        )
