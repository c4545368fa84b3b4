"""A person's outcome for a task: a native task_end appended to the labels file beside the database.

Every ingest of the database reads that file (agentmon.session), so a label counts once, survives a
re-read of the logs into a fresh database, and the latest label of a task wins (agentmon.store.taskstate).
The event keeps the task's own end as its time and says when it was labelled in `labeled_at`: a task from
January labelled today stays in January's window.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from agentmon.config import labels_path
from agentmon.errors import AgentmonError
from agentmon.store.taskstate import REASON_CHARS

OUTCOMES = ("success", "failure", "abandoned")


def label_event(conn: sqlite3.Connection, agent: str, task: str, outcome: str, reason: str | None, now: float) -> dict:
    """The task_end that labels the task: at its end, or its last event while it is still open."""
    row = conn.execute("SELECT end_ts, last_ts FROM tasks WHERE agent = ? AND task = ?", (agent, task)).fetchone()
    if row is None:
        raise AgentmonError(f"no task {task!r} of agent {agent!r}")
    end_ts, last_ts = row
    event: dict = {
        "ts": end_ts if end_ts is not None else last_ts,  # the stored float, exactly: JSON keeps every bit
        "agent": agent,
        "event": "task_end",
        "task": task,
        "outcome": outcome,
        "labeled_at": now,  # full precision: two labels in a row keep their order
    }
    if reason:
        event["reason"] = reason[:REASON_CHARS]
    return event


def append_label(
    conn: sqlite3.Connection,
    db_file: Path,
    agent: str,
    task: str,
    outcome: str,
    reason: str | None = None,
    now: float | None = None,
) -> Path:
    """Label the task; returns the labels file. AgentmonError when the database has no such task."""
    if outcome not in OUTCOMES:
        raise AgentmonError(f"not an outcome: {outcome!r} (one of {', '.join(OUTCOMES)})")
    event = label_event(conn, agent, task, outcome, reason, time.time() if now is None else now)
    path = labels_path(db_file)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(event) + "\n")  # one write of one line: a reader never sees half of it
    return path
