"""--since/--until on `status` and `export`, and `status --by day|week|month|session`."""

import csv
import io
import json
import shutil
import sqlite3
from datetime import UTC, datetime

import pytest
from conftest import FIXTURES, cli

from agentmon.report.periods import parse_time, period_of

NOW = 1_800_000_000.0
PROJECTS = FIXTURES / "claude-code" / "projects"


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# (task, start, end, outcome, cost in USD, input tokens, output tokens): Monday 2 Nov 2026 onwards
TASKS = [
    ("a", "2026-11-02T10:00", "2026-11-02T10:30", "success", 0.5, 100, 10),
    ("b", "2026-11-02T23:50", "2026-11-03T00:10", "failure", 0.25, 200, 20),  # ends the next day
    ("c", "2026-11-03T12:00", "2026-11-03T12:05", "unknown", 1.0, 300, 30),
    ("d", "2026-11-09T08:00", "2026-11-09T09:00", "success", 2.0, 400, 40),  # the next week
    ("e", "2026-12-01T00:00", "2026-12-01T00:01", "success", 4.0, 500, 50),  # the next month
]


@pytest.fixture
def db(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    events = []
    for task, start, end, outcome, cost, i, o in TASKS:
        s, e = at(start), at(end)
        events += [
            {"ts": s, "agent": "bot", "event": "task_start", "task": task},
            {"ts": s + 1, "agent": "bot", "event": "llm_call", "task": task, "model": "m", "input_tokens": i,
             "output_tokens": o, "cache_read_tokens": 1, "cost_usd": cost},
            {"ts": e, "agent": "bot", "event": "task_end", "task": task, "outcome": outcome},
        ]  # fmt: skip
    (logs / "bot.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    path = tmp_path / "a.db"
    cli("ingest", logs, "--db", path)
    return path


def by(db, period, *args) -> dict[str, dict]:
    return {r["period"]: r for r in json.loads(cli("status", "--by", period, "--json", "--db", db, *args))}


def test_times_in_every_form():
    assert parse_time("3d", NOW) == NOW - 3 * 86400
    assert parse_time("12h", NOW) == NOW - 12 * 3600
    assert parse_time("90m", NOW) == NOW - 5400
    assert parse_time("2w", NOW) == NOW - 14 * 86400
    assert parse_time("2026-11-01", NOW) == at("2026-11-01T00:00")  # UTC midnight
    assert parse_time("2026-11-30", NOW, end_of_day=True) == at("2026-12-01T00:00")  # --until includes the day
    assert parse_time("2026-11-01T09:30", NOW, end_of_day=True) == at("2026-11-01T09:30")  # a time is exact
    assert parse_time("2026-11-01T09:30+02:00", NOW) == at("2026-11-01T07:30")
    with pytest.raises(ValueError, match="not a time: 'last tuesday'"):
        parse_time("last tuesday", NOW)
    assert period_of(at("2026-11-08T23:59"), "week") == "2026-11-02"  # a Sunday: its Monday's week
    assert period_of(at("2026-11-09T00:00"), "week") == "2026-11-09"
    assert period_of(at("2026-11-09T00:00"), "month") == "2026-11"


def test_by_day_week_and_month(db):
    days = by(db, "day")
    assert list(days) == ["2026-11-02", "2026-11-03", "2026-11-09", "2026-12-01"]  # by the tasks' ends
    assert (days["2026-11-02"]["tasks"], days["2026-11-02"]["task_success_rate"]) == (1, 1.0)
    nov3 = days["2026-11-03"]
    assert (nov3["tasks"], nov3["successes"], nov3["unlabeled_tasks"], nov3["task_success_rate"]) == (2, 0, 1, 0.0)
    assert nov3["cost_usd"] == pytest.approx(1.25)
    assert (nov3["input_tokens"], nov3["output_tokens"], nov3["cache_read_tokens"]) == (500, 50, 2)
    assert nov3["total_tokens"] == 552
    weeks = by(db, "week")
    assert list(weeks) == ["2026-11-02", "2026-11-09", "2026-11-30"]
    assert (weeks["2026-11-02"]["tasks"], weeks["2026-11-02"]["task_success_rate"]) == (3, 0.5)
    months = by(db, "month")
    assert {m: (r["tasks"], r["successes"]) for m, r in months.items()} == {"2026-11": (4, 2), "2026-12": (1, 1)}
    assert months["2026-11"]["cost_usd"] == pytest.approx(3.75)
    text = cli("status", "--by", "month", "--db", db)
    assert text.splitlines()[0].split()[:4] == ["MONTH", "TASKS", "SUCCESS", "UNLABELED"]
    total = text.splitlines()[-1].split()
    assert total[:3] == ["total", "5", "75.0%"] and "$7.7500" in total


def test_periods_read_the_hour_buckets_not_the_tasks(db, tmp_path):
    before = by(db, "day")
    copy = tmp_path / "copy.db"
    shutil.copy(db, copy)
    conn = sqlite3.connect(copy)
    conn.execute("DELETE FROM tasks")
    conn.commit()
    assert by(copy, "day") == before


def test_since_and_until_on_status_and_by(db):
    doc = json.loads(cli("status", "--json", "--since", "2026-11-03", "--until", "2026-11-09", "--db", db))
    (bot,) = doc["agents"]
    # b, c, and d, which ends on the 9th: --until a date includes that day
    assert (bot["tasks"], bot["successes"], bot["unlabeled_tasks"]) == (3, 1, 1)
    assert doc["window"] == "2026-11-03T00:00Z..2026-11-10T00:00Z"
    assert by(db, "day", "--since", "2026-11-03", "--until", "2026-11-09").keys() == {"2026-11-03", "2026-11-09"}
    assert list(by(db, "month", "--since", "2026-11-05")) == ["2026-11", "2026-12"]
    assert by(db, "month", "--since", "2026-11-05")["2026-11"]["tasks"] == 1
    table = cli("status", "--since", "2026-11-03", "--until", "2026-11-08", "--db", db)
    assert table.startswith("window 2026-11-03T00:00Z..2026-11-09T00:00Z")
    later = json.loads(cli("status", "--json", "--since", "2026-12-02", "--db", db))  # nothing ended since
    assert [a["tasks"] for a in later["agents"]] == [0]


def test_bad_times_and_mixed_windows_are_usage_errors(db):
    assert "not a time: 'soon'" in cli("status", "--since", "soon", "--db", db, code=2)
    assert "--window or --since/--until, not both" in cli(
        "status", "--window", "7d", "--since", "3d", "--db", db, code=2
    )
    out = cli("export", "--csv", "-", "--since", "2026-11-09", "--until", "2026-11-02", "--db", db, code=2)
    assert "--until must be after --since" in out


def test_export_with_since_until_and_periods(db):
    rows = list(csv.DictReader(io.StringIO(cli("export", "--csv", "-", "--since", "2026-11-09", "--db", db))))
    assert [(r["agent"], r["tasks"], r["successes"]) for r in rows] == [("bot", "2", "2")]
    hours = list(
        csv.DictReader(io.StringIO(cli("export", "--csv", "-", "--by", "hour", "--until", "2026-11-02", "--db", db)))
    )
    # a ended at 10:30; b started at 23:50 (a task seen, none ended), and ends on the 3rd
    assert [(r["hour"], r["tasks"]) for r in hours] == [("2026-11-02T10:00:00Z", "1"), ("2026-11-02T23:00:00Z", "0")]
    days = list(csv.DictReader(io.StringIO(cli("export", "--csv", "-", "--by", "day", "--db", db))))
    assert [(r["period"], r["tasks"]) for r in days] == [
        ("2026-11-02", "1"),
        ("2026-11-03", "2"),
        ("2026-11-09", "1"),
        ("2026-12-01", "1"),
    ]
    assert "project" not in days[0]


def test_by_session_counts_each_claude_code_session(tmp_path):
    db = tmp_path / "a.db"
    cli("ingest", PROJECTS, "--db", db)
    cli("label", "claude-code:/work/demo", "p1", "success", "--db", db)
    cli("ingest", PROJECTS, "--db", db)
    (row,) = by(db, "session").values()
    assert (row["period"], row["project"]) == ("0b1e9a52-aaaa-4bbb-8ccc-000000000001", "/work/demo")
    assert (row["tasks"], row["successes"], row["unlabeled_tasks"], row["task_success_rate"]) == (3, 1, 2, 1.0)
    (day,) = by(db, "day").values()
    for k in ("tasks", "successes", "cost_usd", "input_tokens", "output_tokens", "cache_read_tokens", "total_tokens"):
        assert row[k] == pytest.approx(day[k]), k  # the same tasks, summed from the tasks or the hour buckets
    assert by(db, "session", "--since", "2026-03-03") == {}
    assert "no tasks ended in that time" in cli("status", "--by", "session", "--since", "2026-03-03", "--db", db)
    text = cli("status", "--by", "session", "--db", db)
    assert text.splitlines()[0].split()[:3] == ["SESSION", "PROJECT", "TASKS"]
