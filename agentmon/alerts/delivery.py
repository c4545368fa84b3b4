"""Deliveries: a bounded queue per target (the webhook, the command), each drained in order by its own
thread, a failure retried with capped exponential backoff until `give_up_seconds` after the alert.
Putting an alert never waits: a full queue drops its oldest alert (counted in `dropped`)."""

from __future__ import annotations

import http.client
import itertools
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agentmon.alerts.health import TargetHealth
from agentmon.alerts.message import Alert
from agentmon.alerts.settings import AlertSettings
from agentmon.text import literal

QUEUE_LIMIT = 100  # alerts waiting per target; a webhook down for hours keeps the newest
RETRIED_STATUSES = {408, 425, 429}  # and every 5xx: the server may answer later; other 4xx never will


class Failed(Exception):
    """A delivery that did not go through; `permanent`: retrying cannot help (a 404, no such command)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Webhook:
    def __init__(self, url: str, timeout: float) -> None:
        self.name, self.url, self.timeout = "webhook", url, timeout

    def send(self, alert: Alert) -> None:
        request = urllib.request.Request(
            self.url,
            data=alert.body(),
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "agentmon"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read(65536)
        except urllib.error.HTTPError as e:
            retried = e.code in RETRIED_STATUSES or e.code >= 500
            raise Failed(f"webhook answered HTTP {e.code}", permanent=not retried) from None
        except (ValueError, http.client.InvalidURL):  # their text may quote the URL: a Slack webhook's secret
            raise Failed("webhook: the URL is not valid", permanent=True) from None
        except http.client.HTTPException as e:  # a broken answer: the server may do better next time
            raise Failed(f"webhook: {type(e).__name__}") from None
        except OSError as e:  # refused, unreachable, timed out (URLError is an OSError, and names no URL)
            raise Failed(f"webhook: {e.reason if isinstance(e, urllib.error.URLError) else e}") from None


class Command:
    def __init__(self, argv: Sequence[str], timeout: float) -> None:
        self.name, self.argv, self.timeout = "command", list(argv), timeout

    def send(self, alert: Alert) -> None:
        """Run the command itself, never through a shell: the JSON on stdin, AGENTMON_ALERT_* set."""
        try:
            done = subprocess.run(
                self.argv,
                input=alert.body(),
                env={**os.environ, **alert.environment()},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError:
            raise Failed(f"command not found: {literal(self.argv[0])}", permanent=True) from None
        except subprocess.TimeoutExpired:
            raise Failed(f"command still running after {self.timeout:g} s: killed") from None
        except OSError as e:
            raise Failed(f"command: {e}") from None
        if done.returncode != 0:
            said = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise Failed(f"command exited {done.returncode}" + (f": {literal(said[-1], 200)}" if said else ""))


@dataclass
class Waiting:
    alert: Alert
    since: float  # clock() when queued: the give-up deadline counts from here


class Courier:
    """One target's queue and the thread that drains it."""

    def __init__(
        self,
        target: Webhook | Command,
        settings: AlertSettings,
        stopping: threading.Event,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        self.target, self.settings, self.stopping, self.clock = target, settings, stopping, clock
        self.wait = wait or stopping.wait  # True when the session stops
        self.queue: deque[Waiting] = deque()
        self.ready = threading.Condition()
        self.sent = self.attempts = self.dropped = 0
        self.last_error: str | None = None
        # What a person is shown (agentmon.alerts.health): since when deliveries fail (unix time; None: the
        # last one went through), and how many alerts were given up on since the last one that did.
        self.failing_since: float | None = None
        self.undelivered = 0
        self.in_hand = 0  # 1 while an alert is being sent or retried: it is waiting too
        self.thread = threading.Thread(target=self._run, name=f"agentmon alerts {target.name}", daemon=True)

    def put(self, alert: Alert) -> None:
        with self.ready:
            if len(self.queue) >= QUEUE_LIMIT:
                self.queue.popleft()
                self.dropped += 1
                self.undelivered += 1
            self.queue.append(Waiting(alert, self.clock()))
            self.ready.notify()

    def pending(self) -> int:
        with self.ready:
            return len(self.queue)

    def wake(self) -> None:
        with self.ready:
            self.ready.notify_all()

    def _next(self) -> Waiting | None:
        with self.ready:
            while not self.queue and not self.stopping.is_set():
                self.ready.wait()
            return None if self.stopping.is_set() else self.queue.popleft()

    def _run(self) -> None:
        while (item := self._next()) is not None:
            self.in_hand = 1
            try:
                self._deliver(item)
            finally:
                self.in_hand = 0

    def _deliver(self, item: Waiting) -> None:
        """Send `item` until it goes through, fails for good, or is older than give_up_seconds."""
        s = self.settings
        for attempt in itertools.count():
            self.attempts += 1
            try:
                self.target.send(item.alert)
            except Failed as e:
                self.last_error = str(e)
                if self.failing_since is None:
                    self.failing_since = time.time()
                delay = min(s.retry_seconds * 2 ** min(attempt, 60), s.retry_max_seconds)
                if e.permanent or self.clock() + delay - item.since > s.give_up_seconds:
                    self.dropped += 1
                    self.undelivered += 1
                    return
                if self.wait(delay):  # stopping: what is queued is not sent
                    return
            else:
                self.sent += 1
                self.failing_since, self.undelivered = None, 0
                return

    def health(self) -> TargetHealth:
        return TargetHealth(
            self.target.name,
            self.sent,
            self.pending() + self.in_hand,
            self.undelivered,
            self.failing_since,
            self.last_error,
        )


class Deliveries:
    """The couriers of `settings`' targets: `put` an alert to every one."""

    def __init__(
        self,
        settings: AlertSettings,
        stopping: threading.Event,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        targets: list[Webhook | Command] = []
        if settings.webhook:
            targets.append(Webhook(settings.webhook, settings.timeout_seconds))
        if settings.command:
            targets.append(Command(settings.command, settings.timeout_seconds))
        self.couriers = [Courier(t, settings, stopping, clock, wait) for t in targets]

    def start(self) -> None:
        for c in self.couriers:
            c.thread.start()

    def put(self, alert: Alert) -> None:
        for c in self.couriers:
            c.put(alert)

    def health(self) -> list[TargetHealth]:
        return [c.health() for c in self.couriers]

    def close(self, timeout: float = 5.0) -> None:
        """After the session's `stopping` is set: wake the couriers and wait a little for them (a request
        in flight ends by its own timeout)."""
        for c in self.couriers:
            c.wake()
        for c in self.couriers:
            if c.thread.is_alive():
                c.thread.join(timeout)
