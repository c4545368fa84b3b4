"""The ingest pipeline: tailed lines -> events -> one store transaction per batch.

The CLI, the TUI and (later) the OTLP receiver all drive this one class.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from agentmon.errors import BadLine, OffsetConflict
from agentmon.ingest.commits import CommitProcess, InlineCommits
from agentmon.ingest.files import LOCAL
from agentmon.ingest.tail import DEFAULT_MAX_LINE, FP_MIN_TO_MATCH, Chunk, Tracked, fingerprint, read_chunk, resumable
from agentmon.sources import inspect_ai
from agentmon.sources.claude_code import AGENT_PREFIX as CLAUDE_CODE_AGENTS
from agentmon.sources.claude_code import ClaudeCodeSource
from agentmon.sources.detect import CLAUDE_CODE, OTLP_JSON, detect
from agentmon.sources.native import parse_line
from agentmon.sources.otlp import parse_json_line as parse_otlp_line
from agentmon.store.batch import Batch, CloseIdle, FileAdvance, Quarantined
from agentmon.store.writer import Store

READ_BYTES = 4 << 20
# A drain with more to read than this commits in a second process (agentmon.ingest.commits) while it parses,
# when what it parses costs about what committing does: Claude Code transcripts, OTLP JSON lines. It
# pays from ~20 MB (starting the child costs ~0.1 s of the other core). Native events are cheap to
# parse: committing is all their time, and a second process would only add its memory (~55 MB).
PARALLEL_BYTES = 32 << 20
PARSE_HEAVY = (CLAUDE_CODE, OTLP_JSON)
BATCH_SECONDS = 0.5  # a file written without pause still commits this often: lines show up promptly
MAX_OPEN_FILES = 256
IDLE_TASK_SECONDS = 30 * 60  # a Claude Code task with no line for this long has ended
# One file under two host names (agentmon.ingest.boot): a name read from this recently is being followed,
# and the file is its; a name not read for longer was dropped or renamed, and its record is taken over.
SEEN_EVERY_SECONDS = 60
FOLLOWED_SECONDS = 3 * SEEN_EVERY_SECONDS
DOCUMENT_SETTLE_SECONDS = 2.0  # an eval log modified more recently may still be being written
INSPECT = "inspect"


@dataclass
class IngestStats:
    files: int = 0
    lines: int = 0
    events: int = 0
    quarantined: int = 0
    last_error: str | None = None
    stored_error: str | None = None  # the last_error already written to the database
    to_read: int = 0  # bytes the last scan found unread
    read: int = 0  # of those, read since (for a progress line: agentmon.ingest.progress)


class Ingester:
    """Reads every complete new line under `paths` into `store`, exactly once."""

    def __init__(
        self,
        store: Store,
        paths: list[Path],
        *,
        max_line: int = DEFAULT_MAX_LINE,
        batch_lines: int = 10_000,
        keep_open: bool = False,
        idle_task_seconds: float = IDLE_TASK_SECONDS,
        clock=time.time,
        extra_files: list[Path] = (),
        eval_agent: str | None = None,
        eval_pass_values: tuple[str, ...] = inspect_ai.PASSING,
        fs=LOCAL,
        rename_agent: Callable[[str], str] | None = None,
    ):
        self.store = store
        # Where batches commit: here, or in a second process while this one parses (see _add_chunk).
        self.commits = InlineCommits(store)
        self.fs = fs  # where the files are: this machine, or a remote host (agentmon.remote)
        self.rename_agent = rename_agent  # --host-prefix: the agent names of this source, namespaced
        self.eval_agent, self.eval_pass_values = eval_agent, eval_pass_values  # for Inspect AI logs
        self.extra_files = [Path(os.path.abspath(f)) for f in extra_files]  # read when they exist (labels)
        self.claude_code = ClaudeCodeSource(store.session_prompts)
        self.idle_task_seconds = idle_task_seconds
        self.clock = clock
        self.paths = [fs.root(p) for p in paths]
        self.max_line = max_line
        self.batch_lines = batch_lines
        self._batch_started: float | None = None  # monotonic time of the first chunk not yet committed
        self.keep_open = keep_open  # follow mode: hold descriptors so deleted files can be finished
        self.stats = IngestStats()
        self.backlog = 0  # bytes the last scan found unread (see PARALLEL_BYTES)
        self.parallel_bytes = PARALLEL_BYTES
        self._bulk = False  # this drain has a large backlog and no commit process yet
        # Set, a drain stops between chunks (a first read of gigabytes must not hold up quitting the
        # monitor or stopping a service); what it read is committed, the rest read next time.
        self.stop = threading.Event()
        self._seen: tuple[str | None, float] = (None, 0.0)  # the boot id and time last told the store
        self.batch = Batch(host=fs.host)
        self._load()

    def _load(self) -> None:
        # Only the files under our paths: another run may follow other directories into the same
        # database, and their files are not ours to retire.
        roots = [str(p) for p in self.paths + self.extra_files]
        rows = [
            row
            for row in self.store.files()
            if row["host"] == self.fs.host and any(_within(row["path"], root) for root in roots)
        ]
        self.tracked = {row["id"]: Tracked.from_row(row) for row in rows if row["format"] != INSPECT}
        self.documents = {(row["dev"], row["ino"]): row for row in rows if row["format"] == INSPECT}

    def close(self) -> None:
        for t in self.tracked.values():
            self._close(t)

    # --- one pass ----------------------------------------------------------------

    def run_once(self) -> IngestStats:
        """Scan the paths and ingest everything complete that is new."""
        self.scan()
        self.drain()
        self.close_idle()
        return self.stats

    def close_idle(self) -> None:
        """End, unlabeled, the Claude Code tasks that have had no line for the idle timeout.

        Idempotent: the end is a pure function of the task's last line, so a repeat changes nothing.
        """
        self._commit(
            Batch(host=self.fs.host, close_idle=CloseIdle(CLAUDE_CODE_AGENTS, self.idle_task_seconds, self.clock())),
            wait=True,
        )

    def _publish_error(self) -> None:
        if self.stats.last_error != self.stats.stored_error:
            self.store.set_last_error(self.stats.last_error)
            self.stats.stored_error = self.stats.last_error

    def scan(self) -> None:
        """Match the files on disk to the tracked ones (see agentmon.ingest.tail)."""
        boot, now = self.fs.boot_id, self.clock()
        if boot is not None and (boot != self._seen[0] or now - self._seen[1] >= SEEN_EVERY_SECONDS):
            self.store.saw_host(self.fs.host, boot, now)
            self._seen = (boot, now)
        primary, rotated, documents = self.fs.walk(self.paths)
        primary += [str(f) for f in self.extra_files if f.is_file()]
        primary += self._ingest_documents(documents)
        found: dict[tuple[int, int], tuple[str, os.stat_result, bool]] = {}
        for is_primary, paths in ((True, primary), (False, rotated)):
            for path in paths:
                try:
                    st = self.fs.stat(path)
                except OSError:
                    continue
                found.setdefault((st.st_dev, st.st_ino), (path, st, is_primary))
        claimed: set[tuple[int, int]] = set()
        orphans = []
        self.backlog = 0
        for t in list(self.tracked.values()):
            t.listed = ()  # until this scan has checked it again
            hit = found.get((t.dev, t.ino))
            if hit is None:
                orphans.append(t)
                continue
            path, st, _ = hit
            if path == t.path and t.seen == (st.st_size, st.st_mtime_ns):
                claimed.add((t.dev, t.ino))
                t.listed = t.seen
                continue
            fd = self._fd(t, path)
            if fd is not None and resumable(self.fs, fd, st.st_size, t):
                claimed.add((t.dev, t.ino))
                t.listed = (st.st_size, st.st_mtime_ns)
                self.backlog += max(0, st.st_size - t.offset)
                if path != t.path:
                    t.path = path
                    self.store.update_file(t.id, path=path)
            else:
                orphans.append(t)
        for t in orphans:
            self._resolve_orphan(t, found, claimed)
        for key, (path, st, is_primary) in found.items():
            if key in claimed or not is_primary:
                continue
            self.backlog += self._track_new(path, st)
        self.stats.files = len(self.tracked) + len(self.documents)
        self.stats.to_read, self.stats.read = self.backlog, 0

    def _ingest_documents(self, paths: list[str]) -> list[str]:
        """Read whole the Inspect AI logs among `paths` that are new or changed; return the others
        that hold OTLP JSON lines (the Collector's file exporter may name its files .json)."""
        line_files = []
        followed = {(t.dev, t.ino) for t in self.tracked.values()}
        for path in paths:
            try:
                st = self.fs.stat(path)
                key = (st.st_dev, st.st_ino)
                if key in followed:  # known to hold OTLP JSON lines: no need to look again
                    line_files.append(path)
                    continue
                if self._unchanged(key, st):
                    continue
                fd = self.fs.open(path)
                try:
                    head = self.fs.pread(fd, 4096, 0)
                finally:
                    self.fs.close(fd)
            except OSError as e:
                self.stats.last_error = f"cannot read {path}: {e.strerror}"
                continue
            if not inspect_ai.looks_like(Path(path), head):
                if detect(head.split(b"\n", 1)[0]) == OTLP_JSON:
                    line_files.append(path)
                continue  # some other JSON document: not a log
            if self.clock() - st.st_mtime < DOCUMENT_SETTLE_SECONDS:
                continue  # still being written: the next scan takes it
            self._ingest_document(path, st)
        return line_files

    def _unchanged(self, key: tuple[int, int], st: os.stat_result) -> bool:
        """An eval log read before and not modified since."""
        row = self.documents.get(key)
        return row is not None and (row["offset"], row["marker"]) == (st.st_size, str(st.st_mtime_ns))

    def _ingest_document(self, path: str, st: os.stat_result) -> None:
        row = self.documents.get((st.st_dev, st.st_ino))
        if row is None:
            row = self.store.add_file(path, st.st_dev, st.st_ino, 0, "", host=self.fs.host)
            self.documents[(st.st_dev, st.st_ino)] = row
        batch = Batch(host=self.fs.host)
        with self.fs.local_copy(path) as copy:
            try:
                batch.events = self._renamed(inspect_ai.read(copy, self.eval_agent, self.eval_pass_values))
            except BadLine as e:
                with open(copy, "rb") as f:
                    batch.bad.append(Quarantined(row["id"], path, 0, str(e), f.read(200)))
        batch.lines = 1
        # Re-reading a changed log is harmless: a case's result is kept per run, the latest wins.
        batch.advances.append(
            FileAdvance(
                row["id"],
                row["offset"],
                st.st_size,
                str(st.st_mtime_ns),
                0,
                "",
                False,
                1,
                len(batch.bad),
                format=INSPECT,
            )
        )
        if self._commit(batch, wait=True):
            row.update(offset=st.st_size, marker=str(st.st_mtime_ns))

    def _resolve_orphan(self, t: Tracked, found: dict, claimed: set) -> None:
        """A tracked file is no longer where and what it was: finish it, follow it, or retire it."""
        if t.fd is not None:  # deleted, or moved out of our paths: read what is left
            st = self.fs.fstat(t.fd)
            if resumable(self.fs, t.fd, st.st_size, t):
                self._drain_file(t, final=st.st_nlink == 0)
        if t.fp_len >= FP_MIN_TO_MATCH:
            for key, (path, st, _) in found.items():
                if key in claimed or st.st_size < t.offset:
                    continue
                try:
                    fd = self.fs.open(path)
                except OSError:
                    continue
                if resumable(self.fs, fd, st.st_size, t):  # a copy or move of t: continue in it
                    self._close(t)
                    t.fd, t.path, t.dev, t.ino, t.seen = fd, path, *key, ()
                    self.store.update_file(t.id, path=path, dev=key[0], ino=key[1])
                    claimed.add(key)
                    return
                self.fs.close(fd)
        self._close(t)
        self.flush()
        self.store.update_file(t.id, state="gone")
        del self.tracked[t.id]

    def _track_new(self, path: str, st: os.stat_result) -> int:
        """Follow a file found for the first time; return the bytes it has unread."""
        other = None
        if self.fs.boot_id is not None:  # is it a file another host name already reads? (agentmon.ingest.boot)
            other = self.store.same_file_elsewhere(self.fs.host, self.fs.boot_id, st.st_dev, st.st_ino)
            if other is not None and self.clock() - other["seen"] < FOLLOWED_SECONDS:
                self.stats.last_error = (
                    f"{path} is {other['path']}, already read: one file on one machine, "
                    "under two host names, counts once"
                )
                return 0
        try:
            fd = self.fs.open(path)
        except OSError as e:
            self.stats.last_error = f"cannot read {path}: {e.strerror}"
            return 0
        if other is not None:  # read under a name nobody follows now: go on from where it stopped
            t = Tracked.from_row(other)
            if resumable(self.fs, fd, st.st_size, t):
                t.path = path
                self.store.update_file(t.id, host=self.fs.host, path=path)
            else:  # not the content that record counted: that record is over
                self.store.update_file(t.id, state="gone")
                other = None
        if other is None:
            fp_len, fp_hash = fingerprint(self.fs, fd, st.st_size)
            t = Tracked.from_row(self.store.add_file(path, st.st_dev, st.st_ino, fp_len, fp_hash, host=self.fs.host))
            if (t.offset, t.fp_len, t.fp_hash) == (0, fp_len, fp_hash):  # new, and just looked at
                t.listed = (st.st_size, st.st_mtime_ns)
        t.fd = fd
        self.tracked[t.id] = t
        if not self.keep_open:
            self._close(t)
        return max(0, st.st_size - t.offset)

    def _fd(self, t: Tracked, path: str) -> int | None:
        if t.fd is not None and t.path == path:
            return t.fd
        self._close(t)
        try:
            t.fd = self.fs.open(path)
        except OSError as e:
            self.stats.last_error = f"cannot read {path}: {e.strerror}"
            return None
        st = self.fs.fstat(t.fd)
        if (st.st_dev, st.st_ino) != (t.dev, t.ino):  # replaced between stat and open
            self._close(t)
            return None
        return t.fd

    def _close(self, t: Tracked) -> None:
        if t.fd is not None:
            fd, t.fd = t.fd, None
            self.fs.close(fd)

    # --- reading -----------------------------------------------------------------

    def drain(self) -> None:
        """Read every tracked file to its last complete line and commit."""
        # Local files only: a remote host's backlog is bound by its link, and each host has its own
        # ingester, so twenty hosts would start twenty commit processes.
        self._bulk, self.backlog = self.fs is LOCAL and self.backlog >= self.parallel_bytes, 0
        try:
            # Sessions' transcripts before subagents' files (<session>/subagents/agent-*.jsonl, or the older
            # agent-*.jsonl beside them): a subagent's lines belong to the prompt that launched them.
            for file_id in [t.id for t in sorted(self.tracked.values(), key=_subagents_last)]:
                t = self.tracked.get(file_id)  # a conflicting commit reloads them all
                if self.stop.is_set():
                    break  # what was read is committed below; the rest is the next run's
                if t is not None:
                    self._drain_file(t)
            self.flush()
        finally:
            self._bulk = False
            if not isinstance(self.commits, InlineCommits):  # see _add_chunk
                commits, self.commits = self.commits, InlineCommits(self.store)
                # Waits for the child: a batch still in flight (when an error is on its way up) is
                # committed or not, whole, before anyone reloads the committed offsets.
                commits.close()
        self._publish_error()
        if not self.keep_open:
            for t in self.tracked.values():
                self._close(t)
        elif sum(t.fd is not None for t in self.tracked.values()) > MAX_OPEN_FILES:
            # Keep the descriptors of the files written most recently; reopen the others by path.
            by_mtime = sorted(self.tracked.values(), key=lambda t: t.seen[1] if t.seen else 0)
            for t in by_mtime[:-MAX_OPEN_FILES]:
                self._close(t)

    def _drain_file(self, t: Tracked, final: bool = False) -> None:
        listed, t.listed = (() if final else t.listed), ()
        if listed and listed == t.seen:
            return  # as this pass's scan found it: read to its end already
        fd = t.fd if t.fd is not None else self._fd(t, t.path)
        if fd is None:
            return
        while not self.stop.is_set() or final:
            if listed:  # found and checked by this pass's scan, moments ago: read up to what it saw
                (size, mtime), listed = listed, ()
            else:
                st = self.fs.fstat(fd)
                size, mtime = st.st_size, st.st_mtime_ns
                if (size, mtime) == t.seen and not final:
                    return
                if not resumable(self.fs, fd, size, t):
                    return  # changed under us: the next scan decides what it became
            whole = size - t.offset <= max(READ_BYTES, self.max_line + 1)  # one read takes it all
            chunk = read_chunk(self.fs, t, fd, size, self.max_line, READ_BYTES)
            if chunk is None:
                if final and size > t.offset:
                    self._quarantine_tail(t, fd, size)
                t.seen = (size, mtime)
                return
            if not self._add_chunk(chunk):
                return  # another writer got there first: `t` is stale
            if whole and not final:
                t.seen = (size, mtime)  # what was written since is the next pass's
                return

    def _quarantine_tail(self, t: Tracked, fd: int, size: int) -> None:
        """A deleted file's last line never got its newline: keep it as evidence, not as data."""
        head = self.fs.pread(fd, 200, t.offset)
        chunk = Chunk(t, t.offset, size, [], [], False, False, "", t.fp_len, t.fp_hash)
        self._add_chunk(chunk, [(t.offset, "file deleted with an incomplete last line", head)])

    def _add_chunk(self, chunk: Chunk, extra_bad: list | None = None) -> bool:
        t = chunk.file
        batch = self.batch
        bad = list(extra_bad or [])
        bad.extend(
            (off, f"line longer than {self.max_line} bytes; skipped to its end", head) for off, head in chunk.too_long
        )
        long_at = {off for off, _ in chunk.too_long}
        new_format = None
        if t.format is None:
            first = next((line for line in chunk.lines if line.strip()), None)
            if first is not None:
                t.format = new_format = detect(first)
        if self._bulk and t.format in PARSE_HEAVY:  # from now on, a second process commits while this one parses
            self._bulk = False
            self.commits = CommitProcess.start(self.store) or self.commits  # drain closes it
        events = batch.events
        off = chunk.start
        if t.format == CLAUDE_CODE:
            self.claude_code.begin_chunk()
            parse, path = self.claude_code.parse, t.path
            for line in chunk.lines:
                if line and not (long_at and off in long_at):
                    try:
                        events.extend(parse(line, path))
                    except BadLine as e:
                        bad.append((off, str(e), line))
                off += len(line) + 1
            batch.prompts.extend(self.claude_code.new_prompts)
            self.claude_code.new_prompts.clear()
        elif t.format == OTLP_JSON:
            for line in chunk.lines:
                if line.strip() and not (long_at and off in long_at):
                    try:
                        batch.otel.extend(parse_otlp_line(line))
                    except BadLine as e:
                        bad.append((off, str(e), line))
                off += len(line) + 1
        else:
            for line in chunk.lines:
                if line and not (long_at and off in long_at):
                    try:
                        events.append(parse_line(line))
                    except BadLine as e:
                        if line.strip():  # blank lines are skipped, not quarantined
                            bad.append((off, str(e), line))
                off += len(line) + 1
        for off, reason, head in bad:
            batch.bad.append(Quarantined(t.id, t.path, off, reason, head))
        n_lines = len(chunk.lines) + chunk.tail_too_long + len(extra_bad or ())
        batch.lines += n_lines
        batch.advances.append(
            FileAdvance(
                t.id,
                t.offset,
                chunk.end,
                chunk.marker,
                chunk.fp_len,
                chunk.fp_hash,
                chunk.skipping,
                n_lines,
                len(bad),
                format=new_format,
            )
        )
        # Later chunks of this file read on from here; a failed commit reloads the truth.
        t.offset, t.marker, t.skipping = chunk.end, chunk.marker, chunk.skipping
        self.stats.read += chunk.end - chunk.start
        t.fp_len, t.fp_hash = chunk.fp_len, chunk.fp_hash
        now = time.monotonic()
        if self._batch_started is None:
            self._batch_started = now
        # An OTLP JSON line is a whole export request: count its spans and records, not the line.
        if (
            batch.lines >= self.batch_lines
            or len(batch.otel) >= self.batch_lines
            or now - self._batch_started >= BATCH_SECONDS
        ):
            return self.flush(wait=False)
        return True

    def flush(self, wait: bool = True) -> bool:
        """Commit the batch: its rows and its offsets together, or neither.

        False when another writer had moved a file's offset: the batch is
        dropped and the files reloaded, so nothing is counted twice. With
        `wait=False` a commit process may still be committing it on return.
        """
        batch = self.batch
        self._batch_started = None
        if not batch.advances:
            return self._commit(None, wait)
        self.batch = Batch(host=self.fs.host)
        if self.rename_agent is not None:
            batch.events = self._renamed(batch.events)
            for m in batch.otel:
                m.events = self._renamed(m.events)
                if m.trace_agent:
                    m.trace_agent = (m.trace_agent[0], self.rename_agent(m.trace_agent[1]))
        return self._commit(_merge_advances(batch), wait)

    def _commit(self, batch: Batch | None, wait: bool) -> bool:
        try:
            done = self.commits.submit(batch) if batch is not None else []
            if wait:
                done += self.commits.settle()
        except OffsetConflict as e:
            self.stats.last_error = str(e)
            self._forget()
            return False
        except BaseException:
            self._forget()
            raise
        for b in done:
            self.stats.lines += b.lines
            self.stats.events += len(b.events)
            self.stats.quarantined += len(b.bad)
        return True

    def _renamed(self, events: list) -> list:
        if self.rename_agent is None:
            return events
        return [msgspec.structs.replace(ev, agent=self.rename_agent(ev.agent)) for ev in events]

    def abandon(self) -> None:
        """Drop everything read but not committed (the link to a remote host broke mid-read):
        the next pass reads it again from the committed offsets."""
        self.batch = Batch(host=self.fs.host)
        self._batch_started = None
        self._forget()

    def _forget(self) -> None:
        """Nothing of the batch is stored: drop what it moved in memory, and reload the truth."""
        self.close()
        self._load()
        self.claude_code.reset()


def _subagents_last(t: Tracked) -> tuple[bool, str]:
    name = os.path.basename(t.path)
    return name.startswith("agent-") or os.path.basename(os.path.dirname(t.path)) == "subagents", t.path


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _merge_advances(batch: Batch) -> Batch:
    """One advance per file: consecutive chunks of a file chain into one offset move."""
    merged: dict[int, FileAdvance] = {}
    for adv in batch.advances:
        cur = merged.get(adv.file_id)
        if cur is None:
            merged[adv.file_id] = adv
        else:
            adv.old_offset = cur.old_offset
            adv.format = adv.format or cur.format
            adv.lines += cur.lines
            adv.quarantined += cur.quarantined
            merged[adv.file_id] = adv
    batch.advances = list(merged.values())
    return batch
