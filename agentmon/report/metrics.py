"""The core four, the leading signals and the eval pass rate, read from aggregates.

A read touches the all-time totals, or for a bounded window at most an hour of
minute buckets plus the window's hour buckets: never the raw history, so its
cost does not grow with the database.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from agentmon.report.calibration import calibration, calibration_summary
from agentmon.report.hosts import remote_sources
from agentmon.report.verdict import Evidence, Limits, drift, verdict
from agentmon.store.pricing import NANO
from agentmon.store.taskstate import AGG_COLUMNS, COL, FOLLOW_UP_SECONDS, WIDTH

DEFAULT_LIMITS = Limits()
# Agents whose logs carry no outcome (agentmon.config.INFERRED_BY_DEFAULT): their success is inferred by default.
INFERRED_BY_DEFAULT = ("claude-code:",)
INFERRED_LIMITS = Limits(success="inferred")
SUCCESS_COLUMNS = {
    "outcome": "successes",
    "no_escalation": "successes_no_escalation",
    "no_human_step": "successes_no_human_step",
    "inferred": "successes",  # and, of the tasks that ended unknown, those inferred successes (see settled)
}
FOLLOWED_UP_COLUMNS = {
    "outcome": "followed_up",
    "no_escalation": "followed_up_no_escalation",
    "no_human_step": "followed_up_no_human_step",
    "inferred": "followed_up",
}


def default_limits(agent: str) -> Limits:
    """An agent's limits when agentmon.toml sets none: the defaults, success inferred where logs carry no outcome."""
    return INFERRED_LIMITS if agent.startswith(INFERRED_BY_DEFAULT) else DEFAULT_LIMITS


DRIFT_RECENT = 3600  # the leading signals of the last hour…
DRIFT_BASELINE = 7 * 86400  # …against the week before it

WINDOWS = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "all": None}
SUM_COLUMNS = ", ".join(f"sum({c})" for c in AGG_COLUMNS)
COLUMNS_SQL = ", ".join(AGG_COLUMNS)


def rate(num: float, den: float) -> float | None:
    """A share; None (JSON null) when nothing was counted, never 0."""
    return num / den if den else None


@dataclass
class ModelMetrics:
    model: str
    tasks: int
    successes: int
    task_success_rate: float | None
    cost_usd: float  # of the calls that have a price: see cost_status
    cost_per_successful_task: float | None
    unpriced_llm_calls: int = 0
    cost_status: str = "priced"  # cost_status()


@dataclass
class AgentMetrics:
    agent: str
    tasks: int
    successes: int
    unlabeled_tasks: int
    pending_tasks: int  # inside their follow-up window, where a follow-up rule applies
    task_success_rate: float | None
    autonomy_rate: float | None
    cost_usd: float  # of the calls that have a price: see cost_status
    cost_per_successful_task: float | None
    # "labeled": over the tasks with a known outcome alone (some ended unknown), "all": over every ended task,
    # "inferred": over those and the tasks whose outcome was inferred (docs/success.md)
    cost_per_successful_task_basis: str
    escalation_rate: float | None
    tool_error_rate: float | None
    confirmation_rejection_rate: float | None
    permission_denial_rate: float | None
    api_error_rate: float | None
    eval_pass_rate: float | None
    tool_calls: int
    tool_errors: int
    permission_denials: int
    llm_requests: int  # by their own time: the API error rate's denominator with api_errors
    api_errors: int  # failed requests
    api_retries: int  # attempts the client retried, apart
    cost_status: str  # "priced", "partly unpriced" (cost_usd is a floor) or "unpriced" (no call had a price)
    unpriced_llm_calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int  # of output_tokens
    # What the success rate rests on: "outcome" (the logs' own), "labels" (people's, where logs carry none), or
    # "inferred" (labels, and the rule over the evidence of the tasks without one: docs/success.md).
    task_success_rate_source: str = "outcome"
    inferred_tasks: int = 0  # of the tasks in the success rate, those whose outcome was inferred
    # Where success is inferred: the rule against the agent's labels, all time (calibration_summary); else None.
    calibration: dict | None = None
    verdict: str = "hold"
    reasons: list[str] = field(default_factory=list)
    models: list[ModelMetrics] = field(default_factory=list)
    orchestration: dict = field(default_factory=dict)  # orchestration(): tasks with subagents against without


def window_rows(conn: sqlite3.Connection, window: str, now: float | None = None) -> list[tuple]:
    """(agent, model, *counters) summed over the window."""
    seconds = WINDOWS[window]
    if seconds is None:
        return conn.execute(f"SELECT agent, model, {COLUMNS_SQL} FROM agg_total").fetchall()
    return range_rows(conn, (now or time.time()) - seconds, None)


def range_rows(conn: sqlite3.Connection, start: float, end: float | None) -> list[tuple]:
    """(agent, model, *counters) summed over [start, end), to the minute; `end` None is open.

    Whole hours come from the hour buckets and only the ragged edges from the minute
    buckets, so a read costs at most two hours of minute rows plus the window's hour rows.
    """
    start_m = int(start // 60 * 60)
    first_hour = -(-start_m // 3600) * 3600
    parts: list[str] = []
    params: list[float] = []

    def minutes(lo, hi):
        parts.append(f"SELECT agent, model, {COLUMNS_SQL} FROM agg_minute WHERE bucket >= ? AND bucket < ?")
        params.extend((lo, hi))

    if end is None:
        minutes(start_m, first_hour)
        parts.append(f"SELECT agent, model, {COLUMNS_SQL} FROM agg_hour WHERE bucket >= ?")
        params.append(first_hour)
    else:
        end_m = int(end // 60 * 60)
        last_hour = end_m // 3600 * 3600
        if first_hour <= last_hour:
            minutes(start_m, first_hour)
            parts.append(f"SELECT agent, model, {COLUMNS_SQL} FROM agg_hour WHERE bucket >= ? AND bucket < ?")
            params.extend((first_hour, last_hour))
            minutes(last_hour, end_m)
        else:
            minutes(start_m, end_m)
    union = " UNION ALL ".join(parts)
    return conn.execute(f"SELECT agent, model, {SUM_COLUMNS} FROM ({union}) GROUP BY agent, model", params).fetchall()


def eval_pass_rates(conn: sqlite3.Connection) -> dict[str, tuple[float | None, int]]:
    """Per agent: (passed / cases, failing critical cases) over the latest run of each suite."""
    latest: dict[tuple[str, str], tuple] = {}
    for agent, suite, run, newest, cases, passed, critical in conn.execute(
        "SELECT agent, suite, run, newest_ts, cases, passed, critical_failed FROM eval_runs"
    ):
        cur = latest.get((agent, suite))
        if cur is None or (newest, run) > cur[:2]:
            latest[(agent, suite)] = (newest, run, cases, passed, critical)
    totals: dict[str, list[int]] = {}
    for (agent, _), (_, _, cases, passed, critical) in latest.items():
        acc = totals.setdefault(agent, [0, 0, 0])
        acc[0] += passed
        acc[1] += cases
        acc[2] += critical
    return {agent: (rate(p, c), crit) for agent, (p, c, crit) in totals.items()}


def agent_metrics(
    conn: sqlite3.Connection,
    window: str = "all",
    now: float | None = None,
    rows: list[tuple] | None = None,
    limits_for: Callable[[str], Limits] = default_limits,
    previous_out: dict[str, AgentMetrics] | None = None,
) -> list[AgentMetrics]:
    """Metrics of every agent ever seen, over `window` (or over `rows`), worst first.

    The verdict weighs the window against the one before it (bounded windows) and the last
    hour's leading signals against the week before (drift); given `rows`, neither. The metrics
    of the window before go into `previous_out` when given (for trend arrows)."""
    now = time.time() if now is None else now
    agents = [a for (a,) in conn.execute("SELECT DISTINCT agent FROM agg_total")]
    evals = eval_pass_rates(conn)
    judged = rows is None
    by_agent = _by_agent(rows if rows is not None else window_rows(conn, window, now), set(agents) | set(evals))
    previous: dict[str, list[int]] = {}
    recent: dict[str, list[int]] = {}
    baseline: dict[str, list[int]] = {}
    pending: dict[str, list[int]] = {}
    if any(limits_for(agent).require_no_follow_up for agent in by_agent):
        # Tasks that ended within the follow-up window are pending: the part of this window after
        # now - FOLLOW_UP_SECONDS (all of a window shorter than that).
        w = WINDOWS[window]
        start = now - w if rows is None and w else None
        cut = now - FOLLOW_UP_SECONDS
        pending = (
            agent_totals(range_rows(conn, cut, None))
            if start is None or start < cut
            else {a: [sum(col) for col in zip(*m.values())] for a, m in by_agent.items() if m}
        )
    if judged:
        if w := WINDOWS[window]:
            previous = agent_totals(range_rows(conn, now - 2 * w, now - w))
        recent = agent_totals(range_rows(conn, now - DRIFT_RECENT, None))
        baseline = agent_totals(range_rows(conn, now - DRIFT_RECENT - DRIFT_BASELINE, now - DRIFT_RECENT))
    result = []
    for agent, models in by_agent.items():
        total = [sum(col) for col in zip(*models.values())] if models else [0] * WIDTH
        eval_rate, critical = evals.get(agent, (None, 0))
        limits = limits_for(agent)
        m = build(agent, total, eval_rate, limits, pending.get(agent))
        m.models = sorted(
            (model_metrics(model, c, limits) for model, c in models.items() if c[COL["ended"]]),
            key=lambda x: (-x.tasks, x.model),
        )
        e = evidence(agent, total, m, critical, limits, pending.get(agent))
        if limits.success == "inferred":
            found = calibration(conn, agent, limit=0)  # its labelled tasks alone, through their index
            m.calibration = calibration_summary(found[0] if found else None, limits)
            e.calibrated_decided = found[0].decided if found else 0
            e.calibrated_agreeing = found[0].agreeing if found else 0
        if agent in previous:
            e.previous = evidence(agent, previous[agent], limits=limits)
            if previous_out is not None:
                previous_out[agent] = build(agent, previous[agent], None, limits)
        if agent in recent and agent in baseline:
            e.drifting = drift(
                evidence(agent, recent[agent]),
                evidence(agent, baseline[agent]),
                "in the last hour",
                "in the week before",
            )
        m.verdict, m.reasons = verdict(e, limits)
        result.append(m)
    return sorted(result, key=severity)


def _by_agent(rows: list[tuple], agents: set[str]) -> dict[str, dict[str, list[int]]]:
    by_agent: dict[str, dict[str, list[int]]] = {a: {} for a in agents}
    for agent, model, *counters in rows:
        by_agent.setdefault(agent, {})[model] = counters
    return by_agent


def agent_totals(rows: list[tuple]) -> dict[str, list[int]]:
    """Per agent, the counters summed over its models."""
    totals: dict[str, list[int]] = {}
    for agent, _, *counters in rows:
        acc = totals.get(agent)
        totals[agent] = list(counters) if acc is None else [a + b for a, b in zip(acc, counters)]
    return totals


def evidence(
    agent: str,
    c: list[int],
    m: AgentMetrics | None = None,
    critical: int = 0,
    limits: Limits = DEFAULT_LIMITS,
    pending_c: list[int] | None = None,
) -> Evidence:
    """The counts a verdict weighs, from an agent's counters."""
    g = lambda name: c[COL[name]]
    asked = g("tool_calls") if agent.startswith(REJECTIONS_OVER_TOOL_CALLS) else g("confirmations")
    # Measured outcomes apart from inferred ones: the verdict counts the inferred only once calibrated (verdict.py).
    inferred_s = g("inferred_successes") if limits.success == "inferred" else 0
    inferred = inferred_s + g("inferred_failures") if limits.success == "inferred" else 0
    measured = replace(limits, success="outcome") if limits.success == "inferred" else limits
    successes, labeled, pending, _ = settled(c, measured, pending_c)
    return Evidence(
        inferred=inferred,
        inferred_successes=inferred_s,
        labeled=labeled,
        unlabeled=g("unlabeled"),
        pending=pending,
        successes=successes,
        ended=g("ended"),
        autonomous=g("autonomous"),
        seen=g("tasks_seen"),
        escalated=g("escalated_tasks"),
        tool_calls=g("tool_calls"),
        tool_errors=g("tool_errors"),
        asked=asked,
        rejections=g("rejections"),
        permission_denials=g("permission_denials"),
        api_errors=g("api_errors"),
        api_attempts=g("requests") + g("api_errors"),
        cost_per_successful_task=m.cost_per_successful_task if m else None,
        eval_pass_rate=m.eval_pass_rate if m else None,
        critical_eval_failures=critical,
    )


def severity(m: AgentMetrics) -> tuple:
    """Worst first: by verdict, then by how many limits it crosses, then by success rate."""
    order = {"no-go": 0, "hold": 1, "go": 2}[m.verdict]
    success = 2.0 if m.task_success_rate is None else m.task_success_rate
    return order, -len(m.reasons) if m.verdict != "go" else 0, success, m.agent


# Claude Code transcripts record rejected tool uses but not approved ones: for those agents the
# rejection rate is over tool calls (docs/claude-code.md).
REJECTIONS_OVER_TOOL_CALLS = ("claude-code:",)


def settled(c: list[int], limits: Limits, pending_c: list[int] | None) -> tuple[int, int, int, float]:
    """(successes, labeled tasks, pending tasks, the labeled tasks' cost in USD) under the agent's definition
    of success. With a follow-up rule, tasks that ended within its window (`pending_c`) are not judged
    yet, and successes followed up by a new task with the same key do not count."""

    def cost_of(counters):  # of the tasks with a known outcome: those a success can be among
        labeled_nanos = counters[COL["cost_nanos"]] - counters[COL["unlabeled_cost_nanos"]]
        return labeled_nanos / NANO + limits.infra_cost_per_task * (counters[COL["ended"]] - counters[COL["unlabeled"]])

    if limits.success == "inferred" and not limits.require_no_follow_up:
        # A labelled task keeps its label; of the others, those the rule decides count as it says, their cost
        # taken as the unknown tasks' average (the aggregates keep the unknown tasks' cost as one sum).
        inferred_s, inferred_f, unknown = c[COL["inferred_successes"]], c[COL["inferred_failures"]], c[COL["unlabeled"]]
        share = (inferred_s + inferred_f) / unknown if unknown else 0.0
        unknown_usd = c[COL["unlabeled_cost_nanos"]] / NANO + limits.infra_cost_per_task * unknown
        decided = c[COL["ended"]] - unknown + inferred_s + inferred_f
        return c[COL["successes"]] + inferred_s, decided, 0, cost_of(c) + share * unknown_usd
    if not limits.require_no_follow_up:
        return (c[COL[SUCCESS_COLUMNS[limits.success]]], c[COL["ended"]] - c[COL["unlabeled"]], 0, cost_of(c))
    p = pending_c or [0] * WIDTH
    s = [a - b for a, b in zip(c, p)]
    successes = s[COL[SUCCESS_COLUMNS[limits.success]]] - s[COL[FOLLOWED_UP_COLUMNS[limits.success]]]
    return (successes, s[COL["ended"]] - s[COL["unlabeled"]], p[COL["ended"]] - p[COL["unlabeled"]], cost_of(s))


def build(
    agent: str,
    c: list[int],
    eval_pass_rate: float | None,
    limits: Limits = DEFAULT_LIMITS,
    pending_c: list[int] | None = None,
) -> AgentMetrics:
    """An agent's metrics from its counters, under its definition of success and infrastructure cost."""
    g = lambda name: c[COL[name]]
    cost = g("cost_nanos") / NANO + limits.infra_cost_per_task * g("ended")
    successes, labeled, pending, settled_cost = settled(c, limits, pending_c)
    asked = g("tool_calls") if agent.startswith(REJECTIONS_OVER_TOOL_CALLS) else g("confirmations")
    unpriced = g("unpriced_llm_calls")
    per_success = rate(settled_cost, successes)
    if per_success is not None and unpriced and not settled_cost and unpriced > g("unlabeled_unpriced_llm_calls"):
        per_success = None  # its tasks' calls had no price: unknown, never $0
    inferred = g("inferred_successes") + g("inferred_failures") if limits.success == "inferred" else 0
    if inferred:
        source = "inferred"
    elif limits.success == "inferred" or agent.startswith(INFERRED_BY_DEFAULT):
        source = "labels"
    else:
        source = "outcome"
    return AgentMetrics(
        task_success_rate_source=source,
        inferred_tasks=inferred,
        agent=agent,
        tasks=g("ended"),
        successes=successes,
        unlabeled_tasks=g("unlabeled"),
        pending_tasks=pending,
        task_success_rate=rate(successes, labeled),
        autonomy_rate=rate(g("autonomous"), g("ended")),
        cost_usd=cost,
        cost_per_successful_task=per_success,
        cost_per_successful_task_basis="inferred" if inferred else "labeled" if g("unlabeled") else "all",
        escalation_rate=rate(g("escalated_tasks"), g("tasks_seen")),
        tool_error_rate=rate(g("tool_errors"), g("tool_calls")),
        confirmation_rejection_rate=rate(g("rejections"), asked),
        permission_denial_rate=rate(g("permission_denials"), max(g("tool_calls"), g("permission_denials"))),
        api_error_rate=rate(g("api_errors"), g("requests") + g("api_errors")),
        eval_pass_rate=eval_pass_rate,
        tool_calls=g("tool_calls"),
        tool_errors=g("tool_errors"),
        permission_denials=g("permission_denials"),
        llm_requests=g("requests"),
        api_errors=g("api_errors"),
        api_retries=g("api_retries"),
        cost_status=cost_status(g("cost_nanos"), unpriced),
        unpriced_llm_calls=unpriced,
        input_tokens=g("input_tokens"),
        output_tokens=g("output_tokens"),
        cache_read_tokens=g("cache_read_tokens"),
        cache_write_tokens=g("cache_write_tokens"),
        reasoning_tokens=g("reasoning_tokens"),
        orchestration=orchestration(c, limits),
    )


# Below this many labelled tasks a group's success rate is not shown as a comparison ("too few labelled").
MIN_LABELED_TO_COMPARE = 10


def orchestration(c: list[int], limits: Limits = DEFAULT_LIMITS) -> dict:
    """Tasks with subagents against tasks without: for each group its ended tasks, labelled ones (a known
    outcome), successes by outcome, success rate over the labelled, cost, and cost per success over the
    labelled; then the subagents' share of all ended tasks' cost and tokens. `enough_labeled`: at least
    MIN_LABELED_TO_COMPARE labelled tasks, below which a person is told so rather than shown a rate."""
    g = lambda name: c[COL[name]]
    tokens = g("input_tokens") + g("output_tokens") + g("cache_read_tokens") + g("cache_write_tokens")
    cost_nanos = g("cost_nanos")
    with_ = (
        g("orchestrated"),
        g("orchestrated_successes"),
        g("orchestrated_unlabeled"),
        g("orchestrated_cost_nanos"),
        g("orchestrated_unlabeled_cost_nanos"),
    )
    without = (
        g("ended") - with_[0],
        g("successes") - with_[1],
        g("unlabeled") - with_[2],
        cost_nanos - with_[3],
        g("unlabeled_cost_nanos") - with_[4],
    )
    return {
        "with_subagents": _group(*with_, limits),
        "without": _group(*without, limits),
        "subagent_cost_usd": g("subagent_cost_nanos") / NANO,
        "subagent_tokens": g("subagent_tokens"),
        "subagent_cost_share": rate(g("subagent_cost_nanos"), cost_nanos),
        "subagent_token_share": rate(g("subagent_tokens"), tokens),
    }


def _group(tasks: int, successes: int, unlabeled: int, cost_nanos: int, unlabeled_nanos: int, limits: Limits) -> dict:
    labeled = tasks - unlabeled
    labeled_cost = (cost_nanos - unlabeled_nanos) / NANO + limits.infra_cost_per_task * labeled
    return {
        "tasks": tasks,
        "labeled_tasks": labeled,
        "successes": successes,
        "success_rate": rate(successes, labeled),
        "enough_labeled": labeled >= MIN_LABELED_TO_COMPARE,
        "cost_usd": cost_nanos / NANO + limits.infra_cost_per_task * tasks,
        "cost_per_success": rate(labeled_cost, successes) if labeled_cost else None,
    }


def cost_status(cost_nanos: int, unpriced_llm_calls: int) -> str:
    """Whether a cost is whole: "priced"; "partly unpriced" (a floor: some calls had no price); "unpriced"
    (calls, none with a price: the cost is unknown, never $0)."""
    if not unpriced_llm_calls:
        return "priced"
    return "partly unpriced" if cost_nanos else "unpriced"


def spend_text(cost_usd: float | None, status: str, unpriced: int, money: Callable[[float | None], str]) -> str:
    """A cost as every report shows it: "unpriced (N calls)" when no call had a price (never $0), the known
    part and "+N unpriced" when some had none."""
    if status == "unpriced":
        return f"unpriced ({unpriced} call{'s' * (unpriced != 1)})"
    return money(cost_usd) + (f" +{unpriced} unpriced" if status == "partly unpriced" else "")


def tokens_text(n: int) -> str:
    """A token count in four characters or so: 950, 12k, 1.2M, 3.4G."""
    for limit, unit in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if n >= limit:
            return f"{n / limit:.1f}{unit}" if n < 10 * limit else f"{n // limit}{unit}"
    return str(n)


def model_metrics(model: str, c: list[int], limits: Limits = DEFAULT_LIMITS) -> ModelMetrics:
    """A model's outcome metrics; its cost per successful task over its tasks with a known outcome."""
    ended, ok, unlabeled = c[COL["ended"]], c[COL[SUCCESS_COLUMNS[limits.success]]], c[COL["unlabeled"]]
    cost = c[COL["cost_nanos"]] / NANO + limits.infra_cost_per_task * ended
    labeled_cost = (c[COL["cost_nanos"]] - c[COL["unlabeled_cost_nanos"]]) / NANO + limits.infra_cost_per_task * (
        ended - unlabeled
    )
    unpriced = c[COL["unpriced_llm_calls"]]
    per_success = rate(labeled_cost, ok)
    if per_success is not None and unpriced and not labeled_cost and unpriced > c[COL["unlabeled_unpriced_llm_calls"]]:
        per_success = None
    return ModelMetrics(
        model or "(unknown)",
        ended,
        ok,
        rate(ok, ended - unlabeled),
        cost,
        per_success,
        unpriced,
        cost_status(c[COL["cost_nanos"]], unpriced),
    )


def ingest_totals(conn: sqlite3.Connection) -> dict[str, Any]:
    lines, quarantined = conn.execute("SELECT lines, quarantined FROM ingest_totals").fetchone()
    (files,) = conn.execute("SELECT count(*) FROM files").fetchone()
    waiting = conn.execute("SELECT host, path, since, reason FROM waiting_documents ORDER BY host, path").fetchall()
    return {
        "files": files,
        "lines": lines,
        "quarantined": quarantined,
        # eval logs not read yet because they are being written (agentmon.ingest.documents)
        "waiting_documents": [dict(zip(("host", "path", "since", "reason"), w)) for w in waiting],
    }


LimitsFor = Callable[[str], Limits]


def snapshot(
    conn: sqlite3.Connection,
    window: str = "all",
    now: float | None = None,
    limits_for: LimitsFor = default_limits,
) -> dict:
    """The `agentmon status --json` document."""
    now = time.time() if now is None else now
    return {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "window": window,
        "ingest": ingest_totals(conn),
        "remote_sources": remote_sources(conn, now),
        "agents": [asdict(m) for m in agent_metrics(conn, window, now, limits_for=limits_for)],
    }


def orchestration_text(o: dict, money: Callable[[float], str] = lambda x: f"${x:.2f}", sep: str = " · ") -> str | None:
    """One line for a person: tasks with subagents against tasks without, and the subagents' share of spend
    ("subagents: 12 tasks 58% success $0.41/success · without: 30 tasks 70% $0.22/success · 31% of spend in
    subagents"); `sep` goes before "without" (a newline where 80 columns must hold it). A group with too few
    labelled tasks says so instead of a rate. None: no task had subagents."""
    w, wo = o.get("with_subagents"), o.get("without")
    if not w or not wo or not w["tasks"]:
        return None
    share, tokens = o["subagent_cost_share"], o.get("subagent_token_share")
    if share is not None:
        spent = f" · {share * 100:.0f}% of spend in subagents"
    else:  # no call had a price: what the tokens say
        spent = f" · {tokens * 100:.0f}% of tokens in subagents" if tokens is not None else ""
    return f"subagents: {_group_text(w, ' success', money)}{sep}without: {_group_text(wo, '', money)}{spent}"


def _group_text(g: dict, success_word: str, money: Callable[[float], str]) -> str:
    tasks = f"{g['tasks']} task{'s' * (g['tasks'] != 1)}"
    if not g["tasks"]:
        return "no tasks"
    if not g["labeled_tasks"]:
        return f"{tasks}, none labelled"
    if not g["enough_labeled"]:
        return f"{tasks}, {g['labeled_tasks']} labelled: too few to compare"
    per = g["cost_per_success"]
    per_text = f" {money(per)}/success" if per is not None else " no success" if not g["successes"] else ""
    return f"{tasks} {g['success_rate'] * 100:.0f}%{success_word}{per_text}"
