"""Time filters and the period views of `status` and `export`: `--since/--until`, `--by day|week|month|session`.

Days, weeks (Monday first) and months are UTC and are read from the hour buckets, so a view costs one row
per hour, agent and model in its range, whatever the number of tasks. Sessions are Claude Code's and have no
aggregate of their own: that view reads each task that ended in the range (through the end index) and joins
its session (the prompts' task index, schema m018): its cost grows with the tasks in the range, about 10 µs
a task (a month of heavy use, 3,000 tasks: 50 ms; a million tasks: 10 s).
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta

from agentmon.report.export import AGENT_FIELDS, HOUR_FIELDS, MODEL_FIELDS
from agentmon.report.hosts import remote_sources
from agentmon.report.metrics import LimitsFor, agent_metrics, build, default_limits, ingest_totals, range_rows
from agentmon.report.tasks import CLAUDE_CODE, session_in_id
from agentmon.store.pricing import NANO
from agentmon.store.taskstate import AGG_COLUMNS, COL, WIDTH

PERIODS = ("day", "week", "month", "session")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_time(text: str, now: float, end_of_day: bool = False) -> float:
    """Unix seconds of a `--since`/`--until` value: a duration back from now (`3d`, `12h`, `90m`, `2w`), a
    date (UTC midnight; with `end_of_day`, the next one, so that `--until 2026-11-30` includes that day),
    or an ISO 8601 time (UTC unless it names its offset). ValueError, in our words, for anything else."""
    text = text.strip()
    if m := _DURATION.fullmatch(text):
        return now - float(m.group(1)) * _UNIT[m.group(2)]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"not a time: {text[:40]!r} (a date like 2026-11-01, a time like 2026-11-01T09:30, or 3d, 12h, 90m)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if end_of_day and _DATE.fullmatch(text):
        when += timedelta(days=1)
    return when.timestamp()


def period_of(bucket: float, by: str) -> str:
    """The name of the UTC day (2026-11-30), week (its Monday: 2026-11-30) or month (2026-11) of a time."""
    day = datetime.fromtimestamp(bucket, UTC).date()
    if by == "week":
        day -= timedelta(days=day.weekday())
    return day.strftime("%Y-%m") if by == "month" else day.isoformat()


@dataclass
class PeriodRow:
    period: str  # a day, week, month, or a session id
    tasks: int  # ended in the period
    successes: int
    unlabeled_tasks: int
    labeled_tasks: int  # the success rate's denominator
    task_success_rate: float | None
    cost_usd: float
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    total_tokens: int
    project: str | None = None  # sessions: the project
    first_ts: float | None = None  # sessions: when its first ended task started, and the last ended
    last_ts: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def period_rows(
    conn: sqlite3.Connection,
    by: str,
    start: float | None,
    end: float | None,
    limits_for: LimitsFor = default_limits,
) -> list[PeriodRow]:
    """A row per period (oldest first) or per session (by its last ended task, oldest first)."""
    if by == "session":
        return session_rows(conn, start, end, limits_for)
    per: dict[str, dict[str, list[int]]] = {}
    names: dict[float, str] = {}
    for bucket, agent, *c in _hours(conn, start, end):
        name = names.get(bucket) or names.setdefault(bucket, period_of(bucket, by))
        acc = per.setdefault(name, {}).setdefault(agent, [0] * WIDTH)
        for i, v in enumerate(c):
            acc[i] += v
    return [_row(name, agents, limits_for) for name, agents in per.items()]


def _row(name: str, agents: dict[str, list[int]], limits_for: LimitsFor) -> PeriodRow:
    """A period's row: each agent's counters under its own definition of success, summed."""
    tasks = successes = unlabeled = labeled = 0
    cost = 0.0
    tokens = [0, 0, 0, 0]
    for agent, c in agents.items():
        limits = limits_for(agent)
        if limits.success == "inferred":  # a period's rate counts labelled tasks, as its `labeled_tasks` says
            limits = replace(limits, success="outcome")
        m = build(agent, c, None, limits)
        tasks += m.tasks
        successes += m.successes
        unlabeled += m.unlabeled_tasks
        labeled += m.tasks - m.unlabeled_tasks - m.pending_tasks
        cost += m.cost_usd
        for i, col in enumerate(("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")):
            tokens[i] += c[COL[col]]
    return PeriodRow(
        period=name,
        tasks=tasks,
        successes=successes,
        unlabeled_tasks=unlabeled,
        labeled_tasks=labeled,
        task_success_rate=successes / labeled if labeled else None,
        cost_usd=cost,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cache_read_tokens=tokens[2],
        cache_write_tokens=tokens[3],
        total_tokens=sum(tokens),
    )


def _success(outcome: str | None, escalations: int, human_steps: int, definition: str) -> bool:
    if outcome != "success":
        return False
    if definition == "no_escalation":
        return not escalations
    if definition == "no_human_step":
        return not (escalations or human_steps)
    return True


def session_rows(
    conn: sqlite3.Connection,
    start: float | None,
    end: float | None,
    limits_for: LimitsFor = default_limits,
) -> list[PeriodRow]:
    """A row per Claude Code session with tasks that ended in [start, end), by its last one, oldest first."""
    sql = (
        "SELECT coalesce(p.session, char(0) || t.task), min(t.first_ts), max(t.end_ts), count(*),"
        " sum(t.outcome = 'success'), sum(t.outcome = 'success' AND t.escalations = 0),"
        " sum(t.outcome = 'success' AND t.escalations = 0 AND t.confirmations + t.interventions = 0),"
        " sum(t.outcome = 'unknown'), sum(t.cost_nanos), sum(t.input_tokens), sum(t.output_tokens),"
        " sum(t.cache_read_tokens), sum(t.cache_write_tokens) FROM tasks AS t"
        # from a time: through the end index; the whole history: in the table's order, twice as fast
        + ("" if start is None else " INDEXED BY tasks_by_end")
        + " LEFT JOIN session_prompts AS p ON p.task = t.task"
        " WHERE t.agent = ? AND t.end_ts >= ?" + ("" if end is None else " AND t.end_ts < ?") + " GROUP BY 1"
    )
    bounds = (-1.0 if start is None else start, *(() if end is None else (end,)))
    acc: dict[str, dict] = {}
    for (agent,) in conn.execute("SELECT agent FROM agents").fetchall():
        if not agent.startswith(CLAUDE_CODE):
            continue
        limits = limits_for(agent)
        # By session, success counts the labelled tasks' (an inferred one is kept only in the aggregates).
        pick = {"outcome": 0, "no_escalation": 1, "no_human_step": 2, "inferred": 0}[limits.success]
        for key, first, last, tasks, *successes, unlabeled, nanos, i, o, r, w in conn.execute(sql, (agent, *bounds)):
            # A task with no stored prompt (lines before the first one) names its session in its id.
            session = session_in_id(key[1:]) if key.startswith("\0") else key
            if session is None:
                continue
            s = acc.get(session)
            if s is None:
                s = acc[session] = {"project": agent[len(CLAUDE_CODE) :], "first": first, "last": last, "c": [0] * 8}
            s["first"], s["last"] = min(s["first"], first), max(s["last"], last)
            values = (tasks, successes[pick], unlabeled, nanos + round(limits.infra_cost_per_task * NANO) * tasks)
            for j, v in enumerate((*values, i, o, r, w)):
                s["c"][j] += v
    out = []
    for session, s in sorted(acc.items(), key=lambda kv: (kv[1]["last"], kv[0])):
        tasks, successes, unlabeled, nanos, *tokens = s["c"]
        labeled = tasks - unlabeled
        out.append(
            PeriodRow(
                period=session,
                tasks=tasks,
                successes=successes,
                unlabeled_tasks=unlabeled,
                labeled_tasks=labeled,
                task_success_rate=successes / labeled if labeled else None,
                cost_usd=nanos / NANO,
                input_tokens=tokens[0],
                output_tokens=tokens[1],
                cache_read_tokens=tokens[2],
                cache_write_tokens=tokens[3],
                total_tokens=sum(tokens),
                project=s["project"],
                first_ts=s["first"],
                last_ts=s["last"],
            )
        )
    return out


def range_snapshot(
    conn: sqlite3.Connection,
    start: float | None,
    end: float | None,
    now: float | None = None,
    limits_for: LimitsFor = default_limits,
) -> dict:
    """The `status --json` document over [start, end) instead of a window (to the minute; no comparison with
    a window before, so no trend or drift in the verdict)."""
    now = time.time() if now is None else now
    rows = range_rows(conn, 0 if start is None else start, end)
    return {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "window": range_name(start, end),
        "since": start,
        "until": end,
        "ingest": ingest_totals(conn),
        "remote_sources": remote_sources(conn, now),
        "agents": [asdict(m) for m in agent_metrics(conn, now=now, rows=rows, limits_for=limits_for)],
    }


def range_name(start: float | None, end: float | None) -> str:
    """`2026-11-01T00:00Z..2026-11-08T00:00Z`, open ends as `…`."""
    shown = lambda t: "…" if t is None else time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(t))
    return f"{shown(start)}..{shown(end)}"


def total_row(rows: list[PeriodRow]) -> PeriodRow:
    """The rows summed: the view's total line."""
    n = lambda f: sum(getattr(r, f) for r in rows)
    return PeriodRow(
        period="total",
        tasks=n("tasks"),
        successes=n("successes"),
        unlabeled_tasks=n("unlabeled_tasks"),
        labeled_tasks=n("labeled_tasks"),
        task_success_rate=n("successes") / n("labeled_tasks") if n("labeled_tasks") else None,
        cost_usd=n("cost_usd"),
        input_tokens=n("input_tokens"),
        output_tokens=n("output_tokens"),
        cache_read_tokens=n("cache_read_tokens"),
        cache_write_tokens=n("cache_write_tokens"),
        total_tokens=n("total_tokens"),
    )


def export_rows(
    conn: sqlite3.Connection,
    by: str,
    start: float | None,
    end: float | None,
    limits_for: LimitsFor = default_limits,
) -> tuple[tuple, list[list]]:
    """`export`'s header and rows over [start, end): by agent, model or hour as `export` writes them for a
    window, or a row per day, week, month or session."""
    if by in PERIODS:
        rows = period_rows(conn, by, start, end, limits_for)
        header = tuple(f for f in PeriodRow.__dataclass_fields__ if by == "session" or f not in SESSION_ONLY)
        return header, [[getattr(r, f) for f in header] for r in rows]
    if by == "hour":
        return HOUR_FIELDS, _hour_rows(conn, start, end, limits_for)
    agents = agent_metrics(conn, rows=range_rows(conn, 0 if start is None else start, end), limits_for=limits_for)
    if by == "model":
        return MODEL_FIELDS, [[a.agent, *(getattr(m, f) for f in MODEL_FIELDS[1:])] for a in agents for m in a.models]
    return AGENT_FIELDS, [
        [getattr(a, f) if f != "reasons" else "; ".join(a.reasons) for f in AGENT_FIELDS] for a in agents
    ]


SESSION_ONLY = ("project", "first_ts", "last_ts")


def _hour_rows(conn: sqlite3.Connection, start: float | None, end: float | None, limits_for: LimitsFor) -> list[list]:
    per_hour: dict[tuple[int, str], list[int]] = {}
    for bucket, agent, *c in _hours(conn, start, end):
        acc = per_hour.setdefault((bucket, agent), [0] * WIDTH)
        for i, v in enumerate(c):
            acc[i] += v
    return [
        [
            time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(bucket)),
            *(getattr(build(agent, c, None, limits_for(agent)), f) for f in HOUR_FIELDS[1:]),
        ]
        for (bucket, agent), c in per_hour.items()
    ]


def _hours(conn: sqlite3.Connection, start: float | None, end: float | None) -> sqlite3.Cursor:
    """(bucket, agent, *counters) of the hour buckets from the hour of `start` to before `end`, in order."""
    sql = f"SELECT bucket, agent, {', '.join(AGG_COLUMNS)} FROM agg_hour WHERE bucket >= ?"
    params: list[float] = [0 if start is None else start // 3600 * 3600]
    if end is not None:
        sql += " AND bucket < ?"
        params.append(end)
    return conn.execute(sql + " ORDER BY bucket, agent", params)
