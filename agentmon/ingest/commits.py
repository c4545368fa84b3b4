"""Where the ingester's batches are committed: here, or in a second process.

A large read of Claude Code transcripts (a first read of ~/.claude/projects) or of OTLP JSON
lines spends about as long parsing lines as committing them, and the machine has more than one
core. For such a read the ingester starts a `CommitProcess`, which commits each batch while this
process parses the next (see agentmon.ingest.ingester.PARALLEL_BYTES). Both kinds are `Commits`.

The child is a new interpreter, never a fork of this process: SQLite keeps a file's POSIX locks in a table per
process, which a fork copies without the locks, so a forked child's connection would commit holding none
(tests/test_commits.py pins the locks the child holds).

Exactly-once is unchanged: a batch still carries the offsets it advances, and the child applies
them in the same transaction as its rows. At most one batch is in flight, and the next is sent
only after the previous one's answer, so a batch that failed (another writer got there first) is
never followed by one parsed from what it would have stored: the ingester drops what it read
since and reloads the committed offsets, as it does inline.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import IO, TYPE_CHECKING, NoReturn, Protocol

from agentmon.errors import AgentmonError, OffsetConflict
from agentmon.store.writer import Store

if TYPE_CHECKING:  # the rest loads when a commit process starts: an inline ingest needs none of it
    import subprocess

    import msgspec

    from agentmon.store.batch import Batch

PIPE_BYTES = 1 << 20  # room for a batch or two: the parent never waits for the child to start reading
# While a commit process runs, both processes make and drop hundreds of thousands of objects a second (lines,
# events, rows) that form no reference cycles: the cycle collector runs after this many new ones instead of
# 700 (Python's default), where its passes over them took ~5% of either side's time.
GC_THRESHOLD = 100_000
_HEADER = 4  # bytes of a frame's length, little-endian


class Commits(Protocol):
    """Where batches are committed. Each call returns the batches now known to be committed; a
    batch that failed raises (OffsetConflict: another writer got there first)."""

    def submit(self, batch: Batch) -> list[Batch]:
        """Commit `batch`, now or while the caller goes on."""
        ...

    def settle(self) -> list[Batch]:
        """Wait until nothing is in flight."""
        ...

    def close(self) -> None:
        """Once what was submitted is committed or failed, whole: release what committing holds."""
        ...


class InlineCommits:
    """Commit each batch at once, in this process (the default)."""

    def __init__(self, store: Store):
        self.store = store

    def submit(self, batch: Batch) -> list[Batch]:
        self.store.commit(batch)
        return [batch]

    def settle(self) -> list[Batch]:
        return []

    def close(self) -> None:
        pass  # nothing in flight, nothing held


class CommitProcess:
    """Commit batches in a child process that shares this writer's lock on the database."""

    def __init__(
        self, store: Store, proc: subprocess.Popen[bytes], stdin: IO[bytes], stdout: IO[bytes], stderr: IO[bytes]
    ):
        self.store = store
        self.proc = proc
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.in_flight: Batch | None = None
        self._gc_threshold = gc.get_threshold()  # put back by close()
        gc.set_threshold(max(GC_THRESHOLD, self._gc_threshold[0]), *self._gc_threshold[1:])
        import msgspec

        self._encode = msgspec.msgpack.Encoder().encode

    @classmethod
    def start(cls, store: Store) -> CommitProcess | None:
        """The child, started; None if it cannot be (then commit inline: slower, as correct)."""
        import fcntl
        import json
        import pickle
        import subprocess

        try:  # the store's settings go first: which agents' follow-ups it keeps (agentmon.toml)
            settings = pickle.dumps((store.track_follow_ups, store.prices))
        except (pickle.PicklingError, AttributeError, TypeError):
            return None  # a function made up on the spot (tests do that)
        lock_fd = store.lock.fd
        if lock_fd is None:
            return None  # a closed store has no lock to hand down
        stderr = _scratch_file()  # closed in close(). The child's last words, if it has any: never into a TUI's screen
        try:
            # The child inherits the lock's descriptor: the lock stays held until both have exited.
            proc = subprocess.Popen(
                [sys.executable, "-c", _BOOTSTRAP, json.dumps(sys.path), str(store.path), str(lock_fd)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                pass_fds=(lock_fd,),
            )
        except OSError:
            stderr.close()
            return None
        assert proc.stdin is not None and proc.stdout is not None  # both piped, above
        if hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux
            try:
                fcntl.fcntl(proc.stdin, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
            except OSError:
                pass  # above the system's limit: the first batch waits for the child to start
        child = cls(store, proc, proc.stdin, proc.stdout, stderr)
        try:
            child._send(settings)
        except AgentmonError:  # it ended before its first read: commit inline, as without one
            child.close()  # (which puts the collector's threshold back)
            return None
        return child

    def submit(self, batch: Batch) -> list[Batch]:
        """Send `batch`, to be committed while the caller goes on; return the batch that was in
        flight, committed. If that one failed, its error is raised and `batch` is not sent."""
        done = self.settle()
        self._send(self._encode(batch))
        self.in_flight = batch
        return done

    def _send(self, body: bytes) -> None:
        try:
            self.stdin.write(len(body).to_bytes(_HEADER, "little") + body)
            self.stdin.flush()
        except OSError:
            self._died()

    def settle(self) -> list[Batch]:
        """Wait for the batch in flight; return it once committed (or raise its failure)."""
        batch, self.in_flight = self.in_flight, None
        if batch is None:
            return []
        reply = _read_frame(self.stdout)
        if reply is None:
            self._died()
        if reply == b"ok":
            return [batch]
        kind, _, message = reply.decode().partition(":")
        if kind == "inline":  # the child could not take it (see _commit): commit it here, as inline
            self.store.commit(batch)
            return [batch]
        if kind == "conflict":
            raise OffsetConflict(message)
        raise AgentmonError(message)

    def close(self) -> None:
        """End the child once it has answered what it was sent (committed or not, each batch whole)."""
        try:
            self.stdin.close()
        except OSError:
            pass
        self.proc.wait()
        self.stdout.close()
        self.stderr.close()
        gc.set_threshold(*self._gc_threshold)

    def _died(self) -> NoReturn:
        self.in_flight = None
        code = self.proc.wait()
        self.stderr.seek(0)
        said = self.stderr.read().decode(errors="replace").strip().splitlines()
        raise AgentmonError(
            f"the commit process ended (exit status {code}{'; ' + said[-1] if said else ''}) "
            "with a batch in flight: that batch was not stored, and the next ingest reads its "
            "lines again"
        )


def _scratch_file() -> IO[bytes]:
    """An unnamed file to read back: in memory where the system has them (Linux), else a temporary file (the
    tempfile module takes ~5 ms to load, before the child can start)."""
    try:
        fd = os.memfd_create("agentmon-commit-process")
    except (AttributeError, OSError):
        import tempfile

        return tempfile.TemporaryFile()
    return open(fd, "w+b")


def _read_frame(stream: IO[bytes]) -> bytes | None:
    header = stream.read(_HEADER)
    if len(header) < _HEADER:
        return None
    n = int.from_bytes(header, "little")
    body = stream.read(n)
    return body if len(body) == n else None


def serve(db: str, lock_fd: int) -> None:
    """The child: commit each batch read from stdin and answer it on stdout, until end of input."""
    import pickle
    import select
    import signal

    import msgspec

    from agentmon.store.batch import Batch

    # Ctrl-C, or a service manager stopping the whole group, is for the parent: it closes our input.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    gc.set_threshold(GC_THRESHOLD)
    decoder = msgspec.msgpack.Decoder(Batch)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    settings = _read_frame(stdin)
    if settings is None:
        return
    track_follow_ups, prices = pickle.loads(settings)
    with Store(db, lock_fd=lock_fd, track_follow_ups=track_follow_ups, prices=prices) as store:
        while (body := _read_frame(stdin)) is not None:
            reply = _commit(store, decoder, body)
            try:
                stdout.write(len(reply).to_bytes(_HEADER, "little") + reply)
                stdout.flush()
            except BrokenPipeError:
                return  # the parent is gone; what we committed stays committed
            if not select.select([stdin], [], [], 0)[0]:
                # Idle while the parent parses: move the WAL into the database now, so that closing
                # it at the end (which checkpoints what is left) is quick.
                store.checkpoint()


def _commit(store: Store, decoder: msgspec.msgpack.Decoder, body: bytes) -> bytes:
    """Commit one batch; the answer for the parent."""
    import msgspec

    try:
        batch = decoder.decode(body)
    except msgspec.ValidationError as e:
        # An event a source built out of its type's bounds (a struct built in memory is not checked;
        # msgpack checks on the way in): the parent commits that batch itself, as it would inline.
        return f"inline:{e}".encode()
    try:
        store.commit(batch)
    except OffsetConflict as e:
        return f"conflict:{e}".encode()
    except AgentmonError as e:
        return f"error:{e}".encode()
    except Exception as e:  # a value the store cannot take: the parent, which has the lines, commits it apart
        return f"inline:{type(e).__name__}: {e}".encode()
    return b"ok"


def main(db: str, lock_fd: int) -> None:
    serve(db, lock_fd)
    sys.stderr.flush()
    os._exit(0)  # the store is closed: skip the interpreter's teardown, the parent is waiting


# The child imports exactly what its parent did (the same agentmon, whatever put it on the path).
_BOOTSTRAP = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
    "from agentmon.ingest.commits import main; main(sys.argv[2], int(sys.argv[3]))"
)
