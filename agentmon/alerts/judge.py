"""The fleet's verdicts, and which leading signals drift, as the alerts need them: read-only, from the
aggregates (what `agentmon status` reads), so a judgement costs what a status does."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from agentmon.report.metrics import (
    DRIFT_BASELINE,
    DRIFT_RECENT,
    agent_metrics,
    agent_totals,
    evidence,
    range_rows,
)
from agentmon.report.verdict import SIGNALS, Limits, drift


@dataclass(frozen=True)
class Judgement:
    verdict: str
    reasons: tuple[str, ...]
    drifting: dict[str, str]  # signal label -> its reason (empty unless drift is asked for)


def judge(
    conn: sqlite3.Connection, window: str, now: float, limits_for: Callable[[str], Limits], with_drift: bool
) -> dict[str, Judgement]:
    drifting = drifting_signals(conn, now) if with_drift else {}
    return {
        m.agent: Judgement(m.verdict, tuple(m.reasons), drifting.get(m.agent, {}))
        for m in agent_metrics(conn, window, now, limits_for=limits_for)
    }


def drifting_signals(conn: sqlite3.Connection, now: float) -> dict[str, dict[str, str]]:
    """Per agent, its leading signals whose last hour is significantly above the week before, whatever
    its verdict says (a verdict on too few tasks names no drift)."""
    recent = agent_totals(range_rows(conn, now - DRIFT_RECENT, None))
    baseline = agent_totals(range_rows(conn, now - DRIFT_RECENT - DRIFT_BASELINE, now - DRIFT_RECENT))
    found: dict[str, dict[str, str]] = {}
    for agent in recent.keys() & baseline.keys():
        reasons = drift(
            evidence(agent, recent[agent]), evidence(agent, baseline[agent]), "in the last hour", "in the week before"
        )
        signals = {label: r for r in reasons for label, _, _ in SIGNALS if r.startswith(label + " ")}
        if signals:
            found[agent] = signals
    return found
