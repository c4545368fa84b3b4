"""A year at a steady rate, with retention: the database's bytes per million events, then a year of days whose
file size, status read and first paint must stay flat once retention holds.

A year of 1M events a day cannot be ingested here (365M events, an hour of ingest a day of data). What is real:
one day of the benchmark's fleet (`events_per_day` events of 20 agents, ten events a task) ingested by the real
ingester. What is simulated: each later day is that day's rows copied, shifted by whole days, its tasks renamed
(the task, minute and hour buckets, per-host hour buckets; the all-time totals added), then the retention the
ingesting process applies in steps every minute applied at the day's end (agentmon.store.retention.prune: the
same deletes, all at once). The copies hold no LLM requests or prompts (the fleet's events carry no request ids):
those tables are kept 30 days and measured by the Claude Code part of the benchmark instead.

`python -m agentmon.bench.year [DIR] [EVENTS_PER_DAY] [DAYS]` runs it alone.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

DAY = 86400
TIME_COLUMNS = {  # the tasks' columns that hold a time: shifted with their day
    "model_ts",
    "first_ts",
    "last_ts",
    "end_ts",
    "first_escalation_ts",
    "escalation_reason_ts",
    "rejected_ts",
    "follow_up_ts",
    "rating_ts",
    "labeled_at",
}
CHECKPOINTS = (1, 7, 30, 62, 90, 180, 270, 365, 380)  # days at which the figures are taken (and the last day)


def file_bytes(db: Path) -> int:
    return db.stat().st_size + sum(p.stat().st_size for p in (Path(f"{db}-wal"),) if p.exists())


def bytes_by_table(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """(table or index, bytes) of the largest, from SQLite's dbstat table when it is built in."""
    try:
        return conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 6").fetchall()
    except sqlite3.OperationalError:
        return []


def one_day(workdir: Path, events: int, start: float, say: Callable[[str], object]) -> Path:
    """The real part: a day of `events` events ingested into a new database; prints bytes per million events."""
    from agentmon.bench.run import ingest, write_log

    log, db = workdir / "year-day.jsonl", workdir / "year-day.db"
    for f in (log, db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        f.unlink(missing_ok=True)
    write_log(log, events, seed=3, start=start, span=DAY, prefix="d")
    result = ingest(log, db)
    log.unlink()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = file_bytes(db)
    parts = ", ".join(f"{name} {b / size:.0%}" for name, b in bytes_by_table(conn))
    conn.close()
    say(
        f"size    {result['events']:,} events in one day: {size / 1e6:.1f} MB ="
        f" {size / result['events']:.1f} bytes an event, {size / result['events']:.1f} MB per million events ({parts})"
    )
    return db


def add_day(conn: sqlite3.Connection, k: int, columns: list[str]) -> None:
    """Day `k` (0 the real one): the template's rows shifted by k days, its tasks renamed day by day."""
    shift = k * DAY
    moved = ", ".join(
        f"{c} + {shift}" if c in TIME_COLUMNS else (f"'y{k:03d}' || substr(task, 2)" if c == "task" else c)
        for c in columns
    )
    conn.execute(f"INSERT INTO tasks ({', '.join(columns)}) SELECT {moved} FROM day.tasks")
    for table in ("agg_minute", "agg_hour", "agg_host_hour"):
        counters = [c for (c,) in conn.execute(f"SELECT name FROM pragma_table_info('{table}')") if c != "bucket"]
        names = ", ".join(counters)
        adds = ", ".join(f"{c} = {c} + excluded.{c}" for c in counters if c not in ("agent", "model", "host"))
        conn.execute(  # the day's last tasks end after midnight: their buckets meet the next day's
            f"INSERT INTO {table} (bucket, {names}) SELECT bucket + {shift}, {names} FROM day.{table} WHERE true"
            f" ON CONFLICT DO UPDATE SET {adds}"
        )
    for table, keys in (("agg_total", ("agent", "model")), ("agg_host_total", ("agent", "host"))):
        counters = [c for (c,) in conn.execute(f"SELECT name FROM pragma_table_info('{table}')") if c not in keys]
        sets = ", ".join(f"{c} = {table}.{c} + d.{c}" for c in counters)
        match = " AND ".join(f"{table}.{key} = d.{key}" for key in keys)
        conn.execute(f"UPDATE {table} SET {sets} FROM day.{table} AS d WHERE {match}")
    conn.execute(f"UPDATE agents SET last_ts = last_ts + {DAY}")


def simulate(workdir: Path, say: Callable[[str], object], events_per_day: int = 1_000_000, days: int = 400) -> None:
    """The year: `days` days at `events_per_day`, the last ending now (so `agentmon status` reads it as is)."""
    from agentmon.bench.run import cli_status_seconds, read_cost
    from agentmon.store.retention import Retention, prune
    from agentmon.store.writer import Store
    from agentmon.tui.bench import first_paint

    end = time.time() // DAY * DAY + DAY  # the last day ends at the next midnight (UTC)
    start = end - days * DAY
    template = one_day(workdir, events_per_day, start, say)
    db = workdir / "year.db"
    for f in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        f.unlink(missing_ok=True)
    keep = Retention()
    say(
        f"year    {days} days of {events_per_day:,} events a day, each day the real day's rows shifted (see"
        f" agentmon/bench/year.py), retention at its defaults ({keep.minute_days:.0f} days of minute buckets,"
        f" {keep.hour_days:.0f} of hour buckets and tasks):"
    )
    with Store(db) as store:  # made by this version: incremental vacuum on
        conn = store.conn
        conn.execute("PRAGMA cache_size = -262144")  # 256 MiB: the copies are the simulation's cost, not agentmon's
        conn.execute("ATTACH DATABASE ? AS day", (str(template),))
        columns = [c for (c,) in conn.execute("SELECT name FROM pragma_table_info('tasks')")]
        began, largest = time.perf_counter(), 0
        for k in range(days):
            conn.execute("BEGIN")
            if k:
                add_day(conn, k, columns)
            else:
                _first_day(conn, columns)
            conn.execute("COMMIT")
            now = start + (k + 1) * DAY
            done = prune(conn, keep, now)
            day = k + 1
            if day in CHECKPOINTS or day == days:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                size = file_bytes(db)
                if day >= (keep.task_days or 0):
                    largest = max(largest, size)
                status = read_cost(db, "24h", now, repeat=5)
                paint = first_paint(db, now)
                say(
                    f"        day {day:>3}: file {size / 1e6:8,.0f} MB ({size / (day * events_per_day):5.1f}"
                    f" MB per million events so far), status snapshot (24h) {status * 1e3:5.1f} ms, first paint"
                    f" {paint:.2f} s; that day forgot {done.tasks:,} tasks, {done.minutes:,} minute buckets,"
                    f" {done.pages:,} pages ({time.perf_counter() - began:.0f} s simulated so far)"
                )
        conn.execute("DETACH DATABASE day")
    cli = cli_status_seconds(db)
    say(
        f"year    after {days} days: {file_bytes(db) / 1e9:.2f} GB, `agentmon status --json` {cli * 1e3:.0f} ms"
        + (
            f"; from day {keep.task_days:.0f} on (retention holding) the file stayed under {largest / 1e9:.2f} GB"
            f" = {largest / events_per_day / 1e3:.1f} kB per daily event"
            if largest
            else f"; run {keep.task_days:.0f} days or more to see it stop growing"
        )
    )
    template.unlink()


def _first_day(conn: sqlite3.Connection, columns: list[str]) -> None:
    """Day 0: the real day's rows as they are."""
    conn.execute(f"INSERT INTO tasks ({', '.join(columns)}) SELECT {', '.join(columns)} FROM day.tasks")
    for table in ("agg_minute", "agg_hour", "agg_host_hour", "agg_total", "agg_host_total", "agents"):
        conn.execute(f"INSERT INTO {table} SELECT * FROM day.{table}")


if __name__ == "__main__":
    args = sys.argv[1:]
    with tempfile.TemporaryDirectory(prefix="agentmon-year-") as tmp:
        where = Path(args[0]) if args else Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        simulate(
            where,
            lambda s: print(s, flush=True),
            int(args[1]) if len(args) > 1 else 1_000_000,
            int(args[2]) if len(args) > 2 else 400,
        )
