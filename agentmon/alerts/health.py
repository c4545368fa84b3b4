"""Whether alerts are getting through, for a person to see.

The ingesting process delivers alerts; the people looking are elsewhere (the monitor of a reader,
`agentmon status` over ssh). So the delivering process keeps each target's health in `<db>.alerts.json`
(agentmon.alerts.watcher) and every reader shows it from there: a webhook that has been refusing for an
hour must not look the same as a quiet fleet.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from agentmon.text import duration, literal


def state_path(db: Path) -> Path:
    """`<db>.alerts.json`: what was alerted per agent, and this health (written by agentmon.alerts.watcher)."""
    return db.with_name(db.stem + ".alerts.json")


@dataclass(frozen=True)
class TargetHealth:
    target: str  # "webhook" or "command"
    sent: int  # delivered since the process started
    waiting: int  # queued, not yet delivered
    undelivered: int  # given up on since the last delivery that went through
    failing_since: float | None  # unix time of the first failure since the last delivery; None: fine
    last_error: str | None  # the last failure's words (never the webhook's URL: it may be a secret)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict) -> TargetHealth:
        return cls(
            str(doc["target"]),
            int(doc["sent"]),
            int(doc["waiting"]),
            int(doc["undelivered"]),
            None if doc["failing_since"] is None else float(doc["failing_since"]),
            None if doc["last_error"] is None else str(doc["last_error"]),
        )


@dataclass(frozen=True)
class AlertsHealth:
    targets: tuple[TargetHealth, ...] = ()
    judge_error: str | None = None  # the fleet could not be judged (the database, the state file)
    updated: float | None = None  # unix time the delivering process last wrote this

    def to_json(self) -> dict:
        return {
            "targets": [t.to_json() for t in self.targets],
            "judge_error": self.judge_error,
            "updated": self.updated,
        }


def read(state_file: Path) -> AlertsHealth | None:
    """What the delivering process last wrote; None: no alerts are delivered for this database (or the file
    is being replaced, or damaged: the next read will tell)."""
    try:
        doc = json.loads(state_file.read_text(encoding="utf-8"))["health"]
        return AlertsHealth(
            tuple(TargetHealth.from_json(t) for t in doc["targets"]),
            None if doc["judge_error"] is None else str(doc["judge_error"]),
            None if doc["updated"] is None else float(doc["updated"]),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def problems(health: AlertsHealth | None, now: float | None = None) -> list[str]:
    """One line for a person per thing that keeps alerts from arriving; none when all is well."""
    if health is None:
        return []
    now = time.time() if now is None else now
    said = []
    for t in health.targets:
        if t.failing_since is None and not t.undelivered:
            continue
        parts = []
        if t.waiting:
            parts.append(f"{t.waiting} waiting")
        if t.undelivered:
            parts.append(f"{t.undelivered} given up")
        failing = f" for {duration(now - t.failing_since)}" if t.failing_since is not None else ""
        counts = f" ({', '.join(parts)})" if parts else ""
        said.append(f"alerts to the {t.target} failing{failing}{counts}: {literal(t.last_error or 'no reason given')}")
    if health.judge_error:
        said.append(f"alerts: cannot judge the fleet: {literal(health.judge_error)}")
    return said
