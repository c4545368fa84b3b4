"""Applying a batch's events, inside the writer's transaction: each task's state is folded and the
change in its contribution is added to the aggregates; agents, LLM requests, OpenTelemetry spans
and eval results are kept up to date beside them."""

from __future__ import annotations

import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Sequence

from agentmon.events import Cost, EvalResult, Event, Held, LlmCall, TaskEnd, epoch_seconds
from agentmon.store.aggregates import Deltas, add_change, flush
from agentmon.store.batch import Batch
from agentmon.store.evals import apply_eval
from agentmon.store.follow_ups import changed_follow_ups
from agentmon.store.held_events import record as record_held
from agentmon.store.llm_requests import (
    dedupe_request,
    event_cost,
    load_requests,
    merge_repeat,
    merged,
    no_requests,
    save_requests,
)
from agentmon.store.otel_traces import FORGET_AT_ONCE, forget_old_spans, otel_events, traces_waited_out
from agentmon.store.pricing import Pricer
from agentmon.store.sql import in_chunks
from agentmon.store.taskstate import (
    COL,
    SIGNAL_EVENTS,
    TASK_FIELDS,
    WIDTH,
    Part,
    TaskState,
    UsageDelta,
    add_event_signals,
    contribution,
    fold_all,
    idle_reason,
    rollup,
    rollup_change,
    task_row,
)

TASK_CACHE_LIMIT = 50_000  # task states kept in memory between batches
# Child tasks (a task_start's parent_task) roll up through this many levels of parents in a batch; past them (a
# deeper tree, or parents that name each other in a cycle) nothing more is added.
NESTING_LIMIT = 8
# Request ids remembered while this connection has written every row of llm_requests (from a new
# database on): a first read then looks up none. Past this many, they are looked up again (~100 MB
# of transcripts hold ~15,000).
STORED_REQUESTS_LIMIT = 500_000
PRICED_EVENTS = (LlmCall, Cost)
REQUESTS = COL["requests"]
UPSERT_TASK = f"INSERT OR REPLACE INTO tasks ({', '.join(TASK_FIELDS)}) VALUES ({', '.join('?' * len(TASK_FIELDS))})"

TaskKey = tuple[str, str]  # agent, task
TaskEvent = tuple[Event | UsageDelta, float, int | None]  # an event to fold, its epoch ts, its cost in nano-dollars


class Applier:
    """Applies batches to one connection's tables; keeps the task states between batches."""

    def __init__(self, conn: sqlite3.Connection, pricer: Pricer, track_follow_ups: Callable[[str], bool]) -> None:
        self.conn = conn
        self.pricer = pricer
        # Follow-ups cost a query per batch and agent: kept only for the agents whose success needs
        # them (agentmon.toml's require_no_follow_up), from the moment the rule is switched on.
        self.track_follow_ups = track_follow_ups
        self._tasks: dict[TaskKey, TaskState] = {}
        self._data_version: int | None = None  # when another connection commits, the task states above may be stale
        self._forget_spans_at = 0.0  # when to forget the OpenTelemetry spans seen long ago next
        # Every request id in llm_requests, while only this connection has written them (None: unknown, ask
        # the table): see STORED_REQUESTS_LIMIT.
        self._stored_requests: set[str] | None = None
        self._requests_checked = False  # whether the table was asked if it is empty, since the last reset
        self._agent_spans: dict[str, list[float]] = {}
        self._nesting = 0  # how deep in child tasks' roll-ups this batch is

    def apply(self, batch: Batch) -> None:
        """Apply the batch's events, its OpenTelemetry spans and records, and its idle tasks' ends."""
        conn = self.conn
        (version,) = conn.execute("PRAGMA data_version").fetchone()
        if version != self._data_version:  # another connection wrote (a commit process and its parent)
            self._tasks.clear()
            self._data_version = version
            self._stored_requests, self._requests_checked = None, False
        if not self._requests_checked:
            self._requests_checked = True
            if no_requests(conn):
                self._stored_requests = set()
        events = batch.events
        if batch.held:  # a subagent's lines before its launch: folded by time, and kept apart (held_events)
            events = events + [h.event for h in batch.held]
        if batch.otel:
            events = events + otel_events(conn, batch.otel)
            now = time.time()
            if now >= self._forget_spans_at:  # every ten minutes; at once while a backlog remains
                more = forget_old_spans(conn, now) >= FORGET_AT_ONCE
                self._forget_spans_at = now if more else now + 600
        self._apply_events(events, batch.host, batch.held)
        if idle := batch.close_idle:  # after the batch's own events: a task that just had one is not idle
            self._apply_events(
                traces_waited_out(conn, idle.now, idle.idle_seconds)
                + self._idle_ends(idle.agent_prefix, idle.idle_seconds, idle.now)
            )

    def forget_tasks(self) -> None:
        """Drop the cached task states (they may hold those of a rolled-back batch)."""
        self._tasks.clear()
        self._stored_requests = None  # asked again of the table, from now on

    def _apply_events(self, events: list, host: str = "", held: Sequence[Held] = ()) -> None:
        """Fold the events into their tasks, add the changes to the aggregates, write the rows."""
        by_task: dict[TaskKey, list[TaskEvent]] = {}
        deltas: Deltas = {}
        evals: list[tuple[EvalResult, float]] = []
        repeated: dict[str, list] = {}  # request_id -> its lines so far (llm_requests.merge_repeat)
        pricer = self.pricer
        signal_key = None  # the minute the last signal went to, and its counters: lines come in runs
        counters: list[int] = []
        for ev in events:  # once per line: what each event costs here counts (see fold_all)
            ts = ev.ts
            if type(ts) is not float:
                ts = epoch_seconds(ts)
            kind = type(ev)
            cost = None
            if kind in PRICED_EVENTS:
                if kind is LlmCall and (rid := ev.request_id) is not None:
                    merge_repeat(repeated, rid, ev, ts)  # a request's lines in this batch become one
                    continue
                cost = event_cost(ev, ts, pricer)
            elif kind is EvalResult:
                evals.append((ev, ts))
                self._touch_agent(ev.agent, ts, ts)
                continue
            key = (ev.agent, ev.task)
            task_events = by_task.get(key)
            if task_events is None:
                by_task[key] = [(ev, ts, cost)]
            else:
                task_events.append((ev, ts, cost))
            if kind in SIGNAL_EVENTS:
                minute = (ev.agent, "", host, int(ts // 60) * 60)
                if minute != signal_key:
                    signal_key = minute
                    counters = deltas.get(minute)  # type: ignore[assignment]
                    if counters is None:
                        counters = deltas[minute] = [0] * WIDTH
                add_event_signals(counters, ev)
        stored = self._stored_requests
        requests = load_requests(self.conn, repeated, stored)  # request_id -> its row, as this batch leaves it
        for rid, call, ts in merged(repeated):
            event, cost = dedupe_request(rid, call, ts, requests, pricer)
            if event is not None:  # None: a repeat that adds nothing (a few per batch: no fast path needed)
                by_task.setdefault((event.agent, event.task), []).append((event, ts, cost))
                if type(event) is LlmCall:  # its first sight: a request, counted by its own time
                    minute = (event.agent, "", host, int(ts // 60) * 60)
                    if minute not in deltas:
                        deltas[minute] = [0] * WIDTH
                    deltas[minute][REQUESTS] += 1
        states = self._load_tasks(list(by_task))
        if len(states) < len(by_task):
            _drop_forgotten(self.conn, by_task, states)
        changed = []
        rollups: list = []  # what child tasks add to their parents (taskstate.rollup_change)
        cache = self._tasks
        for key, task_events in by_task.items():
            state = states.get(key)
            before: list[Part]
            if state is None:
                before = []
                state = cache[key] = TaskState(*key, host=host)
            else:
                before = contribution(state)
            up = rollup(state) if state.parent_task is not None else None
            fold_all(state, task_events)
            if up is not None or state.parent_task is not None:
                rollups += rollup_change(up, rollup(state), state)
            add_change(deltas, key[0], state.host, before, contribution(state))
            changed.append(task_row(state))
            self._touch_agent(key[0], state.first_ts, state.last_ts)
        record_held(self.conn, by_task, held)
        if self._agent_spans:
            self.conn.executemany(
                "INSERT INTO agents (agent, first_ts, last_ts) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET"
                " first_ts = min(first_ts, excluded.first_ts), last_ts = max(last_ts, excluded.last_ts)",
                [(agent, *span) for agent, span in self._agent_spans.items()],
            )
            self._agent_spans.clear()
        save_requests(self.conn, requests)
        if stored is not None:
            stored.update(requests)
            if len(stored) > STORED_REQUESTS_LIMIT:
                self._stored_requests = None
        if changed:
            self.conn.executemany(UPSERT_TASK, changed)
            tracked = [states.get(k) or self._tasks[k] for k in by_task if self.track_follow_ups(k[0])]
            followed = self._apply_follow_ups(tracked, deltas) if tracked else []
            if followed:
                self.conn.executemany(UPSERT_TASK, followed)
        flush(self.conn, deltas)
        for ev, ts in evals:
            apply_eval(self.conn, ev, ts)
        if rollups and self._nesting < NESTING_LIMIT:  # the parents, after their children's rows
            self._nesting += 1
            try:
                self._apply_events(rollups, host)
            finally:
                self._nesting -= 1
        if len(self._tasks) > TASK_CACHE_LIMIT:
            self._tasks.clear()

    def _apply_follow_ups(self, touched: list[TaskState], deltas: Deltas) -> list[tuple]:
        """Move the follow-ups the touched tasks changed (theirs and their same-key neighbours'); their rows."""
        rows = []
        changes = changed_follow_ups(self.conn, touched)
        states = self._load_tasks([(change.agent, change.task) for change in changes])
        for change in changes:
            state = states[(change.agent, change.task)]
            before = contribution(state)
            state.follow_up_ts = change.follow_up_ts
            add_change(deltas, change.agent, state.host, before, contribution(state))
            rows.append(task_row(state))
        return rows

    def _touch_agent(self, agent: str, first: float, last: float) -> None:
        span = self._agent_spans.get(agent)
        if span is None:
            self._agent_spans[agent] = [first, last]
        else:
            span[0], span[1] = min(span[0], first), max(span[1], last)

    def _load_tasks(self, keys: list[TaskKey]) -> dict[TaskKey, TaskState]:
        """The stored states of these tasks: from the cache, else a few multi-row SELECTs."""
        cache = self._tasks
        found = {key: cache[key] for key in keys if key in cache}
        missing: dict[str, list[str]] = defaultdict(list)
        for key in keys:
            if key not in found:
                missing[key[0]].append(key[1])
        for agent, tasks in missing.items():
            for row in in_chunks(self.conn, "SELECT * FROM tasks WHERE agent = ? AND task IN ({})", tasks, (agent,)):
                state = cache[row[:2]] = TaskState(*row)
                found[row[:2]] = state
        return found

    def _idle_ends(self, agent_prefix: str, idle_seconds: float, now: float) -> list[TaskEnd]:
        """The ends of the open tasks of agents named `agent_prefix…` idle for `idle_seconds` (see
        batch.CloseIdle): each at its last event plus the idle time, so a replay ends it alike."""
        idle = self.conn.execute(
            "SELECT agent, task, last_ts FROM tasks WHERE agent >= ? AND agent < ? AND end_ts IS NULL AND last_ts < ?",
            (agent_prefix, agent_prefix + "\uffff", now - idle_seconds),
        ).fetchall()
        return [
            TaskEnd(
                ts=last + idle_seconds,
                agent=agent,
                task=task,
                outcome="unknown",
                reason=idle_reason(idle_seconds),
            )
            for agent, task, last in idle
        ]


def _drop_forgotten(conn: sqlite3.Connection, by_task: dict[TaskKey, list[TaskEvent]], states: dict) -> None:
    """Drop the events older than the retention horizon of tasks not stored: their task may have been counted,
    then forgotten (agentmon.store.retention), and would count as seen (and ended) twice. What they add by
    their own time (requests, tool calls) is already in the deltas, as for any event."""
    from agentmon.store.retention import task_horizon

    horizon = task_horizon(conn)
    if horizon is None:
        return
    for key in [k for k in by_task if k not in states]:
        kept = [e for e in by_task[key] if e[1] >= horizon]
        if kept:
            by_task[key] = kept
        else:
            del by_task[key]
