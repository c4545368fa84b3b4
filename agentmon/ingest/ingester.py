"""The ingest pipeline: tailed lines -> events -> one store transaction per batch.

One reads the local paths, and one each ssh:// host (agentmon.remote.follow). It reads lines and commits
them; which files to read is agentmon.ingest.tracking's, and eval logs, read whole, agentmon.ingest.documents'.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from agentmon.config import IDLE_TASK_SECONDS
from agentmon.errors import BadLine, OffsetConflict
from agentmon.ingest.commits import Commits, InlineCommits
from agentmon.ingest.documents import Documents, Waiting
from agentmon.ingest.files import LOCAL
from agentmon.ingest.filesystem import FileSystem
from agentmon.ingest.tail import (
    DEFAULT_MAX_LINE,
    MARKER_BYTES,
    Chunk,
    Seen,
    Tracked,
    digest,
    read_chunk,
    resumable,
)
from agentmon.ingest.tracking import FileTracker
from agentmon.sources.detect import CLAUDE_CODE, OTLP_JSON, detect
from agentmon.store.writer import Store

if TYPE_CHECKING:  # with the first line to parse: a pass with nothing new loads no parser, nor msgspec
    from agentmon.events import Event
    from agentmon.ingest.isolate import ChunkPart
    from agentmon.sources.claude_code import ClaudeCodeSource
    from agentmon.store.batch import Batch, FileAdvance

READ_BYTES = 4 << 20
# agentmon.sources.claude_code.AGENT_PREFIX, named here so that a pass with nothing new loads no parser
# (tests/test_startup.py holds the two equal).
CLAUDE_CODE_AGENTS = "claude-code:"
# A drain with more to read than this commits in a second process (agentmon.ingest.commits) while it parses,
# when what it parses costs about what committing does: Claude Code transcripts, OTLP JSON lines. It
# pays from ~20 MB (starting the child costs ~0.1 s of the other core). Native events are cheap to
# parse: committing is all their time, and a second process would only add its memory (~55 MB).
PARALLEL_BYTES = 32 << 20
PARSE_HEAVY = (CLAUDE_CODE, OTLP_JSON)
BATCH_SECONDS = 0.5  # a file written without pause still commits this often: lines show up promptly
# A local file read to its end whose modification time is older than this tells by its size and time that it
# is unchanged (committed with its offset, FileAdvance.seen): a write since would have moved the time on.
# Younger, a write in the same tick of the file system's clock could leave both as they were.
SETTLED_NS = 3_000_000_000


@dataclass
class IngestStats:
    files: int = 0
    lines: int = 0
    events: int = 0
    quarantined: int = 0
    last_error: str | None = None
    stored_error: str | None = None  # the last_error already written to the database
    waiting: list[Waiting] = field(default_factory=list)  # eval logs the last scan found being written
    to_read: int = 0  # bytes the last scan found unread
    read: int = 0  # of those, read since (for a progress line: agentmon.ingest.progress)

    def error(self, message: str) -> None:
        """Record what went wrong last: shown as it happens, stored at the end of the drain."""
        self.last_error = message


class Ingester:
    """Reads every complete new line under `paths` into `store`, exactly once."""

    def __init__(
        self,
        store: Store,
        paths: Sequence[str | Path],
        *,
        max_line: int = DEFAULT_MAX_LINE,
        batch_lines: int = 10_000,
        keep_open: bool = False,
        idle_task_seconds: float = IDLE_TASK_SECONDS,
        clock: Callable[[], float] = time.time,
        extra_files: Sequence[Path] = (),
        eval_agent: str | None = None,
        eval_pass_values: tuple[str, ...] | None = None,  # None: agentmon.sources.inspect_ai.PASSING
        fs: FileSystem = LOCAL,
        rename_agent: Callable[[str], str] | None = None,
    ):
        self.store = store
        # Where batches commit: here, or in a second process while this one parses (a bulk drain: see
        # _add_chunk, which starts it, and drain, which ends it).
        self._inline = InlineCommits(store)
        self.commits: Commits = self._inline
        self.fs = fs  # where the files are: this machine, or a remote host (agentmon.remote)
        self.rename_agent = rename_agent  # --host-prefix: the agent names of this source, namespaced
        # The parsers load with the first line to parse: a pass with nothing new imports none of them.
        self._claude_code: ClaudeCodeSource | None = None
        self.idle_task_seconds = idle_task_seconds
        self.clock = clock
        # The parts are handed the stats, not this object: no reference cycle keeps a finished
        # ingester, and its store's caches, alive until the garbage collector comes by.
        self.stats = IngestStats()
        self.files = FileTracker(
            fs,
            store,
            [fs.root(os.fspath(p)) for p in paths],
            [Path(os.path.abspath(f)) for f in extra_files],
            keep_open=keep_open,
            clock=clock,
            error=self.stats.error,
        )
        self.documents = Documents(
            fs,
            store,
            error=self.stats.error,
            clock=clock,
            eval_agent=eval_agent,
            eval_pass_values=eval_pass_values,
        )
        self.max_line = max_line
        self.batch_lines = batch_lines
        self._batch_started: float | None = None  # monotonic time of the first chunk not yet committed
        self.backlog = 0  # bytes the last scan found unread (see PARALLEL_BYTES)
        self.parallel_bytes = PARALLEL_BYTES
        self._bulk = False  # this drain has a large backlog and no commit process yet
        # Set, a drain stops between chunks (a first read of gigabytes must not hold up quitting the
        # monitor or stopping a service); what it read is committed, the rest read next time.
        self.stop = threading.Event()
        self._batch: Batch | None = None  # made with the first chunk read into it
        self._parts: list[ChunkPart] = []  # the batch's chunks: to commit it apart if the store cannot take it
        # Batches handed to self.commits and not yet known committed, oldest first, with their chunks.
        self._unsettled: dict[int, tuple[Batch, list[ChunkPart]]] = {}
        self._published_waiting: list[Waiting] | None = None  # what the database lists as being written
        self._load()

    @property
    def batch(self) -> Batch:
        """The batch being read into, not yet committed."""
        if self._batch is None:
            from agentmon.store.batch import Batch

            self._batch = Batch(host=self.fs.host)
        return self._batch

    @property
    def claude_code(self) -> ClaudeCodeSource:
        if self._claude_code is None:
            from agentmon.sources.claude_code import ClaudeCodeSource

            self._claude_code = ClaudeCodeSource(self.store.session_prompts, self.store.claude_code_state)
        return self._claude_code

    @property
    def tracked(self) -> dict[int, Tracked]:
        return self.files.tracked

    @property
    def paths(self) -> list[str]:
        return self.files.paths

    def _load(self) -> None:
        rows = self.files.stored()
        self.files.load(rows)
        self.documents.load(rows)

    def close(self) -> None:
        self.files.close_all()

    # --- one pass ----------------------------------------------------------------

    def run_once(self) -> IngestStats:
        """Scan the paths and ingest everything complete that is new."""
        self.scan()
        self.drain(idle_clock=self.clock)
        if not self.stop.is_set():  # never after a cut pass: the lines it left may belong to the tasks it would end
            self.close_idle()
        return self.stats

    def close_idle(self, now: float | None = None) -> None:
        """End, unlabeled, the Claude Code tasks that have had no line for the idle timeout (at `now`, by
        default the ingester's clock).

        Idempotent: the end is a pure function of the task's last line, so a repeat changes nothing.
        """
        now = self.clock() if now is None else now
        if self.store.nothing_idle(CLAUDE_CODE_AGENTS, self.idle_task_seconds, now):
            return  # a pass with nothing new writes nothing
        from agentmon.store.batch import Batch, CloseIdle

        self._commit(
            Batch(host=self.fs.host, close_idle=CloseIdle(CLAUDE_CODE_AGENTS, self.idle_task_seconds, now)), wait=True
        )

    def _publish_error(self) -> None:
        if self.stats.last_error != self.stats.stored_error:
            self.store.set_last_error(self.stats.last_error)
            self.stats.stored_error = self.stats.last_error

    def scan(self) -> None:
        """Match the files on disk to the tracked ones (agentmon.ingest.tracking); read the eval logs that changed."""
        primary, rotated, documents = self.files.walk()
        primary += self.documents.ingest(documents, self.files.identities(), commit=self._commit_document)
        self.stats.waiting = sorted(self.documents.waiting.values())
        if self.stats.waiting != self._published_waiting:  # the first scan too: a list left by the last run goes
            self.store.set_waiting_documents(self.fs.host, self.stats.waiting)
            self._published_waiting = self.stats.waiting
        self.backlog = self.files.match(primary, rotated, finish=self._drain_file, flush=self.flush)
        self.stats.files = len(self.files.tracked) + len(self.documents.rows)
        self.stats.to_read, self.stats.read = self.backlog, 0

    # --- reading -----------------------------------------------------------------

    def drain(self, idle_clock: Callable[[], float] | None = None) -> None:
        """Read every tracked file to its last complete line and commit. `idle_clock`: the caller ends the
        idle tasks next, at this time; a commit process started for a large read does it before it ends."""
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
            if idle_clock is not None and self.commits is not self._inline and not self.stop.is_set():
                # The commit process ends the idle tasks too: it has the store's code loaded, which this
                # process would load for that alone, after the last line.
                self.close_idle(idle_clock())
        finally:
            self._bulk = False
            # A commit process, if _add_chunk started one, ends with the drain. Closing waits for it: a
            # batch still in flight (when an error is on its way up) is committed or not, whole, before
            # anyone reloads the committed offsets.
            commits, self.commits = self.commits, self._inline
            commits.close()
        self._publish_error()
        self.files.release()

    def _drain_file(self, t: Tracked, final: bool = False) -> None:
        """Read `t` to its last complete line; `final`: it was deleted, read it all, stop or not."""
        listed, t.listed = (None if final else t.listed), None
        if listed is not None and listed == t.seen:
            return  # as this pass's scan found it: read to its end already
        fd = t.fd if t.fd is not None else self.files.descriptor(t, t.path)
        if fd is None:
            return
        while not self.stop.is_set() or final:
            if listed is not None:  # found and checked by this pass's scan, moments ago: read up to what it saw
                size, mtime = listed
                listed = None
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
                t.seen = Seen(size, mtime)
                return
            settled = whole and not final and self.fs is LOCAL and time.time_ns() - mtime > SETTLED_NS
            if not self._add_chunk(chunk, seen=Seen(size, mtime) if settled else None):
                return  # another writer got there first: `t` is stale
            if whole and not final:
                t.seen = Seen(size, mtime)  # what was written since is the next pass's
                return

    def _quarantine_tail(self, t: Tracked, fd: int, size: int) -> None:
        """A deleted file's last line never got its newline: keep it as evidence, not as data."""
        head = self.fs.pread(fd, 200, t.offset)
        chunk = Chunk(
            file=t,
            start=t.offset,
            end=size,
            lines=[],
            too_long=[],
            tail_too_long=False,
            skipping=False,
            marker="",
            fp_len=t.fp_len,
            fp_hash=t.fp_hash,
        )
        self._add_chunk(chunk, [(t.offset, "file deleted with an incomplete last line", head)])

    def _add_chunk(
        self, chunk: Chunk, extra_bad: list[tuple[int, str, bytes]] | None = None, seen: Seen | None = None
    ) -> bool:
        """Parse `chunk` into the batch, and commit the batch when it is full. False: a commit conflicted.
        `seen`: the file's size and time, read to its end by this chunk, for later runs (FileAdvance.seen)."""
        from agentmon.ingest.isolate import ChunkPart
        from agentmon.store.batch import FileAdvance, Quarantined

        t = chunk.file
        batch = self.batch
        bad = list(extra_bad or ())
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
            from agentmon.ingest.commits import CommitProcess

            self.commits = CommitProcess.start(self.store) or self.commits  # drain closes it
        events = batch.events
        self._parts.append(
            ChunkPart(
                file_id=t.id,
                path=t.path,
                format=t.format,
                start=chunk.start,
                lines_end=chunk.too_long[-1][0] if chunk.tail_too_long else chunk.end if chunk.lines else chunk.start,
                end=chunk.end,
                marker=chunk.marker,
                events=len(events),
                otel=len(batch.otel),
                prompts=len(batch.prompts),
                bad=len(batch.bad),
                facts=len(batch.facts),
                held=len(batch.held),
            )
        )
        off = chunk.start
        if t.format == CLAUDE_CODE:
            self.claude_code.begin_chunk(t.path, chunk.start)
            parse, path = self.claude_code.parse, t.path
            for line in chunk.lines:
                if line and not (long_at and off in long_at):
                    try:
                        events.extend(parse(line, path))
                    except BadLine as e:
                        bad.append((off, str(e), line))
                off += len(line) + 1
            events.extend(self.claude_code.end_chunk())  # how each session's last turn ended, so far
            batch.prompts.extend(self.claude_code.new_prompts)
            self.claude_code.new_prompts.clear()
            batch.facts.extend(self.claude_code.take_facts())
            batch.held.extend(self.claude_code.take_held())
        elif t.format == OTLP_JSON:
            from agentmon.sources.otlp import parse_json_line as parse_otlp_line

            for line in chunk.lines:
                if line.strip() and not (long_at and off in long_at):
                    try:
                        batch.otel.extend(parse_otlp_line(line))
                    except BadLine as e:
                        bad.append((off, str(e), line))
                off += len(line) + 1
        else:
            from agentmon.sources.native import parse_line

            for line in chunk.lines:
                if line and not (long_at and off in long_at):
                    try:
                        events.append(parse_line(line))
                    except BadLine as e:
                        if line.strip():  # blank lines are skipped, not quarantined
                            bad.append((off, str(e), line))
                off += len(line) + 1
        for off, reason, head in bad:
            batch.bad.append(Quarantined(file_id=t.id, path=t.path, offset=off, reason=reason, excerpt=head))
        n_lines = len(chunk.lines) + chunk.tail_too_long + len(extra_bad or ())
        batch.lines += n_lines
        batch.advances.append(
            FileAdvance(
                file_id=t.id,
                old_offset=t.offset,
                offset=chunk.end,
                marker=chunk.marker,
                fp_len=chunk.fp_len,
                fp_hash=chunk.fp_hash,
                skipping=chunk.skipping,
                lines=n_lines,
                quarantined=len(bad),
                format=new_format,
                seen=seen,
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
        batch, parts = self._batch, self._parts
        self._batch_started = None
        if batch is None or not batch.advances:
            return self._commit(None, wait)
        self._batch, self._parts = None, []
        self._rename(batch)
        batch = _merge_advances(batch)
        self._unsettled[id(batch)] = (batch, parts)
        return self._commit(batch, wait)

    def _rename(self, batch: Batch) -> None:
        if self.rename_agent is not None:
            batch.events = self._renamed(batch.events)
            if batch.held:
                renamed = self._renamed([h.event for h in batch.held])
                batch.held = [h._replace(event=ev) for h, ev in zip(batch.held, renamed)]
            for m in batch.otel:
                m.events = self._renamed(m.events)
                if m.trace_agent:
                    m.trace_agent = (m.trace_agent[0], self.rename_agent(m.trace_agent[1]))

    def _commit(self, batch: Batch | None, wait: bool) -> bool:
        try:
            self._count(self.commits.submit(batch) if batch is not None else [])
            if wait:
                self._count(self.commits.settle())
        except OffsetConflict as e:
            return self._conflict(e)
        except Exception as e:
            from agentmon.ingest.isolate import can_isolate

            if not can_isolate(e) or not self._unsettled:
                self._forget()
                raise
            return self._commit_apart(batch, wait)
        except BaseException:
            self._forget()
            raise
        return True

    def _commit_apart(self, batch: Batch | None, wait: bool) -> bool:
        """The oldest batch not yet committed raised (agentmon.ingest.isolate): commit it apart, then `batch`
        if it waited behind it."""
        from agentmon.ingest.isolate import commit_apart

        failed, parts = self._unsettled.pop(next(iter(self._unsettled)))
        try:
            done, blamed = commit_apart(
                self.store, failed, parts, self._read_again, self.store.session_prompts, self._rename
            )
        except OffsetConflict as e:
            return self._conflict(e)
        except BaseException:
            self._forget()
            raise
        self._count(done)
        for q in blamed:
            self.stats.error(f"{q.path}:{q.offset}: {q.reason}")
        if batch is not None and id(batch) in self._unsettled:
            return self._commit(batch, wait)
        return True

    def _read_again(self, part: ChunkPart) -> list[bytes] | None:
        """A chunk's lines, read again from its file; None if they are no longer there as they were read."""
        if part.lines_end <= part.start:
            return []
        t = self.tracked.get(part.file_id)
        fd = None if t is None else self.files.descriptor(t, t.path)
        if fd is None:
            return None
        start = max(0, min(part.start, part.end - MARKER_BYTES))  # the lines, and the bytes of the marker
        raw = self.fs.pread(fd, part.end - start, start)
        if len(raw) != part.end - start or digest(raw[-MARKER_BYTES:]) != part.marker:
            return None
        return raw[part.start - start : part.lines_end - start].split(b"\n")[:-1]

    def _count(self, done: list[Batch]) -> None:
        for b in done:
            self._unsettled.pop(id(b), None)
            self.stats.lines += b.lines
            self.stats.events += len(b.events) + len(b.held)
            self.stats.quarantined += len(b.bad)

    def _conflict(self, e: OffsetConflict) -> bool:
        self.stats.error(str(e))
        self._forget()
        return False

    def _commit_document(self, batch: Batch) -> bool:
        batch.events = self._renamed(batch.events)
        return self._commit(batch, wait=True)

    def _renamed(self, events: list[Event]) -> list[Event]:
        if self.rename_agent is None:
            return events
        import msgspec

        return [msgspec.structs.replace(ev, agent=self.rename_agent(ev.agent)) for ev in events]

    def abandon(self) -> None:
        """Drop everything read but not committed (the link to a remote host broke mid-read):
        the next pass reads it again from the committed offsets."""
        self._batch, self._parts = None, []
        self._batch_started = None
        self._forget()

    def _forget(self) -> None:
        """Nothing of the batch is stored: drop what it moved in memory, and reload the truth."""
        self._unsettled.clear()
        self.close()
        self._load()
        if self._claude_code is not None:
            self._claude_code.reset()


def _subagents_last(t: Tracked) -> tuple[bool, str]:
    name = os.path.basename(t.path)
    return name.startswith("agent-") or os.path.basename(os.path.dirname(t.path)) == "subagents", t.path


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
