"""Following a remote host: one ssh connection, one Ingester on the shared store, reconnecting with
backoff, and the host's state (connected, lag, last error) written for `status` and the monitor.

A host that is down or slow holds up only its own thread: every other source, and the screen,
go on. What was read but not committed when a link drops is read again from the committed
offsets on the next connection, so nothing is lost or counted twice. Ending idle tasks is the
session's housekeeping, for every source at once (agentmon.session).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from agentmon.errors import ConnectionLost
from agentmon.ingest.ingester import Ingester
from agentmon.remote import Remote
from agentmon.remote.client import CONNECT_TIMEOUT, RemoteFiles
from agentmon.store.writer import Store

POLL_SECONDS = 0.25  # how often a connected host is listed: the append-to-commit latency
BACKOFF_SECONDS = (0.25, 1, 2, 4, 8, 15, 30)  # waits between attempts: a dropped link is often a blip


class RemoteFollower:
    def __init__(
        self,
        store: Store,
        remote: Remote,
        roots: list[str],
        *,
        remote_agentmon: str | None = "agentmon",
        host_prefix: bool = False,
        poll: float = POLL_SECONDS,
        connect_timeout: float = CONNECT_TIMEOUT,
        **ingester_options,
    ):
        self.store = store
        self.remote = remote
        self.fs = RemoteFiles(remote, remote_agentmon, connect_timeout=connect_timeout)
        rename = (lambda agent, host=remote.label: f"{agent}@{host}") if host_prefix else None
        self.ingester = Ingester(store, roots, fs=self.fs, keep_open=True, rename_agent=rename, **ingester_options)
        self.poll = poll
        self._written: dict = {}

    @property
    def source(self) -> str:
        return self.remote.prefix

    def once(self) -> None:
        """One pass, for `agentmon ingest`: connect, read everything new, disconnect. Raises ConnectionLost."""
        try:
            self._connect()
            self._pass()
        except ConnectionLost as e:
            self._down(e)
            raise
        finally:
            self.fs.disconnect()
            self.ingester.close()
            self._report(connected=0)

    def run(self, stop: threading.Event) -> None:
        """Follow until `stop` is set."""
        self.ingester.stop = stop  # a long first read of the host's logs stops too
        attempt = 0
        try:
            while not stop.is_set():
                try:
                    if not self.fs.connected:
                        self._connect()
                        attempt = 0
                    self._pass()
                    stop.wait(self.poll)
                except ConnectionLost as e:
                    if stop.is_set():
                        break  # cut by Followers.close: not the host's fault
                    self._down(e)
                    stop.wait(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)])
                    attempt += 1
        finally:
            self.fs.disconnect()  # first: the handles then close with the connection, not one request each
            self.ingester.abandon()  # what a cut pass read is read again next time
            self._report(connected=0, force=True)

    def _connect(self) -> None:
        self._report(connected=0, force=True)  # a host being dialled is shown as not connected yet
        self.fs.connect()
        self._report(connected=1, mode=self.fs.mode, since=time.time(), force=True)

    def _pass(self) -> None:
        started = time.time()
        ingester = self.ingester
        ingester.scan()
        if self.fs.missing:
            ingester.stats.last_error = f"{self.fs.missing[0]}: no such file or directory on the host"
        self._report(lag_bytes=self._lag())  # the backlog this pass is about to read
        ingester.drain()
        # Everything the host had written when this pass listed its files is committed.
        self._report(caught_up_at=started, lag_bytes=self._lag())

    def _lag(self) -> int:
        """Bytes the host had written at the last listing that are not committed here."""
        sizes = self.fs.sizes
        return sum(max(0, sizes.get(t.path, t.offset) - t.offset) for t in self.ingester.tracked.values())

    def _down(self, e: ConnectionLost) -> None:
        self.ingester.abandon()
        self.fs.disconnect()
        self._report(connected=0, last_error=str(e), last_error_at=time.time(), force=True)

    def _report(self, force: bool = False, **values) -> None:
        """Write the host's state when it changed (the catch-up time at most once a second)."""
        changed = {k: v for k, v in values.items() if self._written.get(k) != v}
        if not changed:
            return
        if (
            not force
            and set(changed) == {"caught_up_at"}
            and changed["caught_up_at"] - self._written.get("caught_up_at", 0) < 1.0
        ):
            return
        self._written.update(changed)
        self.store.set_remote_state(self.source, self.remote.label, **changed)


def group_by_host(sources: Sequence[tuple[Remote, str]]) -> dict[Remote, list[str]]:
    """One connection per host (as the user named it): all its paths share it."""
    groups: dict[Remote, list[str]] = {}
    for remote, path in sources:
        roots = groups.setdefault(remote, [])
        root = remote.prefix + path
        if root not in roots:
            roots.append(root)
    return groups


class Followers:
    """The hosts of one session, one connection each: read in turn once, or followed each in its own
    daemon thread until `stop` is set."""

    def __init__(self, store: Store, sources: Sequence[tuple[Remote, str]], **options: Any) -> None:
        self.followers = [
            RemoteFollower(store, remote, roots, **options) for remote, roots in group_by_host(sources).items()
        ]
        self.threads: list[threading.Thread] = []

    def once(self) -> list[str]:
        """One pass of each host in turn (`agentmon ingest`); what kept a host from being read."""
        unreachable = []
        for follower in self.followers:
            try:
                follower.once()
            except ConnectionLost as e:
                unreachable.append(str(e))
        return unreachable

    def start(self, stop: threading.Event) -> None:
        self.stop = stop
        self.threads = [
            threading.Thread(target=f.run, args=(stop,), name=f"agentmon {f.remote.label}", daemon=True)
            for f in self.followers
        ]
        for thread in self.threads:
            thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop now: cutting the links wakes a thread waiting on a slow host; then wait for each to finish."""
        if not self.threads:
            return  # read once: each pass closed its own link
        self.stop.set()
        for follower in self.followers:
            follower.fs.shut()
        for thread in self.threads:
            thread.join(timeout)
