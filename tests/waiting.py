"""Waiting for a state (a row committed, a process started, a port open), never for a length of time:
a loaded machine is slow, not wrong. The deadlines are generous because they are only reached on failure."""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

DEADLINE = 60.0  # seconds: a busy two-core machine, not a hang


def wait_for(check: Callable[[], T], timeout: float = DEADLINE, every: float = 0.02) -> T:
    """Poll `check` until it returns something true, or the deadline passes: its last answer either way."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


async def wait_in_app(pilot, check: Callable[[], T], timeout: float = DEADLINE, every: float = 0.05) -> T:
    """`wait_for` inside a running Textual app: the app goes on running between checks; an app that has
    stopped (an exception in it) is not waited for."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline or not pilot.app.is_running:
            return value
        await pilot.pause(every)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


def count(db: Path, sql: str) -> int:
    """One number from `db`, read as another process would: 0 before the database or its schema exists."""
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=DEADLINE)
        try:
            row = conn.execute(sql).fetchone()
        finally:
            conn.close()
    except sqlite3.OperationalError:  # not created yet
        return 0
    return row[0] if row and row[0] else 0


def committed_lines(db: Path) -> int:
    """The lines ingesters have committed to `db` so far."""
    return count(db, "SELECT lines FROM ingest_totals")


def children(pid: int) -> list[int] | None:
    """The pids of a process's children (from every one of its threads), or None where /proc cannot say."""
    if not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists():
        return None
    found = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except OSError:  # it ended meanwhile
        pass
    return found


def ended(pid: int) -> bool:
    """The process is gone, or a zombie waiting for its parent to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
