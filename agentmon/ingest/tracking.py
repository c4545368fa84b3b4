"""Which files the ingester follows, and where each is now (agentmon.ingest.tail has what happens to files).

Each scan matches the files on disk to the tracked ones by device and inode: a file found where it
was is checked (fingerprint and marker) and read on; one that moved, or whose copy carries its
fingerprint (rotation, copytruncate), is followed there, whatever its name; one that is gone is
finished through its open descriptor and retired. A retired record's content found again (a rotation
that landed mid-scan, or while agentmon was down) is read on from where it stopped. A file under a
rotated name that no record claims is read whole, except on the first look at a directory, when it
is history. One machine read under two host names counts its files once: a file is also known by
its host's boot id (agentmon.ingest.boot).

Every descriptor is checked to be the file its stat named (the same device and inode) before it is
used, so a record never takes another file's inode; and at most `descriptor_cap` are held at once.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Container
from pathlib import Path
from typing import Any, NamedTuple

from agentmon.ingest.documents import INSPECT
from agentmon.ingest.filesystem import FileKey, FileStat, FileSystem
from agentmon.ingest.tail import (
    FP_MAX,
    FP_MIN_TO_MATCH,
    Seen,
    Tracked,
    digest,
    marker_at,
    resumable,
)
from agentmon.store.writer import Store

MAX_OPEN_FILES = 256  # follow mode keeps at most this many descriptors open (fewer under a low limit)
MAX_ONE_SHOT_FILES = 4096  # and a one-shot ingest: past it, a file is opened again to be read
MAX_RETIRED = 1000  # retired records whose content is looked for in files found (the latest)
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
        self.roots = [*paths, *map(str, extra_files)]  # the store's records under these are ours
        self.keep_open = keep_open  # follow mode: hold descriptors so deleted files can be finished
        self.clock = clock
        self.error = error  # a file that cannot be read: the ingester's last error
        self.tracked: dict[int, Tracked] = {}
        # Retired records that read something: a file found with that content continues where they stopped.
        self.retired: dict[int, Tracked] = {}
        self.known_roots: set[str] = set()  # roots with files recorded before: see _known
        self._max_open: int | None = None  # descriptor_cap, asked when a descriptor is first kept
        self._open: OrderedDict[int, Tracked] = OrderedDict()  # the records holding a descriptor, oldest first
        self._seen: tuple[str | None, float] = (None, 0.0)  # the boot id and time last told the store

    @property
    def max_open(self) -> int:
        """How many descriptors may be held at once (descriptor_cap): a pass that opens none never asks."""
        if self._max_open is None:
            self._max_open = descriptor_cap(self.keep_open)
        return self._max_open

    def stored(self) -> list[dict[str, Any]]:
        """The store's records of the files under our paths, read on this host."""
        # Only ours: another run may follow other directories into the same database, and their
        # files are not ours to retire.
        return [
            row
            for row in self.store.files()
            if row["host"] == self.fs.host and any(_within(row["path"], root) for root in self.roots)
        ]

    def load(self, rows: list[dict[str, Any]]) -> None:
        """Track the line files among `rows` (eval logs are agentmon.ingest.documents')."""
        self.close_all()
        self.tracked = {row["id"]: Tracked.from_row(row) for row in rows if row["format"] != INSPECT}
        self.known_roots = {root for root in self.paths if self.store.has_files_under(self.fs.host, root)}
        gone = self.store.retired_files(self.fs.host, FP_MIN_TO_MATCH, MAX_RETIRED)
        self.retired = {
            row["id"]: Tracked.from_row(row)
            for row in reversed(gone)  # oldest first: the first dropped when more are retired
            if row["format"] != INSPECT and any(_within(row["path"], root) for root in self.roots)
        }

    def identities(self) -> set[FileKey]:
        return {(t.dev, t.ino) for t in self.tracked.values()}

    def walk(self) -> tuple[list[str], list[str], list[str]]:
        """The files under our paths: primary, rotated-looking, documents (agentmon.ingest.tail.discover)."""
        boot, now = self.fs.boot_id, self.clock()
        if boot is not None and self._seen[0] is None:  # as told by the last run: rerun at once, it writes nothing
            self._seen = self.store.host_seen(self.fs.host) or self._seen
        if boot is not None and (boot != self._seen[0] or not 0 <= now - self._seen[1] < SEEN_EVERY_SECONDS):
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
        flush: Callable[[], bool],
    ) -> int:
        """Match the files found to the tracked ones: follow the moved, take the new, retire the gone.
        Return the bytes unread.

        A file about to be retired is first read to its end from its open descriptor (`finish(t,
        final)`, final when it was deleted), and what was read is committed (`flush`) before any
        record moves. A file no record claims is, by its content: where a lost record went (renamed
        or copied, whatever its name), a retired record's content come back (a rotation that raced a
        scan or a crash), a copy of a followed file not yet truncated (left for now), or new.
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
        orphans: dict[int, Tracked] = {}
        backlog = 0
        for t in list(self.tracked.values()):
            t.listed = None  # until this scan has checked it again
            hit = found.get((t.dev, t.ino))
            if hit is None:
                orphans[t.id] = t
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
                orphans[t.id] = t
        if orphans and not self._finish(list(orphans.values()), finish, flush):
            return backlog  # another writer moved an offset: everything was reloaded, the next scan goes on
        unclaimed = [(key, hit) for key, hit in found.items() if key not in claimed]
        new: list[_New] = []
        if unclaimed:
            index = _ContentIndex([*self.tracked.values(), *self.retired.values()])
            movable = orphans.keys() | self.retired.keys()
            kept = 0  # descriptors of new files kept for _track_new, within the cap
            for key, (path, st, is_primary) in unclaimed:
                opened = self._open_as(path, key)
                if opened is None:
                    continue  # changed since the stat: the next scan looks again
                fd, size = opened
                head = self.fs.pread(fd, min(size, FP_MAX), 0)
                owner = index.owner(self.fs, fd, size, head, prefer=movable)
                if owner is None:
                    if kept >= self.max_open:
                        self.fs.close(fd)
                        opened = None
                    kept += opened is not None
                    new.append(_New(path, st, is_primary, head, opened))
                elif owner.id in orphans or owner.id in self.retired:  # where it went: continue in it
                    orphans.pop(owner.id, None)
                    self._move(owner, path, key, fd)
                    claimed.add(key)
                    backlog += max(0, size - owner.offset)
                else:  # a copy of a file followed where it is (copytruncate, before the truncation)
                    self.fs.close(fd)
        for t in orphans.values():
            self._retire(t)
        if new:
            backlog += self._track_all_new(new)
        self.known_roots.update(self.paths)
        return backlog

    def _track_all_new(self, new: list[_New]) -> int:
        """Follow the files found for the first time, recorded in one transaction (a first look at
        ~/.claude/projects finds hundreds); return the bytes they have unread."""
        new.sort(key=lambda n: not n.primary)  # primary names first: a rotated-looking copy of one is then known
        fresh = _ContentIndex([])
        backlog = 0
        boot = self.fs.boot_id
        elsewhere = boot is not None and self.store.other_names(self.fs.host, boot)
        try:
            with self.store.transaction():
                for n in new:
                    if not n.primary and fresh.copy_of(n.head):
                        if n.opened is not None:
                            self.fs.close(n.opened[0])
                        continue  # a copy of a file just found: the next scan sees whether it was truncated
                    archive = not n.primary and not self._known(n.path)
                    taken, unread = self._track_new(n, archive=archive, elsewhere=elsewhere)
                    backlog += unread
                    if taken is not None:
                        fresh.add(taken)
        except BaseException:
            self.load(self.stored())  # what the rolled-back transaction had recorded is not tracked
            raise
        return backlog

    def _finish(
        self, orphans: list[Tracked], finish: Callable[[Tracked, bool], None], flush: Callable[[], bool]
    ) -> bool:
        """Read to its end each orphan still open (deleted, or moved out of sight) and commit it; False:
        the commit conflicted and the tracked files were reloaded."""
        finished = False
        for t in orphans:
            if t.fd is not None:
                st = self.fs.fstat(t.fd)
                if resumable(self.fs, t.fd, st.st_size, t):
                    finish(t, st.st_nlink == 0)
                    finished = True
        return not finished or flush()

    def _move(self, t: Tracked, path: str, key: FileKey, fd: int) -> None:
        """`t`'s content is at `path` now (renamed, or a copy): follow it there, reading on from its offset.
        A record left on that inode is stale: the store retires it."""
        self.close(t)
        self.retired.pop(t.id, None)
        for other in [o for o in self.tracked.values() if (o.dev, o.ino) == key and o.id != t.id]:
            self.close(other)
            del self.tracked[other.id]
        t.path, t.seen, t.state = path, None, "active"
        t.dev, t.ino = key
        self.store.update_file(t.id, path=path, dev=key[0], ino=key[1], state="active")
        self.tracked[t.id] = t
        self._hold(t, fd)

    def _retire(self, t: Tracked) -> None:
        """`t` is nowhere to be seen: retire it, remembering its content in case it comes back."""
        self.close(t)
        self.store.update_file(t.id, state="gone")
        self.tracked.pop(t.id, None)  # a stale record another took the inode of (_move) is gone already
        t.state = "gone"
        if t.offset > 0 and t.fp_len >= FP_MIN_TO_MATCH:
            self.retired[t.id] = t
            while len(self.retired) > MAX_RETIRED:
                del self.retired[next(iter(self.retired))]

    def _known(self, path: str) -> bool:
        """Whether `path` is under a root looked at before: a file found there under a rotated name was
        then rotated since, and is read; on the first look, it is history."""
        return any(_within(path, root) for root in self.known_roots)

    def _open_as(self, path: str, key: FileKey) -> tuple[int, int] | None:
        """A descriptor of `path`, and its size, if it is still the file `key` (a stat moments ago)."""
        try:
            fd = self.fs.open(path)
        except OSError as e:
            self.error(f"cannot read {path}: {e.strerror}")
            return None
        st = self.fs.fstat(fd)
        if (st.st_dev, st.st_ino) != key:  # replaced between the stat and the open
            self.fs.close(fd)
            return None
        return fd, st.st_size

    def _track_new(self, n: _New, *, archive: bool, elsewhere: bool) -> tuple[Tracked | None, int]:
        """Follow a file found for the first time; return it and the bytes it has unread. An `archive`
        (a rotated name on the first look at its directory) is followed from its end. `elsewhere`: another
        host name was read on this boot of this machine, and may read this file."""
        path, st, opened = n.path, n.stat, n.opened
        key = (st.st_dev, st.st_ino)
        other = None
        if elsewhere and self.fs.boot_id is not None:  # is it a file another host name already reads? (ingest.boot)
            other = self.store.same_file_elsewhere(self.fs.host, self.fs.boot_id, st.st_dev, st.st_ino)
            if other is not None and self.clock() - other["seen"] < FOLLOWED_SECONDS:
                self.error(
                    f"{path} is {other['path']}, already read: one file on one machine, "
                    "under two host names, counts once"
                )
                if opened is not None:
                    self.fs.close(opened[0])
                return None, 0
        if opened is None:
            opened = self._open_as(path, key)
            if opened is None:
                return None, 0
        fd, size = opened
        if other is not None:  # read under a name nobody follows now: go on from where it stopped
            t = Tracked.from_row(other)
            if resumable(self.fs, fd, size, t):
                t.path = path
                self.store.update_file(t.id, host=self.fs.host, path=path)
            else:  # not the content that record counted: that record is over
                self.store.update_file(t.id, state="gone")
                other = None
        if other is None:
            fp_len, fp_hash = len(n.head), digest(n.head)  # the head is min(size, FP_MAX) bytes: the fingerprint
            start = self._archive_end(fd, size) if archive else {}
            t = Tracked.from_row(self.store.add_file(path, *key, fp_len, fp_hash, host=self.fs.host, **start))
            if (t.fp_len, t.fp_hash) != (fp_len, fp_hash) and not resumable(self.fs, fd, size, t):
                # A stale record of this inode (its file was deleted, the inode reused): retire it.
                self.store.update_file(t.id, state="gone")
                t = Tracked.from_row(self.store.add_file(path, *key, fp_len, fp_hash, host=self.fs.host, **start))
            if (t.offset, t.fp_len, t.fp_hash) == (0, fp_len, fp_hash):  # new, and just looked at
                t.listed = Seen(size, st.st_mtime_ns)
        self.tracked[t.id] = t
        self._hold(t, fd)  # the drain reads it next (a one-shot ingest closes it after: release)
        return t, max(0, size - t.offset)

    def _archive_end(self, fd: int, size: int) -> dict[str, Any]:
        """Where an archive starts to be read: its end (a last line without its newline is skipped to
        its end when it ends)."""
        if size == 0:
            return {}
        partial = self.fs.pread(fd, 1, size - 1) != b"\n"
        return {"offset": size, "marker": marker_at(self.fs, fd, size), "skipping": partial}

    # --- descriptors -------------------------------------------------------------

    def descriptor(self, t: Tracked, path: str) -> int | None:
        """An open descriptor of `t` at `path`; None if it is not there (or no longer `t`)."""
        if t.fd is not None and t.path == path:
            return t.fd
        self.close(t)
        opened = self._open_as(path, (t.dev, t.ino))
        if opened is None:
            return None
        self._hold(t, opened[0])
        return t.fd

    def _hold(self, t: Tracked, fd: int) -> None:
        """Keep `fd` as `t`'s; past the cap, the descriptor opened longest ago is closed (reopened by
        path when needed): any number of files, within the process's limit."""
        self.close(t)
        t.fd = fd
        self._open[t.id] = t
        while len(self._open) > self.max_open:
            _, oldest = self._open.popitem(last=False)
            self.close(oldest)

    def close(self, t: Tracked) -> None:
        if t.fd is not None:
            fd, t.fd = t.fd, None
            self._open.pop(t.id, None)
            self.fs.close(fd)

    def close_all(self) -> None:
        for t in list(self._open.values()):
            self.close(t)
        for t in self.tracked.values():
            self.close(t)

    def release(self) -> None:
        """After a drain: a one-shot ingest closes its descriptors (follow mode keeps them, within the cap)."""
        if not self.keep_open:
            self.close_all()


class _New(NamedTuple):
    """A file no record claims, looked at: to be followed from its start (or its end: an archive)."""

    path: str
    stat: FileStat
    primary: bool
    head: bytes  # its first min(size, FP_MAX) bytes
    opened: tuple[int, int] | None  # (descriptor, size), or None: closed, to open again


class _ContentIndex:
    """Records by fingerprint: whose content a file found holds (fingerprint, and marker at the offset)."""

    def __init__(self, records: list[Tracked]):
        self.by_len: dict[int, dict[str, list[Tracked]]] = {}
        for t in records:
            self.add(t)

    def add(self, t: Tracked) -> None:
        if t.fp_len >= FP_MIN_TO_MATCH:
            self.by_len.setdefault(t.fp_len, {}).setdefault(t.fp_hash, []).append(t)

    def owner(self, fs: FileSystem, fd: int, size: int, head: bytes, prefer: Container[int]) -> Tracked | None:
        """The record whose content the open file holds, those in `prefer` first; None: new content."""
        best = None
        for n, by_hash in self.by_len.items():
            if n > len(head):
                continue
            for t in by_hash.get(digest(head[:n]), ()):
                if size >= t.offset and (t.offset == 0 or marker_at(fs, fd, t.offset) == t.marker):
                    if t.id in prefer:
                        return t
                    best = best or t
        return best

    def copy_of(self, head: bytes) -> bool:
        return any(digest(head[:n]) in by_hash for n, by_hash in self.by_len.items() if n <= len(head))


def descriptor_cap(keep_open: bool) -> int:
    """How many descriptors the tracker may hold at once: a quarter of the process's limit, and while
    following at most MAX_OPEN_FILES (a one-shot ingest holds one per file from its check to its read)."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    most = MAX_OPEN_FILES if keep_open else MAX_ONE_SHOT_FILES
    if soft == resource.RLIM_INFINITY:
        return most
    return max(8, min(most, soft // 4))


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
