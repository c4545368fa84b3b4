"""The thread that judges the fleet and turns changes into alerts.

What was last alerted per agent (its verdict, its drifting signals) is kept in `<db>.alerts.json` beside
the database, written by the one process that ingests: a restart compares against it, so it neither
re-alerts the whole fleet nor misses a change made while it was down. With no such file (alerts just
turned on, a new database), the first judgement only sets the baseline. An agent seen for the first time
after that starts from its first verdict, unless that is no-go (alerted `from: null`).

Debouncing: a new verdict is alerted once it has held for `settle_seconds`, and an agent is alerted at most
once per `min_gap_seconds`; what it comes to after the gap is alerted then (nothing, if it flapped back).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agentmon.alerts.delivery import Deliveries
from agentmon.alerts.health import AlertsHealth, state_path
from agentmon.alerts.judge import Judgement, judge
from agentmon.alerts.message import Alert
from agentmon.alerts.settings import AlertSettings
from agentmon.errors import AgentmonError
from agentmon.report.verdict import Limits
from agentmon.store.writer import connect

REJUDGE_SECONDS = 60.0  # with no new data, windows still slide: judge again this often anyway


@dataclass
class Known:
    verdict: str
    drifting: set[str] = field(default_factory=set)


class AlertWatcher:
    """`start()` its thread (and the deliveries'): it judges once `caught_up` is set; `close()` after the
    session's `stopping` is set. `check_once()` judges now (the thread calls it; tests may too)."""

    def __init__(
        self,
        db: Path,
        settings: AlertSettings,
        stopping: threading.Event,
        limits_for: Callable[[str], Limits],
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        wait: Callable[[float], bool] | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        """`say`: told, in words, when a target starts failing and when it recovers (a service's log)."""
        self.db, self.settings, self.stopping, self.limits_for = Path(db), settings, stopping, limits_for
        self.clock, self.monotonic = clock, monotonic
        self.deliveries = Deliveries(settings, stopping, monotonic, wait)
        self.state_file = state_path(self.db)
        self.known = self._load()  # None: no baseline yet
        self.candidates: dict[str, tuple[str, float]] = {}  # agent -> (a verdict not alerted yet, seen since)
        self.last_alert: dict[str, float] = {}  # agent -> monotonic time of its last alert
        self.alerted = 0  # alerts queued
        self.last_error: str | None = None  # the last judgement that failed (the database, the state file)
        self.judge_seconds = 0.0  # what the last judgement cost
        self.say = say
        self.health = AlertsHealth()  # as last written to the state file (agentmon.alerts.health)
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None
        self._judged = -math.inf
        self.caught_up = threading.Event()  # set by the session after its first pass over the backlog
        self._thread = threading.Thread(target=self._run, name="agentmon alerts", daemon=True)

    # --- the thread ------------------------------------------------------------------------

    def start(self) -> None:
        self.deliveries.start()
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():
            self._thread.join(2.0)
        self.deliveries.close(timeout=0.5)  # a request in flight ends by its own timeout
        if self._conn is not None and not self._thread.is_alive():
            self._conn.close()

    def _run(self) -> None:
        while not self.caught_up.wait(0.1):  # verdicts of a half-read backlog would alert on history
            if self.stopping.is_set():
                return
        while True:
            try:
                self.check_once()
            except (sqlite3.Error, AgentmonError, OSError) as e:  # next time, maybe; ingest goes on
                self.last_error = str(e)
            self.publish_health()
            if self.stopping.wait(self.settings.check_seconds):
                return

    def publish_health(self) -> None:
        """Write the targets' health beside the database when it changed, and say when one starts failing
        or recovers. The couriers change it on their own threads; this thread is the only writer."""
        now = AlertsHealth(tuple(self.deliveries.health()), self.last_error)
        before = self.health
        if now == AlertsHealth(before.targets, before.judge_error):
            return
        self.health = AlertsHealth(now.targets, now.judge_error, self.clock())
        try:
            self._save()
        except OSError as e:
            self.last_error = f"cannot write {self.state_file}: {e.strerror or e}"
        if self.say is None:
            return
        was = {t.target: t for t in before.targets}
        for t in now.targets:
            old = was.get(t.target)
            if t.failing_since is not None and (old is None or old.failing_since is None):
                self.say(f"alerts to the {t.target} failing, retrying: {t.last_error}")
            elif t.failing_since is None and old is not None and old.failing_since is not None:
                self.say(f"alerts to the {t.target} delivered again")

    # --- judging ---------------------------------------------------------------------------

    def check_once(self) -> list[Alert]:
        """Judge the fleet (unless nothing changed in the database since the last judgement, not long
        ago), queue the alerts it calls for, and return them."""
        if self._conn is None:
            self._conn = connect(self.db, readonly=True)
        (version,) = self._conn.execute("PRAGMA data_version").fetchone()
        mono = self.monotonic()
        waiting = bool(self.candidates)  # a verdict settling, or an agent in its gap: look again
        if version == self._version and mono - self._judged < REJUDGE_SECONDS and not waiting:
            return []
        started = time.perf_counter()
        s = self.settings
        judged = judge(self._conn, s.window, self.clock(), self.limits_for, s.on_drift)
        self.judge_seconds = time.perf_counter() - started
        self._version, self._judged = version, mono
        alerts = self._changes(judged, mono)
        for alert in alerts:
            self.deliveries.put(alert)
        self.alerted += len(alerts)
        return alerts

    def _changes(self, judged: dict[str, Judgement], mono: float) -> list[Alert]:
        at, s = self.clock(), self.settings
        if self.known is None:  # alerts just turned on: this is the baseline
            self.known = {a: Known(j.verdict, set(j.drifting)) for a, j in judged.items()}
            self._save()
            return []
        alerts, dirty = [], False
        for agent, j in judged.items():
            known = self.known.get(agent)
            if known is None:
                self.known[agent] = Known(j.verdict, set(j.drifting))
                dirty = True
                if j.verdict == "no-go":
                    alerts.append(Alert("verdict", agent, None, j.verdict, j.reasons, at, s.window))
                    self.last_alert[agent] = mono
                continue
            if j.verdict == known.verdict:
                self.candidates.pop(agent, None)
            else:
                verdict, since = self.candidates.get(agent, (None, mono))
                if verdict != j.verdict:
                    since = mono
                self.candidates[agent] = (j.verdict, since)
                if mono - since >= s.settle_seconds and self._gap_passed(agent, mono):
                    alerts.append(Alert("verdict", agent, known.verdict, j.verdict, j.reasons, at, s.window))
                    known.verdict, self.last_alert[agent], dirty = j.verdict, mono, True
                    del self.candidates[agent]
            if s.on_drift:
                started = set(j.drifting) - known.drifting
                still = known.drifting & set(j.drifting)
                if started and self._gap_passed(agent, mono):
                    reasons = tuple(j.drifting[label] for label in sorted(started))
                    signals = tuple(sorted(started))
                    alerts.append(Alert("drift", agent, None, j.verdict, reasons, at, s.window, signals))
                    self.last_alert[agent], still = mono, still | started
                if still != known.drifting:  # a signal that stopped drifting may start again, and alert
                    known.drifting, dirty = still, True
        if dirty:
            self._save()
        return alerts

    def _gap_passed(self, agent: str, mono: float) -> bool:
        return mono - self.last_alert.get(agent, -math.inf) >= self.settings.min_gap_seconds

    # --- what was alerted, kept beside the database --------------------------------------------

    def _load(self) -> dict[str, Known] | None:
        try:
            doc = json.loads(self.state_file.read_text(encoding="utf-8"))
            return {a: Known(str(k["verdict"]), set(k.get("drifting", []))) for a, k in doc["agents"].items()}
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):  # damaged: start a new baseline
            return None

    def _save(self) -> None:
        """Written whole to a temporary file, then renamed over the old one: never half written. With no
        baseline yet, `agents` is null: the next start still takes its first judgement as the baseline."""
        agents = (
            None
            if self.known is None
            else {a: {"verdict": k.verdict, "drifting": sorted(k.drifting)} for a, k in self.known.items()}
        )
        doc = {"agents": agents, "health": self.health.to_json()}
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=0), encoding="utf-8")
        os.replace(tmp, self.state_file)
