"""`agentmon gate`: the release gate over eval results, for CI.

For each agent that ran the suite: the pass rate of its latest run against a minimum, the cases
that passed in the run before and fail now (regressions), and failing critical cases, which
always fail the gate.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field


@dataclass
class GateResult:
    agent: str
    suite: str
    run: str
    previous_run: str | None
    cases: int
    passed: int
    pass_rate: float
    min_pass_rate: float
    agent_version: str | None = None  # of the latest run
    previous_pass_rate: float | None = None
    regressions: list[str] = field(default_factory=list)
    critical_failures: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    result: str = "pass"

    def as_dict(self) -> dict:
        return asdict(self)


def runs(conn: sqlite3.Connection, suite: str, agent: str | None) -> dict[str, list[str]]:
    """Per agent, the runs of the suite, latest first (the latest run is the one whose newest result is newest)."""
    sql = "SELECT agent, run FROM eval_runs WHERE suite = ?" + (" AND agent = ?" if agent else "")
    sql += " ORDER BY agent, newest_ts DESC, run DESC"
    out: dict[str, list[str]] = {}
    for a, run in conn.execute(sql, (suite, agent) if agent else (suite,)):
        out.setdefault(a, []).append(run)
    return out


def judge(
    conn: sqlite3.Connection,
    suite: str,
    agent: str,
    latest: str,
    previous: str | None,
    min_pass_rate: float,
    no_regressions: bool,
) -> GateResult:
    results = {
        case: (passed, critical)
        for case, passed, critical in conn.execute(
            'SELECT "case", passed, critical FROM eval_results WHERE agent = ? AND suite = ? AND run = ?'
            ' ORDER BY "case"',
            (agent, suite, latest),
        )
    }
    passed = sum(p for p, _ in results.values())
    g = GateResult(agent, suite, latest, previous, len(results), passed, passed / len(results), min_pass_rate)
    (g.agent_version,) = conn.execute(
        "SELECT agent_version FROM eval_runs WHERE agent = ? AND suite = ? AND run = ?", (agent, suite, latest)
    ).fetchone()
    g.critical_failures = [case for case, (p, critical) in results.items() if critical and not p]
    if previous is not None:
        before = dict(
            conn.execute(
                'SELECT "case", passed FROM eval_results WHERE agent = ? AND suite = ? AND run = ?',
                (agent, suite, previous),
            ).fetchall()
        )
        g.regressions = [case for case, (p, _) in results.items() if not p and before.get(case) == 1]
        g.previous_pass_rate = sum(before.values()) / len(before) if before else None
    if g.pass_rate < min_pass_rate:
        g.reasons.append(f"pass rate {g.pass_rate:.1%} ({passed}/{g.cases}) below {min_pass_rate:.1%}")
    if g.critical_failures:
        g.reasons.append(f"{len(g.critical_failures)} critical case(s) failing: {', '.join(g.critical_failures)}")
    if no_regressions and g.regressions:
        g.reasons.append(
            f"{len(g.regressions)} case(s) passed in {previous!r} and fail now: {', '.join(g.regressions)}"
        )
    g.result = "fail" if g.reasons else "pass"
    return g


def gate(
    conn: sqlite3.Connection, suite: str, agent: str | None, min_pass_rate: float, no_regressions: bool
) -> list[GateResult]:
    """One result per agent that ran the suite; empty when none did."""
    return [
        judge(
            conn, suite, a, agent_runs[0], agent_runs[1] if len(agent_runs) > 1 else None, min_pass_rate, no_regressions
        )
        for a, agent_runs in runs(conn, suite, agent).items()
    ]


def report(results: list[GateResult]) -> str:
    """The gate as a CI log reads it."""
    lines = []
    for g in results:
        run = g.run or "(no run id)"
        against = f" against {g.previous_run or '(no run id)'}" if g.previous_run is not None else ""
        version = f" (version {g.agent_version})" if g.agent_version else ""
        lines.append(f"gate {g.suite} · {g.agent} · run {run}{version}{against}: {g.result.upper()}")
        before = f"; {g.previous_pass_rate:.1%} in the run before" if g.previous_pass_rate is not None else ""
        lines.append(f"  pass rate {g.pass_rate:.1%} ({g.passed}/{g.cases}), minimum {g.min_pass_rate:.1%}{before}")
        lines.append(f"  regressions: {', '.join(g.regressions) or 'none'}")
        lines.append(f"  critical failures: {', '.join(g.critical_failures) or 'none'}")
        lines += [f"  ✗ {reason}" for reason in g.reasons]
    verdict = "FAIL" if any(g.result == "fail" for g in results) else "PASS"
    lines.append(f"{verdict}: {sum(g.result == 'pass' for g in results)} of {len(results)} agent(s) pass")
    return "\n".join(lines)
