"""Which agent a span of a multi-agent trace worked for, and which agents are another's subagents.

The GenAI conventions show a sub-agent as an `invoke_agent` span nested in another agent's, in the same trace.
Each agent's invocation in a trace is kept (`otel_agent_spans`: the earliest start, the latest end, and whether
one of its spans is the trace's root); an agent whose invocation lies within the root agent's is that task's
subagent: its task is a child of the root agent's task, its cost rolls up into it (agentmon.store.taskstate).
A span that names no agent works for the innermost invocation its time falls in; outside all of them, for the
root agent once the root span has come, else it waits (agentmon.store.otel_traces). Nested spans end, and are
exported, before their parent, so a subagent's calls are known to be its own before the root agent's span comes.
"""

from __future__ import annotations

import sqlite3

import msgspec

from agentmon.events import Event, TaskStart
from agentmon.store.sql import in_chunks

AgentSpan = tuple[str, float, float, int]  # agent, start, end, root (0 or 1)
_decoder = msgspec.json.Decoder(Event)


def record_agent_spans(conn: sqlite3.Connection, spans: list[tuple[str, str, float, float, bool]]) -> None:
    """Keep each (trace, agent, start, end, root) invocation, widened by any kept before."""
    conn.executemany(
        "INSERT INTO otel_agent_spans (trace_id, agent, start_ts, end_ts, root) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT DO UPDATE SET start_ts = min(start_ts, excluded.start_ts),"
        " end_ts = max(end_ts, excluded.end_ts), root = max(root, excluded.root)",
        [(t, a, s, e, int(r)) for t, a, s, e, r in spans],
    )


def agent_spans(conn: sqlite3.Connection, traces: list[str]) -> dict[str, list[AgentSpan]]:
    out: dict[str, list[AgentSpan]] = {}
    for trace, *span in in_chunks(
        conn, "SELECT trace_id, agent, start_ts, end_ts, root FROM otel_agent_spans WHERE trace_id IN ({})", traces
    ):
        out.setdefault(trace, []).append(tuple(span))
    return out


def root_of(spans: list[AgentSpan]) -> AgentSpan:
    """The root agent's invocation: one with the trace's root span, else the outermost known."""
    return min(spans, key=lambda s: (-s[3], s[1], -s[2], s[0]))


def children(trace: str, spans: list[AgentSpan]) -> list[TaskStart]:
    """The task_starts that make each agent invoked within the root agent's invocation its subagent. Each is at
    the root's start: of the parents a task is given, the earliest wins, so the outermost root does."""
    if len(spans) < 2:
        return []
    root, _, _, _ = top = root_of(spans)
    return [
        TaskStart(ts=top[1], agent=agent, task=trace, parent_task=trace, parent_agent=root)
        for agent, start, end, _ in spans
        if agent != root and top[1] <= start and end <= top[2]
    ]


def agent_at(spans: list[AgentSpan], ts: float) -> str | None:
    """The agent a span at `ts` with no agent of its own works for: the innermost invocation around it, else the
    root agent once its root span has come; None: not known yet."""
    if len(spans) == 1:  # most traces: one agent
        agent, start, end, root = spans[0]
        return agent if root or start <= ts <= end else None
    around = [s for s in spans if s[1] <= ts <= s[2]]
    if around:
        return max(around, key=lambda s: (s[1], -s[2], s[0]))[0]
    top = root_of(spans)
    return top[0] if top[3] else None


def take_resolved(conn: sqlite3.Connection, spans: dict[str, list[AgentSpan]]) -> list[Event]:
    """The waiting events of these traces that now have an agent, taken out of otel_pending with it."""
    rows = in_chunks(conn, "SELECT rowid, trace_id, event FROM otel_pending WHERE trace_id IN ({})", list(spans))
    taken, events = [], []
    for rowid, trace, blob in rows:
        ev = _decoder.decode(blob)
        agent = agent_at(spans[trace], ev.ts)  # type: ignore[arg-type]  # a float: the span mapper set it
        if agent is not None:
            taken.append((rowid,))
            events.append(msgspec.structs.replace(ev, agent=agent))
    conn.executemany("DELETE FROM otel_pending WHERE rowid = ?", taken)
    return events
