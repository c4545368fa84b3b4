"""LLM requests logged more than once count once, with the largest usage seen.

Claude Code writes a line per content block of a streamed message and repeats the usage on each
(the last carries the final output tokens); a transcript and its copy may both be read. The
first sight of a request (`request_id`) is an llm_call; a repeat adds only what the usage grew
by, to the task the request was first seen in; `llm_requests` remembers each across batches.
"""

from __future__ import annotations

import sqlite3

import msgspec

from agentmon.events import LlmCall
from agentmon.store.pricing import NANO, Pricer
from agentmon.store.sql import in_chunks
from agentmon.store.taskstate import UsageDelta


def load_requests(conn: sqlite3.Connection, events: list) -> dict[str, list | None]:
    """The stored rows of the requests this batch repeats (None: first seen in this batch)."""
    ids = list({ev.request_id for ev in events if type(ev) is LlmCall and ev.request_id is not None})
    found: dict[str, list | None] = dict.fromkeys(ids)
    for rid, *row in in_chunks(conn, "SELECT * FROM llm_requests WHERE request_id IN ({})", ids):
        found[rid] = row
    return found


def dedupe_request(ev: LlmCall, ts: float, requests: dict[str, list | None], pricer: Pricer) -> tuple:
    """(event, cost): the first sight of a request is an llm_call; a repeat only adds what its
    usage grew by (elementwise maximum), to the task the request was first seen in."""
    row = requests[ev.request_id]
    usage = [ev.input_tokens, ev.output_tokens, ev.cache_read_tokens, ev.cache_write_tokens]
    if row is None:
        cost = event_cost(ev, ts, pricer)
        requests[ev.request_id] = [ev.agent, ev.task, ts, *usage, cost or 0, cost is not None, ev.cache_write_1h_tokens]
        return ev, cost
    agent, task, first_ts, *old, old_cost, priced, old_1h = row
    new = [max(a, b) for a, b in zip(old, usage)]
    new_1h = max(old_1h, ev.cache_write_1h_tokens)
    cost = old_cost
    if ev.cost_usd is not None:
        cost = max(old_cost, round(ev.cost_usd * NANO))
    elif priced and (new != old or new_1h != old_1h):
        cost = pricer.cost_nanos(ev.model, first_ts, *new, new_1h) or 0
    if new == old and cost == old_cost and new_1h == old_1h:
        return None, None
    requests[ev.request_id] = [agent, task, first_ts, *new, cost, priced, new_1h]
    delta = UsageDelta(ts=first_ts, agent=agent, task=task, tokens=tuple(n - o for n, o in zip(new, old)))
    return delta, cost - old_cost


def event_cost(ev, ts: float, pricer: Pricer) -> int | None:
    """Nano-dollars of an llm_call or cost event: its own cost_usd, else genai-prices; None: unpriced."""
    if ev.cost_usd is not None:
        return round(ev.cost_usd * NANO)
    return pricer.cost_nanos(
        ev.model,
        ts,
        ev.input_tokens,
        ev.output_tokens,
        ev.cache_read_tokens,
        ev.cache_write_tokens,
        ev.cache_write_1h_tokens,
    )


_USAGE = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens")


def merge_repeat(repeated: dict[str, list], ev: LlmCall, ts: float) -> None:
    """Fold the lines of one request within a batch: the earliest line's task and time, the
    largest usage and cost (the order of the lines does not matter). See merged()."""
    seen = repeated.get(ev.request_id)
    usage = (ev.input_tokens, ev.output_tokens, ev.cache_read_tokens, ev.cache_write_tokens, ev.cache_write_1h_tokens)
    if seen is None:
        repeated[ev.request_id] = [ev, ts, usage, ev.cost_usd]
        return
    if ts < seen[1]:
        seen[0], seen[1] = ev, ts
    seen[2] = tuple(map(max, seen[2], usage))
    if ev.cost_usd is not None and (seen[3] is None or ev.cost_usd > seen[3]):
        seen[3] = ev.cost_usd


def merged(repeated: dict[str, list]):
    """(event, ts) per request folded by merge_repeat: the earliest line carrying the largest usage."""
    for first, ts, usage, cost in repeated.values():
        if (
            usage
            != (
                first.input_tokens,
                first.output_tokens,
                first.cache_read_tokens,
                first.cache_write_tokens,
                first.cache_write_1h_tokens,
            )
            or cost != first.cost_usd
        ):
            first = msgspec.structs.replace(first, **dict(zip(_USAGE, usage)), cost_usd=cost)
        yield first, ts
