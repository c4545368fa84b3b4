"""Eval results: the latest result of each case in a run, and each run's counts kept beside them."""

from __future__ import annotations

import sqlite3

from agentmon.events import EvalResult


def apply_eval(conn: sqlite3.Connection, ev: EvalResult, ts: float) -> None:
    """Keep the latest result of each case in a run (ties: a failure wins), and its run's counts."""
    run = ev.run or ""
    key = (ev.agent, ev.suite, run, ev.case)
    old = conn.execute(
        'SELECT passed, ts, critical FROM eval_results WHERE agent = ? AND suite = ? AND run = ? AND "case" = ?',
        key,
    ).fetchone()
    passed, critical = int(ev.passed), int(ev.critical)
    conn.execute(
        "INSERT INTO eval_runs (agent, suite, run, newest_ts, cases, passed, critical_failed, agent_version)"
        " VALUES (?, ?, ?, ?, 0, 0, 0, ?) ON CONFLICT DO UPDATE SET"
        " newest_ts = max(newest_ts, excluded.newest_ts),"
        " agent_version = CASE WHEN excluded.newest_ts >= newest_ts"
        "   THEN coalesce(excluded.agent_version, agent_version) ELSE agent_version END",
        (ev.agent, ev.suite, run, ts, ev.agent_version),
    )
    if old is not None and (ts, -passed) <= (old[1], -old[0]):
        return
    d_cases = 0 if old else 1
    d_passed = passed - (old[0] if old else 0)
    d_crit = (critical and not passed) - ((old[2] and not old[0]) if old else 0)
    conn.execute(
        'INSERT OR REPLACE INTO eval_results (agent, suite, run, "case", passed, ts, critical, agent_version)'
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (*key, passed, ts, critical, ev.agent_version),
    )
    conn.execute(
        "UPDATE eval_runs SET cases = cases + ?, passed = passed + ?, critical_failed = critical_failed + ?"
        " WHERE agent = ? AND suite = ? AND run = ?",
        (d_cases, d_passed, int(d_crit), ev.agent, ev.suite, run),
    )
