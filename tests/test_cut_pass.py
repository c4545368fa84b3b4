"""A pass stopped halfway (quitting, a signal) ends no idle task: the lines it left unread may be those
tasks' (a subagent's file is read after its session's), and the next pass, reading them, ends them as one
uninterrupted pass would."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agentmon.ingest.ingester import Ingester
from agentmon.session import IngestSession
from agentmon.simulate.workload import claude_code_transcripts
from agentmon.store.writer import Store

NOW = 1_790_000_000.0  # after every simulated line: every task is idle by then


class StopAfter:
    """Set once the drain has asked `checks` times (before each file and each chunk)."""

    def __init__(self, checks: int) -> None:
        self.checks = checks

    def is_set(self) -> bool:
        self.checks -= 1
        return self.checks < 0


def read(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT lines FROM ingest_totals").fetchone()[0]


def tasks(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT * FROM tasks ORDER BY agent, task").fetchall()


def still_open(db: Path) -> int:
    """Tasks with no end yet: a session's last prompt's, until the idle sweep ends it."""
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM tasks WHERE end_ts IS NULL").fetchone()[0]


def test_a_cut_pass_ends_no_idle_task_and_the_next_ends_them_as_one_pass_would(tmp_path):
    projects = tmp_path / "projects"
    lines = claude_code_transcripts(projects, 1_500_000)
    assert any(projects.rglob("subagents/*.jsonl"))
    with Store(tmp_path / "clean.db") as store:
        Ingester(store, [projects], clock=lambda: NOW).run_once()
    assert still_open(tmp_path / "clean.db") == 0
    db = tmp_path / "agentmon.db"
    with Store(db) as store:
        ingester = Ingester(store, [projects], batch_lines=200, clock=lambda: NOW)
        ingester.stop = StopAfter(8)  # type: ignore[assignment]
        ingester.run_once()
    assert still_open(db) > 0 and read(db) < lines
    with Store(db) as store:
        Ingester(store, [projects], clock=lambda: NOW).run_once()
    assert tasks(db) == tasks(tmp_path / "clean.db")


def test_a_session_stopped_during_its_pass_ends_no_idle_task(tmp_path):
    projects = tmp_path / "projects"
    lines = claude_code_transcripts(projects, 600_000)
    session = IngestSession(tmp_path / "agentmon.db", [projects], clock=lambda: NOW)
    with session:
        assert session.ingester is not None
        session.ingester.stop = StopAfter(8)  # type: ignore[assignment]
        session.run_once()
    assert still_open(tmp_path / "agentmon.db") > 0 and read(tmp_path / "agentmon.db") < lines
    with IngestSession(tmp_path / "agentmon.db", [projects], clock=lambda: NOW) as session:
        session.run_once()
    assert still_open(tmp_path / "agentmon.db") == 0
