"""A progress line for a long `agentmon ingest` at a terminal: what it has read of what it found.

A first read of a large ~/.claude/projects, or of a host's backlog, takes seconds to minutes; at a
terminal, silence that long looks like a hang. Nothing is printed for a run shorter than a second,
nor when stderr is not a terminal (cron, CI, a pipe), and the line is erased when the run ends.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

DELAY_SECONDS = 1.0
EVERY_SECONDS = 0.5


def megabytes(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


class Progress:
    """While open, every half second: `agentmon: read 1.2 GB of 3.0 GB (40%), 250,000 lines`."""

    def __init__(self, stats: Callable[[], list], stream=None):
        self.stats = stats  # the IngestStats of every ingester of the run, read (not written) from a thread
        self.stream = stream or sys.stderr
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shown = False

    def __enter__(self) -> Progress:
        if self.stream.isatty():
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def line(self) -> str:
        stats = self.stats()
        read = sum(s.read for s in stats)
        total = max(read, sum(s.to_read for s in stats))
        lines = sum(s.lines for s in stats)
        share = f" ({read / total:.0%})" if total else ""
        return f"agentmon: read {megabytes(read)} of {megabytes(total)}{share}, {lines:,} lines"

    def _run(self) -> None:
        if self._stop.wait(DELAY_SECONDS):
            return
        while True:
            self.stream.write("\r\x1b[K" + self.line())
            self.stream.flush()
            self._shown = True
            if self._stop.wait(EVERY_SECONDS):
                return
