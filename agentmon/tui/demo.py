"""`agentmon demo`: the monitor on a simulated fleet that writes logs while you watch."""

from __future__ import annotations

import threading
from pathlib import Path

from agentmon.simulate.demo import DemoFleet
from agentmon.tui.app import AgentmonApp


class DemoApp(AgentmonApp):
    """The monitor following a DemoFleet's logs under `root`; the fleet writes until the app ends."""

    def __init__(self, root: Path, **kwargs):
        kwargs.setdefault("window", "1h")
        super().__init__(root / "demo.db", [root / "logs"], banner="demo", **kwargs)
        self.fleet = DemoFleet(root / "logs", clock=self.clock)  # the app's clock: tests replay the minutes
        self.fleet.start()  # the last two hours, before the first paint
        self.stop_fleet = threading.Event()
        self._writer = threading.Thread(target=self.fleet.run, args=(self.stop_fleet,), daemon=True)

    def on_mount(self) -> None:
        super().on_mount()
        self._writer.start()

    def on_unmount(self) -> None:
        super().on_unmount()
        self.stop_fleet.set()
