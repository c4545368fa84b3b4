"""Claude Code events read before their task is known, and how they join it when it is.

A line older than every prompt of its session goes to a provisional task, `<session>:before-first-prompt`; a
subagent's line whose launch (the Task result naming its `agentId`) was not read goes by time (Held). Their
events are folded there as any other, and kept here as well (derived values only, as the events are): when the
prompt or the launch arrives, in this run or a later one, they are folded into the right task in the same
transaction as the line that told it, so whichever file is read first the tasks come out the same.

- A provisional task is folded again from what it still holds here; with nothing left it goes, and its
  contribution to the aggregates with it. An idle end it had is given again, after its new last line.
- A task they went to by time gives back what they added to its sums (its last time and its latest reasons
  stay as the fold left them).
- An event keeps its own time: what it adds by its own minute (requests, tool calls, errors) does not move;
  the tasks' contributions do. A request moves whole, with its largest usage (llm_requests), and its later
  repeats follow it.
- A main line's events are kept until a prompt takes them; a subagent's until its launch is read.
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple, cast

import msgspec

from agentmon.events import BEFORE_FIRST_PROMPT, LAUNCH, Event, Held, LlmCall, Prompt, SessionFact, TaskEnd
from agentmon.store.aggregates import Deltas, add_change, flush
from agentmon.store.claude_code_state import launched
from agentmon.store.sql import in_chunks
from agentmon.store.taskstate import (
    ChildRollup,
    TaskState,
    UsageDelta,
    contribution,
    fold_all,
    idle_ended,
    rollup,
    rollup_change,
    task_row,
    unfold,
)

if TYPE_CHECKING:
    from agentmon.store.apply import Applier, TaskEvent, TaskKey

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Event | ChildRollup).decode
_NAMED = (TaskEnd, ChildRollup)  # kept events that name their task: they never move
_COLUMNS = "id, agent, task, session, subagent, ts, request_id, cost_nanos, event"
_INSERT = (
    "INSERT INTO held_events (agent, task, session, subagent, ts, request_id, cost_nanos, event)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_USAGE = "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_nanos, priced, cache_write_1h_tokens"


class Row(NamedTuple):
    id: int
    agent: str
    task: str  # where it is folded now
    session: str
    subagent: str  # '' a main line's
    ts: float
    request_id: str | None  # an llm call's: its usage is the request's (llm_requests)
    cost_nanos: int | None
    event: bytes


def record(conn: sqlite3.Connection, by_task: dict[TaskKey, list[TaskEvent]], held: Sequence[Held]) -> None:
    """Keep the events a batch folded into provisional tasks, and its held ones (wherever they went). An idle
    end is not kept (it is given again), nor a repeat of a request (its request carries its usage)."""
    subagents: dict[object, tuple[str, str]] = {}
    holding: set[tuple[str, str]] = set()  # the tasks the held events went to: only theirs are looked through
    for h in held:
        held_event = h.event
        rid = held_event.request_id if type(held_event) is LlmCall else None
        subagents[rid if rid is not None else id(held_event)] = (h.session, h.subagent)
        holding.add((held_event.agent, cast(TaskEnd, held_event).task))
    rows = []
    for (agent, task), task_events in by_task.items():
        provisional = task.endswith(BEFORE_FIRST_PROMPT)
        if not provisional and (agent, task) not in holding:
            continue
        for ev, ts, cost in task_events:
            kind = type(ev)
            if kind is UsageDelta or (kind is TaskEnd and cast(TaskEnd, ev).labeled_at is None):
                continue
            rid = cast(LlmCall, ev).request_id if kind is LlmCall else None
            who = subagents.get(rid if rid is not None else id(ev)) if subagents else None
            if who is None:
                if not provisional:
                    continue
                who = (task[: -len(BEFORE_FIRST_PROMPT)], "")
            rows.append((agent, task, *who, ts, rid, cost, _encode(ev)))
    if rows:
        conn.executemany(_INSERT, rows)


def reattribute(applier: Applier, prompts: Sequence[Prompt], facts: Sequence[SessionFact]) -> None:
    """Fold the held events these new prompts and launches place into their tasks (see the module)."""
    conn = applier.conn
    launches = {(f.session, f.key): f.value for f in facts if f.kind == LAUNCH and f.value is not None}
    sessions = list({p.session for p in prompts})
    if not (launches or sessions) or conn.execute("SELECT 1 FROM held_events LIMIT 1").fetchone() is None:
        return
    found: dict[int, Row] = {}
    for session, subagent in launches:
        sql = f"SELECT {_COLUMNS} FROM held_events WHERE session = ? AND subagent = ?"
        found.update((r[0], Row(*r)) for r in conn.execute(sql, (session, subagent)))
    for r in in_chunks(conn, f"SELECT {_COLUMNS} FROM held_events WHERE session IN ({{}})", sessions):
        found[r[0]] = Row(*r)
    prompts_of: dict[str, list[tuple[float, str]]] = {}
    moves = []
    for row in found.values():
        if row.request_id is None and type(_decode(row.event)) in _NAMED:
            continue  # a person's label, a child's roll-up: it names its task, and stays with it
        task, final = _place(conn, row, launches, prompts_of)
        if task != row.task or final:
            moves.append((row, task, final))
    if moves:
        _move(applier, moves)


def _place(
    conn: sqlite3.Connection,
    row: Row,
    launches: dict[tuple[str, str], str],
    prompts_of: dict[str, list[tuple[float, str]]],
) -> tuple[str, bool]:
    """Where a held event belongs now, and whether for good: a subagent's, with the task that launched it;
    else the task of its session's latest prompt at or before it (the provisional one before every prompt)."""
    if row.subagent:
        task = launches.get((row.session, row.subagent)) or launched(conn, row.session, row.subagent)
        if task is not None:
            return task, not task.endswith(BEFORE_FIRST_PROMPT)
    prompts = prompts_of.get(row.session)
    if prompts is None:
        prompts = prompts_of[row.session] = conn.execute(
            "SELECT ts, task FROM session_prompts WHERE session = ? ORDER BY ts, task", (row.session,)
        ).fetchall()
    i = bisect_right(prompts, (row.ts, "\uffff"))
    if not i:
        return row.session + BEFORE_FIRST_PROMPT, False
    return prompts[i - 1][1], not row.subagent


def _move(applier: Applier, moves: list[tuple[Row, str, bool]]) -> None:
    conn = applier.conn
    usage = _usage(conn, [row.request_id for row, _, _ in moves if row.request_id is not None])
    leaving: dict[TaskKey, list[TaskEvent]] = {}
    arriving: dict[TaskKey, list[TaskEvent]] = {}
    for row, task, _ in moves:
        if task != row.task:
            moved = _event(row, usage)
            leaving.setdefault((row.agent, row.task), []).append(moved)
            arriving.setdefault((row.agent, task), []).append(moved)
    conn.executemany("DELETE FROM held_events WHERE id = ?", [(row.id,) for row, _, final in moves if final])
    conn.executemany(
        "UPDATE held_events SET task = ? WHERE id = ?", [(task, row.id) for row, task, final in moves if not final]
    )
    conn.executemany(
        "UPDATE llm_requests SET task = ? WHERE request_id = ?",
        [(task, row.request_id) for row, task, _ in moves if row.request_id is not None and task != row.task],
    )
    keys = list({*leaving, *arriving})
    states = applier._load_tasks(keys)
    host = next((s.host for s in states.values()), "")
    deltas: Deltas = {}
    changed, gone = [], []
    rollups: list[ChildRollup] = []  # a task made a child (a native parent_task) hands the change to its parent
    for key in keys:
        old = states.get(key)
        before = contribution(old) if old is not None else []
        up = rollup(old) if old is not None and old.parent_task is not None else None
        if key[1].endswith(BEFORE_FIRST_PROMPT):
            state = _fold_again(conn, key, old, host)
        else:
            state = old if old is not None else TaskState(*key, host=host)
            if key in leaving:
                unfold(state, leaving[key])
            if key in arriving:
                fold_all(state, arriving[key])
        if state is None:
            gone.append(key)
            applier._tasks.pop(key, None)
            add_change(deltas, key[0], old.host if old is not None else host, before, [])
        else:
            applier._tasks[key] = state
            add_change(deltas, key[0], state.host, before, contribution(state))
            changed.append(task_row(state))
        if up is not None or (state is not None and state.parent_task is not None):
            rollups += rollup_change(up, None if state is None else rollup(state), cast(TaskState, state or old))
    from agentmon.store.apply import UPSERT_TASK

    conn.executemany("DELETE FROM tasks WHERE agent = ? AND task = ?", gone)
    conn.executemany(UPSERT_TASK, changed)
    flush(conn, deltas)
    if rollups:
        applier._apply_events(rollups)


def _fold_again(conn: sqlite3.Connection, key: TaskKey, old: TaskState | None, host: str) -> TaskState | None:
    """A provisional task, from what it holds now (None: nothing); its idle end, if it had one, after its new
    last line."""
    rows = [Row(*r) for r in conn.execute(f"SELECT {_COLUMNS} FROM held_events WHERE agent = ? AND task = ?", key)]
    if not rows:
        return None
    usage = _usage(conn, [row.request_id for row in rows if row.request_id is not None])
    state = TaskState(*key, host=old.host if old is not None else host)
    fold_all(state, [_event(row, usage) for row in rows])
    if old is not None and old.end_ts is not None and idle_ended(old) and state.end_ts is None:
        waited = old.end_ts - old.last_ts
        reason = old.logged_reason if old.api_failed else old.reason
        end = TaskEnd(ts=state.last_ts + waited, agent=key[0], task=key[1], outcome="unknown", reason=reason)
        fold_all(state, [(end, state.last_ts + waited, None)])
    return state


def _usage(conn: sqlite3.Connection, request_ids: Iterable[str]) -> dict[str, tuple]:
    """The largest usage and the cost of these requests, as llm_requests has them now."""
    ids = list(set(request_ids))
    sql = f"SELECT request_id, {_USAGE} FROM llm_requests WHERE request_id IN ({{}})"
    return {r[0]: r[1:] for r in in_chunks(conn, sql, ids)}


def _event(row: Row, usage: dict[str, tuple]) -> TaskEvent:
    """A held event as the fold takes it: an llm call with its request's usage and cost (repeats included)."""
    ev = _decode(row.event)
    cost = row.cost_nanos
    if row.request_id is not None and (u := usage.get(row.request_id)) is not None:
        tokens_in, tokens_out, cache_read, cache_write, cost_nanos, priced, cache_write_1h = u
        ev = msgspec.structs.replace(
            ev,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            cache_write_1h_tokens=cache_write_1h,
        )
        cost = cost_nanos if priced else None
    return ev, row.ts, cost
