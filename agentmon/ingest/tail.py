"""Following log files by byte offset: identity, complete lines, rotation, truncation.

A file is known by device + inode and a fingerprint of its first bytes; its
progress by the offset just past the last complete line taken, plus a marker
(a hash of the bytes just before that offset) checked before resuming. This
module never parses a line: it hands out complete lines and their offsets.

What happens to files, and what the tailer does:
- appended: the new complete lines are read; a partial last line waits for its `\n`.
- renamed (rotation): found by inode, under its new name even if that no longer
  matches the patterns (`app.jsonl.1`), and read to its end; a file rotated
  before it was ever seen (two rotations between looks) is read from its name
  `app.jsonl.1` (agentmon.ingest.tracking).
- copied then truncated (copytruncate): the copy carries the fingerprint, so it
  is read from the old offset to its end; the truncated file starts again at 0.
- truncated or rewritten in place: size below the offset, or a marker or
  fingerprint mismatch, restarts it at 0.
- deleted: in follow mode the open descriptor is read to its end.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from agentmon.ingest.filesystem import FileSystem

try:  # hashlib's own blake2b, without hashlib loading OpenSSL (a few ms of every start) for hashes not used
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python without it
    from hashlib import blake2b

PATTERNS = (".jsonl", ".ndjson", ".log")
# Rotated names keep a pattern inside: app.jsonl.1, app.log-20260101, app.jsonl.2026-01-01.
ROTATED = re.compile(r"\.(jsonl|ndjson|log)[.-][^/]*$")
COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip")
FP_MAX = 1024  # fingerprint: a hash of up to this many first bytes
FP_MIN_TO_MATCH = 32  # a shorter fingerprint is too weak to recognise a moved file by
MARKER_BYTES = 64
DEFAULT_MAX_LINE = 1 << 20


def digest(data: bytes) -> str:
    return blake2b(data, digest_size=8).hexdigest()


class Seen(NamedTuple):
    """A file's size and modification time, as looked at once."""

    size: int
    mtime_ns: int


@dataclass
class Tracked:
    """A followed file, as stored in the `files` table plus runtime state."""

    id: int
    path: str
    dev: int
    ino: int
    fp_len: int
    fp_hash: str
    offset: int
    marker: str
    skipping: bool
    state: str = "active"
    format: str | None = None  # found from the first complete line (agentmon.sources.detect)
    fd: int | None = field(default=None, repr=False)  # a descriptor of the file system that has it
    # When last read to its end; None: not yet. Committed with the offset (files.seen_*) for a local file whose
    # modification time was then settled: a later run that finds it so opens nothing (see FileAdvance.seen).
    seen: Seen | None = field(default=None, repr=False)
    # As this pass's scan found it, its content checked: the drain that follows need not ask again
    # (over ssh, each question is a round trip). None: not checked since the last scan.
    listed: Seen | None = field(default=None, repr=False)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Tracked:
        return cls(
            id=row["id"],
            path=row["path"],
            dev=row["dev"],
            ino=row["ino"],
            fp_len=row["fp_len"],
            fp_hash=row["fp_hash"],
            offset=row["offset"],
            marker=row["marker"],
            skipping=bool(row["skipping"]),
            state=row["state"],
            format=row.get("format"),
            seen=None if row.get("seen_size") is None else Seen(row["seen_size"], row["seen_mtime_ns"]),
        )


@dataclass
class Chunk:
    """Complete lines read from one file, and where its offset moves once they commit."""

    file: Tracked
    start: int  # offset of lines[0]
    end: int
    lines: list[bytes]  # without their newline; those over the cap are in too_long too
    too_long: list[tuple[int, bytes]]  # (offset, first bytes) of lines over the cap
    tail_too_long: bool  # too_long ends with the unfinished last line, not one of `lines`
    skipping: bool
    marker: str
    fp_len: int
    fp_hash: str


DOCUMENTS = (".json", ".eval")  # whole-document files: Inspect AI logs (or, for .json, OTLP JSON lines)


def discover(paths: Sequence[Path]) -> tuple[list[str], list[str], list[str]]:
    """Files under `paths`: those matching the patterns, rotated-looking ones, and documents
    (`.json`, `.eval`), which the caller sorts by content. A file named explicitly is primary
    unless it is a document."""
    primary: list[str] = []
    rotated: list[str] = []
    documents: list[str] = []
    for root in paths:
        if root.is_file():
            (documents if root.name.endswith(DOCUMENTS) else primary).append(str(root))
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                kind = classify(name)
                if kind is not None:
                    (primary, rotated, documents)[kind].append(os.path.join(dirpath, name))
    return primary, rotated, documents


PRIMARY, ROTATED_FILE, DOCUMENT = 0, 1, 2


def classify(name: str) -> int | None:
    """What a file found under a followed directory is, by its name: PRIMARY, ROTATED_FILE,
    DOCUMENT, or None (not ours)."""
    if name.endswith(PATTERNS):
        return PRIMARY
    if name.endswith(DOCUMENTS):
        return DOCUMENT
    if ROTATED.search(name) and not name.endswith(COMPRESSED):
        return ROTATED_FILE
    return None


def fingerprint(fs: FileSystem, fd: int, size: int, fp_len: int | None = None) -> tuple[int, str]:
    n = min(size, FP_MAX) if fp_len is None else fp_len
    data = fs.pread(fd, n, 0)
    return len(data), digest(data)


def marker_at(fs: FileSystem, fd: int, offset: int) -> str:
    start = max(0, offset - MARKER_BYTES)
    return digest(fs.pread(fd, offset - start, start))


def resumable(fs: FileSystem, fd: int, size: int, t: Tracked) -> bool:
    """Whether the open file is `t`'s content, unchanged up to `t.offset`."""
    if size < t.offset or size < t.fp_len:
        return False
    if fingerprint(fs, fd, size, t.fp_len) != (t.fp_len, t.fp_hash):
        return False
    return t.offset == 0 or marker_at(fs, fd, t.offset) == t.marker


def read_chunk(fs: FileSystem, t: Tracked, fd: int, size: int, max_line: int, max_bytes: int) -> Chunk | None:
    """The complete lines from `t.offset`, at most about `max_bytes` of them; None if there are none, or
    if the file is no longer `t`'s content (rotated or rewritten under the read: the next scan decides)."""
    if size <= t.offset:
        return None
    want = min(size - t.offset, max(max_bytes, max_line + 1))
    # One read takes the lines and what proves them `t`'s: the bytes before the offset (its marker) and,
    # while the fingerprint is short, the head; the new marker and fingerprint come from it too. A
    # copytruncate landing between a check and a read, or between a read and its commit, cannot then
    # hand over another file's lines or mark the offset with another file's bytes.
    start = 0 if t.fp_len < FP_MAX else max(0, t.offset - MARKER_BYTES)
    raw = fs.pread(fd, t.offset - start + want, start)
    pre = t.offset - start
    if len(raw) <= pre:
        return None
    if t.offset and t.marker and digest(raw[max(0, t.offset - MARKER_BYTES) - start : pre]) != t.marker:
        return None
    if start == 0 and digest(raw[: t.fp_len]) != t.fp_hash:
        return None
    pos = 0
    skipping = t.skipping
    if skipping:  # the rest of a line already quarantined as too long
        nl = raw.find(b"\n", pre)
        if nl < 0:
            pos = len(raw) - pre
        else:
            pos, skipping = nl + 1 - pre, False
    lines = raw[pre + pos :].split(b"\n")
    tail = lines.pop()  # after the last newline: a partial line, or b""
    too_long: list[tuple[int, bytes]] = []
    if lines and max(map(len, lines)) > max_line:
        too_long = _long_lines(lines, t.offset + pos, max_line)
    consumed = len(raw) - pre - len(tail)
    tail_too_long = len(tail) > max_line
    if tail_too_long:  # no newline within the cap: quarantine it and skip to its end
        too_long.append((t.offset + consumed, tail[:200]))
        consumed, skipping = len(raw) - pre, True
    if consumed == 0:
        return None
    end = t.offset + consumed
    fp_len, fp_hash = t.fp_len, t.fp_hash
    if start == 0 and len(raw) > fp_len:
        head = raw[:FP_MAX]
        fp_len, fp_hash = len(head), digest(head)
    return Chunk(
        file=t,
        start=t.offset + pos,
        end=end,
        lines=lines,
        too_long=too_long,
        tail_too_long=tail_too_long,
        skipping=skipping,
        marker=digest(raw[max(0, end - MARKER_BYTES) - start : end - start]),
        fp_len=fp_len,
        fp_hash=fp_hash,
    )


def _long_lines(lines: list[bytes], offset: int, max_line: int) -> list[tuple[int, bytes]]:
    long = []
    for line in lines:
        if len(line) > max_line:
            long.append((offset, line[:200]))
        offset += len(line) + 1
    return long
