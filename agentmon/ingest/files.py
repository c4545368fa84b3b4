"""This machine's files, as the tailer reads them (the `FileSystem` of agentmon.ingest.filesystem)."""

from __future__ import annotations

import os
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

    def root(self, path: str | os.PathLike[str]) -> str:
        return os.path.abspath(path)

    def walk(self, roots: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
        return discover([Path(r) for r in roots])

    def stat(self, path: str) -> os.stat_result:
        return os.stat(path)

    def open(self, path: str) -> int:
        return os.open(path, os.O_RDONLY)

    def fstat(self, fd: int) -> os.stat_result:
        return os.fstat(fd)

    def pread(self, fd: int, n: int, offset: int) -> bytes:
        return os.pread(fd, n, offset)

    def close(self, fd: int) -> None:
        os.close(fd)

    @contextmanager
    def local_copy(self, path: str) -> Iterator[Path]:
        yield Path(path)


LOCAL: FileSystem = LocalFiles()
