"""LLM requests logged more than once count once, with the largest usage seen.

Claude Code writes a line per content block of a streamed message and repeats the usage on each
(the last carries the final output tokens); a transcript and its copy may both be read. The
first sight of a request (`request_id`) is an llm_call; a repeat adds only what the usage grew
by, to the task the request was first seen in; `llm_requests` remembers each across batches.
A request Claude Code logs both in its transcript and in its OpenTelemetry `api_request` event (the same API
request id) counts once too: the larger of each token count (a transcript often keeps a request's first
output count, the event its final one), and the event's `cost_usd` over a genai-prices estimate.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import msgspec

from agentmon.events import LlmCall
from agentmon.store.pricing import NANO, Pricer
from agentmon.store.sql import in_chunks
from agentmon.store.taskstate import UsageDelta


class StoredRequest(NamedTuple):
    """A request's row in llm_requests (after its id): where it was first seen, the largest usage seen."""

    agent: str
    task: str
    ts: float
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_nanos: int
    priced: int  # 2: its log gave its cost (cost_usd); 1: genai-prices priced it; 0: unpriced
    cache_write_1h_tokens: int
    subagent: str | None  # the subagent that made it, from whichever line said so (schema m021)


PRICED_BY_PRICES, PRICED_BY_LOG = 1, 2  # StoredRequest.priced
Requests = dict[str, StoredRequest | None]  # request_id -> its row (None: first seen in this batch)
_COLUMNS = ", ".join(("request_id", *StoredRequest._fields))
_SELECT = f"SELECT {_COLUMNS} FROM llm_requests WHERE request_id IN ({{}})"
_UPSERT = (
    f"INSERT OR REPLACE INTO llm_requests ({_COLUMNS}) VALUES ({', '.join('?' * (1 + len(StoredRequest._fields)))})"
)


def load_requests(conn: sqlite3.Connection, ids: Iterable[str], stored: set[str] | None = None) -> Requests:
    """The stored rows of requests `ids` (None: first seen in this batch). `stored`, when known, holds every
    request id the table has: only those are looked up (a first read finds none)."""
    found: Requests = dict.fromkeys(ids)
    wanted = list(found) if stored is None else [rid for rid in found if rid in stored]
    for rid, *row in in_chunks(conn, _SELECT, wanted):
        found[rid] = StoredRequest(*row)
    return found


def save_requests(conn: sqlite3.Connection, requests: Requests) -> None:
    """Write the rows of the requests this batch saw, as it leaves them."""
    if requests:
        conn.executemany(_UPSERT, [(rid, *row) for rid, row in requests.items() if row is not None])


def no_requests(conn: sqlite3.Connection) -> bool:
    """Whether the table is empty (a new database): then a writer that remembers what it stores knows them all."""
    return conn.execute("SELECT NOT EXISTS (SELECT 1 FROM llm_requests)").fetchone()[0] == 1


def dedupe_request(
    rid: str, ev: LlmCall, ts: float, requests: Requests, pricer: Pricer
) -> tuple[LlmCall | UsageDelta | None, int | None]:
    """(event, cost) of request `rid`: the first sight of a request is an llm_call; a repeat only adds
    what its usage grew by (elementwise maximum), to the task the request was first seen in. (None,
    None): a repeat that adds nothing."""
    row = requests[rid]
    if row is None:
        cost = event_cost(ev, ts, pricer)
        requests[rid] = StoredRequest(
            ev.agent,
            ev.task,
            ts,
            ev.input_tokens,
            ev.output_tokens,
            ev.cache_read_tokens,
            ev.cache_write_tokens,
            cost or 0,
            PRICED_BY_LOG if ev.cost_usd is not None else PRICED_BY_PRICES if cost is not None else 0,
            ev.cache_write_1h_tokens,
            ev.subagent,
        )
        return ev, cost
    old = (row.input_tokens, row.output_tokens, row.cache_read_tokens, row.cache_write_tokens)
    new = (
        max(old[0], ev.input_tokens),
        max(old[1], ev.output_tokens),
        max(old[2], ev.cache_read_tokens),
        max(old[3], ev.cache_write_tokens),
    )
    new_1h = max(row.cache_write_1h_tokens, ev.cache_write_1h_tokens)
    cost, priced = row.cost_nanos, row.priced
    if ev.cost_usd is not None:  # the log's own cost wins over an estimate; of two, the larger (the final one)
        logged = round(ev.cost_usd * NANO)
        cost, priced = (max(cost, logged) if priced == PRICED_BY_LOG else logged), PRICED_BY_LOG
    elif priced == PRICED_BY_PRICES and (new != old or new_1h != row.cache_write_1h_tokens):
        cost = pricer.cost_nanos(ev.model, row.ts, *new, new_1h) or 0
    # A request first seen without its subagent (Claude Code's OpenTelemetry event) is that subagent's once a line
    # says so (its transcript): what it counted so far becomes the subagent's too, whichever came first.
    marked = row.subagent is None and ev.subagent is not None
    if new == old and cost == row.cost_nanos and new_1h == row.cache_write_1h_tokens and not marked:
        return None, None
    subagent = row.subagent or ev.subagent
    requests[rid] = StoredRequest(row.agent, row.task, row.ts, *new, cost, priced, new_1h, subagent)
    grown = (new[0] - old[0], new[1] - old[1], new[2] - old[2], new[3] - old[3])
    delta = UsageDelta(ts=row.ts, agent=row.agent, task=row.task, tokens=grown, subagent=subagent)
    if marked:
        delta.subagent_before = (sum(old), row.cost_nanos)
    return delta, cost - row.cost_nanos


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
        ev.reasoning_tokens,
    )


_USAGE = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens")


def _usage(ev: LlmCall) -> tuple[int, int, int, int, int]:
    return ev.input_tokens, ev.output_tokens, ev.cache_read_tokens, ev.cache_write_tokens, ev.cache_write_1h_tokens


def merge_repeat(repeated: dict[str, list], rid: str, ev: LlmCall, ts: float) -> None:
    """Fold the lines of request `rid` within a batch: the earliest line's task and time, the
    largest usage and cost (the order of the lines does not matter). See merged()."""
    seen = repeated.get(rid)
    if seen is None:  # usage None: that of its only line so far (most requests have one line in a batch)
        repeated[rid] = [ev, ts, None, ev.cost_usd, ev.subagent]
        return
    if seen[4] is None:  # whichever line names the subagent
        seen[4] = ev.subagent
    if seen[2] is None:
        seen[2] = _usage(seen[0])
    if ts < seen[1]:
        seen[0], seen[1] = ev, ts
    seen[2] = tuple(map(max, seen[2], _usage(ev)))
    if ev.cost_usd is not None and (seen[3] is None or ev.cost_usd > seen[3]):
        seen[3] = ev.cost_usd


def merged(repeated: dict[str, list]) -> Iterator[tuple[str, LlmCall, float]]:
    """(request_id, event, ts) per request folded by merge_repeat: the earliest line carrying the
    largest usage."""
    for rid, (first, ts, usage, cost, subagent) in repeated.items():
        if usage is not None and (usage != _usage(first) or cost != first.cost_usd or subagent != first.subagent):
            first = msgspec.structs.replace(first, **dict(zip(_USAGE, usage)), cost_usd=cost, subagent=subagent)
        yield rid, first, ts
