"""CSV snapshots of the metrics: by agent, by model or by hour."""

from __future__ import annotations

import csv
import sqlite3
import time
from typing import IO

from agentmon.report.metrics import (
    WINDOWS,
    AgentMetrics,
    LimitsFor,
    ModelMetrics,
    agent_metrics,
    build,
    default_limits,
)
from agentmon.store.taskstate import AGG_COLUMNS
from agentmon.text import csv_safe, literal

AGENT_FIELDS = (
    "agent",
    "verdict",
    "tasks",
    "successes",
    "unlabeled_tasks",
    "pending_tasks",
    "task_success_rate",
    "task_success_rate_source",
    "autonomy_rate",
    "cost_usd",
    "cost_per_successful_task",
    "cost_per_successful_task_basis",
    "escalation_rate",
    "tool_error_rate",
    "confirmation_rejection_rate",
    "permission_denial_rate",
    "api_error_rate",
    "eval_pass_rate",
    "tool_calls",
    "tool_errors",
    "permission_denials",
    "llm_requests",
    "api_errors",
    "api_retries",
    "cost_status",
    "unpriced_llm_calls",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "reasons",
)
MODEL_FIELDS = (
    "agent",
    "model",
    "tasks",
    "successes",
    "task_success_rate",
    "cost_usd",
    "cost_per_successful_task",
    "cost_status",
    "unpriced_llm_calls",
)
HOUR_FIELDS = (
    "hour",
    "agent",
    "tasks",
    "successes",
    "task_success_rate",
    "task_success_rate_source",
    "autonomy_rate",
    "cost_usd",
    "cost_per_successful_task",
    "escalation_rate",
    "tool_error_rate",
    "confirmation_rejection_rate",
    "permission_denial_rate",
    "api_error_rate",
    "tool_calls",
    "tool_errors",
    "cost_status",
    "unpriced_llm_calls",
)
UNPRICED = "unpriced"  # in a cost column, when no call it covers had a price: never 0


def rows(
    conn: sqlite3.Connection,
    by: str,
    window: str,
    now: float | None = None,
    limits_for: LimitsFor = default_limits,
) -> tuple[tuple, list[list]]:
    """Header and rows of the snapshot."""
    if by == "hour":
        return HOUR_FIELDS, _hour_rows(conn, window, now, limits_for)
    agents = agent_metrics(conn, window, now, limits_for=limits_for)
    if by == "model":
        return MODEL_FIELDS, [[a.agent, *(_field(m, f) for f in MODEL_FIELDS[1:])] for a in agents for m in a.models]
    return AGENT_FIELDS, [
        [_field(a, f) if f != "reasons" else "; ".join(a.reasons) for f in AGENT_FIELDS] for a in agents
    ]


def _field(m: AgentMetrics | ModelMetrics, name: str) -> object:
    """A column's value; a cost that no price covers is "unpriced", never 0 (cost_status says which)."""
    if name == "cost_usd" and m.cost_status == "unpriced":
        return UNPRICED
    if (
        name == "cost_per_successful_task"
        and m.cost_per_successful_task is None
        and m.successes
        and m.unpriced_llm_calls
    ):
        return UNPRICED
    return getattr(m, name)


def _hour_rows(conn: sqlite3.Connection, window: str, now: float | None, limits_for: LimitsFor) -> list[list]:
    seconds = WINDOWS[window]
    start = 0 if seconds is None else ((now or time.time()) - seconds) // 3600 * 3600
    per_hour: dict[tuple[int, str], list[int]] = {}
    for bucket, agent, *c in conn.execute(
        f"SELECT bucket, agent, {', '.join(AGG_COLUMNS)} FROM agg_hour WHERE bucket >= ? ORDER BY bucket, agent",
        (start,),
    ):
        acc = per_hour.setdefault((bucket, agent), [0] * len(c))
        for i, v in enumerate(c):
            acc[i] += v
    out = []
    for (bucket, agent), c in per_hour.items():
        m = build(agent, c, None, limits_for(agent))
        out.append([time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(bucket)), *(_field(m, f) for f in HOUR_FIELDS[1:])])
    return out


def write_csv(out: IO[str], header: tuple, body: list[list], for_terminal: bool = False) -> None:
    """Names exactly as logged (but never a formula); for a terminal, also with control characters escaped."""
    w = csv.writer(out)
    w.writerow(header)
    for row in body:
        if for_terminal:
            row = [literal(v) if isinstance(v, str) else v for v in row]
        w.writerow(["" if v is None else csv_safe(v) for v in row])
