"""The single writer of one database: its connection and lock, the files and hosts it reads, and the
ingest transaction.

Everything one batch produced (task states, aggregate deltas, eval results, quarantined lines and
the file offsets that cover them) commits in one transaction, so a crash at any moment leaves either
all of it or none. What the events change is applied by agentmon.store.apply.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from agentmon.errors import AgentmonError, OffsetConflict
from agentmon.store.lock import WriterLock
from agentmon.store.sql import in_chunks

if TYPE_CHECKING:  # loaded at the first commit with events: a run with nothing new never imports them
    from agentmon.store.apply import Applier
    from agentmon.store.batch import Batch, FileAdvance
    from agentmon.store.pricing import CustomPrice, Pricer
    from agentmon.store.retention import Pruned, Retention, Sweeps

EXCERPT_BYTES = 200
SCHEMA_VERSION = 24  # the number of migrations in agentmon/store/schema.py (tests/test_definitions.py checks)


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
        prices: tuple[CustomPrice, ...] = (),  # agentmon.toml's [prices."glob"]: for models genai-prices lacks
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = WriterLock(self.path)
        if lock_fd is None:
            self.lock.acquire(wait=wait_for_lock)
        else:  # a commit process (agentmon.ingest.commits): its parent holds the lock and handed it down
            self.lock.fd = lock_fd
        self.conn = connect(self.path)
        (version,) = self.conn.execute("PRAGMA user_version").fetchone()
        if version == 0:  # before WAL and the first table, or it takes a full VACUUM (`agentmon prune --vacuum`)
            self.conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # pruned pages go back to the file system
        self.conn.execute("PRAGMA journal_mode = wal")
        self.conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable at checkpoints, never corrupt
        self.conn.execute("PRAGMA cache_size = -32768")  # 32 MiB: the aggregates' hot pages stay in memory
        # Checkpoint the WAL every ~40 MB instead of every 4 MB: small commits (an OTLP request each)
        # spent half their time in checkpoints.
        self.conn.execute("PRAGMA wal_autocheckpoint = 10000")
        if version != SCHEMA_VERSION:  # a new database, or one an older agentmon made
            from agentmon.store.schema import open_schema

            open_schema(self.conn)
        self._track_follow_ups = track_follow_ups
        self.prices = prices
        self._pricer: Pricer | None = None
        self._applier: Applier | None = None
        self._commit_lock = threading.RLock()
        self._sweeps: Sweeps | None = None  # where retention's sweeps are (agentmon.store.retention)

    @property
    def track_follow_ups(self) -> Callable[[str], bool]:
        """Whether an agent's follow-ups are kept (a commit process is handed it too)."""
        return self._track_follow_ups

    @property
    def pricer(self) -> Pricer:
        if self._pricer is None:
            from agentmon.store.pricing import Pricer

            self._pricer = Pricer(custom=self.prices)
        return self._pricer

    @property
    def applier(self) -> Applier:
        """What applies a batch's events (its task states kept between batches), made when first needed."""
        if self._applier is None:
            from agentmon.store.apply import Applier

            self._applier = Applier(self.conn, self.pricer, self._track_follow_ups)
        return self._applier

    def close(self) -> None:
        if self._pricer is not None:
            self._pricer.save()
        self.conn.close()
        self.lock.release()

    def checkpoint(self) -> None:
        """Copy what the WAL holds into the database file, without waiting for readers."""
        with self._writing():
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- files -----------------------------------------------------------------

    def files(self) -> list[dict]:
        with self._commit_lock:
            return _dicts(self.conn.execute("SELECT * FROM files WHERE state = 'active'"))

    def retired_files(self, host: str, min_fp_len: int, limit: int) -> list[dict]:
        """The latest retired records of `host` that read something and can be recognised by content."""
        with self._commit_lock:
            return _dicts(
                self.conn.execute(
                    "SELECT * FROM files WHERE state = 'gone' AND host = ? AND fp_len >= ? AND offset > 0"
                    " ORDER BY updated DESC, id DESC LIMIT ?",
                    (host, min_fp_len, limit),
                )
            )

    def has_files_under(self, host: str, root: str) -> bool:
        """Whether any file under `root` (a path or a directory) of `host` was ever recorded."""
        prefix = root.rstrip("/") + "/"
        with self._commit_lock:
            row = self.conn.execute(
                "SELECT 1 FROM files WHERE host = ? AND (path = ? OR substr(path, 1, ?) = ?) LIMIT 1",
                (host, root, len(prefix), prefix),
            ).fetchone()
            return row is not None

    def add_file(
        self,
        path: str,
        dev: int,
        ino: int,
        fp_len: int,
        fp_hash: str,
        host: str = "",
        *,
        offset: int = 0,
        marker: str = "",
        skipping: bool = False,
    ) -> dict:
        """Track a file, read from `offset` on; if another writer already tracks its inode, its record
        (and offset) wins."""
        with self._writing():  # several sources (local, remote hosts, OTLP) may share this writer
            self.conn.execute(
                "INSERT INTO files (path, dev, ino, fp_len, fp_hash, updated, host, offset, marker, skipping)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (path, dev, ino, fp_len, fp_hash, time.time(), host, offset, marker, int(skipping)),
            )
            return _dicts(
                self.conn.execute(
                    "SELECT * FROM files WHERE host = ? AND dev = ? AND ino = ? AND state = 'active'", (host, dev, ino)
                )
            )[0]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """The store's writes inside, as one transaction: one commit for many small writes (the files a
        scan finds), all of them or none."""
        with self._writing():
            conn = self.conn
            if conn.in_transaction:
                yield
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def saw_host(self, host: str, boot_id: str, now: float) -> None:
        """`host` (a source's host name; '' this machine) is being read, on this boot (agentmon.ingest.boot)."""
        with self._writing():
            self.conn.execute(
                "INSERT INTO boots (host, boot_id, seen) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET"
                " boot_id = excluded.boot_id, seen = excluded.seen",
                (host, boot_id, now),
            )

    def host_seen(self, host: str) -> tuple[str, float] | None:
        """The boot id `host` was last read on, and when (saw_host)."""
        with self._commit_lock:
            row = self.conn.execute("SELECT boot_id, seen FROM boots WHERE host = ?", (host,)).fetchone()
        return None if row is None else (row[0], row[1])

    def other_names(self, host: str, boot_id: str) -> bool:
        """Whether another host name was read on this boot of this machine (see same_file_elsewhere)."""
        with self._commit_lock:
            row = self.conn.execute("SELECT 1 FROM boots WHERE boot_id = ? AND host != ? LIMIT 1", (boot_id, host))
            return row.fetchone() is not None

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

    def update_file(self, file_id: int, **values: object) -> None:
        """Change a file's record. One that takes an inode (or becomes active on one) takes it from any
        other active record of that inode, which is stale (its file gone, the inode reused): that record
        is retired in the same transaction, so two records of one inode can never stop an ingest."""
        if "state" in values:
            values["updated"] = time.time()
        sets = ", ".join(f"{k} = ?" for k in values)
        conn = self.conn
        with self._writing():
            joined = conn.in_transaction  # inside transaction(): its commit is this change's
            if not joined:
                conn.execute("BEGIN IMMEDIATE")
            try:
                if {"host", "dev", "ino"} & values.keys() or values.get("state") == "active":
                    conn.execute(
                        "UPDATE files SET state = 'gone', updated = :now WHERE state = 'active' AND id != :id"
                        " AND (host, dev, ino) = (SELECT coalesce(:host, host), coalesce(:dev, dev),"
                        " coalesce(:ino, ino) FROM files WHERE id = :id)",
                        {
                            "now": time.time(),
                            "id": file_id,
                            "host": values.get("host"),
                            "dev": values.get("dev"),
                            "ino": values.get("ino"),
                        },
                    )
                conn.execute(f"UPDATE files SET {sets} WHERE id = ?", (*values.values(), file_id))
                if not joined:
                    conn.execute("COMMIT")
            except BaseException:
                if not joined and conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    # --- the ingest transaction -----------------------------------------------

    def commit(self, batch: Batch) -> None:
        """Apply a batch atomically; raise OffsetConflict if a file moved under us.

        Thread-safe: the file ingester and the OTLP receiver of one process share this writer."""
        with self._writing():
            self._commit(batch)

    @contextmanager
    def _writing(self) -> Iterator[None]:
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
            if batch.advances:
                self._advance(batch.advances)
            self.applier.apply(batch)
            if batch.prompts:
                conn.executemany(
                    "INSERT OR IGNORE INTO session_prompts (session, ts, task) VALUES (?, ?, ?)", batch.prompts
                )
            if batch.facts:
                from agentmon.store.claude_code_state import save_facts

                save_facts(conn, batch.facts)
            if batch.prompts or batch.facts:  # they may place events held before (agentmon.store.held_events)
                from agentmon.store.held_events import reattribute

                reattribute(self.applier, batch.prompts, batch.facts)
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
            if self._applier is not None:
                self._applier.forget_tasks()
            raise

    def _advance(self, advances: list[FileAdvance]) -> None:
        """Move the files' offsets, each a compare-and-set: all in one statement (a first read moves hundreds)."""
        now = time.time()
        cur = self.conn.executemany(
            "UPDATE files SET offset = ?, marker = ?, fp_len = ?, fp_hash = ?, skipping = ?,"
            " lines = lines + ?, quarantined = quarantined + ?, state = ?, updated = ?,"
            " format = coalesce(?, format), seen_size = ?, seen_mtime_ns = ? WHERE id = ? AND offset = ?",
            [
                (
                    adv.offset,
                    adv.marker,
                    adv.fp_len,
                    adv.fp_hash,
                    int(adv.skipping),
                    adv.lines,
                    adv.quarantined,
                    adv.state,
                    now,
                    adv.format,
                    *(adv.seen or (None, None)),
                    adv.file_id,
                    adv.old_offset,
                )
                for adv in advances
            ],
        )
        if cur.rowcount != len(advances):  # an id is one row: each that did not move was moved by someone else
            moved = dict(
                in_chunks(self.conn, "SELECT id, offset FROM files WHERE id IN ({})", [a.file_id for a in advances])
            )
            stale = next((a for a in advances if moved.get(a.file_id) != a.offset), advances[0])
            raise OffsetConflict(f"file #{stale.file_id} was advanced by another writer")

    def rehearse(self, batch: Batch) -> None:
        """Apply the batch's events and roll them back: raises what committing them would, stores nothing
        (agentmon.ingest.isolate finds a line the store cannot take this way)."""
        with self._writing():
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.applier.apply(batch)
            finally:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                self.applier.forget_tasks()

    def close_idle_tasks(self, agent_prefix: str, idle_seconds: float, now: float) -> None:
        """End the idle tasks of agents named `agent_prefix…` (see Batch.close_idle)."""
        if self.nothing_idle(agent_prefix, idle_seconds, now):
            return  # a pass with nothing new writes nothing, and loads nothing to apply events with
        from agentmon.store.batch import Batch, CloseIdle

        self.commit(Batch(close_idle=CloseIdle(agent_prefix, idle_seconds, now)))

    def prune_step(self, retention: Retention, now: float) -> Pruned:
        """Forget a small step of what is past its retention (agentmon.store.retention)."""
        from agentmon.store.retention import Sweeps, prune_step

        if self._sweeps is None:
            self._sweeps = Sweeps()
        with self._writing():
            return prune_step(self.conn, retention, now, self._sweeps)

    def nothing_idle(self, agent_prefix: str, idle_seconds: float, now: float) -> bool:
        """Whether ending idle tasks would surely change nothing: no open task of those agents last
        seen before the idle time, no OpenTelemetry span waiting since before it (a superset of the
        traces agentmon.store.otel_traces ends: cheap, and never wrong to say False)."""
        cutoff = now - idle_seconds
        with self._commit_lock:
            (any_idle,) = self.conn.execute(
                "SELECT EXISTS (SELECT 1 FROM tasks WHERE agent >= ? AND agent < ? AND end_ts IS NULL AND last_ts < ?)"
                " OR EXISTS (SELECT 1 FROM otel_pending WHERE at < ?)",
                (agent_prefix, agent_prefix + "\uffff", cutoff, cutoff),
            ).fetchone()
        return not any_idle

    # --- what readers show beside the aggregates ---------------------------------

    def session_prompts(self, session: str) -> list[tuple[float, str]]:
        """The stored human prompts of a Claude Code session: [(ts, task)], oldest first."""
        with self._commit_lock:
            return self.conn.execute(
                "SELECT ts, task FROM session_prompts WHERE session = ? ORDER BY ts, task", (session,)
            ).fetchall()

    def claude_code_state(self, session: str) -> list[tuple[str, str, str | None, float]]:
        """What the Claude Code parser stored about a session (agentmon.store.claude_code_state)."""
        from agentmon.store.claude_code_state import load_state

        with self._commit_lock:
            return load_state(self.conn, session)

    def set_last_error(self, message: str | None) -> None:
        """Record the latest ingest problem (an unreadable file, say) for every reader to show."""
        with self._writing():
            self.conn.execute("UPDATE ingest_totals SET last_error = ?, last_error_at = ?", (message, time.time()))

    def set_waiting_documents(self, host: str, waiting: Sequence[tuple[str, float, str]]) -> None:
        """The eval logs of `host` not read yet because they are being written: [(path, since, reason)]."""
        with self._writing():
            self.conn.execute("DELETE FROM waiting_documents WHERE host = ?", (host,))
            self.conn.executemany(
                "INSERT INTO waiting_documents (host, path, since, reason) VALUES (?, ?, ?, ?)",
                [(host, *w) for w in waiting],
            )

    def set_remote_state(self, source: str, host: str, **values: object) -> None:
        """A remote source's connection state, for `status` and the monitor (agentmon.remote.follow)."""
        columns = ("source", "host", *values, "updated")
        with self._writing():
            self.conn.execute(
                f"INSERT INTO remote_sources ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
                f" ON CONFLICT DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in columns[2:])}",
                (source, host, *values.values(), time.time()),
            )


def _dicts(cur: sqlite3.Cursor) -> list[dict]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur]
