"""What the tailer asks of a file system: this machine's (agentmon.ingest.files) or a host's over ssh
(agentmon.remote.client).

The pipeline never calls `os` for a log file: it asks a `FileSystem`, so the same tailing
(identity, offsets, rotation, truncation) and the same parsing serve local and remote logs.
A remote one names its files `ssh://host/path` everywhere the user sees them.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol


class FileStat(Protocol):
    """The fields of a stat the tailer uses: os.stat_result has them, and so has a remote host's answer."""

    @property
    def st_dev(self) -> int: ...
    @property
    def st_ino(self) -> int: ...
    @property
    def st_size(self) -> int: ...
    @property
    def st_mtime_ns(self) -> int: ...
    @property
    def st_mtime(self) -> float: ...
    @property
    def st_nlink(self) -> int: ...


FileKey = tuple[int, int]  # (st_dev, st_ino): a file on its machine


class FileSystem(Protocol):
    """Where the tailed files are. A descriptor is an int: an OS one here, a server's handle over ssh.

    An OSError means the file is not there (or not readable); a lost connection is not one
    (agentmon.errors.ConnectionLost), so it never retires a file.
    """

    @property
    def host(self) -> str:
        """The host name its events carry: '' for this machine."""
        ...

    @property
    def boot_id(self) -> str | None:
        """Its machine's boot id, if it has one (agentmon.ingest.boot)."""
        ...

    def root(self, path: str) -> str: ...
    def walk(self, roots: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
        """The files under `roots`: primary, rotated-looking, documents (agentmon.ingest.tail.discover)."""
        ...

    def stat(self, path: str) -> FileStat: ...
    def open(self, path: str) -> int: ...
    def fstat(self, fd: int) -> FileStat: ...
    def pread(self, fd: int, n: int, offset: int) -> bytes: ...
    def close(self, fd: int) -> None: ...
    def local_copy(self, path: str) -> AbstractContextManager[Path]:
        """A local file with the content of `path`, for readers that need a whole document."""
        ...
