"""The follow-up rule: a success needs no new task with the same key within 48 hours."""

import json
import random

import pytest
from conftest import agents, ingest

from agentmon.report.verdict import Limits

H = 3600
NOW = 1_780_000_000.0


def task(name, key, start, end, outcome="success", agent="support"):
    return [
        {"ts": start, "agent": agent, "event": "task_start", "task": name, "key": key},
        {"ts": end, "agent": agent, "event": "task_end", "task": name, "outcome": outcome},
    ]


def write(logs, events, seed=None, files=1):
    lines = [json.dumps(e) + "\n" for e in events]
    if seed is not None:
        random.Random(seed).shuffle(lines)
    for i in range(files):
        (logs / f"f{i}.jsonl").write_text("".join(lines[i::files]))


def rule(agent: str) -> Limits:
    return Limits(require_no_follow_up=True, min_tasks=1)


CASES = [
    # a: the customer came back 47h59m later -> followed up, not a success
    *task("a", "cust-1", NOW - 100 * H, NOW - 99 * H),
    *task("a2", "cust-1", NOW - 99 * H + 47 * H + 59 * 60, NOW - 50 * H),
    # b: came back 48h01m later -> b stands
    *task("b", "cust-2", NOW - 100 * H, NOW - 99 * H),
    *task("b2", "cust-2", NOW - 99 * H + 48 * H + 60, NOW - 50 * H),
    # c: a failure followed up is a failure either way
    *task("c", "cust-3", NOW - 100 * H, NOW - 99 * H, "failure"),
    # d: ended 10 hours ago: its window is open -> pending
    *task("d", "cust-4", NOW - 11 * H, NOW - 10 * H),
    # e: no key -> the rule cannot apply
    {"ts": NOW - 80 * H, "agent": "support", "event": "task_end", "task": "e", "outcome": "success"},
]


@pytest.mark.parametrize("seed, files", [(None, 1), (1, 3), (2, 2), (3, 5)])
def test_follow_ups_at_the_edges_of_the_window_whatever_the_order(db, logs, seed, files):
    write(logs, CASES, seed, files)
    ingest([logs], db, track_follow_ups=lambda agent: True)
    from agentmon.report.metrics import agent_metrics
    from agentmon.store.writer import connect

    m = next(a for a in agent_metrics(connect(db, readonly=True), "all", NOW, limits_for=rule) if a.agent == "support")
    # settled: a (followed up), a2, b, b2, c (failure), e; pending: d
    assert (m.tasks, m.pending_tasks) == (7, 1)
    assert m.successes == 4  # a2, b, b2, e; not a
    assert m.task_success_rate == pytest.approx(4 / 6)
    plain = next(a for a in agent_metrics(connect(db, readonly=True), "all", NOW) if a.agent == "support")
    assert (plain.successes, plain.pending_tasks) == (6, 0)  # without the rule: every success counts


def test_a_window_shorter_than_the_follow_up_window_is_all_pending(db, logs):
    write(logs, task("x", "k", NOW - 3 * H, NOW - 2 * H))
    ingest([logs], db, track_follow_ups=lambda agent: True)
    from agentmon.report.metrics import agent_metrics
    from agentmon.store.writer import connect

    m = next(
        a
        for a in agent_metrics(
            connect(db, readonly=True), "24h", NOW, limits_for=lambda a: Limits(require_no_follow_up=True)
        )
        if a.agent == "support"
    )
    assert (m.tasks, m.pending_tasks, m.task_success_rate) == (1, 1, None)
    assert m.reasons == ["too few settled tasks: 0 of 30 needed (1 still inside their 48-hour follow-up window)"]


def test_agents_without_the_rule_are_unaffected(db, logs):
    write(logs, CASES)
    ingest([logs], db)
    assert agents(db, "all", NOW)["support"]["successes"] == 6
