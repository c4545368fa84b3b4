"""OpenTelemetry in the store: each span and log record counts once, and a trace's events wait for
its agent.

A client retries an export whose answer it did not get, so the receiver may see a span twice:
`otel_seen` remembers each span and record for two days (a retry comes within minutes; a Collector's
persistent queue replays within hours), and then forgets it, or it would grow with every span ever
received. Child spans end, and are exported, before their `invoke_agent` parent names the agent:
until it does, their events wait in `otel_pending`; a trace whose agent span never comes (some
instrumentation makes none) is let go after the idle timeout as a task of its service.
"""

from __future__ import annotations

import sqlite3
import time

import msgspec

from agentmon.events import UNKNOWN_AGENT, Event, TaskEnd, TaskStart, time_prefix
from agentmon.store.otel_agents import agent_at, agent_spans, children, record_agent_spans, root_of, take_resolved
from agentmon.store.sql import in_chunks

_event_decoder = msgspec.json.Decoder(Event)
SEEN_KEEP_SECONDS = 2 * 86400
FORGET_AT_ONCE = 5000  # spans forgotten per commit at most: a long-unpruned table is trimmed a step a time


def forget_old_spans(conn: sqlite3.Connection, now: float) -> int:
    """Forget the spans and records seen first, and timed, more than SEEN_KEEP_SECONDS ago; return
    how many. Keys begin with their span's (or record's) time, so the old ones are a range of the
    primary key: no second index to keep up at every insert. One that came late keeps its two days."""
    cutoff = now - SEEN_KEEP_SECONDS
    forgotten = 0
    for kind in ("s", "l"):  # spans, log records (agentmon.sources.otlp)
        forgotten += conn.execute(
            "DELETE FROM otel_seen WHERE key IN (SELECT key FROM otel_seen WHERE key > ? AND key < ? AND at < ?"
            " LIMIT ?)",
            (kind, kind + time_prefix(cutoff), cutoff, FORGET_AT_ONCE),
        ).rowcount
    return forgotten


def traces_waited_out(conn: sqlite3.Connection, now: float, wait_seconds: float) -> list[Event]:
    """The events of traces whose spans have waited `wait_seconds` (the idle timeout, 30 minutes:
    an agent's task may run long between spans) since the last of them with no invoke_agent span
    come to name their agent, as with instrumentation that makes `chat` and `execute_tool` spans
    but no agent span: each such trace becomes a task of its first span's service, outcome unknown,
    from its first event to its last. Later spans of the trace join it; an invoke_agent span that
    comes even later starts a task of its own agent."""
    cutoff = now - wait_seconds  # only the rows that old are read (an index), not all that wait
    stale = [
        t
        for (t,) in conn.execute(
            "SELECT DISTINCT trace_id FROM otel_pending o INDEXED BY otel_pending_by_time WHERE at < ? AND NOT EXISTS"
            " (SELECT 1 FROM otel_pending n WHERE n.trace_id = o.trace_id AND n.at >= ?)",
            (cutoff, cutoff),
        )
    ]
    by_trace: dict[str, list] = {}
    for trace, ev in _take_waiting(conn, stale):
        by_trace.setdefault(trace, []).append(ev)
    events: list[Event] = []
    named: list[tuple[str, str, float]] = []  # (trace id, agent, its last event's time)
    invoked = agent_spans(conn, list(by_trace))
    for trace, waited in by_trace.items():
        if trace in invoked:  # outside every agent's invocation, and no root span came: the outermost agent's
            root = root_of(invoked[trace])[0]
            events += [msgspec.structs.replace(ev, agent=root) for ev in waited]
            continue
        waited.sort(key=lambda ev: ev.ts)
        agent = waited[0].agent if waited[0].agent != "?" else UNKNOWN_AGENT  # "?": waited before agents were kept
        first, last = waited[0].ts, max(ev.ts for ev in waited)
        events.append(TaskStart(ts=first, agent=agent, task=trace))
        events += [msgspec.structs.replace(ev, agent=agent) for ev in waited]
        events.append(
            TaskEnd(ts=last, agent=agent, task=trace, outcome="unknown", reason="its trace has no invoke_agent span")
        )
        named.append((trace, agent, last))
    conn.executemany("INSERT OR REPLACE INTO otel_traces (trace_id, agent, ts) VALUES (?, ?, ?)", named)
    return events


def _take_waiting(conn: sqlite3.Connection, traces: list[str]) -> list[tuple[str, Event]]:
    """The waiting events of these traces, taken out of otel_pending."""
    if not traces:
        return []
    rows = in_chunks(conn, "SELECT trace_id, event FROM otel_pending WHERE trace_id IN ({})", traces)
    if rows:  # most traces named in a request had nothing waiting: no delete for them
        in_chunks(conn, "DELETE FROM otel_pending WHERE trace_id IN ({})", list({t for t, _ in rows}))
    return [(trace, _event_decoder.decode(blob)) for trace, blob in rows]


def otel_events(conn: sqlite3.Connection, mapped: list) -> list[Event]:
    """The events of the spans and records not counted before; events of traces whose agent is
    still unknown wait in otel_pending until the trace's invoke_agent span names it."""
    keys = list({m.key for m in mapped})
    seen = {k for (k,) in in_chunks(conn, "SELECT key FROM otel_seen WHERE key IN ({})", keys)}
    fresh, now = [], time.time()
    for m in mapped:
        if m.key not in seen:
            seen.add(m.key)
            fresh.append(m)
    conn.executemany("INSERT INTO otel_seen (key, at) VALUES (?, ?)", [(m.key, now) for m in fresh])
    named = {m.trace_agent[0]: m.trace_agent[1] for m in fresh if m.trace_agent}
    # Each agent's invocation (otel_agents), in place of otel_traces: a span that names no agent works for the one
    # its time falls in. otel_traces names the traces let go as a service's task, and those named before m021.
    record_agent_spans(conn, [(*m.trace_agent, *m.agent_span) for m in fresh if m.trace_agent and m.agent_span])
    events = [ev for m in fresh for ev in m.events]
    agentless = [ev for m in fresh for ev in m.agentless]
    unnamed = {ev.task for ev in agentless}
    invoked = agent_spans(conn, list(unnamed | named.keys()))
    unknown = [trace for trace in unnamed if trace not in invoked]
    known = dict(in_chunks(conn, "SELECT trace_id, agent FROM otel_traces WHERE trace_id IN ({})", unknown))
    waiting = []
    for ev in agentless:
        spans = invoked.get(ev.task)
        agent = known.get(ev.task) if spans is None else agent_at(spans, ev.ts)
        if agent is None:
            waiting.append((ev.task, msgspec.json.encode(ev), now))
        else:
            events.append(msgspec.structs.replace(ev, agent=agent))
    conn.executemany("INSERT INTO otel_pending (trace_id, event, at) VALUES (?, ?, ?)", waiting)
    resolved = {trace: invoked[trace] for trace in named if trace in invoked}
    events += take_resolved(conn, resolved)
    for trace, spans in resolved.items():  # the subagents: again at each of the trace's agent spans (idempotent)
        events += children(trace, spans)
    return events
