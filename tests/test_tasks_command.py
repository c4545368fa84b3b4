"""`agentmon tasks`: the latest tasks, newest first, with their prompts read live from the transcripts."""

import json
import re
import shutil
import sqlite3

import pytest
from conftest import FIXTURES, REALDATA, cli, needs_realdata

from agentmon.report.tasks import PROMPT_CHARS, SIGNALS

PROJECTS = FIXTURES / "claude-code" / "projects"
CLAUDE = "claude-code:/work/demo"
SESSION = "0b1e9a52-aaaa-4bbb-8ccc-000000000001"


def tasks_json(db, *args) -> list[dict]:
    return json.loads(cli("tasks", "--json", "--db", db, *args))


@pytest.fixture
def projects(tmp_path):
    """The fixture transcripts, copied: a test may move them."""
    shutil.copytree(PROJECTS, tmp_path / "projects")
    return tmp_path / "projects"


def test_newest_first_with_session_project_cost_signals_and_prompt(projects, tmp_path):
    db = tmp_path / "a.db"
    cli("ingest", projects, "--db", db)
    rows = tasks_json(db)
    assert [r["task"] for r in rows] == ["p3", "p2", "p1"]  # by end, the latest first
    p1 = rows[2]
    assert (p1["agent"], p1["session"], p1["project"], p1["outcome"]) == (CLAUDE, SESSION, "/work/demo", "unknown")
    assert (p1["duration_s"], p1["end"] - p1["start"]) == (600.0, 600.0)
    stored = sqlite3.connect(db).execute(f"SELECT {', '.join(SIGNALS)} FROM tasks WHERE task = 'p1'").fetchone()
    assert p1["signals"] == dict(zip(SIGNALS, stored)) and p1["signals"]["tool_calls"] == 4
    assert p1["cost_usd"] > 0 and p1["unpriced_llm_calls"] == 0
    assert p1["prompt"] == "fix the failing test in billing"
    assert rows[0]["prompt"] == "thanks, now update the docs"
    text = cli("tasks", "--db", db)
    header, *lines = text.splitlines()
    assert header.split()[:4] == ["TASK", "AGENT", "SESSION", "PROJECT"] and "OUTCOME" in header
    assert lines[2].startswith("p1 ") and lines[2].endswith("fix the failing test in billing")
    assert SESSION[:8] in lines[2] and "failure: the user interrupted it" in lines[2]  # inferred: docs/success.md


def test_a_transcript_saved_under_another_name_still_gives_its_prompts(projects, tmp_path):
    """A shared or exported copy is not named `<session>.jsonl`: its first lines name the session."""
    (transcript,) = [p for p in projects.rglob(f"{SESSION}.jsonl")]
    transcript.rename(transcript.with_name("shared-by-a-colleague.jsonl"))
    db = tmp_path / "a.db"
    cli("ingest", projects, "--db", db)
    prompts = {r["task"]: r["prompt"] for r in tasks_json(db)}
    assert prompts["p1"] == "fix the failing test in billing" and prompts["p3"] == "thanks, now update the docs"


def test_limit_agent_and_unlabeled(projects, tmp_path):
    db = tmp_path / "a.db"
    cli("ingest", projects, "--db", db)
    assert [r["task"] for r in tasks_json(db, "--limit", 1)] == ["p3"]
    assert tasks_json(db, "--agent", "someone-else") == []
    assert cli("tasks", "--agent", "someone-else", "--db", db).strip() == "no tasks"
    cli("label", CLAUDE, "p3", "success", "--db", db)
    cli("ingest", projects, "--db", db)
    assert [r["task"] for r in tasks_json(db, "--unlabeled")] == ["p2", "p1"]
    (p3,) = [r for r in tasks_json(db) if r["task"] == "p3"]
    assert p3["outcome"] == "success" and p3["labeled_at"] is not None
    assert "success (label)" in cli("tasks", "--db", db)


def test_since_and_until_bound_the_tasks_ends(projects, tmp_path):
    db = tmp_path / "a.db"
    cli("ingest", projects, "--db", db)
    # p1 ends 09:10, p2 09:30, p3 10:00 (UTC, 2026-03-02)
    assert [r["task"] for r in tasks_json(db, "--since", "2026-03-02T09:20")] == ["p3", "p2"]
    assert [r["task"] for r in tasks_json(db, "--until", "2026-03-02T09:20")] == ["p1"]
    assert [r["task"] for r in tasks_json(db, "--since", "2026-03-03")] == []
    out = cli("tasks", "--since", "yesterday-ish", "--db", db, code=2)
    assert "not a time: 'yesterday-ish'" in out


def transcript(path, session, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    base = {"sessionId": session, "cwd": "/work/evil", "version": "2.0.76", "isSidechain": False}
    path.write_text("".join(json.dumps({**base, **line}) + "\n" for line in lines))


def prompt_line(uuid, ts, text):
    return {"type": "user", "uuid": uuid, "timestamp": ts, "message": {"role": "user", "content": text}}


HOSTILE = "\x1b[31m[red]rm -rf[/red]\u202e\x07 " + "x" * 100


def test_a_hostile_prompt_is_shown_literally_cut_and_never_stored(tmp_path):
    session = "5e55105e-0000-4000-8000-000000000001"
    transcript(
        tmp_path / "projects" / "-work-evil" / f"{session}.jsonl",
        session,
        [
            prompt_line("u1", "2026-03-02T09:00:00.000Z", HOSTILE),
            prompt_line("u2", "2026-03-02T09:05:00.000Z", [{"type": "text", "text": "  second, in blocks  "}]),
        ],
    )
    db = tmp_path / "a.db"
    cli("ingest", tmp_path / "projects", "--db", db)
    rows = {r["task"]: r for r in tasks_json(db)}
    assert rows["u1"]["prompt"] == HOSTILE[:PROMPT_CHARS] and rows["u2"]["prompt"] == "second, in blocks"
    text = cli("tasks", "--db", db)
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert "\\x1b[31m[red]rm -rf[/red]\\u202e\\x07 xxx" in text
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("a.db*"))
    assert b"rm -rf" not in stored and b"second, in blocks" not in stored  # prompts are never stored


def test_no_prompt_when_the_transcript_is_gone_or_the_task_is_of_another_source(projects, tmp_path):
    db = tmp_path / "a.db"
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "bot.jsonl").write_text(
        json.dumps({"ts": 1_772_442_000, "agent": "bot", "event": "task_start", "task": "native"}) + "\n"
    )
    cli("ingest", projects, logs, "--db", db)
    rows = {r["task"]: r for r in tasks_json(db)}
    assert (rows["native"]["prompt"], rows["native"]["session"], rows["native"]["project"]) == (None, None, None)
    assert rows["native"]["outcome"] is None  # open: listed first
    assert next(iter(rows)) == "native"
    shutil.rmtree(projects)
    rows = tasks_json(db)
    assert [r["prompt"] for r in rows] == [None] * 4 and rows[1]["session"] == SESSION  # known, not readable
    assert "open" in cli("tasks", "--db", db).splitlines()[1]


def test_the_transcript_is_read_only_up_to_the_last_prompt_wanted(tmp_path, monkeypatch):
    session = "5e55105e-0000-4000-8000-000000000002"
    path = tmp_path / "projects" / "-work-evil" / f"{session}.jsonl"
    later = [prompt_line(f"later{i}", f"2026-03-02T10:{i:02d}:00.000Z", "later") for i in range(50)]
    transcript(path, session, [prompt_line("u1", "2026-03-02T09:00:00.000Z", "the first prompt"), *later])
    db = tmp_path / "a.db"
    cli("ingest", tmp_path / "projects", "--db", db)
    read: list[bytes] = []

    class Counted:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def __iter__(self):
            for line in self.f:
                read.append(line)
                yield line

    counted = lambda *a: Counted(open(*a))  # noqa: SIM115 - Counted closes it, as `with` does
    monkeypatch.setattr("agentmon.report.tasks.open", counted, raising=False)
    rows = {r["task"]: r for r in tasks_json(db, "--agent", "claude-code:/work/evil", "--limit", 100)}
    assert rows["u1"]["prompt"] == "the first prompt" and rows["later49"]["prompt"] == "later"
    assert len(read) == 51  # every prompt is wanted: the whole file, once
    read.clear()
    rows = tasks_json(db, "--agent", "claude-code:/work/evil", "--until", "2026-03-02T10:00:30")
    assert [r["task"] for r in rows] == ["u1"] and rows[0]["prompt"] == "the first prompt"
    assert len(read) == 1  # only up to its line


@needs_realdata("Claude Code transcripts", "claude-code")
def test_real_transcripts_show_their_first_prompt(tmp_path):
    """The task id is the prompt line's uuid in real transcripts too; files are named by their session."""
    source = REALDATA / "claude-code" / "A07_cc_ccviewer_init_1af7fc5e.jsonl"
    session = "1af7fc5e-8455-4414-9ccd-011d40f70b2a"  # its name in the repository it came from
    project = tmp_path / "projects" / "sample-project"
    project.mkdir(parents=True)
    shutil.copy(source, project / f"{session}.jsonl")
    db = tmp_path / "a.db"
    cli("ingest", tmp_path / "projects", "--db", db)
    rows = tasks_json(db)
    lines = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    prompts = {o["uuid"]: o["message"]["content"] for o in lines if o.get("type") == "user" and "uuid" in o}
    assert rows and all(r["session"] == session for r in rows)
    for r in rows:
        if r["task"] in prompts:
            content = prompts[r["task"]]
            text = content if isinstance(content, str) else next(b["text"] for b in content if b["type"] == "text")
            assert r["prompt"] == text.strip()[:PROMPT_CHARS]
    assert any(r["prompt"] for r in rows)


def test_from_unlabeled_to_label_to_a_moving_verdict(projects, tmp_path):
    """The loop a person runs: list the tasks without an outcome, label them, and watch the verdict move."""
    db = tmp_path / "a.db"
    cli("ingest", projects, "--db", db)

    def claude():
        (a,) = [a for a in json.loads(cli("status", "--json", "--db", db))["agents"] if a["agent"] == CLAUDE]
        return a

    before = claude()
    assert (before["task_success_rate"], before["unlabeled_tasks"], before["verdict"]) == (0.0, 3, "hold")
    assert before["task_success_rate_source"] == "inferred"  # two inferred failures (docs/success.md)
    assert before["reasons"] == [
        "inferred success not yet checked: label 20 tasks (agentmon tasks --unlabeled --disagreeing)"
    ]
    todo = tasks_json(db, "--unlabeled", "--agent", CLAUDE)
    assert [t["task"] for t in todo] == ["p3", "p2", "p1"]
    for t, outcome in zip(todo, ("success", "success", "failure")):
        cli("label", t["agent"], t["task"], outcome, "--db", db)
    cli("ingest", projects, "--db", db)
    after = claude()
    assert (after["successes"], after["unlabeled_tasks"]) == (2, 0)
    assert after["task_success_rate"] == pytest.approx(2 / 3)
    assert (after["task_success_rate_source"], after["inferred_tasks"]) == ("labels", 0)  # labels win
    assert "without an outcome" not in " ".join(after["reasons"])
    assert tasks_json(db, "--unlabeled") == []
    table = cli("status", "--db", db)
    assert "66.7%" in table and "unlabeled" not in table


def test_listing_reads_through_indexes_never_a_whole_table(projects, tmp_path):
    """Fast on any history: every read of the tasks and the prompts goes through an index (m001's end index,
    m018's prompts by task), so a listing costs its limit, not the database's size."""
    from agentmon.report.periods import session_rows
    from agentmon.report.tasks import add_prompts, list_tasks
    from agentmon.store.writer import connect

    db = tmp_path / "a.db"
    cli("ingest", projects, "--db", db)
    conn = connect(db, readonly=True)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    add_prompts(conn, list_tasks(conn, unlabeled=True, since=0, limit=5))
    list_tasks(conn, disagreeing=True, limit=5)  # ranks a bounded number of the newest, through the index
    session_rows(conn, 0, None)
    conn.set_trace_callback(None)
    reads = [
        s
        for s in statements
        if s.lstrip().startswith("SELECT") and (re.search(r"\btasks\b", s) or "session_prompts" in s)
    ]
    assert len(reads) >= 3
    for sql in reads:
        plan = " | ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
        assert "SCAN tasks" not in plan and "SCAN session_prompts" not in plan and "SCAN t " not in plan, (sql, plan)
        assert "tasks_by_end" in plan or "session_prompts_by_task" in plan, (sql, plan)
