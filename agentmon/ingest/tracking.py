"""Which files the ingester follows, and where each is now (agentmon.ingest.tail has what happens to files).

Each scan matches the files on disk to the tracked ones by device and inode: a file found where it
was is checked (fingerprint and marker) and read on; one that moved, or whose copy carries its
fingerprint (rotation, copytruncate), is followed there; one that is gone is finished through its
open descriptor and retired. One machine read under two host names counts its files once: a file is
also known by its host's boot id (agentmon.ingest.boot).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentmon.ingest.documents import INSPECT
from agentmon.ingest.filesystem import FileKey, FileStat, FileSystem
from agentmon.ingest.tail import FP_MIN_TO_MATCH, Seen, Tracked, fingerprint, resumable
from agentmon.store.writer import Store

MAX_OPEN_FILES = 256  # follow mode keeps at most this many descriptors open
# One file under two host names (agentmon.ingest.boot): a name read from this recently is being followed,
# and the file is its; a name not read for longer was dropped or renamed, and its record is taken over.
SEEN_EVERY_SECONDS = 60
FOLLOWED_SECONDS = 3 * SEEN_EVERY_SECONDS

Found = tuple[str, FileStat, bool]  # (path, stat, primary: matches the patterns, not only a rotated name)


class FileTracker:
    """The files followed under `paths` on `fs`, by their id in the store's `files` table."""

    def __init__(
        self,
        fs: FileSystem,
        store: Store,
        paths: list[str],
        extra_files: list[Path],
        *,
        keep_open: bool,
        clock: Callable[[], float],
        error: Callable[[str], None],
    ):
        self.fs = fs
        self.store = store
        self.paths = paths
        self.extra_files = extra_files  # read when they exist (labels)
        self.keep_open = keep_open  # follow mode: hold descriptors so deleted files can be finished
        self.clock = clock
        self.error = error  # a file that cannot be read: the ingester's last error
        self.tracked: dict[int, Tracked] = {}
        self._seen: tuple[str | None, float] = (None, 0.0)  # the boot id and time last told the store

    def stored(self) -> list[dict[str, Any]]:
        """The store's records of the files under our paths, read on this host."""
        # Only ours: another run may follow other directories into the same database, and their
        # files are not ours to retire.
        roots = [*self.paths, *map(str, self.extra_files)]
        return [
            row
            for row in self.store.files()
            if row["host"] == self.fs.host and any(_within(row["path"], root) for root in roots)
        ]

    def load(self, rows: list[dict[str, Any]]) -> None:
        """Track the line files among `rows` (eval logs are agentmon.ingest.documents')."""
        self.tracked = {row["id"]: Tracked.from_row(row) for row in rows if row["format"] != INSPECT}

    def identities(self) -> set[FileKey]:
        return {(t.dev, t.ino) for t in self.tracked.values()}

    def walk(self) -> tuple[list[str], list[str], list[str]]:
        """The files under our paths: primary, rotated-looking, documents (agentmon.ingest.tail.discover)."""
        boot, now = self.fs.boot_id, self.clock()
        if boot is not None and (boot != self._seen[0] or now - self._seen[1] >= SEEN_EVERY_SECONDS):
            self.store.saw_host(self.fs.host, boot, now)
            self._seen = (boot, now)
        primary, rotated, documents = self.fs.walk(self.paths)
        primary += [str(f) for f in self.extra_files if f.is_file()]
        return primary, rotated, documents

    def match(
        self,
        primary: list[str],
        rotated: list[str],
        *,
        finish: Callable[[Tracked, bool], None],
        flush: Callable[[], object],
    ) -> int:
        """Match the files found to the tracked ones: follow the new, retire the gone. Return the bytes unread.

        A file about to be retired is first read to its end from its open descriptor (`finish(t,
        final)`, final when it was deleted), and what was read is committed (`flush`) before its
        record is.
        """
        found: dict[FileKey, Found] = {}
        for is_primary, paths in ((True, primary), (False, rotated)):
            for path in paths:
                try:
                    st = self.fs.stat(path)
                except OSError:
                    continue
                found.setdefault((st.st_dev, st.st_ino), (path, st, is_primary))
        claimed: set[FileKey] = set()
        orphans = []
        backlog = 0
        for t in list(self.tracked.values()):
            t.listed = None  # until this scan has checked it again
            hit = found.get((t.dev, t.ino))
            if hit is None:
                orphans.append(t)
                continue
            path, st, _ = hit
            if path == t.path and t.seen == (st.st_size, st.st_mtime_ns):
                claimed.add((t.dev, t.ino))
                t.listed = t.seen
                continue
            fd = self.descriptor(t, path)
            if fd is not None and resumable(self.fs, fd, st.st_size, t):
                claimed.add((t.dev, t.ino))
                t.listed = Seen(st.st_size, st.st_mtime_ns)
                backlog += max(0, st.st_size - t.offset)
                if path != t.path:
                    t.path = path
                    self.store.update_file(t.id, path=path)
            else:
                orphans.append(t)
        for t in orphans:
            self._resolve_orphan(t, found, claimed, finish, flush)
        for key, (path, st, is_primary) in found.items():
            if key in claimed or not is_primary:
                continue
            backlog += self._track_new(path, st)
        return backlog

    def _resolve_orphan(
        self,
        t: Tracked,
        found: dict[FileKey, Found],
        claimed: set[FileKey],
        finish: Callable[[Tracked, bool], None],
        flush: Callable[[], object],
    ) -> None:
        """A tracked file is no longer where and what it was: finish it, follow it, or retire it."""
        if t.fd is not None:  # deleted, or moved out of our paths: read what is left
            st = self.fs.fstat(t.fd)
            if resumable(self.fs, t.fd, st.st_size, t):
                finish(t, st.st_nlink == 0)
        if t.fp_len >= FP_MIN_TO_MATCH:
            for key, (path, st, _) in found.items():
                if key in claimed or st.st_size < t.offset:
                    continue
                try:
                    fd = self.fs.open(path)
                except OSError:
                    continue
                if resumable(self.fs, fd, st.st_size, t):  # a copy or move of t: continue in it
                    self.close(t)
                    t.fd, t.path, t.seen = fd, path, None
                    t.dev, t.ino = key
                    self.store.update_file(t.id, path=path, dev=key[0], ino=key[1])
                    claimed.add(key)
                    return
                self.fs.close(fd)
        self.close(t)
        flush()
        self.store.update_file(t.id, state="gone")
        del self.tracked[t.id]

    def _track_new(self, path: str, st: FileStat) -> int:
        """Follow a file found for the first time; return the bytes it has unread."""
        other = None
        if self.fs.boot_id is not None:  # is it a file another host name already reads? (agentmon.ingest.boot)
            other = self.store.same_file_elsewhere(self.fs.host, self.fs.boot_id, st.st_dev, st.st_ino)
            if other is not None and self.clock() - other["seen"] < FOLLOWED_SECONDS:
                self.error(
                    f"{path} is {other['path']}, already read: one file on one machine, "
                    "under two host names, counts once"
                )
                return 0
        try:
            fd = self.fs.open(path)
        except OSError as e:
            self.error(f"cannot read {path}: {e.strerror}")
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
                t.listed = Seen(st.st_size, st.st_mtime_ns)
        t.fd = fd
        self.tracked[t.id] = t
        if not self.keep_open:
            self.close(t)
        return max(0, st.st_size - t.offset)

    # --- descriptors -------------------------------------------------------------

    def descriptor(self, t: Tracked, path: str) -> int | None:
        """An open descriptor of `t` at `path`; None if it is not there (or no longer `t`)."""
        if t.fd is not None and t.path == path:
            return t.fd
        self.close(t)
        try:
            fd = t.fd = self.fs.open(path)
        except OSError as e:
            self.error(f"cannot read {path}: {e.strerror}")
            return None
        st = self.fs.fstat(fd)
        if (st.st_dev, st.st_ino) != (t.dev, t.ino):  # replaced between stat and open
            self.close(t)
            return None
        return fd

    def close(self, t: Tracked) -> None:
        if t.fd is not None:
            fd, t.fd = t.fd, None
            self.fs.close(fd)

    def close_all(self) -> None:
        for t in self.tracked.values():
            self.close(t)

    def release(self) -> None:
        """After a drain: close the descriptors not worth keeping."""
        if not self.keep_open:
            self.close_all()
        elif sum(t.fd is not None for t in self.tracked.values()) > MAX_OPEN_FILES:
            # Keep the descriptors of the files written most recently; reopen the others by path.
            by_mtime = sorted(self.tracked.values(), key=lambda t: t.seen.mtime_ns if t.seen is not None else 0)
            for t in by_mtime[:-MAX_OPEN_FILES]:
                self.close(t)


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
