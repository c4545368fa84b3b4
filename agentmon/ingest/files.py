"""This machine's files, as the tailer reads them (the `FileSystem` of agentmon.ingest.filesystem)."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from agentmon.ingest.boot import boot_id
from agentmon.ingest.filesystem import FileSystem
from agentmon.ingest.tail import discover


class LocalFiles:
    host = ""  # the events of these files carry no host name: they are this machine's

    def __init__(self) -> None:
        self.boot_id = boot_id()  # agentmon.ingest.boot
        self._opened: dict[int, os.stat_result] = {}  # taken at open, handed to the first fstat

    def root(self, path: str | os.PathLike[str]) -> str:
        return os.path.abspath(path)

    def walk(self, roots: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
        return discover([Path(r) for r in roots])

    def stat(self, path: str) -> os.stat_result:
        return os.stat(path)

    def open(self, path: str) -> int:
        """A descriptor of the regular file at `path`. Never waits: a FIFO (or a symlink to one) named
        like a log would block a plain open forever; it, a socket or a device is refused as unreadable."""
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, "not a regular file", path)
        self._opened[fd] = st  # the tracker's identity check asks next: one fstat serves both
        return fd

    def fstat(self, fd: int) -> os.stat_result:
        st = self._opened.pop(fd, None)
        return os.fstat(fd) if st is None else st

    def pread(self, fd: int, n: int, offset: int) -> bytes:
        return os.pread(fd, n, offset)

    def close(self, fd: int) -> None:
        self._opened.pop(fd, None)
        os.close(fd)

    @contextmanager
    def local_copy(self, path: str) -> Iterator[Path]:
        yield Path(path)


LOCAL: FileSystem = LocalFiles()
