"""`agentmon golden export`: production tasks that went wrong, as candidate golden eval cases.

One JSON object per line: what a reviewer needs to turn a task into an eval case (its key, the
outcome and reason, the model, the human steps and tool errors it met, when it ran), and nothing
of its content: agentmon never stored the prompts.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime

FIELDS = (
    "agent",
    "task",
    "key",
    "model",
    "outcome",
    "reason",
    "first_ts",
    "end_ts",
    "escalations",
    "escalation_reason",
    "rejections",
    "rejected_action",
    "interventions",
    "tool_calls",
    "tool_errors",
    "llm_calls",
    "cost_nanos",
)


def candidates(conn: sqlite3.Connection, agent: str, since: float | None) -> Iterator[dict]:
    """The agent's tasks that failed, were abandoned, escalated or had a confirmation rejected."""
    sql = (
        f"SELECT {', '.join(FIELDS)} FROM tasks WHERE agent = ? AND (outcome IN ('failure', 'abandoned')"
        " OR escalations > 0 OR rejections > 0)"
    )
    params: list = [agent]
    if since is not None:
        sql += " AND last_ts >= ?"
        params.append(since)
    for row in conn.execute(sql + " ORDER BY first_ts", params):
        r = dict(zip(FIELDS, row))
        yield {
            "agent": r["agent"],
            "task": r["task"],
            "key": r["key"],
            "model": r["model"],
            "outcome": r["outcome"] or "open",
            "reason": r["reason"],
            "signals": {
                "escalations": r["escalations"],
                "escalation_reason": r["escalation_reason"],
                "rejections": r["rejections"],
                "rejected_action": r["rejected_action"],
                "interventions": r["interventions"],
                "tool_calls": r["tool_calls"],
                "tool_errors": r["tool_errors"],
                "llm_calls": r["llm_calls"],
                "cost_usd": r["cost_nanos"] / 1e9,
            },
            "started": _iso(r["first_ts"]),
            "ended": _iso(r["end_ts"]),
        }


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds")


def write(out, rows: Iterator[dict]) -> int:
    n = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        n += 1
    return n
