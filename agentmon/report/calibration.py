"""`agentmon calibrate`: how the inferred outcome agrees with people's labels, per agent (docs/success.md).

Read from the labelled tasks alone, through the index of them (schema m022): as many rows as people labelled
by hand, whatever the history's size. Each is set against what the rule says of its evidence now.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field

from agentmon.report.verdict import Evidence, Limits, calibration_hold, wilson
from agentmon.store.inferred import infer
from agentmon.store.taskstate import TaskState

LABELS = ("success", "failure")
INFERRED = ("success", "failure", "unknown")
LABELED = "tasks INDEXED BY tasks_labeled"


@dataclass
class Disagreement:
    task: str
    label: str
    inferred: str
    reason: str


@dataclass
class Calibration:
    agent: str
    labeled: int  # labelled success or failure, with evidence
    matrix: dict[str, dict[str, int]]  # label -> inferred -> tasks
    decided: int  # of `labeled`, those the rule decides
    agreeing: int  # of `decided`, those it gets right
    agreement: float | None
    failure_precision: float | None  # of the tasks it infers failed, those labelled failure
    failure_precision_ci: tuple[float, float] | None
    failure_recall: float | None  # of the tasks labelled failure, those it infers failed
    failure_recall_ci: tuple[float, float] | None
    disagreeing: list[Disagreement] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def calibration(conn: sqlite3.Connection, agent: str | None = None, limit: int = 20) -> list[Calibration]:
    """Per agent with labelled tasks that have evidence (or just `agent`), the rule against the labels; the
    disagreeing tasks newest label first, at most `limit` of them."""
    agents = [agent] if agent is not None else [a for (a,) in conn.execute("SELECT agent FROM agents ORDER BY agent")]
    out = []
    for name in agents:
        matrix = {label: dict.fromkeys(INFERRED, 0) for label in LABELS}
        disagreeing: list[Disagreement] = []
        rows = conn.execute(
            f"SELECT * FROM {LABELED} WHERE agent = ? AND labeled_at IS NOT NULL ORDER BY labeled_at DESC", (name,)
        )
        for row in rows:
            t = TaskState(*row)
            if t.outcome not in LABELS:
                continue
            inferred, reason = infer(t)
            if not reason:  # no evidence: nothing to set against the label
                continue
            matrix[t.outcome][inferred] += 1  # one of LABELS
            if inferred != t.outcome and len(disagreeing) < limit:
                disagreeing.append(Disagreement(t.task, t.outcome or "", inferred, reason))
        if any(any(row.values()) for row in matrix.values()):
            out.append(_calibration(name, matrix, disagreeing))
    return out


def _calibration(agent: str, m: dict[str, dict[str, int]], disagreeing: list[Disagreement]) -> Calibration:
    labeled = sum(sum(row.values()) for row in m.values())
    decided = sum(m[label][inferred] for label in LABELS for inferred in LABELS)
    agreeing = m["success"]["success"] + m["failure"]["failure"]
    hit = m["failure"]["failure"]
    said_failed = m["success"]["failure"] + hit
    failed = sum(m["failure"].values())
    return Calibration(
        agent=agent,
        labeled=labeled,
        matrix=m,
        decided=decided,
        agreeing=agreeing,
        agreement=agreeing / decided if decided else None,
        failure_precision=hit / said_failed if said_failed else None,
        failure_precision_ci=wilson(hit, said_failed) if said_failed else None,
        failure_recall=hit / failed if failed else None,
        failure_recall_ci=wilson(hit, failed) if failed else None,
        disagreeing=disagreeing,
    )


def calibration_summary(c: Calibration | None, limits: Limits) -> dict:
    """What `status --json` shows of an agent's calibration: `c` without its disagreeing tasks (None: no labelled
    task with evidence yet), and `enough`: whether the verdict may count the inferred outcomes."""
    empty = {label: dict.fromkeys(INFERRED, 0) for label in LABELS}
    c = c or _calibration("", empty, [])
    enough = calibration_hold(Evidence(calibrated_decided=c.decided, calibrated_agreeing=c.agreeing), limits) is None
    keep = ("labeled", "decided", "agreeing", "agreement", "matrix", "failure_precision", "failure_precision_ci")
    summary = {k: v for k, v in c.as_dict().items() if k in keep or k.startswith("failure_recall")}
    needed = {"min_labels": limits.calibration_min_labels, "min_agreement": limits.calibration_min_agreement}
    return {**summary, **needed, "enough": enough}


def calibration_words(summary: dict) -> str:
    """calibration_summary() in one short line for a person (the agent screen, 80 columns): how often the rule
    agreed with the labels, and whether the verdict counts the inferred outcomes for it."""
    decided, agreeing, need = summary["decided"], summary["agreeing"], summary["min_labels"]
    if not decided:
        return f"inferred vs your labels: none to compare yet; needs {need}, not counted"
    agree = f"inferred vs your labels: {agreeing} of {decided} agree ({agreeing / decided:.0%})"
    if summary["enough"]:
        return f"{agree}: counted"
    if decided < max(1, need):
        return f"{agree}; needs {need}, not counted yet"
    return f"{agree}; needs {summary['min_agreement']:.0%}, not counted"
