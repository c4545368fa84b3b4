"""`agentmon golden export`: production tasks that went wrong, as candidate golden eval cases.

One JSON object per line: what a reviewer needs to turn a task into an eval case (its key, the
outcome and reason, the model, the human steps and tool errors it met, when it ran), and nothing
of its content: agentmon never stored the prompts.

With `inferred`, also the unlabelled tasks that ended without an outcome and whose evidence the rule
says failed (docs/success.md), marked as such: `outcome` stays "unknown", `inferred` is "failure",
with its reason and the evidence it rests on.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime

from agentmon.store.inferred import EVIDENCE, EvidenceRow, infer

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


def candidates(conn: sqlite3.Connection, agent: str, since: float | None, inferred: bool = False) -> Iterator[dict]:
    """The agent's tasks that failed, were abandoned, escalated or had a confirmation rejected; with `inferred`,
    and those that ended unknown, unlabelled, whose evidence the rule says failed."""
    unknown = " OR (outcome = 'unknown' AND labeled_at IS NULL AND ending IS NOT NULL)" if inferred else ""
    sql = (
        f"SELECT {', '.join(FIELDS + EVIDENCE)} FROM tasks WHERE agent = ? AND (outcome IN ('failure', 'abandoned')"
        f" OR escalations > 0 OR rejections > 0{unknown})"
    )
    params: list = [agent]
    if since is not None:
        sql += " AND last_ts >= ?"
        params.append(since)
    for row in conn.execute(sql + " ORDER BY first_ts", params):
        r = dict(zip(FIELDS + EVIDENCE, row))
        evidence = {k: r[k] for k in EVIDENCE}
        verdict, why = infer(EvidenceRow(**evidence)) if r["outcome"] == "unknown" else (None, None)
        if r["outcome"] == "unknown" and verdict != "failure" and not (r["escalations"] or r["rejections"]):
            continue  # came in for its evidence, which says no failure
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
            # What the rule over its evidence says of a task that ended unknown; null otherwise.
            "inferred": verdict if why else None,
            "inferred_reason": why or None,
            "evidence": {k: v for k, v in evidence.items() if v is not None and (v or k != "committed")},
        }


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds")


def write(out, rows: Iterator[dict]) -> int:
    n = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        n += 1
    return n
