"""What the live monitor shows, read from the aggregates: a pure function of the database.

The TUI renders these dataclasses and nothing else, so everything on screen can be
tested without a terminal, and no read scans the history.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field

from agentmon.report.hosts import remote_sources
from agentmon.report.metrics import (
    COL,
    REJECTIONS_OVER_TOOL_CALLS,
    SUM_COLUMNS,
    WINDOWS,
    AgentMetrics,
    LimitsFor,
    agent_metrics,
    build,
    default_limits,
    ingest_totals,
)

SERIES_SPAN_ALL = 30 * 86400  # the "all" window of an empty database
MIN_SAMPLES = 5  # a bucket's rate over fewer is noise (1 of 1 is 100%): left a gap on sparklines and charts
SERIES = (
    "task_success_rate",
    "autonomy_rate",
    "cost_per_successful_task",
    "escalation_rate",
    "tool_error_rate",
    "confirmation_rejection_rate",
)


@dataclass
class AgentView:
    metrics: AgentMetrics
    previous: AgentMetrics | None  # the window before this one, for trend arrows
    series: dict[str, list[float | None]]  # SERIES over equal time buckets, oldest first
    open_tasks: int
    last_event_ts: float | None


@dataclass
class FleetView:
    window: str
    now: float
    bucket_seconds: float
    ingest: dict
    agents: list[AgentView] = field(default_factory=list)
    remote: list[dict] = field(default_factory=list)  # ssh:// sources' state (agentmon.report.hosts)


@dataclass
class AgentDetail:
    view: AgentView
    bucket_seconds: float
    failures: list[tuple]  # (end_ts, task, outcome, reason)
    escalations: list[tuple]  # (ts, task, reason)
    rejections: list[tuple]  # (ts, task, action)
    eval_runs: list[tuple]  # (suite, run, newest_ts, cases, passed, critical_failed, agent_version)
    hosts: list[tuple[str, AgentMetrics]] = field(default_factory=list)  # by host, when it ran on several
    # Whether the series' range holds any of the agent's counts: when it does and a chart has no point, each
    # bucket counted too little to judge (MIN_SAMPLES), not nothing (history past its retention, a quiet window).
    counted: bool = False


def span(window: str, conn: sqlite3.Connection | None = None, now: float | None = None) -> float:
    """The seconds the window's series cover; "all" runs from the first hour bucket (the primary key's head)."""
    if WINDOWS[window] or conn is None or now is None:
        return WINDOWS[window] or SERIES_SPAN_ALL
    (first,) = conn.execute("SELECT min(bucket) FROM agg_hour").fetchone()
    if first is None:
        return SERIES_SPAN_ALL
    # to the minute, where that hour's minutes are still kept: the first bucket is then not mostly empty
    (minute,) = conn.execute("SELECT min(bucket) FROM agg_minute WHERE bucket >= ?", (first,)).fetchone()
    if minute is not None and minute < first + 3600:
        first = minute
    return max(now - first, 3600.0)


def _samples(agent: str, c: list[int]) -> dict[str, int]:
    """How many things each of SERIES is a share of (metrics.build's denominators)."""
    g = lambda name: c[COL[name]]
    asked = g("tool_calls") if agent.startswith(REJECTIONS_OVER_TOOL_CALLS) else g("confirmations")
    return {
        "task_success_rate": g("ended"),
        "autonomy_rate": g("ended"),
        "cost_per_successful_task": g("ended"),
        "escalation_rate": g("tasks_seen"),
        "tool_error_rate": g("tool_calls"),
        "confirmation_rejection_rate": asked,
    }


def series(
    conn: sqlite3.Connection,
    window: str,
    now: float,
    buckets: int,
    agent: str | None = None,
    limits_for: LimitsFor = default_limits,
) -> tuple[float, dict[str, dict[str, list]]]:
    """Per agent, each of SERIES over `buckets` equal buckets ending now."""
    total = span(window, conn, now)
    width = total / buckets
    start = now - total
    table = "agg_minute" if width < 3600 else "agg_hour"
    where = "bucket >= ?"
    params: list[int | str] = [int(start // 60 * 60)]
    if agent is not None:
        where += " AND agent = ?"
        params.append(agent)
    counters: dict[str, list[list[int]]] = {}
    for bucket, name, *c in conn.execute(
        f"SELECT bucket, agent, {SUM_COLUMNS} FROM {table} WHERE {where} GROUP BY bucket, agent", params
    ):
        i = min(buckets - 1, max(0, int((bucket - start) // width)))
        per_bucket = counters.setdefault(name, [[0] * len(c) for _ in range(buckets)])
        per_bucket[i] = [a + b for a, b in zip(per_bucket[i], c)]
    out = {}
    for name, per_bucket in counters.items():
        built = [(build(name, c, None, limits_for(name)), _samples(name, c)) for c in per_bucket]
        out[name] = {s: [getattr(m, s) if n[s] >= MIN_SAMPLES else None for m, n in built] for s in SERIES}
    return width, out


def _empty_series(buckets: int) -> dict[str, list]:
    return {s: [None] * buckets for s in SERIES}


def fleet_view(
    conn: sqlite3.Connection,
    window: str = "24h",
    now: float | None = None,
    buckets: int = 12,
    limits_for: LimitsFor = default_limits,
) -> FleetView:
    now = time.time() if now is None else now
    previous: dict[str, AgentMetrics] = {}  # the window before, which the verdict reads anyway
    current = agent_metrics(conn, window, now, limits_for=limits_for, previous_out=previous)
    width, per_agent = series(conn, window, now, buckets, limits_for=limits_for)
    open_tasks = dict(
        conn.execute("SELECT agent, sum(tasks_seen) - sum(ended) FROM agg_total GROUP BY agent").fetchall()
    )
    last_seen = dict(conn.execute("SELECT agent, last_ts FROM agents").fetchall())
    view = FleetView(window, now, width, ingest_state(conn), remote=remote_sources(conn, now))
    for m in current:
        view.agents.append(
            AgentView(
                m,
                previous.get(m.agent),
                per_agent.get(m.agent) or _empty_series(buckets),
                open_tasks.get(m.agent, 0),
                last_seen.get(m.agent),
            )
        )
    return view


def ingest_state(conn: sqlite3.Connection) -> dict:
    state = ingest_totals(conn)
    state["last_error"], state["last_error_at"] = conn.execute(
        "SELECT last_error, last_error_at FROM ingest_totals"
    ).fetchone()
    return state


def agent_detail(
    conn: sqlite3.Connection,
    agent: str,
    window: str = "24h",
    now: float | None = None,
    points: int = 24,
    limit: int = 8,
    limits_for: LimitsFor = default_limits,
) -> AgentDetail | None:
    now = time.time() if now is None else now
    fleet = fleet_view(conn, window, now, limits_for=limits_for)
    view = next((a for a in fleet.agents if a.metrics.agent == agent), None)
    if view is None:
        return None
    width, per_agent = series(conn, window, now, points, agent, limits_for)
    view.series = per_agent.get(agent) or _empty_series(points)
    q = conn.execute
    return AgentDetail(
        view,
        width,
        counted=agent in per_agent,
        failures=q(
            "SELECT end_ts, task, outcome, reason FROM tasks WHERE agent = ?"
            " AND outcome IN ('failure', 'abandoned') ORDER BY end_ts DESC LIMIT ?",
            (agent, limit),
        ).fetchall(),
        escalations=q(
            "SELECT escalation_reason_ts, task, escalation_reason FROM tasks WHERE agent = ?"
            " AND escalations > 0 ORDER BY escalation_reason_ts DESC LIMIT ?",
            (agent, limit),
        ).fetchall(),
        rejections=q(
            "SELECT rejected_ts, task, rejected_action FROM tasks WHERE agent = ?"
            " AND rejections > 0 ORDER BY rejected_ts DESC LIMIT ?",
            (agent, limit),
        ).fetchall(),
        eval_runs=q(
            "SELECT suite, run, newest_ts, cases, passed, critical_failed, agent_version FROM eval_runs"
            " WHERE agent = ? ORDER BY newest_ts DESC LIMIT ?",
            (agent, limit),
        ).fetchall(),
        hosts=by_host(conn, agent, window, now, limits_for(agent)),
    )


def by_host(conn: sqlite3.Connection, agent: str, window: str, now: float, limits) -> list[tuple[str, AgentMetrics]]:
    """The agent's metrics per host ('' is this machine), when it has events from more than one, or from a
    remote one. Windows are read from hour buckets: the window's first, partial hour counts whole."""
    seconds = WINDOWS[window]
    try:
        if seconds is None:
            rows = conn.execute(
                f"SELECT host, {SUM_COLUMNS} FROM agg_host_total WHERE agent = ? GROUP BY host", (agent,)
            ).fetchall()
        else:
            rows = conn.execute(
                f"SELECT host, {SUM_COLUMNS} FROM agg_host_hour WHERE agent = ? AND bucket >= ? GROUP BY host",
                (agent, int((now - seconds) // 3600 * 3600)),
            ).fetchall()
    except sqlite3.OperationalError:  # written before hosts existed
        return []
    if not rows or [host for host, *_ in rows] == [""]:
        return []
    return [(host, build(agent, list(c), None, limits)) for host, *c in sorted(rows)]
