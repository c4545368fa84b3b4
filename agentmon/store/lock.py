"""One writer per database: an advisory lock on `<db>.lock` (of the real file, whatever path reached it),
released by the OS on any exit."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from agentmon.errors import AgentmonError


class WriterLock:
    """The lock file beside a database; it holds the pid of the writer, for the refusal to name."""

    def __init__(self, db_path: Path):
        # The real file's: two paths to one database (a symlink) are one lock.
        self.path = Path(f"{os.path.realpath(db_path)}.lock")
        self.fd: int | None = None

    def acquire(self, wait: bool = False) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise AgentmonError(
                f"{self.path.with_suffix('')} is being written by pid {holder}; "
                "only one ingester per database (readers such as `agentmon status` are fine)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
