"""Bounded windows: outcomes by the task's end, leading signals by their own timestamps."""

import json

import pytest
from conftest import agents, ingest

NOW = 1_780_000_000.0
HOUR = 3600


def ev(ts, event, task, **fields):
    return json.dumps({"ts": NOW + ts, "agent": "a", "event": event, "task": task, **fields}) + "\n"


@pytest.fixture
def windowed_db(db, logs):
    (logs / "a.jsonl").write_text(
        "".join(
            [
                # t1: started 3 days ago, ended 2 days ago
                ev(-3 * 86400, "task_start", "t1"),
                ev(-2 * 86400, "task_end", "t1", outcome="success"),
                # t2: started 30 h ago, escalated 20 h ago, ended 30 min ago as a failure
                ev(-30 * HOUR, "task_start", "t2"),
                ev(-20 * HOUR, "escalation", "t2"),
                ev(-1800, "task_end", "t2", outcome="failure"),
                ev(-1700, "cost", "t2", cost_usd=0.5),  # after its end: still the cost of t2
                # t3: open, a failed tool call 10 min ago and a rejection 2 min ago
                ev(-900, "task_start", "t3"),
                ev(-600, "tool_call", "t3", tool="x", ok=False),
                ev(-120, "confirmation", "t3", approved=False),
                # a tool call 50 h ago
                ev(-50 * HOUR, "tool_call", "t1", tool="x", ok=True),
            ]
        )
    )
    ingest([logs], db)
    return db


def test_all_time(windowed_db):
    a = agents(windowed_db, "all", NOW)["a"]
    assert (a["tasks"], a["successes"], a["escalation_rate"]) == (2, 1, pytest.approx(1 / 3))
    assert a["tool_error_rate"] == 0.5


def test_last_hour_counts_only_what_happened_in_it(windowed_db):
    a = agents(windowed_db, "1h", NOW)["a"]
    assert (a["tasks"], a["successes"], a["task_success_rate"]) == (1, 0, 0.0)
    assert a["cost_usd"] == 0.5 and a["cost_per_successful_task"] is None
    assert a["escalation_rate"] == 0.0  # t3 was seen in the window; t2's escalation was 20 h ago
    assert (a["tool_calls"], a["tool_error_rate"], a["confirmation_rejection_rate"]) == (1, 1.0, 1.0)


def test_24h_sees_the_escalation_by_its_own_timestamp(windowed_db):
    a = agents(windowed_db, "24h", NOW)["a"]
    assert a["tasks"] == 1
    assert a["escalation_rate"] == 1.0  # 1 escalated task of the 1 task first seen in the last 24 h (t3)


def test_7d_and_empty_windows(windowed_db):
    a = agents(windowed_db, "7d", NOW)["a"]
    assert (a["tasks"], a["successes"], a["tool_calls"]) == (2, 1, 2)
    later = agents(windowed_db, "1h", NOW + 30 * 86400)["a"]  # nothing happened: nulls, not zeros
    assert later["tasks"] == 0
    assert all(
        later[k] is None
        for k in (
            "task_success_rate",
            "autonomy_rate",
            "cost_per_successful_task",
            "escalation_rate",
            "tool_error_rate",
            "confirmation_rejection_rate",
        )
    )


def test_range_reads_compose_hours_and_minutes_exactly(db, logs):
    """[start, end) to the minute: whole hours from hour buckets, ragged edges from minute buckets."""
    import random

    from agentmon.report.metrics import COL, range_rows
    from agentmon.store.writer import connect

    rng = random.Random(3)
    stamps = [NOW - rng.uniform(0, 3 * 86400) for _ in range(3000)]
    (logs / "t.jsonl").write_text(
        "".join(
            json.dumps({"ts": ts, "agent": "a", "event": "tool_call", "task": f"t{i}", "tool": "x", "ok": True}) + "\n"
            for i, ts in enumerate(stamps)
        )
    )
    ingest([logs], db)
    conn = connect(db, readonly=True)
    minute = lambda t: t // 60 * 60
    for _ in range(200):
        start = NOW - rng.uniform(0, 3.2 * 86400)
        end = None if rng.random() < 0.2 else start + rng.uniform(0, 2 * 86400)
        got = sum(r[2 + COL["tool_calls"]] for r in range_rows(conn, start, end))
        expected = sum(1 for ts in stamps if minute(ts) >= minute(start) and (end is None or minute(ts) < minute(end)))
        assert got == expected, (start, end)
