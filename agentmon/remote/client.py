"""The local end of an ssh:// source: a file system whose files are on another host.

It drives the system `ssh` (so ~/.ssh/config, agents, jump hosts and ControlMaster apply) with
BatchMode on: agentmon never asks for a password. The remote end is `agentmon remote-files` when
the host has it, else the POSIX sh server (server.sh); both speak docs/remote.md's protocol.

A failed connection raises ConnectionLost, which is deliberately not an OSError: the pipeline reads
an OSError as "this file is gone", and a dropped link must never retire a file.
"""

from __future__ import annotations

import collections
import os
import selectors
import shlex
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import NamedTuple

from agentmon.errors import ConnectionLost
from agentmon.ingest.tail import DOCUMENTS, classify
from agentmon.remote import Remote
from agentmon.remote.protocol import MAX_READ

CONNECT_TIMEOUT = 10  # seconds for ssh to connect, and again for the remote end to say hello
IO_TIMEOUT = 30  # seconds without a byte from a host that owes an answer: it is hung
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3")


class RemoteStat(NamedTuple):
    """The fields of os.stat_result the tailer uses."""

    st_dev: int
    st_ino: int
    st_size: int
    st_mtime_ns: int
    st_nlink: int

    @property
    def st_mtime(self) -> float:
        return self.st_mtime_ns / 1e9


def ssh_command() -> list[str]:
    """`ssh`, or $AGENTMON_SSH_COMMAND (split like a shell would), as GIT_SSH_COMMAND does for git."""
    return shlex.split(os.environ.get("AGENTMON_SSH_COMMAND") or "ssh")


def remote_command(remote_agentmon: str | None) -> str:
    """The command ssh runs on the host: agentmon's file server if it is there, else the sh one."""
    script = resources.files("agentmon.remote").joinpath("server.sh").read_text()
    if remote_agentmon:
        cmd = remote_agentmon
        script = (
            f"if {cmd} remote-files --check >/dev/null 2>&1 </dev/null; then exec {cmd} remote-files; fi\n" + script
        )
    return "exec sh -c " + shlex.quote(script)


class RemoteFiles:
    """One ssh connection to one host, serving the pipeline's file operations."""

    def __init__(
        self,
        remote: Remote,
        remote_agentmon: str | None = "agentmon",
        connect_timeout: float = CONNECT_TIMEOUT,
        io_timeout: float = IO_TIMEOUT,
    ):
        self.remote = remote
        self.host = remote.label
        self.prefix = remote.prefix
        self.remote_agentmon = remote_agentmon
        self.connect_timeout, self.io_timeout = connect_timeout, io_timeout
        self.mode: str | None = None  # which server answered: "agentmon" or "sh"
        self.boot_id: str | None = None  # the host's, from its hello (agentmon.ingest.boot)
        self.sizes: dict[str, int] = {}  # path -> size at the last listing: what the host has written
        # Answers already in hand, so that a pass asks the host as little as it can (each question
        # is a round trip): the listing's stat of each file, for the scan that follows it, and the
        # last bytes read, for the marker and fingerprint read back from them (cleared by an FSTAT).
        self._listed: dict[str, RemoteStat] = {}
        self._last_read: tuple[int, int, bytes] | None = None  # (handle, offset, data)
        self._opened: dict[int, RemoteStat] = {}  # handle -> the stat its OPEN answered with
        self.missing: list[str] = []  # the roots the last listing did not find
        self._proc: subprocess.Popen[bytes] | None = None
        self._shut = False  # see shut
        self._buf = bytearray()
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)

    # --- the connection --------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._proc is not None

    def connect(self) -> None:
        if self._shut:
            raise ConnectionLost(f"{self.host}: closed")
        r = self.remote
        cmd = [*ssh_command(), *SSH_OPTIONS, "-o", f"ConnectTimeout={max(1, round(self.connect_timeout))}"]
        if r.port is not None:
            cmd += ["-p", str(r.port)]
        if r.user:
            cmd += ["-l", r.user]
        cmd += ["--", r.host, remote_command(self.remote_agentmon)]
        self._buf.clear()
        self._stderr.clear()
        self._forget_answers()
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            start_new_session=True,
        )  # ^C in the TUI is not for ssh
        if self._shut:  # shut while ssh was starting: it found no connection to cut
            self.disconnect()
            raise ConnectionLost(f"{self.host}: closed")
        threading.Thread(target=self._read_stderr, args=(self._proc,), daemon=True).start()
        hello = self._line(self.connect_timeout * 2 + 5).split()
        if hello[:2] != [b"AGENTMON-FILES", b"1"]:
            self.disconnect()
            raise ConnectionLost(
                f"{self.host}: the remote end did not speak agentmon's protocol (said {b' '.join(hello)[:80]!r})"
            )
        self.mode = hello[2].decode() if len(hello) > 2 else "?"
        self.boot_id = hello[3].decode() if len(hello) > 3 and hello[3] != b"-" else None

    def shut(self) -> None:
        """Disconnect for good, from another thread too: a connection being made is cut as it starts."""
        self._shut = True
        self.disconnect()

    def disconnect(self) -> None:
        self._forget_answers()  # handles are numbered anew on the next connection
        proc, self._proc = self._proc, None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                try:
                    if stream is not None:
                        stream.close()
                except OSError:
                    pass
            proc.kill()
            proc.wait()

    def _forget_answers(self) -> None:
        self._listed, self._last_read, self._opened = {}, None, {}

    def _read_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None  # piped (connect)
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").strip()
            if line:
                self._stderr.append(line)

    def _lost(self, what: str) -> ConnectionLost:
        proc = self._proc
        status = None
        if proc is not None:
            try:
                status = proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
        time.sleep(0.05)  # let the stderr reader catch ssh's last words
        self.disconnect()
        return ConnectionLost(f"{self.host}: {explain(list(self._stderr), status, what)}")

    # --- framing -------------------------------------------------------------------------

    def _fill(self, timeout: float, what: str) -> None:
        """Some more bytes, or ConnectionLost: `timeout` seconds without one is a hung host (a slow
        link is fine while bytes flow)."""
        proc = self._proc
        if proc is None:
            raise ConnectionLost(f"{self.host}: not connected")
        assert proc.stdout is not None  # piped (connect)
        try:
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stdout, selectors.EVENT_READ)
                if not sel.select(timeout):
                    raise self._lost(f"no answer for {what}")
            data = os.read(proc.stdout.fileno(), 1 << 20)
        except (OSError, ValueError):  # closed under us: disconnect() from another thread
            raise self._lost(f"the connection closed during {what}") from None
        if not data:
            raise self._lost(f"the connection closed during {what}")
        self._buf += data

    def _line(self, timeout: float) -> bytes:
        while (nl := self._buf.find(b"\n")) < 0:
            self._fill(timeout, "a reply")
        line = bytes(self._buf[:nl])
        del self._buf[: nl + 1]
        return line

    def _exactly(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._fill(self.io_timeout, "file data")
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def _ask(self, request: bytes) -> bytes:
        proc = self._proc
        if proc is None:
            raise ConnectionLost(f"{self.host}: not connected")
        assert proc.stdin is not None  # piped (connect)
        try:
            proc.stdin.write(request + b"\n")
        except (OSError, ValueError):  # the pipe broke, or disconnect() closed it
            raise self._lost("a request") from None
        reply = self._line(self.io_timeout)
        if reply.startswith(b"E "):
            _, name, message = ([*reply.decode("utf-8", "replace").split(" ", 2), "", ""])[:3]
            if name == "ENOENT":
                raise FileNotFoundError(2, message)
            raise OSError(0, f"{name} {message}".strip())
        return reply

    def _remote_path(self, path: str) -> bytes:
        if not path.startswith(self.prefix + "/"):
            raise ValueError(f"{path} is not on {self.prefix}")
        return os.fsencode(path[len(self.prefix) :])

    def _stat(self, fields: list[bytes]) -> RemoteStat:
        try:
            return RemoteStat(*map(int, fields[:5]))
        except (TypeError, ValueError):
            raise self._lost(f"a malformed reply {b' '.join(fields)[:80]!r}") from None

    # --- the file system the pipeline uses (agentmon.ingest.filesystem.FileSystem) ---------------------------

    def root(self, path: str) -> str:
        return path.rstrip("/") or path

    def walk(self, roots: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
        primary: list[str] = []
        rotated: list[str] = []
        documents: list[str] = []
        sizes: dict[str, int] = {}
        self.missing = []
        self._forget_answers()  # a new pass: nothing from the last one is taken as said
        for root in roots:
            remote_root = self._remote_path(root)
            try:
                reply = self._ask(b"LIST " + remote_root)
            except FileNotFoundError:
                self.missing.append(root)  # not there (yet): read when it appears
                continue
            entries = []
            while reply != b"END":
                head, _, rest = reply.partition(b" ")
                fields = rest.split(b" ", 5)
                if head != b"F" or len(fields) < 6:
                    raise self._lost(f"a malformed listing line {reply[:80]!r}")
                st = self._stat(fields)
                entries.append((self.prefix + os.fsdecode(fields[5]), st))
                reply = self._line(self.io_timeout)
            for path, st in entries:
                sizes[path] = st.st_size
                self._listed[path] = st
                name = path.rsplit("/", 1)[-1]
                if path == root:  # the root itself is a file: followed whatever its name
                    (documents if name.endswith(DOCUMENTS) else primary).append(path)
                    continue
                kind = classify(name)
                if kind is not None:
                    (primary, rotated, documents)[kind].append(path)
        self.sizes = sizes
        return primary, rotated, documents

    def stat(self, path: str) -> RemoteStat:
        listed = self._listed.pop(path, None)  # once: later in the pass, ask again
        if listed is not None:
            return listed
        return self._stat(self._ask(b"STAT " + self._remote_path(path)).split()[1:])

    def open(self, path: str) -> int:
        reply = self._ask(b"OPEN " + self._remote_path(path))
        try:
            handle = int(reply.split()[1])
        except (IndexError, ValueError):
            raise self._lost(f"a malformed reply {reply[:80]!r}") from None
        self._opened[handle] = self._stat(reply.split()[2:])  # the host's fstat at the open: the first FSTAT's answer
        return handle

    def fstat(self, handle: int) -> RemoteStat:
        self._last_read = None  # a new look at the file: what was read before may have changed
        opened = self._opened.pop(handle, None)
        return opened or self._stat(self._ask(b"FSTAT %d" % handle).split()[1:])

    def pread(self, handle: int, n: int, offset: int) -> bytes:
        last = self._last_read
        if last is not None and last[0] == handle and last[1] <= offset and offset + n <= last[1] + len(last[2]):
            start = offset - last[1]
            return last[2][start : start + n]
        data = self._pread(handle, n, offset)
        self._last_read = (handle, offset, data)
        return data

    def _pread(self, handle: int, n: int, offset: int) -> bytes:
        parts = []
        while n > 0:  # one READ returns at most MAX_READ bytes
            reply = self._ask(b"READ %d %d %d" % (handle, offset, min(n, MAX_READ)))
            if not reply.startswith(b"D "):
                raise self._lost(f"a malformed reply {reply[:80]!r}")
            data = self._exactly(int(reply[2:]))
            parts.append(data)
            if len(data) < min(n, MAX_READ):
                break  # end of file
            n -= len(data)
            offset += len(data)
        return b"".join(parts)

    def close(self, handle: int) -> None:
        self._opened.pop(handle, None)
        if self._last_read is not None and self._last_read[0] == handle:
            self._last_read = None
        if self._proc is not None:
            try:
                self._ask(b"CLOSE %d" % handle)
            except (OSError, ConnectionLost):
                pass  # a handle on a broken link is closed with it

    @contextmanager
    def local_copy(self, path: str) -> Iterator[Path]:
        """A whole document (an eval log) copied to a temporary file, for readers that need a path."""
        handle = self.open(path)
        try:
            data = self.pread(handle, self.fstat(handle).st_size, 0)
        finally:
            self.close(handle)
        suffix = "." + path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
        with tempfile.NamedTemporaryFile(suffix=suffix) as f:
            f.write(data)
            f.flush()
            yield Path(f.name)


def explain(stderr: list[str], status: int | None, what: str) -> str:
    """ssh's failure in words a person can act on."""
    text = " ".join(stderr)
    last = stderr[-1] if stderr else ""
    if "Permission denied" in text or "Too many authentication failures" in text:
        return (
            "the host refused our key (agentmon runs ssh with BatchMode=yes and never asks for a password: "
            f"use a key or an agent) — {last}"
        )
    if "Host key verification failed" in text or "REMOTE HOST IDENTIFICATION HAS CHANGED" in text:
        return f"the host's key is not trusted: connect once with `ssh` to check and accept it — {last}"
    for words in (
        "Connection refused",
        "timed out",
        "No route to host",
        "Could not resolve hostname",
        "Network is unreachable",
        "Connection closed",
        "Connection reset",
        "Broken pipe",
    ):
        if words in text:
            return f"unreachable — {last}"
    if last:
        return f"{what}: {last}"
    return f"{what}" + (f" (ssh exited with status {status})" if status is not None else "")
