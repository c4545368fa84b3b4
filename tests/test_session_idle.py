"""`agentmon ingest` ends the idle Claude Code tasks once every source was read (agentmon.session.IngestSession.
run_once): a task whose lines wait unread on an ssh:// host is not idle, whether the local read was large enough
to commit in a second process (which then ends the idle tasks itself) or not."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agentmon.ingest.ingester import Ingester
from agentmon.session import IngestSession

BASE = 1_772_445_600.0  # 2026-03-02T10:00:00Z
IDLE = 300.0


def transcript(path: Path, session: str, cwd: str, times: list[float]) -> None:
    """A prompt at the first time, then an assistant's words at each other one."""
    lines: list[dict[str, object]] = []
    for i, ts in enumerate(times):
        stamp = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        message = (
            {"role": "user", "content": "do the thing"}
            if i == 0
            else {"model": "claude-sonnet-4-5-20250929", "id": f"m{i}", "content": [{"type": "text", "text": "on it"}]}
        )
        kind = "user" if i == 0 else "assistant"
        lines.append({"sessionId": session, "cwd": cwd, "type": kind, "timestamp": stamp, "uuid": f"{session}-{i}"})
        lines[-1].update(isSidechain=False, message=message)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


class OneHost:
    """What IngestSession.run_once asks of its ssh:// hosts (agentmon.remote.follow.Followers), reading a local
    directory as a host's: each pass reads it to its end, and leaves the idle tasks to the session."""

    def __init__(self, store, root: Path):
        self.ingester = Ingester(store, [root], idle_task_seconds=IDLE)
        self.followers: list = []

    def once(self) -> list[str]:
        self.ingester.scan()
        self.ingester.drain()
        return []

    def close(self) -> None:
        self.ingester.close()


@pytest.mark.parametrize("commit_process", [False, True])
def test_a_task_with_lines_unread_on_a_host_is_not_ended_idle(tmp_path, commit_process):
    local, host, db = tmp_path / "local", tmp_path / "host", tmp_path / "agentmon.db"
    hosted = host / "-remote-app" / "s-remote.jsonl"
    now = [BASE + 10]
    transcript(local / "-local-app" / "s-local-1.jsonl", "s-local-1", "/local/app", [BASE, BASE + 1])
    transcript(hosted, "s-remote", "/remote/app", [BASE, BASE + 1])

    def run_once() -> None:
        session = IngestSession(db, [local], idle_task_seconds=IDLE, clock=lambda: now[0])
        with session:
            assert session.ingester is not None and session.store is not None
            if commit_process:  # the local read is a large one: it commits in a second process
                session.ingester.parallel_bytes = 0
            session.hosts = OneHost(session.store, host)  # type: ignore[assignment]
            session.run_once()

    run_once()
    # The host's task goes on (a line at +250 s, unread yet); the next run comes at +400 s: by what the database
    # holds its task has been idle for 399 s, by what the host holds for 150 s. Local transcripts are new too.
    transcript(hosted, "s-remote", "/remote/app", [BASE, BASE + 1, BASE + 250])
    transcript(local / "-local-app" / "s-local-2.jsonl", "s-local-2", "/local/app", [BASE + 300, BASE + 301])
    now[0] = BASE + 400
    run_once()
    conn = sqlite3.connect(db)
    try:
        ends = dict(conn.execute("SELECT agent, end_ts FROM tasks WHERE agent LIKE '%remote%'").fetchall())
    finally:
        conn.close()
    assert ends == {"claude-code:/remote/app": None}
