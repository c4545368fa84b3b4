"""Inspect AI eval logs (`.json`, `.eval`): documents read whole, not tailed by line.

An eval log is rewritten as its run goes, never appended to, so it is read again whole whenever its
size or modification time changed; its row in `files` keeps those (as `offset` and `marker`). A
`.json` file may instead hold OTLP JSON lines (the Collector's file exporter names its files so):
those are handed back, to be tailed like any other line file.

A log is read as soon as it reads whole (a zip whose directory reads, a JSON document that parses),
however new: `inspect eval … && agentmon ingest logs/ && agentmon gate …` needs no sleep. One that does
not read whole waits while it may still be being written (an eval still running; a file modified within
the settle time), listed as waiting; past that it is quarantined as a file, and the others count.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from agentmon.errors import BadLine
from agentmon.ingest.filesystem import FileKey, FileStat, FileSystem
from agentmon.sources.detect import OTLP_JSON, detect
from agentmon.store.writer import Store

if TYPE_CHECKING:
    from agentmon.store.batch import Batch

DOCUMENT_SETTLE_SECONDS = (
    2.0  # an eval log that does not read whole, modified more recently, may still be being written
)
INSPECT = "inspect"  # the `format` of an eval log's row in `files`


class Documents:
    """The eval logs under the ingester's paths, by device and inode: their rows in `files`."""

    def __init__(
        self,
        fs: FileSystem,
        store: Store,
        *,
        error: Callable[[str], None],
        clock: Callable[[], float],
        eval_agent: str | None,
        eval_pass_values: tuple[str, ...] | None,
    ):
        self.fs = fs
        self.store = store
        self.error = error  # a file that cannot be read: the ingester's last error
        self.clock = clock
        self.eval_agent, self.eval_pass_values = eval_agent, eval_pass_values  # None: inspect_ai.PASSING
        self.rows: dict[FileKey, dict[str, Any]] = {}
        self.waiting: dict[str, Waiting] = {}  # path → the log not read yet because it is being written
        # Evals found running, with the size and mtime they had then: not reread till these change.
        self._running: dict[FileKey, tuple[tuple[int, int], Waiting]] = {}

    def load(self, rows: list[dict[str, Any]]) -> None:
        self.rows = {(row["dev"], row["ino"]): row for row in rows if row["format"] == INSPECT}

    def ingest(self, paths: list[str], followed: Container[FileKey], commit: Callable[[Batch], bool]) -> list[str]:
        """Read whole the Inspect AI logs among `paths` that are new or changed; return the others
        that hold OTLP JSON lines. `followed`: the files already tailed as such. `commit` stores a
        log's results and its row's move in one transaction (False: not stored)."""
        line_files: list[str] = []
        self.waiting = {}
        for path in paths:
            try:
                st = self.fs.stat(path)
                key = (st.st_dev, st.st_ino)
                if key in followed:  # known to hold OTLP JSON lines: no need to look again
                    line_files.append(path)
                    continue
                if self._unchanged(key, st):
                    continue
                running = self._running.get(key)
                if running is not None and running[0] == (st.st_size, st.st_mtime_ns):
                    self.waiting[path] = running[1]
                    continue
                fd = self.fs.open(path)
                try:
                    opened = self.fs.fstat(fd)
                    head = self.fs.pread(fd, 4096, 0)
                finally:
                    self.fs.close(fd)
            except OSError as e:
                self.error(f"cannot read {path}: {e.strerror}")
                continue
            if (opened.st_dev, opened.st_ino) != key:
                continue  # replaced between the stat and the open: the next scan looks again
            from agentmon.sources import inspect_ai  # loaded with the first document to look into

            if not inspect_ai.looks_like(Path(path), head):
                if detect(head.split(b"\n", 1)[0]) == OTLP_JSON:
                    line_files.append(path)
                continue  # some other JSON document: not a log
            self._read(path, st, commit)
        return line_files

    def _unchanged(self, key: FileKey, st: FileStat) -> bool:
        """An eval log read before and not modified since."""
        row = self.rows.get(key)
        return row is not None and (row["offset"], row["marker"]) == (st.st_size, str(st.st_mtime_ns))

    def _read(self, path: str, st: FileStat, commit: Callable[[Batch], bool]) -> None:
        key = (st.st_dev, st.st_ino)
        from agentmon.sources import inspect_ai
        from agentmon.store.batch import Batch, FileAdvance, Quarantined

        events, bad = [], None
        passing = inspect_ai.PASSING if self.eval_pass_values is None else self.eval_pass_values
        with self.fs.local_copy(path) as copy:
            try:
                events = inspect_ai.read(copy, self.eval_agent, passing)
            except inspect_ai.Unfinished as e:
                if e.running or self.clock() - st.st_mtime < DOCUMENT_SETTLE_SECONDS:
                    self.waiting[path] = Waiting(path, st.st_mtime, str(e))
                    if e.running:
                        self._running[key] = ((st.st_size, st.st_mtime_ns), self.waiting[path])
                    return  # the next scan looks again
                bad = f"cut short: {e}"
            except BadLine as e:
                bad = str(e)
            except Exception as e:  # a reader's failure on a file someone else wrote stops this file alone
                bad = f"not a readable Inspect AI log: {type(e).__name__}: {e}"
            if bad is not None:
                with open(copy, "rb") as f:
                    excerpt = f.read(200) if path.endswith(".json") else b""  # a zip's bytes tell nobody anything
        self._running.pop(key, None)
        row = self.rows.get(key)
        if row is None:
            row = self.store.add_file(path, st.st_dev, st.st_ino, 0, "", host=self.fs.host)
            self.rows[key] = row
        batch = Batch(host=self.fs.host, events=list(events))
        if bad is not None:
            batch.bad.append(Quarantined(row["id"], path, 0, bad, excerpt))
        batch.lines = 1
        # Re-reading a changed log is harmless: a case's result is kept per run, the latest wins.
        batch.advances.append(
            FileAdvance(
                file_id=row["id"],
                old_offset=row["offset"],
                offset=st.st_size,
                marker=str(st.st_mtime_ns),
                fp_len=0,
                fp_hash="",
                skipping=False,
                lines=1,
                quarantined=len(batch.bad),
                format=INSPECT,
            )
        )
        if commit(batch):
            row.update(offset=st.st_size, marker=str(st.st_mtime_ns))


class Waiting(NamedTuple):
    """An eval log not read yet: it does not read whole, and may still be being written."""

    path: str
    since: float  # its modification time
    reason: str
