"""The progress line of a long `agentmon ingest`: at a terminal only, after a second, erased at the end."""

from __future__ import annotations

import io
import time

from waiting import wait_for

from agentmon.ingest import progress
from agentmon.ingest.ingester import IngestStats


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_at_a_terminal_it_says_how_far_the_read_is_and_then_erases_itself(monkeypatch):
    monkeypatch.setattr(progress, "DELAY_SECONDS", 0.01)
    monkeypatch.setattr(progress, "EVERY_SECONDS", 0.01)
    stats = [IngestStats(to_read=3_000_000_000, read=1_200_000_000, lines=250_000), IngestStats(to_read=20_000_000)]
    out = Terminal()
    with progress.Progress(lambda: stats, out):
        assert wait_for(lambda: "250,000 lines" in out.getvalue())
    text = out.getvalue()
    assert "agentmon: read 1.2 GB of 3.0 GB (40%), 250,000 lines" in text
    assert text.startswith("\r\x1b[K") and text.endswith("\r\x1b[K")  # nothing left on the line


def test_not_at_a_terminal_or_not_for_long_it_says_nothing(monkeypatch):
    stats = [IngestStats(to_read=100, read=50)]
    out = io.StringIO()
    with progress.Progress(lambda: stats, out):
        time.sleep(0.05)  # time in which a terminal would have been written to: this one must not be
    quick = Terminal()
    with progress.Progress(lambda: stats, quick):  # done within the first second
        pass
    assert out.getvalue() == "" and quick.getvalue() == ""
