"""The SQLite store: schema and migrations, the single writer, the ingest transaction.

Everything one batch produced (task states, aggregate deltas, eval results,
quarantined lines and the file offsets that cover them) commits in one
transaction, so a crash at any moment leaves either all of it or none.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from agentmon.errors import AgentmonError, OffsetConflict
from agentmon.events import Cost, EvalResult, LlmCall, TaskEnd, epoch_seconds
from agentmon.store.batch import Batch, CloseIdle
from agentmon.store.follow_ups import changed_follow_ups
from agentmon.store.llm_requests import dedupe_request, event_cost, load_requests, merge_repeat, merged
from agentmon.store.otel_traces import FORGET_AT_ONCE, forget_old_spans, otel_events, traces_waited_out
from agentmon.store.pricing import Pricer
from agentmon.store.sql import in_chunks
from agentmon.store.taskstate import (
    AGG_COLUMNS,
    SIGNAL_EVENTS,
    TASK_FIELDS,
    WIDTH,
    TaskState,
    add_event_signals,
    contribution,
    fold,
    task_row,
)

EXCERPT_BYTES = 200
SCHEMA_VERSION = 12  # the number of migrations in agentmon/schema.py (tests/test_definitions.py checks)
TASK_CACHE_LIMIT = 50_000  # task states kept in memory by the writer between batches


def connect(path: Path | str, readonly: bool = False) -> sqlite3.Connection:
    path = Path(path)
    if readonly:
        if not path.exists():
            raise AgentmonError(f"no database at {path}: run `agentmon ingest PATH` first")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


class WriterLock:
    """One writer per database: an advisory lock on `<db>.lock`, released by the OS on any exit."""

    def __init__(self, db_path: Path):
        self.path = Path(f"{db_path}.lock")
        self.fd: int | None = None

    def acquire(self, wait: bool = False) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise AgentmonError(
                f"{self.path.with_suffix('')} is being written by pid {holder}; "
                "only one ingester per database (readers such as `agentmon status` are fine)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def no_follow_ups(agent: str) -> bool:
    return False


class Store:
    """The single writer of one database."""

    def __init__(
        self,
        path: Path | str,
        wait_for_lock: bool = False,
        track_follow_ups: Callable[[str], bool] = no_follow_ups,
        lock_fd: int | None = None,
    ):
        self.path = Path(path)
        # Follow-ups cost a query per batch and agent: kept only for the agents whose success needs
        # them (agentmon.toml's require_no_follow_up), from the moment the rule is switched on.
        self.track_follow_ups = track_follow_ups
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = WriterLock(self.path)
        if lock_fd is None:
            self.lock.acquire(wait=wait_for_lock)
        else:  # a commit process (agentmon.ingest.commits): its parent holds the lock and handed it down
            self.lock.fd = lock_fd
        self.conn = connect(self.path)
        self.conn.execute("PRAGMA journal_mode = wal")
        self.conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable at checkpoints, never corrupt
        self.conn.execute("PRAGMA cache_size = -32768")  # 32 MiB: the aggregates' hot pages stay in memory
        # Checkpoint the WAL every ~40 MB instead of every 4 MB: small commits (an OTLP request each)
        # spent half their time in checkpoints.
        self.conn.execute("PRAGMA wal_autocheckpoint = 10000")
        (version,) = self.conn.execute("PRAGMA user_version").fetchone()
        if version != SCHEMA_VERSION:
            from agentmon.store.schema import migrate  # imports sqlite-utils: 40 ms, only when there is work

            migrate(self.conn)
        self.pricer = Pricer()
        self._tasks: dict[tuple[str, str], TaskState] = {}
        self._data_version = None  # when another connection commits, the task states above may be stale
        self._forget_spans_at = 0.0  # when to forget the OpenTelemetry spans seen long ago next
        self._agent_spans: dict[str, list[float]] = {}
        self._commit_lock = threading.RLock()
        self._upsert_sql = {name: _upsert_sql(name) for name in AGGREGATES}

    def close(self) -> None:
        self.pricer.save()
        self.conn.close()
        self.lock.release()

    def checkpoint(self) -> None:
        """Copy what the WAL holds into the database file, without waiting for readers."""
        with self._writing():
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- files -----------------------------------------------------------------

    def files(self) -> list[dict]:
        with self._commit_lock:
            return _dicts(self.conn.execute("SELECT * FROM files WHERE state = 'active'"))

    def add_file(self, path: str, dev: int, ino: int, fp_len: int, fp_hash: str, host: str = "") -> dict:
        """Track a file; if another writer already tracks its inode, its record (and offset) wins."""
        with self._writing():  # several sources (local, remote hosts, OTLP) may share this writer
            self.conn.execute(
                "INSERT INTO files (path, dev, ino, fp_len, fp_hash, updated, host) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (path, dev, ino, fp_len, fp_hash, time.time(), host),
            )
            return _dicts(
                self.conn.execute(
                    "SELECT * FROM files WHERE host = ? AND dev = ? AND ino = ? AND state = 'active'", (host, dev, ino)
                )
            )[0]

    def saw_host(self, host: str, boot_id: str, now: float) -> None:
        """`host` (a source's host name; '' this machine) is being read, on this boot (agentmon.ingest.boot)."""
        with self._writing():
            self.conn.execute(
                "INSERT INTO boots VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET"
                " boot_id = excluded.boot_id, seen = excluded.seen",
                (host, boot_id, now),
            )

    def same_file_elsewhere(self, host: str, boot_id: str, dev: int, ino: int) -> dict | None:
        """Another host name's active record of this very file (the same boot of the same machine,
        device and inode), with `seen`, when that name was last read from."""
        with self._commit_lock:
            rows = _dicts(
                self.conn.execute(
                    "SELECT f.*, b.seen FROM files f JOIN boots b ON b.host = f.host WHERE f.dev = ? AND f.ino = ?"
                    " AND f.state = 'active' AND f.host != ? AND b.boot_id = ? AND NOT EXISTS (SELECT 1 FROM files"
                    " g WHERE g.host = ? AND g.dev = f.dev AND g.ino = f.ino AND g.state = 'active') LIMIT 1",
                    (dev, ino, host, boot_id, host),
                )
            )
            return rows[0] if rows else None

    def update_file(self, file_id: int, **values) -> None:
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._writing():
            self.conn.execute(f"UPDATE files SET {sets} WHERE id = ?", (*values.values(), file_id))

    # --- the ingest transaction -----------------------------------------------

    def commit(self, batch: Batch) -> None:
        """Apply a batch atomically; raise OffsetConflict if a file moved under us.

        Thread-safe: the file ingester and the OTLP receiver of one process share this writer."""
        with self._writing():
            self._commit(batch)

    @contextmanager
    def _writing(self):
        """The writer, to this thread alone; a full disk, an I/O error or a lock held too long is said
        in one line that names the database (a batch is then stored whole or not at all)."""
        with self._commit_lock:
            try:
                yield
            except sqlite3.OperationalError as e:
                raise AgentmonError(f"cannot write {self.path}: {e}") from e

    def _commit(self, batch: Batch) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            (version,) = conn.execute("PRAGMA data_version").fetchone()
            if version != self._data_version:  # another connection wrote (a commit process and its parent)
                self._tasks.clear()
                self._data_version = version
            for adv in batch.advances:
                cur = conn.execute(
                    "UPDATE files SET offset = ?, marker = ?, fp_len = ?, fp_hash = ?, skipping = ?,"
                    " lines = lines + ?, quarantined = quarantined + ?, state = ?, updated = ?,"
                    " format = coalesce(?, format) WHERE id = ? AND offset = ?",
                    (
                        adv.offset,
                        adv.marker,
                        adv.fp_len,
                        adv.fp_hash,
                        int(adv.skipping),
                        adv.lines,
                        adv.quarantined,
                        adv.state,
                        time.time(),
                        adv.format,
                        adv.file_id,
                        adv.old_offset,
                    ),
                )
                if cur.rowcount != 1:
                    raise OffsetConflict(f"file #{adv.file_id} was advanced by another writer")
            events = batch.events
            if batch.otel:
                events = events + otel_events(conn, batch.otel)
                now = time.time()
                if now >= self._forget_spans_at:  # every ten minutes; at once while a backlog remains
                    more = forget_old_spans(conn, now) >= FORGET_AT_ONCE
                    self._forget_spans_at = now if more else now + 600
            self._apply_events(events, batch.host)
            if idle := batch.close_idle:  # after the batch's own events: a task that just had one is not idle
                self._apply_events(
                    traces_waited_out(conn, idle.now, idle.idle_seconds)
                    + self._idle_ends(idle.agent_prefix, idle.idle_seconds, idle.now)
                )
            if batch.prompts:
                conn.executemany("INSERT OR IGNORE INTO session_prompts VALUES (?, ?, ?)", batch.prompts)
            if batch.bad:
                now = time.time()
                conn.executemany(
                    "INSERT INTO quarantine (file_id, path, offset, reason, excerpt, at) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (
                            q.file_id,
                            q.path,
                            q.offset,
                            q.reason,
                            q.excerpt[:EXCERPT_BYTES].decode("utf-8", "backslashreplace"),
                            now,
                        )
                        for q in batch.bad
                    ],
                )
            conn.execute(
                "UPDATE ingest_totals SET lines = lines + ?, quarantined = quarantined + ?",
                (batch.lines, len(batch.bad)),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite itself rolls back on a full disk or an I/O error
                conn.execute("ROLLBACK")
            self._tasks.clear()  # the cache may hold states of the rolled-back batch
            raise

    def _apply_events(self, events: list, host: str = "") -> None:
        by_task: dict[tuple[str, str], list] = defaultdict(list)
        deltas: dict[tuple[str, str, int], list[int]] = {}
        evals = []
        requests = load_requests(self.conn, events)  # request_id -> its llm_requests row, as this batch leaves it
        repeated: dict[str, list] = {}  # request_id -> its lines so far (llm_requests.merge_repeat)
        for ev in events:
            ts = ev.ts
            if type(ts) is not float:
                ts = epoch_seconds(ts)
            kind = type(ev)
            if kind is EvalResult:
                evals.append((ev, ts))
                self._touch_agent(ev.agent, ts, ts)
                continue
            cost = None
            if kind in PRICED_EVENTS:
                if kind is LlmCall and ev.request_id is not None:
                    merge_repeat(repeated, ev, ts)  # a request's lines in this batch become one
                    continue
                cost = event_cost(ev, ts, self.pricer)
            by_task[(ev.agent, ev.task)].append((ev, ts, cost))
            if kind in SIGNAL_EVENTS:
                key = (ev.agent, "", host, int(ts // 60) * 60)
                counters = deltas.get(key)
                if counters is None:
                    counters = deltas[key] = [0] * WIDTH
                add_event_signals(counters, ev)
        for ev, ts in merged(repeated):
            ev, cost = dedupe_request(ev, ts, requests, self.pricer)
            if ev is not None:  # None: a repeat that adds nothing
                by_task[(ev.agent, ev.task)].append((ev, ts, cost))
        states = self._load_tasks(list(by_task))
        changed = []
        for key, task_events in by_task.items():
            state = states.get(key)
            if state is None:
                before = []
                state = self._tasks[key] = TaskState(*key, host=host)
            else:
                before = contribution(state)
            for ev, ts, cost in task_events:
                fold(state, ev, ts, cost)
            after = contribution(state)
            if before != after:
                for model, ts, first, values in before:
                    _add(deltas, key[0], model, state.host, ts, first, values, -1)
                for model, ts, first, values in after:
                    _add(deltas, key[0], model, state.host, ts, first, values, 1)
            changed.append(task_row(state))
            self._touch_agent(key[0], state.first_ts, state.last_ts)
        if self._agent_spans:
            self.conn.executemany(
                "INSERT INTO agents VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET"
                " first_ts = min(first_ts, excluded.first_ts), last_ts = max(last_ts, excluded.last_ts)",
                [(agent, *span) for agent, span in self._agent_spans.items()],
            )
            self._agent_spans.clear()
        if requests:
            self.conn.executemany(
                "INSERT OR REPLACE INTO llm_requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(rid, *row) for rid, row in requests.items() if row is not None],
            )
        upsert_tasks = f"INSERT OR REPLACE INTO tasks VALUES ({', '.join('?' * len(TASK_FIELDS))})"
        if changed:
            self.conn.executemany(upsert_tasks, changed)
            tracked = [states.get(k) or self._tasks[k] for k in by_task if self.track_follow_ups(k[0])]
            followed = self._apply_follow_ups(tracked, deltas) if tracked else []
            if followed:
                self.conn.executemany(upsert_tasks, followed)
        self._flush(deltas)
        for ev, ts in evals:
            self._apply_eval(ev, ts)
        if len(self._tasks) > TASK_CACHE_LIMIT:
            self._tasks.clear()

    def _apply_follow_ups(self, touched: list[TaskState], deltas: dict) -> list[tuple]:
        """Move the follow-ups the touched tasks changed (theirs and their same-key neighbours')."""
        rows = []
        changes = changed_follow_ups(self.conn, touched)
        states = self._load_tasks([(agent, task) for agent, task, _ in changes])
        for agent, task, follow_up in changes:
            state = states[(agent, task)]
            before = contribution(state)
            state.follow_up_ts = follow_up
            for model, ts, first, values in before:
                _add(deltas, agent, model, state.host, ts, first, values, -1)
            for model, ts, first, values in contribution(state):
                _add(deltas, agent, model, state.host, ts, first, values, 1)
            rows.append(task_row(state))
        return rows

    def _touch_agent(self, agent: str, first: float, last: float) -> None:
        span = self._agent_spans.get(agent)
        if span is None:
            self._agent_spans[agent] = [first, last]
        else:
            span[0], span[1] = min(span[0], first), max(span[1], last)

    def session_prompts(self, session: str) -> list[tuple[float, str]]:
        """The stored human prompts of a Claude Code session: [(ts, task)], oldest first."""
        with self._commit_lock:
            return self.conn.execute(
                "SELECT ts, task FROM session_prompts WHERE session = ? ORDER BY ts, task", (session,)
            ).fetchall()

    def close_idle_tasks(self, agent_prefix: str, idle_seconds: float, now: float) -> None:
        """End the idle tasks of agents named `agent_prefix…` (see Batch.close_idle)."""
        self.commit(Batch(close_idle=CloseIdle(agent_prefix, idle_seconds, now)))

    def _idle_ends(self, agent_prefix: str, idle_seconds: float, now: float) -> list[TaskEnd]:
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
                reason=f"no event for {idle_seconds / 60:.0f} minutes",
            )
            for agent, task, last in idle
        ]

    def set_last_error(self, message: str | None) -> None:
        """Record the latest ingest problem (an unreadable file, say) for every reader to show."""
        with self._writing():
            self.conn.execute("UPDATE ingest_totals SET last_error = ?, last_error_at = ?", (message, time.time()))

    def set_remote_state(self, source: str, host: str, **values) -> None:
        """A remote source's connection state, for `status` and the monitor (agentmon.remote.follow)."""
        columns = ("source", "host", *values, "updated")
        with self._writing():
            self.conn.execute(
                f"INSERT INTO remote_sources ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
                f" ON CONFLICT DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in columns[2:])}",
                (source, host, *values.values(), time.time()),
            )

    def _load_tasks(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], TaskState]:
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

    def _flush(self, deltas: dict[tuple[str, str, str, int], list[int]]) -> None:
        """Upsert the batch's deltas into the minute, hour and all-time aggregates (by agent and model),
        and the hour and all-time ones by agent and host."""
        hosts = {key[2] for key in deltas}
        single = hosts.pop() if len(hosts) == 1 else None  # the usual batch: one source's tasks
        host_hours: dict = {}
        if single is not None:  # then the host is summed in at the hour level, over fewer rows
            minutes = {(agent, model, minute): vec for (agent, model, _, minute), vec in deltas.items() if any(vec)}
        else:
            minutes = {}
            for (agent, model, host, minute), vec in deltas.items():
                if any(vec):
                    _sum_into(minutes, (agent, model, minute), vec)
                    _sum_into(host_hours, (minute // 3600 * 3600, agent, host), vec)
        hours, totals, host_totals = {}, {}, {}
        for (agent, model, minute), vec in minutes.items():
            _sum_into(hours, (minute // 3600 * 3600, agent, model), vec)
        for (hour, agent, model), vec in hours.items():
            _sum_into(totals, (agent, model), vec)
            if single is not None:
                _sum_into(host_hours, (hour, agent, single), vec)
        for (_, agent, host), vec in host_hours.items():
            _sum_into(host_totals, (agent, host), vec)
        sql = self._upsert_sql
        self.conn.executemany(sql["agg_minute"], [(m, a, mo, *vec) for (a, mo, m), vec in minutes.items()])
        for table, rows in (
            ("agg_hour", hours),
            ("agg_total", totals),
            ("agg_host_hour", host_hours),
            ("agg_host_total", host_totals),
        ):
            self.conn.executemany(sql[table], [(*key, *vec) for key, vec in rows.items()])

    def _apply_eval(self, ev: EvalResult, ts: float) -> None:
        """Keep the latest result of each case in a run (ties: a failure wins), and its run's counts."""
        conn = self.conn
        run = ev.run or ""
        key = (ev.agent, ev.suite, run, ev.case)
        old = conn.execute(
            'SELECT passed, ts, critical FROM eval_results WHERE agent = ? AND suite = ? AND run = ? AND "case" = ?',
            key,
        ).fetchone()
        passed, critical = int(ev.passed), int(ev.critical)
        conn.execute(
            "INSERT INTO eval_runs VALUES (?, ?, ?, ?, 0, 0, 0, ?) ON CONFLICT DO UPDATE SET"
            " newest_ts = max(newest_ts, excluded.newest_ts),"
            " agent_version = CASE WHEN excluded.newest_ts >= newest_ts"
            "   THEN coalesce(excluded.agent_version, agent_version) ELSE agent_version END",
            (ev.agent, ev.suite, run, ts, ev.agent_version),
        )
        if old is not None and (ts, -passed) <= (old[1], -old[0]):
            return
        d_cases = 0 if old else 1
        d_passed = passed - (old[0] if old else 0)
        d_crit = (critical and not passed) - ((old[2] and not old[0]) if old else 0)
        conn.execute(
            "INSERT OR REPLACE INTO eval_results VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (*key, passed, ts, critical, ev.agent_version),
        )
        conn.execute(
            "UPDATE eval_runs SET cases = cases + ?, passed = passed + ?, critical_failed = critical_failed + ?"
            " WHERE agent = ? AND suite = ? AND run = ?",
            (d_cases, d_passed, int(d_crit), ev.agent, ev.suite, run),
        )


PRICED_EVENTS = (LlmCall, Cost)


def _add(deltas: dict, agent: str, model: str, host: str, ts: float, first: int, values: tuple, sign: int) -> None:
    key = (agent, model, host, int(ts // 60) * 60)
    cur = deltas.get(key)
    if cur is None:
        cur = deltas[key] = [0] * WIDTH
    for i, v in enumerate(values, first):
        if v:
            cur[i] += sign * v


def _dicts(cur: sqlite3.Cursor) -> list[dict]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur]


def _sum_into(sums: dict, key: tuple, vec: list[int]) -> None:
    cur = sums.get(key)
    sums[key] = vec if cur is None else [a + b for a, b in zip(cur, vec)]


AGGREGATES = {  # table -> its key columns
    "agg_minute": ("bucket", "agent", "model"),
    "agg_hour": ("bucket", "agent", "model"),
    "agg_total": ("agent", "model"),
    "agg_host_hour": ("bucket", "agent", "host"),
    "agg_host_total": ("agent", "host"),
}


def _upsert_sql(table: str) -> str:
    keys = AGGREGATES[table]
    cols = (*keys, *AGG_COLUMNS)
    updates = ", ".join(f"{c} = {c} + excluded.{c}" for c in AGG_COLUMNS)
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        f" ON CONFLICT DO UPDATE SET {updates}"
    )
