"""One ingest session: the writer of a database and every source feeding it, started and stopped in one order.

`agentmon ingest` (one pass, or `--follow`), `agentmon serve` and the monitor's ingest worker each run
one. It owns the store (one writer per database), the local ingester (the paths and the labels file),
the ssh:// hosts (agentmon.remote.follow, a thread each when following), the OTLP/HTTP receiver
(agentmon.ingest.receiver, its own thread), the alerts of agentmon.toml's `[alerts]` while following
(agentmon.alerts, threads of their own) and the one schedule that ends idle Claude Code tasks,
whose events never say a task is over, and forgets, a small step a minute, what is past agentmon.toml's
`[retention]` (agentmon.store.retention). Ending them is one store-wide commit, so one tick does it for
every source: between the local passes, on the thread that reads the local files, so no task of a
local file is ended while the rest of its lines wait to be read.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentmon.config import IDLE_TASK_SECONDS, labels_path
from agentmon.ingest.tail import DEFAULT_MAX_LINE
from agentmon.store.writer import Store, no_follow_ups

if TYPE_CHECKING:  # imported when a session starts: the monitor paints first
    from agentmon.alerts.settings import AlertSettings
    from agentmon.alerts.watcher import AlertWatcher
    from agentmon.ingest.ingester import Ingester, IngestStats
    from agentmon.ingest.receiver import Receiver
    from agentmon.remote import Remote
    from agentmon.remote.follow import Followers
    from agentmon.report.verdict import Limits
    from agentmon.store.pricing import CustomPrice
    from agentmon.store.retention import Retention

HOUSEKEEPING_SECONDS = 2.0  # idle tasks are ended this often while following (as the local rescan)
PRUNE_SECONDS = 60.0  # a retention step this often: a year's backlog goes in hours, each step in milliseconds


class IngestSession:
    """`start()`, then `run_once()` or `follow()` until `stop()`, then `close()`; or `with` it."""

    def __init__(
        self,
        db: Path,
        paths: Sequence[Path] = (),
        *,
        follow: bool = False,
        files: bool = True,
        remote: Sequence[tuple[Remote, str]] = (),
        remote_options: dict[str, Any] | None = None,
        otlp: tuple[str, int] | None = None,
        token: str | None = None,
        otlp_optional: bool = False,
        wait_for_lock: bool = False,
        track_follow_ups: Callable[[str], bool] = no_follow_ups,
        prices: tuple[CustomPrice, ...] = (),
        idle_task_seconds: float = IDLE_TASK_SECONDS,
        poll: bool = False,
        max_line: int = DEFAULT_MAX_LINE,
        eval_agent: str | None = None,
        eval_pass_values: tuple[str, ...] | None = None,
        clock: Callable[[], float] = time.time,
        alerts: AlertSettings | None = None,
        limits_for: Callable[[str], Limits] | None = None,
        say: Callable[[str], None] | None = None,
        retention: Retention | None = None,
    ) -> None:
        """`follow`: keep reading until stopped (else one pass). `files=False`: no log files, not even
        the labels file (`agentmon serve`). `remote_options`: host_prefix, remote_agentmon and
        connect_timeout of agentmon.remote.follow.RemoteFollower. `otlp`: receive OTLP/HTTP on this
        address while following; `otlp_optional`: a port that cannot be had is noted in
        `receiver_error` and the rest runs (the monitor), else start() raises OSError. `alerts`: where
        verdict changes go while following (the monitor, `ingest --follow` and `serve` pass agentmon.toml's
        `[alerts]`; None: nowhere), judged with `limits_for`; `say`: told when their delivery starts failing
        or recovers. `retention`: what is forgotten; None: agentmon.toml's."""
        if otlp is not None and not follow:
            raise ValueError("an OTLP receiver runs only while following")
        self.db = Path(db)
        self.paths = list(paths)
        self.following = follow
        self.files = files
        self.remote = list(remote)
        self.remote_options = remote_options or {}
        self.otlp, self.token, self.otlp_optional = otlp, token, otlp_optional
        self.wait_for_lock = wait_for_lock
        self.track_follow_ups = track_follow_ups
        self.prices = prices  # agentmon.toml's [prices."glob"]
        self.idle_task_seconds = idle_task_seconds
        self.poll = poll  # network mounts send no file events: poll them
        self.clock = clock
        self.alert_settings, self.limits_for, self.say = alerts, limits_for, say
        self.alerts: AlertWatcher | None = None  # running while following, when [alerts] names a target
        self.ingester_options: dict[str, Any] = {
            "max_line": max_line,
            "idle_task_seconds": idle_task_seconds,
            "eval_agent": eval_agent,
            **({"eval_pass_values": eval_pass_values} if eval_pass_values else {}),
        }
        self.stopping = threading.Event()  # shared by every loop and thread of the session
        self.store: Store | None = None
        self.ingester: Ingester | None = None
        self.hosts: Followers | None = None
        self.receiver: Receiver | None = None
        self.receiver_error: OSError | None = None
        self.unreachable: list[str] = []  # what kept hosts from being read by run_once
        self._receiver_thread: threading.Thread | None = None
        self._housekept = -math.inf  # monotonic time idle tasks were last ended
        self.retention = retention
        self._pruned = time.monotonic()  # of the last retention step: the first a minute after the start
        self._closed = False

    # --- starting and stopping ---------------------------------------------------------

    def start(self) -> None:
        """Open the store, then every source. AgentmonError: another process writes the database
        (unless `wait_for_lock`, which waits for it); OSError: the receiver's port cannot be had."""
        self.store = Store(
            self.db, wait_for_lock=self.wait_for_lock, track_follow_ups=self.track_follow_ups, prices=self.prices
        )
        try:
            self._start_sources(self.store)
            if self.following:
                self._start_alerts()
        except BaseException:
            self.close()
            raise

    def _start_sources(self, store: Store) -> None:
        if self.files:
            from agentmon.ingest.ingester import Ingester

            self.ingester = Ingester(
                store,
                self.paths,
                keep_open=self.following,  # hold descriptors so deleted files can be finished
                extra_files=[labels_path(self.db)],
                **self.ingester_options,
            )
        if self.otlp is not None:
            self._start_receiver(store, self.otlp)
        if self.remote:  # one connection per host: a slow or dead one holds up nobody
            from agentmon.remote.follow import Followers

            self.hosts = Followers(store, self.remote, **self.remote_options, **self.ingester_options)
            if self.following:
                self.hosts.start(self.stopping)

    def _start_receiver(self, store: Store, address: tuple[str, int]) -> None:
        from agentmon.ingest.receiver import Receiver

        try:
            self.receiver = receiver = Receiver(store, address, token=self.token)
        except OSError as e:
            if not self.otlp_optional:
                raise
            self.receiver_error = e
            return
        self._receiver_thread = threading.Thread(target=receiver.serve_forever, name="agentmon otlp", daemon=True)
        self._receiver_thread.start()

    def _start_alerts(self) -> None:
        """Judge the fleet on a thread of its own, through a read-only connection: ingest never waits."""
        settings, limits_for = self.alert_settings, self.limits_for
        if settings is None or not settings.enabled:
            return
        from agentmon.alerts.watcher import AlertWatcher
        from agentmon.report.metrics import DEFAULT_LIMITS

        self.alerts = AlertWatcher(
            self.db,
            settings,
            self.stopping,
            limits_for or (lambda agent: DEFAULT_LIMITS),
            clock=self.clock,
            say=self.say,
        )
        if self.ingester is None:  # nothing read from files: the receiver's data is live
            self.alerts.caught_up.set()
        self.alerts.start()

    def stop(self) -> None:
        """Ask every loop of the session to end (from any thread, or a signal handler); close() follows."""
        self.stopping.set()

    def close(self) -> None:
        """Stop every source, then close the store: the hosts' links are cut and their threads joined, the
        receiver stops answering, the local files are closed. What was read and not committed is read
        again next time, from the committed offsets."""
        if self._closed:
            return
        self._closed = True
        self.stopping.set()
        try:
            if self.alerts is not None:
                self.alerts.close()
            if self.hosts is not None:
                self.hosts.close()
            if self.receiver is not None:
                if self._receiver_thread is not None:
                    self.receiver.shutdown()
                self.receiver.server_close()
            if self.ingester is not None:
                self.ingester.close()
        finally:
            if self.store is not None:
                self.store.close()

    def __enter__(self) -> IngestSession:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- running ----------------------------------------------------------------------

    def run_once(self) -> None:
        """Read every source once, in turn (`agentmon ingest`), then end the idle tasks. The hosts that
        could not be read are in `unreachable`."""
        if self.ingester is not None:
            self.ingester.scan()
            # A commit process that a large read starts ends the idle tasks too (close_idle below then finds
            # nothing left to end): not before the hosts are read, whose lines may belong to the tasks it would end.
            self.ingester.drain(idle_clock=self.clock if self.hosts is None else None)
        if self.hosts is not None:
            self.unreachable = self.hosts.once()
        if self.ingester is None or not self.ingester.stop.is_set():  # as _housekeeping: not after a cut pass
            self.close_idle()

    def follow(self, on_pass: Callable[[IngestStats], object] | None = None) -> None:
        """Until stop(): the local files on this thread (`on_pass` gets their counts after every pass),
        the hosts and the receiver in theirs."""
        if self.ingester is None:  # the receiver alone: this thread only keeps house
            while not self.stopping.wait(HOUSEKEEPING_SECONDS):
                self.close_idle()
                self.prune_step()
            return
        from agentmon.ingest.watch import follow

        def after_pass(ingester: Ingester) -> None:
            if self.alerts is not None:
                self.alerts.caught_up.set()
            self._housekeeping()
            if on_pass is not None:
                on_pass(ingester.stats)

        follow(self.ingester, self.stopping, force_polling=self.poll or None, on_pass=after_pass)

    def _housekeeping(self) -> None:
        """The one schedule of idle ends: at most every HOUSEKEEPING_SECONDS, never after a cut pass (the
        lines it left unread may belong to the tasks it would end)."""
        now = time.monotonic()
        if now - self._housekept < HOUSEKEEPING_SECONDS or self.stopping.is_set():
            return
        self._housekept = now
        self.close_idle()
        self.prune_step()

    def prune_step(self) -> None:
        """One small step of retention while following, at most every PRUNE_SECONDS, the first a minute after
        the start. One pass (`agentmon ingest`) leaves it to `agentmon prune`: a backlog read once is kept."""
        assert self.store is not None, "start() the session first"
        now = time.monotonic()
        if now - self._pruned < PRUNE_SECONDS:
            return
        self._pruned = now
        if self.retention is None:
            from agentmon.config import load
            from agentmon.store.retention import Retention

            self.retention = load().retention or Retention()
        self.store.prune_step(self.retention, self.clock())

    def close_idle(self) -> None:
        """End, unlabeled, the Claude Code tasks of every source that have had no event for the idle timeout.

        Idempotent: the end is a pure function of the task's last event, so a repeat changes nothing."""
        assert self.store is not None, "start() the session first"
        from agentmon.ingest.ingester import CLAUDE_CODE_AGENTS

        self.store.close_idle_tasks(CLAUDE_CODE_AGENTS, self.idle_task_seconds, self.clock())

    def stats(self) -> list[IngestStats]:
        """The counts of every ingester of the session, the local one first (read from any thread)."""
        local = [self.ingester.stats] if self.ingester is not None else []
        return local + ([f.ingester.stats for f in self.hosts.followers] if self.hosts is not None else [])
