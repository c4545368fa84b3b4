"""A value the store cannot take stops nothing: its line is quarantined with file, offset and reason, every
other line is stored once, and a rerun changes nothing. The store's own failures (a full disk) still stop."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ingest, tool_line, totals

import agentmon.store.apply
from agentmon.cli import main
from agentmon.errors import AgentmonError
from agentmon.ingest import commits
from agentmon.ingest.ingester import Ingester
from agentmon.simulate.workload import claude_code_transcripts
from agentmon.store.writer import Store

CURSED = "t-1234"  # the task whose event the store cannot take


@pytest.fixture
def cursed_store(monkeypatch):
    """The store raises, as for a number SQLite cannot hold, when it folds CURSED's events."""
    fold_all = agentmon.store.apply.fold_all

    def fold_or_overflow(state, events):
        if state.task == CURSED:
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return fold_all(state, events)

    monkeypatch.setattr(agentmon.store.apply, "fold_all", fold_or_overflow)


def write_log(path: Path, first: int, n: int) -> dict[str, int]:
    """n tool calls, one task each; the offset of each task's line."""
    offsets, data = {}, b""
    for i in range(first, first + n):
        offsets[f"t-{i}"] = len(data)
        data += tool_line(i, task=f"t-{i}")
    path.write_bytes(data)
    return offsets


def quarantined(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT path, offset, reason FROM quarantine").fetchall()


def test_a_line_the_store_cannot_take_is_quarantined_and_the_ingest_goes_on(tmp_path, cursed_store):
    logs, db = tmp_path / "logs", tmp_path / "agentmon.db"
    logs.mkdir()
    write_log(logs / "a.jsonl", 0, 1000)  # in the same batch as the cursed line, in another file
    offsets = write_log(logs / "b.jsonl", 1000, 3000)
    result = CliRunner().invoke(main, ["ingest", str(logs), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "4000 lines, 3999 events, 1 quarantined, 2 files" in result.output
    assert f"{logs / 'b.jsonl'}:{offsets[CURSED]}: could not be stored: OverflowError: Python int too large" in (
        result.output
    )
    expected = [
        (
            str(logs / "b.jsonl"),
            offsets[CURSED],
            "could not be stored: OverflowError: Python int too large to convert to SQLite INTEGER",
        )
    ]
    assert quarantined(db) == expected
    assert totals(db) == {"lines": 4000, "quarantined": 1, "tool_calls": 3999}
    ingest([logs], db)  # a rerun: nothing new, nothing twice
    assert quarantined(db) == expected
    assert totals(db) == {"lines": 4000, "quarantined": 1, "tool_calls": 3999}


def test_lines_of_later_batches_bad_lines_and_appended_lines_go_in_once(tmp_path, cursed_store):
    logs, db = tmp_path / "logs", tmp_path / "agentmon.db"
    logs.mkdir()
    offsets = write_log(logs / "b.jsonl", 0, 5000)
    with open(logs / "b.jsonl", "r+b") as f:  # lines quarantined already, before the cursed one in its chunk
        f.seek(offsets["t-1200"])
        rest = f.read()
        f.seek(offsets["t-1200"])
        f.write(b"not json\n" + b'{"pad": "' + b"x" * 600 + b'"}\n' + rest)
    offset = offsets[CURSED] + 9 + 612
    ingester = ingest([logs], db, batch_lines=700, max_line=500)  # one chunk: bad lines and the cursed one
    assert (ingester.stats.lines, ingester.stats.events, ingester.stats.quarantined) == (5002, 4999, 3)
    reasons = {o: r.split(":")[0] for _, o, r in quarantined(db)}
    assert reasons == {
        offsets["t-1200"]: "not JSON",
        offsets["t-1200"] + 9: "line longer than 500 bytes; skipped to its end",
        offset: "could not be stored",
    }
    with open(logs / "b.jsonl", "ab") as f:
        f.write(b"".join(tool_line(i, task=f"t-{i}") for i in range(5000, 5100)))
    ingest([logs], db, batch_lines=700, max_line=500)
    assert totals(db) == {"lines": 5102, "quarantined": 3, "tool_calls": 5099}


def test_the_stores_own_failure_still_stops_the_ingest(tmp_path, monkeypatch):
    """A full disk is not a line's fault: nothing is quarantined for it, nothing is rehearsed, it stops."""
    logs, db = tmp_path / "logs", tmp_path / "agentmon.db"
    logs.mkdir()
    write_log(logs / "a.jsonl", 0, 100)
    ingest([logs], db)
    with open(logs / "a.jsonl", "ab") as f:  # many more pages than are left
        f.write(b"".join(tool_line(i, task=f"t-{i}") for i in range(100, 20_100)))
    rehearsed = []
    monkeypatch.setattr(Store, "rehearse", lambda store, batch: rehearsed.append(batch))
    with Store(db) as store:
        (pages,) = store.conn.execute("PRAGMA page_count").fetchone()
        store.conn.execute(f"PRAGMA max_page_count = {pages + 5}")  # the disk is full
        with pytest.raises(AgentmonError, match=f"^cannot write {re.escape(str(db))}: "):
            Ingester(store, [logs]).run_once()
    assert rehearsed == []
    assert totals(db) == {"lines": 100, "quarantined": 0, "tool_calls": 100}
    assert quarantined(db) == []


CHILD_CURSE = """
import agentmon.store.apply as apply

_fold_all = apply.fold_all


def fold_all(state, events):
    if any(getattr(ev, "tool", None) == "cursed" for ev, _, _ in events):
        raise OverflowError("Python int too large to convert to SQLite INTEGER")
    return _fold_all(state, events)


apply.fold_all = fold_all
"""


def otlp_lines(n: int, cursed: int) -> bytes:
    """Collector file-exporter lines, a trace each: its agent's span and one tool call."""

    def line(i: int) -> str:
        def span(n: int, op: str, **attrs: str) -> dict:
            return {
                "traceId": f"{i + 1:032x}",
                "spanId": f"{i * 10 + n + 1:016x}",
                "name": op,
                "startTimeUnixNano": str((1_700_000_000 + i) * 10**9),
                "endTimeUnixNano": str((1_700_000_001 + i) * 10**9),
                "attributes": [
                    {"key": k, "value": {"stringValue": v}} for k, v in {"gen_ai.operation.name": op, **attrs}.items()
                ],
            }

        tool = "cursed" if i == cursed else "search"
        spans = [
            span(0, "invoke_agent", **{"gen_ai.agent.name": "otel-agent"}),
            span(1, "execute_tool", **{"gen_ai.tool.name": tool}),
        ]
        return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}) + "\n"

    return "".join(line(i) for i in range(n)).encode()


def test_a_batch_a_commit_process_could_not_take_is_committed_apart(tmp_path, monkeypatch):
    """The commit process hands a batch it cannot take back to the ingester, which has its lines."""
    curse = tmp_path / "curse"
    curse.mkdir()
    (curse / "sitecustomize.py").write_text(CHILD_CURSE)  # the commit process starts cursed too
    monkeypatch.setenv("PYTHONPATH", str(curse))
    monkeypatch.setattr(agentmon.store.apply, "fold_all", agentmon.store.apply.fold_all)  # restored after the test
    exec(CHILD_CURSE, {})  # and this process is cursed alike
    started = []
    start = commits.CommitProcess.start
    monkeypatch.setattr(commits.CommitProcess, "start", lambda store: started.append(1) or start(store))
    logs, db = tmp_path / "logs", tmp_path / "agentmon.db"
    logs.mkdir()
    data = otlp_lines(2000, cursed=1234)
    (logs / "otel.jsonl").write_bytes(data)
    with Store(db) as store:
        ingester = Ingester(store, [logs], batch_lines=300)
        ingester.parallel_bytes = 0
        ingester.run_once()
        ingester.close()
    assert started
    offset = len(otlp_lines(1234, cursed=-1))
    assert quarantined(db) == [
        (
            str(logs / "otel.jsonl"),
            offset,
            "could not be stored: OverflowError: Python int too large to convert to SQLite INTEGER",
        )
    ]
    assert totals(db) == {"lines": 2000, "quarantined": 1, "tool_calls": 1999}
    ingest([logs], db)
    assert totals(db) == {"lines": 2000, "quarantined": 1, "tool_calls": 1999}


def test_claude_code_lines_are_parsed_again_as_a_rerun_would(tmp_path, monkeypatch):
    """Transcripts parse with state (the prompt a line belongs to): their lines are parsed again from the
    chunk's start, as a rerun would, and only the cursed task's lines are left out."""
    projects = tmp_path / "projects"
    claude_code_transcripts(projects, 300_000)
    ingest([projects], tmp_path / "clean.db")
    with sqlite3.connect(tmp_path / "clean.db") as conn:
        clean = conn.execute("SELECT * FROM tasks ORDER BY agent, task").fetchall()
    cursed = clean[len(clean) // 2][1]
    fold_all = agentmon.store.apply.fold_all

    def fold_or_fail(state, events):
        if state.task == cursed:
            raise ValueError("a value out of range")
        return fold_all(state, events)

    monkeypatch.setattr(agentmon.store.apply, "fold_all", fold_or_fail)
    db = tmp_path / "agentmon.db"
    ingester = ingest([projects], db)
    assert ingester.stats.quarantined >= 1 and ingester.stats.lines == totals(tmp_path / "clean.db")["lines"]
    assert {r for _, _, r in quarantined(db)} == {"could not be stored: ValueError: a value out of range"}
    with sqlite3.connect(db) as conn:
        tasks = conn.execute("SELECT * FROM tasks ORDER BY agent, task").fetchall()
    assert [row[:2] for row in tasks] == [row[:2] for row in clean if row[1] != cursed]
    # A quarantined line takes all its events along: the prompt that started the cursed task also ended the
    # task before (which now ends when it goes idle), and the next prompt's line started the task after.
    # Every other task is as a clean ingest leaves it.
    assert len([row for row in tasks if row not in clean]) <= 2
