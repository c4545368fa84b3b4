"""The aggregate tables, and how a batch's changes reach them.

While a batch is applied, what it changes is summed per minute (`Deltas`); at its end the minutes
are summed into hours and all-time totals, by model and by host, and each row touched gets one upsert.
"""

from __future__ import annotations

import sqlite3
from operator import add
from typing import TypeVar

from agentmon.store.taskstate import AGG_COLUMNS, WIDTH, Part

MinuteKey = tuple[str, str, str, int]  # agent, model ("" for none), host, minute
Deltas = dict[MinuteKey, list[int]]  # what a batch adds to each minute, one counter per AGG_COLUMNS

AGGREGATES = {  # table -> its key columns
    "agg_minute": ("bucket", "agent", "model"),
    "agg_hour": ("bucket", "agent", "model"),
    "agg_total": ("agent", "model"),
    "agg_host_hour": ("bucket", "agent", "host"),
    "agg_host_total": ("agent", "host"),
}


def upsert_sql(table: str) -> str:
    """Add a row's counters to what `table` holds under its key."""
    keys = AGGREGATES[table]
    cols = (*keys, *AGG_COLUMNS)
    updates = ", ".join(f"{c} = {c} + excluded.{c}" for c in AGG_COLUMNS)
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        f" ON CONFLICT DO UPDATE SET {updates}"
    )


UPSERTS = {table: upsert_sql(table) for table in AGGREGATES}


def add_change(deltas: Deltas, agent: str, host: str, before: list[Part], after: list[Part]) -> None:
    """Add the change in a task's contribution, `after - before`, to the minutes it falls in."""
    if before == after:
        return
    for sign, parts in ((-1, before), (1, after)):
        for model, ts, first, values in parts:
            key = (agent, model, host, int(ts // 60) * 60)
            counters = deltas.get(key)
            if counters is None:
                counters = deltas[key] = [0] * WIDTH
            for i, v in enumerate(values, first):
                if v:
                    counters[i] += sign * v


def flush(conn: sqlite3.Connection, deltas: Deltas) -> None:
    """Upsert a batch's deltas into the minute, hour and all-time aggregates (by agent and model),
    and the hour and all-time ones by agent and host."""
    hosts = {key[2] for key in deltas}
    single = hosts.pop() if len(hosts) == 1 else None  # the usual batch: one source's tasks
    minute_rows: list[tuple]  # (minute, agent, model, *counters)
    hours: dict[tuple[int, str, str], list[int]] = {}  # (hour, agent, model)
    host_hours: dict[tuple[int, str, str], list[int]] = {}  # (hour, agent, host)
    if single is not None:  # a minute's key is unique without its host, which is summed in at the hour level
        minute_rows = []
        for (agent, model, _, minute), vec in deltas.items():  # one pass: the rows and the hours (~10k a batch)
            if any(vec):
                minute_rows.append((minute, agent, model, *vec))
                key = (minute // 3600 * 3600, agent, model)
                cur = hours.get(key)
                hours[key] = vec if cur is None else list(map(add, cur, vec))  # new lists: `vec` may be another's
    else:
        minutes: dict[tuple[str, str, int], list[int]] = {}  # (agent, model, minute)
        for (agent, model, host, minute), vec in deltas.items():
            if any(vec):
                _sum_into(minutes, (agent, model, minute), vec)
                _sum_into(host_hours, (minute // 3600 * 3600, agent, host), vec)
        minute_rows = [(m, a, mo, *vec) for (a, mo, m), vec in minutes.items()]
        for (agent, model, minute), vec in minutes.items():
            _sum_into(hours, (minute // 3600 * 3600, agent, model), vec)
    totals: dict[tuple[str, str], list[int]] = {}  # (agent, model)
    host_totals: dict[tuple[str, str], list[int]] = {}  # (agent, host)
    for (hour, agent, model), vec in hours.items():
        _sum_into(totals, (agent, model), vec)
        if single is not None:
            _sum_into(host_hours, (hour, agent, single), vec)
    for (_, agent, host), vec in host_hours.items():
        _sum_into(host_totals, (agent, host), vec)
    conn.executemany(UPSERTS["agg_minute"], minute_rows)
    for table, rows in (
        ("agg_hour", hours),
        ("agg_total", totals),
        ("agg_host_hour", host_hours),
        ("agg_host_total", host_totals),
    ):
        conn.executemany(UPSERTS[table], [(*key, *vec) for key, vec in rows.items()])


K = TypeVar("K")


def _sum_into(sums: dict[K, list[int]], key: K, vec: list[int]) -> None:
    cur = sums.get(key)
    sums[key] = vec if cur is None else list(map(add, cur, vec))  # new lists: `vec` may be another sum's
