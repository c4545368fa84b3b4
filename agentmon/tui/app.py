"""The live monitor: the fleet screen, and the app that owns the workers and the state.

Threading rule (as in harlequin): ingest and database reads run in thread
workers that never touch widgets; they post messages, and the handlers here,
on the app's thread, own the state and update the screen.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Input, Static

from agentmon.alerts import health as alert_health
from agentmon.alerts.settings import AlertSettings
from agentmon.config import IDLE_TASK_SECONDS
from agentmon.errors import AgentmonError
from agentmon.report.fleet import FleetView, fleet_view
from agentmon.report.metrics import DEFAULT_LIMITS, WINDOWS, LimitsFor
from agentmon.session import IngestSession
from agentmon.store.writer import connect
from agentmon.tui.first_window import first_window_with_tasks, no_tasks_hint
from agentmon.tui.panel import AgentPanel, spark_cells
from agentmon.tui.render import count, plain, plural

T = TypeVar("T")

WINDOW_CYCLE = tuple(WINDOWS)  # 1h, 24h, 7d, 30d, all
FULL_REDRAW_EVERY = 5.0  # seconds: ages on screen move even when no data does
PANEL_WIDTH = 80  # columns per panel: one more column of panels for each 80 the terminal has


class FleetRefreshed(Message):
    def __init__(self, view: FleetView | None, error: str | None = None, opened_on: str | None = None):
        super().__init__()
        self.view, self.error = view, error
        self.opened_on = opened_on  # the first view moved past an empty window: the one asked for


class IngestPass(Message):
    """The ingest worker finished a pass (it may have committed new lines)."""

    def __init__(self, lines: int, files: int, error: str | None):
        super().__init__()
        self.lines, self.files, self.error = lines, files, error


class IngestMode(Message):
    def __init__(self, text: str):
        super().__init__()
        self.text = text


class AgentmonApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "agentmon"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("enter", "open_agent", "Details"),
        # Priority bindings act when the key arrives, before the keys typed after it are routed:
        # over SSH keys come in bursts ("/ref⏎⏎"), and focus must move in between.
        Binding("slash", "filter", "Filter", priority=True),
        Binding("enter", "filter_done", show=False, priority=True),
        Binding("escape", "filter_clear", show=False, priority=True),
        Binding("w", "cycle_window", "Window"),
        Binding("e", "export", "Export"),
        Binding("x", "quarantine", "Quarantine"),
        Binding("h", "hosts", "Hosts", show=False),
        Binding("r", "refresh", "Refresh", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("up,k", "move(-1)", "Up", show=False),
    ]

    def __init__(
        self,
        db_path: Path,
        paths: Sequence[Path] = (),
        window: str = "24h",
        clock: Callable[[], float] = time.time,
        refresh_interval: float = 1.0,
        export_dir: Path | None = None,
        banner: str | None = None,
        otlp_port: int | None = None,
        idle_task_seconds: float = IDLE_TASK_SECONDS,
        limits_for: LimitsFor | None = None,
        prices: tuple = (),  # agentmon.toml's [prices."glob"] (agentmon.store.pricing.CustomPrice)
        poll: bool = False,
        remote: Sequence[tuple] = (),
        remote_options: dict | None = None,
        alerts: AlertSettings | None = None,  # agentmon.toml's [alerts]: delivered while this process ingests
    ):
        super().__init__()
        self.limits_for = limits_for or (lambda agent: DEFAULT_LIMITS)  # agentmon.toml's, per agent
        self.db_path = Path(db_path)
        self.paths = [Path(p) for p in paths]
        self.remote = list(remote)  # ssh:// sources: (agentmon.remote.Remote, path on the host)
        # What the ingest worker runs, unless there is nothing to follow; started by on_mount.
        self.ingest = (
            IngestSession(
                self.db_path,
                self.paths,
                follow=True,
                remote=self.remote,
                remote_options=remote_options,  # for agentmon.remote.follow.RemoteFollower
                otlp=None if otlp_port is None else ("127.0.0.1", otlp_port),
                otlp_optional=True,  # the port taken: the screen says so, and follows the rest
                track_follow_ups=lambda agent: self.limits_for(agent).require_no_follow_up,
                prices=prices,
                idle_task_seconds=idle_task_seconds,
                poll=poll,
                alerts=alerts,
                limits_for=self.limits_for,
            )
            if self.paths or self.remote or otlp_port is not None
            else None
        )
        self.window = window
        self._first_view = True  # the first view may move on to the shortest window with tasks
        self.window_note = ""  # why the window is not the one asked for
        self.clock = clock
        self.refresh_interval = refresh_interval
        self.export_dir = export_dir
        self.banner = banner
        self.name_filter = ""
        self.view: FleetView | None = None
        self.ingest_mode = "reading only" if not (self.paths or self.remote) else ""
        self._reader: sqlite3.Connection | None = None
        self._alerts_file = alert_health.state_path(self.db_path)  # whoever ingests writes how alerts fare
        self.alert_problems: list[str] = []
        self._reader_lock = threading.Lock()
        self._data_version: int | None = None
        self._last_full = 0.0
        self._rate: tuple[float, int] | None = None  # (time, lines) of the previous refresh
        self.lines_per_second = 0.0
        self.panels: dict[str, AgentPanel] = {}
        self.columns = 1  # of panels, by the terminal's width
        self.spark_buckets = spark_cells(76)  # the series' buckets: one per sparkline cell

    # --- layout --------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield Static(id="hint")
        yield VerticalScroll(id="panels")
        yield Static("no agents yet", id="empty")
        yield Input(placeholder="filter agents by name; enter keeps it, esc clears", id="filter")
        yield Footer(show_command_palette=False)  # ctrl+p still opens it; at 80 columns there is no room

    def on_mount(self) -> None:
        self.query_one("#filter").display = False
        self.query_one("#hint").display = False
        self._layout()
        if self.ingest is not None:
            self.run_ingest(self.ingest)
        self.set_interval(self.refresh_interval, self.poll)
        self.refresh_fleet(force=True)

    def on_unmount(self) -> None:
        if self.ingest is not None:
            self.ingest.stop()

    # --- reading the database (worker threads) -------------------------------------------

    def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """Run `query` on the shared read-only connection (from any worker thread)."""
        with self._reader_lock:
            if self._reader is None:
                self._reader = connect(self.db_path, readonly=True)
            return query(self._reader)

    def poll(self) -> None:
        self.refresh_fleet()
        problems = alert_health.problems(alert_health.read(self._alerts_file))
        if problems != self.alert_problems:
            self.alert_problems = problems
            self._show_status()

    @work(thread=True, exclusive=True, group="refresh")
    def refresh_fleet(self, force: bool = False) -> None:
        try:

            def load(conn):
                (version,) = conn.execute("PRAGMA data_version").fetchone()
                now = self.clock()
                stale = now - self._last_full >= FULL_REDRAW_EVERY
                if not force and not stale and version == self._data_version:
                    return None
                self._data_version, self._last_full = version, now
                view = fleet_view(conn, self.window, now, self.spark_buckets, limits_for=self.limits_for)
                if not self._first_view or not view.agents:
                    return view, None
                self._first_view = False  # the first view with agents: a database being filled waits for one
                moved = first_window_with_tasks(conn, view, now, self.spark_buckets, self.limits_for)
                return (view, None) if moved is None else (moved, view.window)

            loaded = self.read(load)
        except (AgentmonError, sqlite3.Error) as e:
            self.post_message(FleetRefreshed(None, str(e)))
            return
        if loaded is not None:
            self.post_message(FleetRefreshed(loaded[0], opened_on=loaded[1]))

    @work(thread=True, exclusive=True, group="ingest")
    def run_ingest(self, session: IngestSession) -> None:
        """Follow the sources into the database, unless another process writes it."""
        try:
            session.start()
        except AgentmonError as e:
            self.post_message(IngestMode(f"reading only: {e}"))
            return
        try:
            self.post_message(IngestMode(_ingest_mode(session)))
            session.follow(
                on_pass=lambda stats: self.post_message(IngestPass(stats.lines, stats.files, stats.last_error))
            )
        except Exception as e:  # keep the screen up: say what stopped, in the status bar
            self.post_message(IngestMode(f"ingest stopped: {e}"))
        finally:
            session.close()

    # --- handlers (the app's thread) --------------------------------------------------------

    def on_ingest_mode(self, message: IngestMode) -> None:
        self.ingest_mode = message.text
        self._show_status()

    def on_ingest_pass(self, message: IngestPass) -> None:
        self.refresh_fleet()

    def on_fleet_refreshed(self, message: FleetRefreshed) -> None:
        if not self.query("#panels"):  # a refresh that lands while quitting: the fleet screen is taken down
            return
        if message.view is None:
            self.query_one("#empty", Static).update(
                plain(message.error or "no data") + Text("\nrun `agentmon demo`, or `agentmon watch PATH`")
            )
            self.query_one("#empty").display = True
            return
        view = message.view
        if message.opened_on is not None and self.window == message.opened_on:
            self.window = view.window
            self.window_note = f"no tasks in {message.opened_on}"
            self.notify(
                f"no tasks in the last {message.opened_on}: opened on {view.window}, the shortest window with some"
                " (w cycles)",
                timeout=8,
            )
        if view.window != self.window:  # read before the window moved (w, or the first view's move): stale
            return
        self.view = view
        hint = no_tasks_hint(view)
        self.query_one("#hint", Static).update(Text(hint, style="bold yellow"))
        self.query_one("#hint").display = bool(hint)
        now = time.monotonic()
        if self._rate is not None and now > self._rate[0]:
            instant = (view.ingest["lines"] - self._rate[1]) / (now - self._rate[0])
            self.lines_per_second = 0.5 * self.lines_per_second + 0.5 * instant
        self._rate = (now, view.ingest["lines"])
        self._show_panels(view)
        self._show_status()
        reload = getattr(self.screen, "reload_on_fleet", None)  # the agent and quarantine screens
        if reload is not None:
            reload()

    def _show_status(self) -> None:
        view = self.view
        parts = [Text(" agentmon ", style="bold reverse")]
        if self.banner:
            parts.append(Text(f" {self.banner} ·", style="bold"))
        if view is not None:
            shown = sum(p.display for p in self.panels.values())
            total = plural(len(view.agents), "agent")
            agents = total if shown == len(view.agents) else f"{shown}/{total}"
            ing = view.ingest
            note = f" ({self.window_note})" if self.window_note else ""
            parts.append(Text(f" {agents} · {view.window}{note} · "))
            if view.remote:  # before the rest: at 80 columns the end of the line is cut
                up = sum(h["connected"] for h in view.remote)
                down = [h for h in view.remote if not h["connected"] and h["last_error"]]
                parts.append(Text(f"hosts {up}/{len(view.remote)} up", style="bold red" if down else ""))
                if down:
                    parts.append(Text(", ") + plain(down[0]["host"], "bold red") + Text(" down (h)"))
                parts.append(Text(" · "))
            for problem in self.alert_problems:  # early too: nobody else may know the pager is silent
                parts.append(plain(problem, "bold red") + Text(" · "))
            rate = round(self.lines_per_second)
            parts.append(Text(f"{plural(ing['files'], 'file')} · {count(rate)} line{'s' * (rate != 1)}/s · "))
            parts.append(Text(f"{count(ing['quarantined'])} quarantined", style="yellow" if ing["quarantined"] else ""))
            if ing["waiting_documents"]:  # an eval log being written: its results are not in yet
                parts.append(Text(f" · {plural(len(ing['waiting_documents']), 'eval log')} being written", style="dim"))
            if ing["last_error"]:
                parts.append(Text(" · ") + plain(ing["last_error"], "red"))
        if self.ingest_mode:
            parts.append(Text(f" · {self.ingest_mode}", style="dim"))
        if self.name_filter:
            parts.append(Text(" · filter ") + plain(self.name_filter, "bold"))
        self.query_one("#status", Static).update(Text.assemble(*parts))  # app.tcss cuts it with an ellipsis

    def _show_panels(self, view: FleetView) -> None:
        container = self.query_one("#panels", VerticalScroll)
        order = [a.metrics.agent for a in view.agents]
        focused = self.focused.agent if isinstance(self.focused, AgentPanel) else None
        if order != list(self.panels):
            for panel in self.panels.values():
                panel.remove()
            self.panels = {a.metrics.agent: AgentPanel(a, view.now) for a in view.agents}
            container.mount_all(self.panels.values())
            if focused in self.panels:
                self.call_after_refresh(self.panels[focused].focus)
        else:
            for a in view.agents:
                self.panels[a.metrics.agent].update_view(a, view.now)
        self._apply_filter()
        self.query_one("#empty").display = not view.agents

    def _apply_filter(self) -> None:
        needle = self.name_filter.lower()
        for name, panel in self.panels.items():
            panel.display = needle in name.lower()

    # --- actions -----------------------------------------------------------------------

    def action_move(self, step: int) -> None:
        visible = [p for p in self.panels.values() if p.display]
        if not visible:
            return
        current = visible.index(self.focused) if self.focused in visible else -1
        target = visible[max(0, min(len(visible) - 1, current + step))]
        self.set_focus(target)
        target.scroll_visible()

    def action_open_agent(self) -> None:
        from agentmon.tui.agent_screen import AgentScreen

        panel = (
            self.focused
            if isinstance(self.focused, AgentPanel)
            else next((p for p in self.panels.values() if p.display), None)
        )
        if panel is not None:
            self.push_screen(AgentScreen(panel.agent))

    def on_resize(self) -> None:
        if self._layout():
            self.refresh_fleet(force=True)

    def _layout(self) -> bool:
        """Columns of panels for the terminal's width; True when the sparklines need other buckets."""
        self.columns = max(1, self.size.width // PANEL_WIDTH)
        # inside a panel: its share of the width less the scrollbar and gutters, then its borders and padding
        inner = (self.size.width - 1 - (self.columns - 1)) // self.columns - 4
        if self.query("#panels"):
            self.query_one("#panels", VerticalScroll).styles.grid_size_columns = self.columns
        buckets, self.spark_buckets = self.spark_buckets, spark_cells(inner)
        return buckets != self.spark_buckets

    def action_cycle_window(self) -> None:
        self._first_view, self.window_note = False, ""  # the person chose
        self.window = WINDOW_CYCLE[(WINDOW_CYCLE.index(self.window) + 1) % len(WINDOW_CYCLE)]
        self.notify(f"window: {self.window}", timeout=2)
        self.refresh_fleet(force=True)

    def action_refresh(self) -> None:
        self.refresh_fleet(force=True)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.value = self.name_filter
        self.set_focus(box)  # at once, not after a refresh: the keys typed next are already queued

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.name_filter = event.value
        self._apply_filter()
        self._show_status()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        on_fleet = self.screen is self.screen_stack[0]
        filtering = on_fleet and self.query_one("#filter", Input).display
        if action == "filter":
            return on_fleet and not filtering  # while filtering, "/" is just a character
        if action in ("filter_done", "filter_clear"):
            return filtering  # otherwise enter and escape do their usual work
        if action in ("open_agent", "move"):
            return on_fleet
        return True

    def action_filter_done(self) -> None:
        self.query_one("#filter", Input).display = False
        self.action_move(0)

    def action_filter_clear(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        self.name_filter = ""
        self._apply_filter()
        self._show_status()
        self.action_filter_done()

    def action_help(self) -> None:
        from agentmon.tui.help_screen import HelpScreen

        self.push_screen(HelpScreen())

    def action_hosts(self) -> None:
        from agentmon.tui.hosts_screen import HostsScreen

        self.push_screen(HostsScreen())

    def action_quarantine(self) -> None:
        from agentmon.tui.quarantine_screen import QuarantineScreen

        self.push_screen(QuarantineScreen())

    def action_export(self) -> None:
        self.export_csv()

    @work(thread=True, exclusive=True, group="export")
    def export_csv(self) -> Path | None:
        """The agents on screen, in the current window: the file `agentmon export` writes."""
        from agentmon.report.export import rows, write_csv

        now = self.clock()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
        name = f"agentmon-{self.window}-{stamp}.csv"
        try:
            header, body = self.read(lambda conn: rows(conn, "agent", self.window, now, self.limits_for))
            needle = self.name_filter.lower()
            body = [row for row in body if needle in row[0].lower()]
            path = self._write_export(name, header, body, write_csv)
        except (OSError, AgentmonError, sqlite3.Error) as e:
            self.call_from_thread(self.notify, f"export failed: {e}", severity="error")
            return None
        self.call_from_thread(self.notify, f"exported {len(body)} agents to {path}", timeout=8)
        return path

    def _write_export(self, name: str, header, body, write_csv) -> Path:
        """Into the current directory, else (read-only, say) the user data directory."""

        def write(directory: Path) -> Path:
            directory.mkdir(parents=True, exist_ok=True)
            with open(directory / name, "w", newline="", encoding="utf-8") as f:
                write_csv(f, header, body)
            return directory / name

        if self.export_dir is not None:
            return write(self.export_dir)
        try:
            return write(Path.cwd())
        except OSError:
            import platformdirs

            return write(Path(platformdirs.user_data_dir("agentmon")))


def _ingest_mode(session: IngestSession) -> str:
    """The ingest worker's words on the status line: following is the normal state and needs none."""
    if session.receiver_error is not None:
        return f"OTLP receiver not started: {session.receiver_error.strerror}"
    if session.receiver is not None:
        return f"OTLP on :{session.receiver.server_port}"
    return ""
