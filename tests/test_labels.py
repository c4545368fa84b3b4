"""`agentmon label`: a person's outcome keeps the task at its own end, wins over the logs, and survives a re-read."""

import json
import shutil
import sqlite3
import time

from click.testing import CliRunner
from conftest import FIXTURES, agents, cli

from agentmon.cli import main
from agentmon.config import labels_path
from agentmon.report.periods import range_snapshot
from agentmon.store.writer import connect

PROJECTS = FIXTURES / "claude-code" / "projects"
CLAUDE = "claude-code:/work/demo"
JAN = 1_768_000_000.0  # 2026-01-09T23:06:40Z
JAN_START, FEB_START = 1_767_225_600.0, 1_769_904_000.0  # 2026-01-01, 2026-02-01 UTC


def january_log(tmp_path):
    """A native task from January that ended without an outcome, and one still open."""
    logs = tmp_path / "logs"
    logs.mkdir()
    events = [
        {"ts": JAN, "agent": "bot", "event": "task_start", "task": "jan"},
        {"ts": JAN + 5, "agent": "bot", "event": "tool_call", "task": "jan", "tool": "x", "ok": True},
        {"ts": JAN + 60, "agent": "bot", "event": "task_end", "task": "jan", "outcome": "unknown"},
        {"ts": JAN + 100, "agent": "bot", "event": "task_start", "task": "open"},
        {"ts": JAN + 130, "agent": "bot", "event": "tool_call", "task": "open", "tool": "x", "ok": True},
    ]
    (logs / "bot.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return logs


def task(db, agent, name) -> dict:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    return dict(conn.execute("SELECT * FROM tasks WHERE agent = ? AND task = ?", (agent, name)).fetchone())


def january(db) -> dict:
    conn = connect(db, readonly=True)
    return {a["agent"]: a for a in range_snapshot(conn, JAN_START, FEB_START)["agents"]}


def test_a_task_from_january_labelled_now_stays_in_january(tmp_path):
    logs, db = january_log(tmp_path), tmp_path / "a.db"
    cli("ingest", logs, "--db", db)
    assert january(db)["bot"]["task_success_rate"] is None  # ended, but without an outcome
    before = time.time()
    cli("label", "bot", "jan", "success", "--db", db)
    (line,) = labels_path(db).read_text().splitlines()
    event = json.loads(line)
    assert event["ts"] == JAN + 60 and before <= event["labeled_at"] <= time.time() + 1  # its own end; now
    cli("ingest", logs, "--db", db)
    t = task(db, "bot", "jan")
    assert (t["outcome"], t["end_ts"], t["labeled_at"]) == ("success", JAN + 60, event["labeled_at"])
    a = january(db)["bot"]
    assert (a["tasks"], a["successes"], a["unlabeled_tasks"], a["task_success_rate"]) == (1, 1, 0, 1.0)
    assert agents(db, "1h")["bot"]["tasks"] == 0  # not moved to the hour it was labelled in
    assert agents(db, "24h")["bot"]["tasks"] == 0


def test_an_open_task_is_labelled_at_its_last_event(tmp_path):
    logs, db = january_log(tmp_path), tmp_path / "a.db"
    cli("ingest", logs, "--db", db)
    cli("label", "bot", "open", "failure", "--reason", "wrong answer", "--db", db)
    assert json.loads(labels_path(db).read_text())["ts"] == JAN + 130
    cli("ingest", logs, "--db", db)
    t = task(db, "bot", "open")
    assert (t["outcome"], t["end_ts"], t["reason"]) == ("failure", JAN + 130, "wrong answer")
    assert january(db)["bot"]["tasks"] == 2


def test_a_logged_end_after_the_label_keeps_the_label(tmp_path):
    logs, db = january_log(tmp_path), tmp_path / "a.db"
    cli("ingest", logs, "--db", db)
    cli("label", "bot", "open", "success", "--db", db)
    with open(logs / "bot.jsonl", "a") as f:  # the agent's own end comes later, and says otherwise
        f.write(
            json.dumps({"ts": JAN + 200, "agent": "bot", "event": "task_end", "task": "open", "outcome": "failure"})
        )
        f.write("\n")
    cli("ingest", logs, "--db", db)
    t = task(db, "bot", "open")
    assert (t["outcome"], t["end_ts"]) == ("success", JAN + 200)  # the label wins; the end is the logged one


def test_the_latest_label_wins_in_any_order_of_lines(tmp_path):
    logs, db = january_log(tmp_path), tmp_path / "a.db"
    cli("ingest", logs, "--db", db)
    label = lambda outcome, at: {
        "ts": JAN + 60,
        "agent": "bot",
        "event": "task_end",
        "task": "jan",
        "outcome": outcome,
        "labeled_at": at,
    }
    # Written out of order (two labels files merged by hand): the later labelled_at wins, not the later line.
    lines = [label("success", JAN + 9e6), label("failure", JAN + 1e6)]
    labels_path(db).write_text("".join(json.dumps(e) + "\n" for e in lines))
    cli("ingest", logs, "--db", db)
    assert task(db, "bot", "jan")["outcome"] == "success"


def test_labels_survive_a_fresh_database_reading_the_logs_again(tmp_path):
    projects = tmp_path / "projects"
    shutil.copytree(PROJECTS, projects)
    first, fresh = tmp_path / "first" / "a.db", tmp_path / "fresh" / "a.db"
    cli("ingest", projects, "--db", first)
    cli("label", CLAUDE, "p1", "failure", "--db", first)
    cli("label", CLAUDE, "p2", "success", "--db", first)
    cli("label", CLAUDE, "p1", "success", "--reason", "fixed after all", "--db", first)  # the latest wins
    cli("ingest", projects, "--db", first)
    fresh.parent.mkdir()
    shutil.copy(labels_path(first), labels_path(fresh))  # the labels file travels with the database
    cli("ingest", projects, "--db", fresh)

    def outcomes(db):
        conn = sqlite3.connect(db)
        return conn.execute("SELECT task, outcome, reason, end_ts, labeled_at FROM tasks ORDER BY task").fetchall()

    assert outcomes(fresh) == outcomes(first)
    assert [r[1] for r in outcomes(fresh)] == ["success", "success", "unknown"]
    for db in (first, fresh):
        a = agents(db)[CLAUDE]
        assert (a["tasks"], a["successes"], a["unlabeled_tasks"], a["task_success_rate"]) == (3, 2, 1, 1.0)


def test_labelling_a_task_the_database_does_not_have_fails_in_our_words(tmp_path):
    logs, db = january_log(tmp_path), tmp_path / "a.db"
    cli("ingest", logs, "--db", db)
    result = CliRunner().invoke(main, ["label", "bot", "nope", "success", "--db", str(db)])
    assert result.exit_code == 1 and "no task 'nope' of agent 'bot'" in result.output
    assert not labels_path(db).exists()
