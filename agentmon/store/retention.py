"""Retention: what the store forgets, and when (agentmon.toml's `[retention]`, docs/config.md).

Every figure a window shows is a sum of buckets, so a bucket can go once no window reads it any more:
  - minute buckets: a bounded window reads its ragged edges from them, and the verdict reads the window
    before it too: the 30d window's reaches 60 days back (agentmon.report.metrics.range_rows). Kept 62 days.
  - hour buckets (and per-host hour buckets): the windows' whole hours and `status --by day|week|month`. A year.
  - all-time totals (agg_total, agg_host_total, agents, ingest_totals): forever; the `all` window reads them.
  - tasks and the prompts that named them: a year after their last event. A late event of a task already
    forgotten is older than the horizon (the cut of the last prune) and is not folded into a new task, which
    would count it seen and ended twice: agentmon.store.apply drops it (see `TASK_HORIZON`). The Claude Code
    events held for a task not known yet, and what its parser remembers of a session (agentmon.store.held_events,
    claude_code_state), go with the tasks of their time.
  - LLM requests: their dedupe only meets a repeat within a session's life: 30 days (one whose lines are held
    stays with them: it gives them its largest usage when they move). So long too the
    OpenTelemetry traces' agents (which agent's invocation a span falls in, the trace let go as a service's
    task): every span of a trace has come long before.
  - quarantined lines: 90 days (their count in ingest_totals stays).
The otel_seen keys forget themselves after two days (agentmon.store.otel_traces).

Pruning runs in small steps (a bounded number of rows per table per step) in the writer's own transactions, so
ingest never waits long; the freed pages go back to the file system by incremental vacuum, which a database has
when it was made by this version, or after `agentmon prune --vacuum` (a full VACUUM, once).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

DAY = 86400
MINUTE_DAYS_FLOOR = 61  # the 30d window's previous window reads minute buckets 60 days back, plus its ragged hour
HOUR_DAYS_FLOOR = 61  # the same previous window's whole hours
TASK_DAYS_FLOOR = 31  # `agentmon tasks` and the monitor's latest failures read a 30d window at most
STEP_ROWS = 2000  # rows per table per step: a step stays a few milliseconds
VACUUM_PAGES = 256  # pages given back per step (1 MiB at the default page size)
TASK_HORIZON = "tasks"  # the retention_horizons row: events before it make no new task


@dataclass(frozen=True)
class Retention:
    """Days each kind of row is kept; None keeps it forever."""

    minute_days: float | None = 62
    hour_days: float | None = 365
    task_days: float | None = 365
    request_days: float | None = 30
    quarantine_days: float | None = 90


FLOORS = {"minute_days": MINUTE_DAYS_FLOOR, "hour_days": HOUR_DAYS_FLOOR, "task_days": TASK_DAYS_FLOOR}


@dataclass
class Pruned:
    """Rows deleted by one step (or a whole prune), by kind, and pages given back."""

    minutes: int = 0
    hours: int = 0
    tasks: int = 0
    prompts: int = 0
    requests: int = 0
    quarantine: int = 0
    pages: int = 0
    held: int = 0  # held Claude Code events and parser state
    traces: int = 0  # OpenTelemetry traces' agents (otel_agent_spans, otel_traces)

    def rows(self) -> int:
        return (
            self.minutes + self.hours + self.tasks + self.prompts + self.requests + self.quarantine + self.held
        ) + self.traces

    def add(self, other: Pruned) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _cut(days: float | None, now: float) -> float | None:
    return None if days is None else now - days * DAY


@dataclass
class Sweeps:
    """Where the sweeps of the tables with no index by time are (their primary keys): a step reads the next
    SWEEP_ROWS keys of each, so it costs the same however large the table; a lap ends at the table's end."""

    requests: tuple = ()
    prompts: tuple = ()
    spans: tuple = ()
    traces: tuple = ()
    ended: set[str] = field(default_factory=set)  # the sweeps that ended a lap: `prune` stops when all have


SWEEP_ROWS = 20000  # keys read per sweep step (a few ms); 9M requests (30 days at 1M events a day) in 8 hours


def prune_step(
    conn: sqlite3.Connection, retention: Retention, now: float, sweeps: Sweeps | None = None, rows: int | None = None
) -> Pruned:
    """Delete at most about `rows` rows of each kind past its retention, in one transaction of the caller's
    connection (the writer's); then give back up to VACUUM_PAGES free pages. Returns what went."""
    out = Pruned()
    sweeps = Sweeps() if sweeps is None else sweeps
    rows = STEP_ROWS if rows is None else rows
    conn.execute("BEGIN IMMEDIATE")
    try:
        if (cut := _cut(retention.minute_days, now)) is not None:
            # the first hour's minutes stay: the `all` window's charts start at its first minute (fleet.span)
            (first,) = conn.execute("SELECT min(bucket) FROM agg_hour").fetchone()
            out.minutes = _buckets(conn, "agg_minute", cut, rows, -1 if first is None else first + 3600)
        if (cut := _cut(retention.hour_days, now)) is not None:
            out.hours = _buckets(conn, "agg_hour", cut, rows) + _buckets(conn, "agg_host_hour", cut, rows)
        if (cut := _cut(retention.task_days, now)) is not None:
            out.tasks = _tasks(conn, cut, rows)
            out.prompts, sweeps.prompts = _sweep(
                conn, "session_prompts", ("session", "ts", "task"), cut, sweeps.prompts
            )
            out.held = _held(conn, cut, rows)
        if not sweeps.prompts:
            sweeps.ended.add("prompts")
        if (cut := _cut(retention.request_days, now)) is not None:
            out.requests, sweeps.requests = _sweep(
                conn, "llm_requests", ("request_id",), cut, sweeps.requests, spare=_held_request(conn)
            )
            spans, sweeps.spans = _sweep(conn, "otel_agent_spans", ("trace_id", "agent"), cut, sweeps.spans, "end_ts")
            traces, sweeps.traces = _sweep(conn, "otel_traces", ("trace_id",), cut, sweeps.traces)
            out.traces = spans + traces
        for name in ("requests", "spans", "traces"):
            if not getattr(sweeps, name):
                sweeps.ended.add(name)
        if (cut := _cut(retention.quarantine_days, now)) is not None:  # ids grow with time: the oldest first
            out.quarantine = conn.execute(
                "DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine ORDER BY id LIMIT ?) AND at < ?",
                (rows, cut),
            ).rowcount
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    out.pages = incremental_vacuum(conn, VACUUM_PAGES)
    return out


def _buckets(conn: sqlite3.Connection, table: str, cut: float, rows: int, since: float = -1) -> int:
    """Delete the oldest buckets from `since` to before `cut`, whole buckets of about `rows` rows (the primary
    key's head)."""
    last = conn.execute(
        f"SELECT bucket FROM {table} WHERE bucket >= ? AND bucket < ? ORDER BY bucket LIMIT 1 OFFSET ?",
        (since, cut, rows - 1),
    ).fetchone()
    bound = cut if last is None else min(cut, last[0] + 1)  # the whole of the last bucket reached
    return conn.execute(f"DELETE FROM {table} WHERE bucket >= ? AND bucket < ?", (since, bound)).rowcount


def _sweep(
    conn: sqlite3.Connection,
    table: str,
    key: tuple[str, ...],
    cut: float,
    after: tuple,
    ts: str = "ts",
    spare: str | None = None,
) -> tuple[int, tuple]:
    """Delete the rows timed (column `ts`) before `cut` among the next SWEEP_ROWS keys after `after` (() the
    start), but those for which the query `spare` (given the key) finds a row; (how many, where the next step
    starts: () when this one reached the end)."""
    cols = ", ".join(key)
    where = f"WHERE ({cols}) > ({', '.join('?' * len(key))})" if after else ""
    found = conn.execute(
        f"SELECT {cols}, {ts} FROM {table} {where} ORDER BY {cols} LIMIT ?", (*after, SWEEP_ROWS)
    ).fetchall()
    old = [row[:-1] for row in found if row[-1] is not None and row[-1] < cut]
    if spare is not None and old:
        old = [k for k in old if conn.execute(spare, k).fetchone() is None]
    match = " AND ".join(f"{c} = ?" for c in key)
    conn.executemany(f"DELETE FROM {table} WHERE {match}", old)
    return len(old), (tuple(found[-1][:-1]) if len(found) == SWEEP_ROWS else ())


def _tasks(conn: sqlite3.Connection, cut: float, rows: int) -> int:
    """Forget tasks whose last event (and end) came before `cut`, agent by agent through tasks_by_end. The
    horizon moves to `cut` first, so that no late event makes one of them anew."""
    tasks = 0
    for (agent,) in conn.execute("SELECT agent FROM agents").fetchall():
        found = [  # two ranges of tasks_by_end: the ended, then the never ended (`OR` would scan the agent's tasks)
            row
            for where, params in (("end_ts < ?", (agent, cut)), ("end_ts IS NULL", (agent,)))
            for row in conn.execute(
                f"SELECT task FROM tasks INDEXED BY tasks_by_end WHERE agent = ? AND {where} AND last_ts < ? LIMIT ?",
                (*params, cut, rows - tasks),
            )
        ][: rows - tasks]
        if not found:
            continue
        if not tasks:
            conn.execute(
                "INSERT INTO retention_horizons (what, ts) VALUES (?, ?)"
                " ON CONFLICT DO UPDATE SET ts = max(ts, excluded.ts)",
                (TASK_HORIZON, cut),
            )
        conn.executemany("DELETE FROM tasks WHERE agent = ? AND task = ?", [(agent, task) for (task,) in found])
        tasks += len(found)
        if tasks >= rows:
            break
    return tasks


def _held_request(conn: sqlite3.Connection) -> str | None:
    """A request whose lines are still held keeps its row until they go: when they move, it gives them its
    largest usage (agentmon.store.held_events). None: nothing held (most databases)."""
    if conn.execute("SELECT 1 FROM held_events WHERE request_id IS NOT NULL LIMIT 1").fetchone() is None:
        return None
    return (  # through held_events_by_task: a held line is in its request's task
        "SELECT 1 FROM llm_requests r JOIN held_events h ON h.agent = r.agent AND h.task = r.task"
        " AND h.request_id = r.request_id WHERE r.request_id = ? LIMIT 1"
    )


def _held(conn: sqlite3.Connection, cut: float, rows: int) -> int:
    """Held Claude Code events and the parser's facts from before `cut` (by their indexes on time)."""
    held = conn.execute(
        "DELETE FROM held_events WHERE id IN (SELECT id FROM held_events WHERE ts < ? LIMIT ?)", (cut, rows)
    ).rowcount
    state = conn.execute(
        "DELETE FROM claude_code_state WHERE (session, kind, key) IN"
        " (SELECT session, kind, key FROM claude_code_state WHERE ts < ? LIMIT ?)",
        (cut, rows),
    ).rowcount
    return held + state


def task_horizon(conn: sqlite3.Connection) -> float | None:
    """Events before this make no new task: their task may have been forgotten (None: nothing forgotten yet)."""
    row = conn.execute("SELECT ts FROM retention_horizons WHERE what = ?", (TASK_HORIZON,)).fetchone()
    return None if row is None else row[0]


def incremental_vacuum(conn: sqlite3.Connection, pages: int | None = None) -> int:
    """Give free pages back to the file system (all of them when `pages` is None), when the database has
    incremental vacuum; the number given back."""
    (mode,) = conn.execute("PRAGMA auto_vacuum").fetchone()
    if mode != 2:  # 2: INCREMENTAL
        return 0
    (before,) = conn.execute("PRAGMA freelist_count").fetchone()
    # A page per step of the statement: executescript steps it to the end (execute steps it once). 0: every page.
    conn.executescript(f"PRAGMA incremental_vacuum({pages or 0})")
    (after,) = conn.execute("PRAGMA freelist_count").fetchone()
    return before - after


def prune(conn: sqlite3.Connection, retention: Retention, now: float) -> Pruned:
    """Every row past its retention, step by step; then every free page back (`agentmon prune`)."""
    total, sweeps = Pruned(), Sweeps()
    while True:
        step = prune_step(conn, retention, now, sweeps)
        total.add(step)
        if not step.rows() and len(sweeps.ended) == 4:
            break
    total.pages += incremental_vacuum(conn)
    return total


def full_vacuum(conn: sqlite3.Connection) -> None:
    """Rewrite the file with incremental vacuum on (`agentmon prune --vacuum`): the one way an existing
    database gets it. Needs as much free disk as the database, and holds the writer's lock throughout."""
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    conn.execute("VACUUM")
