"""One file on one machine, read under two host names (a local path and ssh://localhost, or a host
by its name and by its address), counts once (agentmon.ingest.boot)."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import tool_line, totals

from agentmon.ingest.boot import boot_id
from agentmon.ingest.files import LocalFiles
from agentmon.ingest.ingester import Ingester
from agentmon.ingest.tracking import FOLLOWED_SECONDS
from agentmon.store.writer import Store

pytestmark = pytest.mark.skipif(
    boot_id() is None, reason="this system has no boot id to know one machine by (Linux has one): nothing to test"
)
NOW = 1_790_000_000.0


class Named(LocalFiles):
    """This machine's files, as a remote source names its host."""

    def __init__(self, host: str):
        super().__init__()
        self.host = host


def read(store: Store, logs, host: str = "", now: float = NOW) -> Ingester:
    fs = Named(host) if host else LocalFiles()
    ingester = Ingester(store, [logs], fs=fs, clock=lambda: now)
    ingester.run_once()
    ingester.close()
    return ingester


def hosts_of_files(db) -> dict[str, str]:
    return dict(sqlite3.connect(db).execute("SELECT path, host FROM files WHERE state = 'active'").fetchall())


def test_a_file_already_read_under_another_name_is_not_read_again(db, logs):
    (logs / "a.jsonl").write_bytes(b"".join(tool_line(i) for i in range(50)))
    with Store(db) as store:
        read(store, logs)
        again = read(store, logs, host="web-1")  # the same directory, as ssh://web-1 would show it
        assert "already read: one file on one machine, under two host names, counts once" in again.stats.last_error
        assert again.stats.files == 0
        with open(logs / "a.jsonl", "ab") as f:
            f.write(b"".join(tool_line(i) for i in range(50, 80)))
        read(store, logs, host="web-1", now=NOW + 30)
        read(store, logs, now=NOW + 60)  # the name that reads it goes on reading it
    assert totals(db) == {"lines": 80, "quarantined": 0, "tool_calls": 80}
    assert set(hosts_of_files(db).values()) == {""}


def test_a_name_no_longer_read_hands_its_files_on(db, logs):
    """A source renamed in the configuration (web-1 is now 10.0.0.5): the new name goes on from where
    the old one stopped, rather than counting everything again."""
    (logs / "a.jsonl").write_bytes(b"".join(tool_line(i) for i in range(50)))
    with Store(db) as store:
        read(store, logs, host="web-1")
        with open(logs / "a.jsonl", "ab") as f:
            f.write(b"".join(tool_line(i) for i in range(50, 80)))
        later = NOW + FOLLOWED_SECONDS + 1
        renamed = read(store, logs, host="10.0.0.5", now=later)
        assert renamed.stats.lines == 30 and renamed.stats.last_error is None
        read(store, logs, host="web-1", now=later + 1)  # the old name, back: the file is the new name's now
    assert totals(db) == {"lines": 80, "quarantined": 0, "tool_calls": 80}
    assert set(hosts_of_files(db).values()) == {"10.0.0.5"}


def test_a_record_whose_file_changed_is_not_taken_over(db, logs):
    (logs / "a.jsonl").write_bytes(b"".join(tool_line(i) for i in range(50)))
    with Store(db) as store:
        read(store, logs, host="web-1")
        with open(logs / "a.jsonl", "r+b") as f:  # rewritten in place since: not what web-1 counted
            f.write(b"".join(tool_line(i, task="other") for i in range(10)))
        read(store, logs, host="10.0.0.5", now=NOW + FOLLOWED_SECONDS + 1)
    rows = sqlite3.connect(db).execute("SELECT host, state FROM files ORDER BY id").fetchall()
    assert rows == [("web-1", "gone"), ("10.0.0.5", "active")]
