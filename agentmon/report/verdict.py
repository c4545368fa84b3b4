"""Go / hold / no-go, with reasons a manager can read, from counts (not from bare rates).

A rate is judged by its 95% Wilson interval, not its point value: `go` needs every rate
clearly on the right side of its limit, `no-go` needs one clearly on the wrong side (or a
failing eval gate, or success falling while autonomy rises: more unchecked mistakes), and
everything in between, too few tasks and drifting leading signals included, is `hold`.
A hold names its drifting signals first: they say what is changing, where a rate that is not
clearly inside its limit may have been so for weeks. A rate past its limit over too few samples
to judge is named too, so no reason claims every limit is met beside it.
Pure functions: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

Z95 = 1.959964  # two-sided 95%
DRIFT_Z = 3.0  # a leading signal drifts when its recent rate is this many standard errors above baseline
TREND_Z = 2.0  # success falling / autonomy rising against the previous window


@dataclass(frozen=True)
class Limits:
    """The thresholds of one agent (agentmon.toml will set them per agent)."""

    min_tasks: int = 30
    min_samples: int = 30  # a rate over fewer (say 12 confirmations) can fail an agent, not hold it
    task_success_rate: float = 0.85  # at least
    autonomy_rate: float = 0.70  # at least
    escalation_rate: float = 0.10  # at most
    tool_error_rate: float = 0.05  # at most
    confirmation_rejection_rate: float = 0.15  # at most
    # At most. A denied call is one the agent planned and could not make, like a tool error: past 1 in 20
    # (the tool-error limit) its rules and its job disagree, and unattended it stalls or works around them.
    permission_denial_rate: float = 0.05
    # At most, of requests the client gave up on after its own retries: each ends the turn it was in, and at
    # one in 50 a task of 35 requests meets one more often than not (1 - 0.98**35 = 51%).
    api_error_rate: float = 0.02
    eval_pass_rate: float = 0.85  # at least, over the latest run of each suite
    cost_per_successful_task: float | None = None  # at most, in USD; None: no ceiling
    # What success means: "outcome" (the task said success), "no_escalation" (and no human took it
    # over) or "no_human_step" (and no confirmation or intervention either).
    success: str = "outcome"
    infra_cost_per_task: float = 0.0  # USD added to every ended task's cost
    # A success also needs no new task with the same key within 48 hours (the customer did not come
    # back); until those hours have passed the task is pending, neither success nor failure.
    require_no_follow_up: bool = False
    # An inferred success rate counts only once the rule agrees with people's labels on at least this share of
    # the agent's labelled tasks it decides, over at least this many of them (docs/success.md, the verdict).
    calibration_min_agreement: float = 0.9
    calibration_min_labels: int = 20


@dataclass
class Evidence:
    """The counts behind an agent's rates in one window."""

    labeled: int = 0  # ended tasks with a known outcome (and, under a follow-up rule, settled)
    inferred: int = 0  # ended tasks without one whose outcome the rule over their evidence infers (docs/success.md)
    inferred_successes: int = 0  # of `inferred`
    # The rule against the agent's labels (agentmon.report.calibration): labelled tasks it decides, and of those
    # the ones it gets right.
    calibrated_decided: int = 0
    calibrated_agreeing: int = 0
    unlabeled: int = 0
    pending: int = 0  # ended within the follow-up window: not judged yet
    successes: int = 0
    ended: int = 0
    autonomous: int = 0
    seen: int = 0
    escalated: int = 0
    tool_calls: int = 0
    tool_errors: int = 0
    asked: int = 0  # confirmations (Claude Code: tool calls)
    rejections: int = 0
    permission_denials: int = 0  # of tool_calls
    api_errors: int = 0  # failed requests…
    api_attempts: int = 0  # …of the requests plus those failed
    cost_per_successful_task: float | None = None
    eval_pass_rate: float | None = None
    critical_eval_failures: int = 0
    previous: Evidence | None = None  # the window before, for the trend
    drifting: list[str] = field(default_factory=list)  # reasons, from drift()


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of k successes in n trials."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_z(k1: int, n1: int, k2: int, n2: int) -> float:
    """z of p1 − p2 under the pooled null hypothesis p1 = p2; 0 when either sample is empty."""
    if n1 == 0 or n2 == 0:
        return 0.0
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return 0.0 if se == 0 else (k1 / n1 - k2 / n2) / se


SIGNALS = (  # (label, numerator, denominator) of the leading signals, in Evidence fields
    ("escalations", "escalated", "seen"),
    ("tool errors", "tool_errors", "tool_calls"),
    ("rejected confirmations", "rejections", "asked"),
    ("permission denials", "permission_denials", "tool_calls"),
    ("API errors", "api_errors", "api_attempts"),
)


def drift(recent: Evidence, baseline: Evidence, recent_label: str, baseline_label: str) -> list[str]:
    """Reasons for each leading signal whose recent rate is significantly above its baseline, the
    strongest drift first."""
    found = []
    for label, num, den in SIGNALS:
        k1, k2 = getattr(recent, num), getattr(baseline, num)
        n1, n2 = max(getattr(recent, den), k1), max(getattr(baseline, den), k2)  # a denial without its tool call
        z = two_proportion_z(k1, n1, k2, n2)
        if z >= DRIFT_Z:
            reason = (
                f"{label} drifting up: {_pct(k1 / n1)} {recent_label} against {_pct(k2 / n2)} "
                f"{baseline_label} (z = {z:.1f})"
            )
            found.append((z, reason))
    return [reason for _, reason in sorted(found, key=lambda f: -f[0])]


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def _ci(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"(95% CI {lo * 100:.1f}–{hi * 100:.1f}%)"


def calibration_hold(e: Evidence, limits: Limits) -> str | None:
    """Why an inferred success rate may not count yet, with what to do; None when the rule's agreement with the
    agent's labels is checked and high enough. Without a label the rule decides it never counts."""
    need, decided = max(1, limits.calibration_min_labels), e.calibrated_decided
    if decided < need:
        left = need - decided
        what = f"label {left}{' more' if decided else ''} task{'s' * (left != 1)}"
        return f"inferred success not yet checked: {what} (agentmon tasks --unlabeled --disagreeing)"
    agreement = e.calibrated_agreeing / decided
    if agreement < limits.calibration_min_agreement:
        return (
            f"inferred success disagrees with your labels: {agreement * 100:.0f}% agreement over {decided} "
            f"labelled tasks, {limits.calibration_min_agreement * 100:.0f}% needed (agentmon calibrate)"
        )
    return None


def with_inferred(e: Evidence) -> Evidence:
    """The evidence with the inferred outcomes counted as outcomes, the window before's too."""
    previous = with_inferred(e.previous) if e.previous is not None else None
    return replace(
        e,
        labeled=e.labeled + e.inferred,
        successes=e.successes + e.inferred_successes,
        inferred=0,
        inferred_successes=0,
        previous=previous,
    )


def verdict(e: Evidence, limits: Limits = Limits()) -> tuple[str, list[str]]:
    """(verdict, reasons): the reasons of a no-go first, then those of a hold (drifting signals first),
    then the rates past their limit over too few samples to judge."""
    if e.inferred:
        unchecked = calibration_hold(e, limits)
        if unchecked is None:  # checked against labels: the inferred outcomes count beside them
            e = with_inferred(e)
        elif e.labeled < limits.min_tasks or not e.labeled:  # no label: never a go, even with min_tasks = 0
            return "hold", [unchecked]
    if e.labeled < limits.min_tasks:
        if e.pending:
            return "hold", [
                f"too few settled tasks: {e.labeled} of {limits.min_tasks} needed "
                f"({e.pending} still inside their 48-hour follow-up window)"
            ]
        if e.unlabeled:
            return "hold", [
                f"too few labeled tasks: {e.labeled} of {limits.min_tasks} needed "
                f"({e.unlabeled} ended without an outcome)"
            ]
        return "hold", [f"too few tasks: {e.labeled} of {limits.min_tasks} needed"]
    bad, unsure, too_few = [], [], []
    checks = (  # (label, k, n, limit, the limit is a floor)
        ("success", e.successes, e.labeled, limits.task_success_rate, True),
        ("autonomy", e.autonomous, e.ended, limits.autonomy_rate, True),
        ("escalation rate", e.escalated, e.seen, limits.escalation_rate, False),
        ("tool-error rate", e.tool_errors, e.tool_calls, limits.tool_error_rate, False),
        ("rejection rate", e.rejections, e.asked, limits.confirmation_rejection_rate, False),
        (
            "permission-denial rate",
            e.permission_denials,
            max(e.tool_calls, e.permission_denials),  # a source may log a denial without its tool call
            limits.permission_denial_rate,
            False,
        ),
        ("API error rate", e.api_errors, e.api_attempts, limits.api_error_rate, False),
    )
    for label, k, n, limit, floor in checks:
        if n == 0:
            continue
        lo, hi = wilson(k, n)
        side, other = ("below", "above") if floor else ("above", "below")
        wrong, right = (hi < limit, lo >= limit) if floor else (lo > limit, hi <= limit)
        past = k / n < limit if floor else k / n > limit
        if wrong:
            bad.append(f"{label} {_pct(k / n)} {_ci(k, n)} {side} the {_pct(limit)} limit")
        elif not right and n >= limits.min_samples:
            unsure.append(f"{label} {_pct(k / n)} {_ci(k, n)}: not clearly {other} the {_pct(limit)} limit")
        elif past:  # over fewer samples than a hold needs: said, so that no reason claims every limit met
            too_few.append(f"{label} {_pct(k / n)} over {n} samples: too few to judge ({limits.min_samples} needed)")
    if e.eval_pass_rate is not None and e.eval_pass_rate < limits.eval_pass_rate:
        bad.append(
            f"eval pass rate {_pct(e.eval_pass_rate)} below the {_pct(limits.eval_pass_rate)} gate "
            "(latest run of each suite)"
        )
    if e.critical_eval_failures:
        bad.append(
            f"{e.critical_eval_failures} critical eval case{'s' * (e.critical_eval_failures != 1)} "
            "failing in the latest runs"
        )
    p = e.previous
    if p is not None:
        success_z = two_proportion_z(e.successes, e.labeled, p.successes, p.labeled)
        autonomy_z = two_proportion_z(e.autonomous, e.ended, p.autonomous, p.ended)
        if success_z <= -TREND_Z and autonomy_z >= TREND_Z:
            bad.append(
                f"success falling ({_pct(p.successes / p.labeled)} → {_pct(e.successes / e.labeled)}) "
                f"while autonomy rises ({_pct(p.autonomous / p.ended)} → {_pct(e.autonomous / e.ended)}): "
                "more mistakes go unchecked"
            )
    ceiling = limits.cost_per_successful_task
    if ceiling is not None and e.cost_per_successful_task is not None and e.cost_per_successful_task > ceiling:
        unsure.append(f"cost per successful task ${e.cost_per_successful_task:.4f} above the ${ceiling:.4f} ceiling")
    unsure = e.drifting + unsure
    if bad:
        return "no-go", bad + unsure + too_few
    if unsure:
        return "hold", unsure + too_few
    met = "every other limit" if too_few else "every limit"
    return "go", [*too_few, f"{met} met with 95% confidence over {e.labeled} tasks; no leading signal drifting"]
