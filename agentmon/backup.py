"""`agentmon backup`: a consistent copy of a database while an ingester writes to it.

SQLite's online backup API, from a read-only connection: with the whole copy in one step it holds one read
transaction, so the copy is the database as of one commit, and in WAL mode the writer is not held up. The
copy is written beside the target and renamed onto it, so a backup that fails leaves the last one whole.
The labels file goes with it: a re-read of the logs into a fresh database needs it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from agentmon.config import labels_path
from agentmon.store.writer import connect


def backup(db: Path, target: Path) -> int:
    """Copy `db` (and its labels file, up to its last whole line) to `target`; the number of tasks copied."""
    target = target.expanduser()
    if target.exists() and target.resolve() == db.resolve():
        raise ValueError(f"{target} is the database itself")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    source = connect(db, readonly=True)
    try:
        partial.unlink(missing_ok=True)
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)
            (tasks,) = copy.execute("SELECT count(*) FROM tasks").fetchone()
        finally:
            copy.close()
        os.chmod(partial, os.stat(db).st_mode & 0o777)
        labels = labels_path(db)
        if labels.exists():
            data = labels.read_bytes()
            target_labels = labels_path(target)
            partial_labels = target_labels.with_name(f".{target_labels.name}.partial")
            partial_labels.write_bytes(data[: data.rfind(b"\n") + 1])
            os.replace(partial_labels, target_labels)
        os.replace(partial, target)
    finally:
        source.close()
        partial.unlink(missing_ok=True)
    return int(tasks)
