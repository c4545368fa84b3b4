"""What orchestration costs: per task, the subagents that worked for it and their part of its tokens and cost;
per agent, tasks with subagents against tasks without. Every figure here was counted by reading the lines."""

import json
import shutil
import sqlite3
from itertools import permutations
from pathlib import Path

import pytest
from conftest import FIXTURES, REALDATA, agents, ingest, needs_realdata
from test_claude_code_realdata import laid_out

from agentmon.report.metrics import orchestration_text

ORCHESTRATION = FIXTURES / "claude-code" / "rules" / "orchestration"
NANO = 10**9


def task_rows(db: Path) -> dict[str, tuple]:
    """task -> (subagents, subagent tokens, all its tokens, subagent cost, cost), in nano-dollars."""
    conn = sqlite3.connect(db)
    try:
        return {
            task: tuple(rest)
            for task, *rest in conn.execute(
                "SELECT task, subagents, subagent_tokens, input_tokens + output_tokens + cache_read_tokens"
                " + cache_write_tokens, subagent_cost_nanos, cost_nanos FROM tasks WHERE parent_task IS NULL"
            )
        }
    finally:
        conn.close()


# --- Claude Code ----------------------------------------------------------------------------------------------------

# fixtures/claude-code/rules/orchestration, read by hand. Task p1 launched three subagents: two inline (the old
# layout, no agentId: a chain from its first line, sa0 and sb0) and one in subagents/agent-f1.jsonl. Their
# requests, each once with its largest usage: req_a1 200+40+1000 (two lines), req_a2 300+20, req_b1 400+30,
# req_f1 500+60+100 = 2650 tokens, $0.03 + $0.04 + $0.05 + $0.06 (costUSD, the larger of req_a1's two);
# the main conversation's req_m1 and req_m2, 150 tokens and $0.01 each. Task p2: one request, no subagent.
CLAUDE_CODE_BY_HAND = {
    "p1": (3, 2650, 2650 + 300, 180_000_000, 200_000_000),
    "p2": (0, 0, 150, 0, 10_000_000),
    "p3": (0, 0, 0, 0, 0),
}


@pytest.mark.parametrize(
    "subagents_first",
    [False, True],
    ids=["session-first", "subagents-first"],
)
def test_claude_code_subagents_inline_and_in_files_count_per_task(tmp_path, subagents_first):
    root = tmp_path / "projects"
    shutil.copytree(ORCHESTRATION / "projects", root)
    db = tmp_path / "cc.db"
    if subagents_first:
        ingest(list(root.rglob("agent-*.jsonl")), db)
    ingest([root], db)
    assert task_rows(db) == CLAUDE_CODE_BY_HAND
    (agent,) = agents(db).values()
    o = agent["orchestration"]
    assert o["with_subagents"]["tasks"] == 1 and o["without"]["tasks"] == 2  # p3 ended idle, at no cost
    assert o["subagent_cost_usd"] == pytest.approx(0.18)
    assert o["subagent_cost_share"] == pytest.approx(0.18 / 0.21)  # of the ended tasks' cost
    assert o["subagent_tokens"] == 2650
    assert orchestration_text(o) == (
        "subagents: 1 task, none labelled · without: 2 tasks, none labelled · 86% of spend in subagents"
    )


# Realdata, read by hand (each sidechain line's chain followed through parentUuid to its first line; each request,
# by requestId, once with its largest usage, all four token kinds): A08's one task had 2 subagents, 10 requests,
# 157,362 tokens of its 375,764; A09's second task 5 subagents, 161 requests, 3,667,587 tokens of 3,795,498, its
# first none. A13's subagent (A14, agent-af1ff21.jsonl) is a Warmup: nothing.
REALDATA_BY_HAND = {
    "A08": {"5877060c-0a35-4f68-90a6-fdaa3727859a": (2, 157_362, 375_764)},
    "A09": {
        "2e38973c-cb21-4d4d-be4f-b93dd59145bd": (0, 0, 43_083),
        "62e0bdc0-a1e4-4d5c-8509-3b9d0d57cc67": (5, 3_667_587, 3_795_498),
    },
    "A13+A14": {
        "0bdd2740-b6f7-4e7b-b1c9-f159cc83b104": (0, 0, 36_378),
        "0eb6476b-5bf2-4941-be36-65b7d7834a11": (0, 0, 83_325),
        "4ff8f9dd-bfe1-4e7c-bb26-72641ef6d43c": (0, 0, 37_717),
        "cbda0832-b189-4477-9bd4-f4214020bc81": (0, 0, 38_259),
        "e8404307-5b6c-44e3-b48e-9a18baedd204": (0, 0, 37_665),
    },
}


@needs_realdata("Claude Code transcripts", "claude-code")
@pytest.mark.parametrize("subagents_first", [False, True], ids=["session-first", "subagents-first"])
@pytest.mark.parametrize("name", list(REALDATA_BY_HAND))
def test_real_transcripts_subagents_as_read_by_hand(tmp_path, name, subagents_first):
    projects, subagents = laid_out(name, tmp_path)
    db = tmp_path / "real.db"
    if subagents_first:
        for f in subagents:
            ingest([f], db)
    ingest([projects], db)
    rows = task_rows(db)
    assert {task: row[:3] for task, row in rows.items()} == REALDATA_BY_HAND[name]
    for subs, _, _, sub_cost, cost in rows.values():  # priced by genai-prices: a part of the task's cost
        assert (sub_cost > 0) == (subs > 0) and sub_cost < cost


assert REALDATA.name == "realdata"  # the folder needs_realdata looks in


# --- native events: parent_task ------------------------------------------------------------------------------------


def native(ts: int, event: str, task: str, **fields) -> str:
    return json.dumps({"ts": 1_780_000_000 + ts, "agent": "orch", "event": event, "task": task, **fields})


def call(ts: int, task: str, cost: float, tokens: int) -> str:
    return native(ts, "llm_call", task, model="m", input_tokens=tokens, output_tokens=10, cost_usd=cost)


# "parent" launched child1 and child2; child2 launched grand. "solo" had none.
NATIVE = [
    native(0, "task_start", "parent"),
    call(1, "parent", 0.10, 100),
    native(2, "task_start", "child1", parent_task="parent"),
    call(3, "child1", 0.20, 200),
    native(4, "task_start", "child2", parent_task="parent"),
    call(5, "child2", 0.30, 300),
    native(6, "task_start", "grand", parent_task="child2"),
    call(7, "grand", 0.05, 50),
    native(9, "task_end", "parent", outcome="unknown"),
    native(10, "task_start", "solo"),
    call(11, "solo", 0.50, 500),
    native(12, "task_end", "solo", outcome="success"),
]
NATIVE_BY_HAND = {  # parent: 3 subagents, their 3 calls (550 + 30 tokens, $0.55) within its 4 (650 + 40, $0.65)
    "parent": (3, 580, 690, 550_000_000, 650_000_000),
    "solo": (0, 0, 510, 0, 500_000_000),
}


def aggregates(db: Path) -> tuple:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT sum(tasks_seen), sum(ended), sum(successes), sum(cost_nanos), sum(llm_calls), sum(orchestrated),"
            " sum(orchestrated_successes), sum(orchestrated_unlabeled), sum(orchestrated_cost_nanos),"
            " sum(subagent_cost_nanos), sum(subagent_tokens) FROM agg_total"
        ).fetchone()
    finally:
        conn.close()


# Two tasks seen and ended (the children are part of "parent"), one success, $1.15 over 5 calls; "parent" is
# the one with subagents: unknown, $0.65, $0.55 and 580 tokens of it in subagents.
NATIVE_AGGREGATES = (2, 2, 1, 1_150_000_000, 5, 1, 0, 1, 650_000_000, 550_000_000, 580)


@pytest.mark.parametrize(
    "order",
    [NATIVE, NATIVE[::-1], NATIVE[2:8] + NATIVE[:2] + NATIVE[8:], NATIVE[6:8] + NATIVE[:6] + NATIVE[8:]],
    ids=["in-order", "reversed", "children-first", "grandchild-first"],
)
def test_native_child_tasks_roll_up_to_their_parent_in_any_order(tmp_path, order):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_text("\n".join(order[:5]) + "\n")
    db = tmp_path / "n.db"
    ingest([logs], db)
    (logs / "b.jsonl").write_text("\n".join(order[5:]) + "\n")  # another file, another batch
    ingest([logs], db)
    assert task_rows(db) == NATIVE_BY_HAND
    assert aggregates(db) == NATIVE_AGGREGATES


def test_a_child_that_changes_parent_moves_its_cost(tmp_path):
    """Of two parents named, that of the earliest task_start: what went to the other is taken back."""
    logs = tmp_path / "logs"
    logs.mkdir()
    lines = [
        native(0, "task_start", "p"),
        native(0, "task_start", "q"),
        native(1, "task_start", "c", parent_task="q"),
        call(2, "c", 0.20, 200),
    ]
    (logs / "a.jsonl").write_text("\n".join(lines) + "\n")
    db = tmp_path / "n.db"
    ingest([logs], db)
    assert task_rows(db)["q"] == (1, 210, 210, 200_000_000, 200_000_000)
    (logs / "b.jsonl").write_text(native(1, "task_start", "c", parent_task="p") + "\n")  # as early: p < q
    ingest([logs], db)
    rows = task_rows(db)
    assert rows["q"] == (0, 0, 0, 0, 0) and rows["p"] == (1, 210, 210, 200_000_000, 200_000_000)


def test_a_later_label_moves_the_task_within_its_group(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_text("\n".join(NATIVE) + "\n")
    db = tmp_path / "n.db"
    ingest([logs], db)
    label = lambda at, outcome: native(9, "task_end", "parent", outcome=outcome, labeled_at=1_780_000_000 + at)
    (logs / "b.jsonl").write_text(label(100, "success") + "\n")
    ingest([logs], db)
    o = agents(db)["orch"]["orchestration"]
    assert (o["with_subagents"]["successes"], o["with_subagents"]["labeled_tasks"]) == (1, 1)
    assert o["with_subagents"]["cost_per_success"] == pytest.approx(0.65)
    assert (o["without"]["successes"], o["without"]["labeled_tasks"]) == (1, 1)
    (logs / "c.jsonl").write_text(label(200, "failure") + "\n")  # the latest label wins
    ingest([logs], db)
    o = agents(db)["orch"]["orchestration"]
    assert (o["with_subagents"]["successes"], o["with_subagents"]["labeled_tasks"]) == (0, 1)
    assert o["with_subagents"]["success_rate"] == 0.0 and o["with_subagents"]["cost_per_success"] is None
    assert aggregates(db)[5:8] == (1, 0, 0)


def test_the_line_for_a_person_compares_only_groups_with_enough_labels():
    group = lambda tasks, labeled, successes, cost: {
        "tasks": tasks,
        "labeled_tasks": labeled,
        "successes": successes,
        "success_rate": successes / labeled if labeled else None,
        "enough_labeled": labeled >= 10,
        "cost_usd": cost,
        "cost_per_success": cost / successes if successes else None,
    }
    o = {
        "with_subagents": group(12, 12, 7, 2.87),
        "without": group(30, 30, 21, 4.62),
        "subagent_cost_share": 0.31,
    }
    assert orchestration_text(o) == (
        "subagents: 12 tasks 58% success $0.41/success · without: 30 tasks 70% $0.22/success"
        " · 31% of spend in subagents"
    )
    o["subagent_cost_share"], o["subagent_token_share"] = None, 0.25  # unpriced: the tokens' share
    assert orchestration_text(o).endswith(" · 25% of tokens in subagents")
    o["with_subagents"] = group(12, 3, 3, 1.0)
    assert orchestration_text(o).startswith("subagents: 12 tasks, 3 labelled: too few to compare · without: 30 tasks")
    o["with_subagents"] = group(0, 0, 0, 0.0)
    assert orchestration_text(o) is None  # no task had subagents: nothing to compare


def test_agentmon_tasks_shows_subagents_and_their_share(tmp_path):
    from click.testing import CliRunner

    from agentmon.cli import main

    root = tmp_path / "projects"
    shutil.copytree(ORCHESTRATION / "projects", root)
    db = tmp_path / "cc.db"
    ingest([root], db)
    runner = CliRunner()
    rows = json.loads(runner.invoke(main, ["tasks", "--db", str(db), "--json"]).output)
    p1 = next(r for r in rows if r["task"] == "p1")
    assert (p1["subagents"], p1["subagent_tokens"]) == (3, 2650)
    assert p1["subagent_cost_share"] == pytest.approx(0.9) and p1["subagent_token_share"] == pytest.approx(2650 / 2950)
    table = runner.invoke(main, ["tasks", "--db", str(db)]).output
    assert "SUBAGENTS" in table.splitlines()[0]
    assert " 3 90% " in next(line for line in table.splitlines() if line.startswith("p1"))


def test_permutations_of_a_small_tree_agree(tmp_path):
    """Every order of a parent, its child and a grandchild, one line per batch, gives the same rows."""
    lines = [NATIVE[0], NATIVE[1], NATIVE[4], NATIVE[5], NATIVE[6], NATIVE[7]]
    results = set()
    for i, order in enumerate(permutations(lines)):
        if i % 60:  # 720 orders: a spread of them
            continue
        logs = tmp_path / f"logs{i}"
        logs.mkdir()
        db = tmp_path / f"p{i}.db"
        for j, line in enumerate(order):
            (logs / f"{j}.jsonl").write_text(line + "\n")
            ingest([logs], db)
        results.add(tuple(sorted(task_rows(db).items())))
    assert results == {(("parent", (2, 370, 480, 350_000_000, 450_000_000)),)}


# --- OpenTelemetry: a nested invoke_agent span of another agent -----------------------------------------------------


def _chat(tracer, model: str, tokens_in: int, tokens_out: int) -> None:
    with tracer.start_as_current_span(f"chat {model}") as chat:
        chat.set_attribute("gen_ai.operation.name", "chat")
        chat.set_attribute("gen_ai.request.model", model)
        chat.set_attribute("gen_ai.usage.input_tokens", tokens_in)
        chat.set_attribute("gen_ai.usage.output_tokens", tokens_out)


@pytest.mark.parametrize("first", ["subagents", "planner"])
def test_otel_nested_invoke_agent_spans_are_subagents_of_the_root_agents_task(receiver, db, first):
    """planner calls a model, then a tool that invokes researcher (in another process), which calls a model and
    invokes fact_checker; planner calls a model again. Read by hand: planner's task had 2 subagents; theirs are
    200+20 and 300+30 tokens of the task's 100+10, 220, 330 and 50+5 = 715."""
    pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry import trace
    from test_genai_conventions import MODEL, expected_cost, export, provider_for

    planner_process, research_process = provider_for(receiver, "planner-svc"), provider_for(receiver, "research-svc")
    tracer, research = planner_process.get_tracer("planner"), research_process.get_tracer("research")

    def agent_span(t, agent: str, **kwargs):
        return t.start_as_current_span(f"invoke_agent {agent}", **kwargs)

    with agent_span(tracer, "planner") as root:
        root.set_attribute("gen_ai.operation.name", "invoke_agent")
        root.set_attribute("gen_ai.agent.name", "planner")
        _chat(tracer, MODEL, 100, 10)
        with tracer.start_as_current_span("execute_tool research") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "research")
            with agent_span(research, "researcher", context=trace.set_span_in_context(tool)) as sub:
                sub.set_attribute("gen_ai.operation.name", "invoke_agent")
                sub.set_attribute("gen_ai.agent.name", "researcher")
                _chat(research, MODEL, 200, 20)
                with agent_span(research, "fact_checker") as subsub:
                    subsub.set_attribute("gen_ai.operation.name", "invoke_agent")
                    subsub.set_attribute("gen_ai.agent.name", "fact_checker")
                    _chat(research, MODEL, 300, 30)
        _chat(tracer, MODEL, 50, 5)
    trace_id = f"{root.get_span_context().trace_id:032x}"
    export(*((research_process, planner_process) if first == "subagents" else (planner_process, research_process)))
    conn = sqlite3.connect(db)
    try:
        rows = {
            agent: rest
            for agent, *rest in conn.execute(
                "SELECT agent, subagents, subagent_tokens, input_tokens + output_tokens, subagent_cost_nanos,"
                " cost_nanos, parent_agent FROM tasks WHERE task = ?",
                (trace_id,),
            )
        }
    finally:
        conn.close()
    sub_cost = expected_cost(input_tokens=200, output_tokens=20) + expected_cost(input_tokens=300, output_tokens=30)
    own_cost = expected_cost(input_tokens=100, output_tokens=10) + expected_cost(input_tokens=50, output_tokens=5)
    subs, sub_tokens, tokens, sub_nanos, nanos, parent = rows["planner"]
    assert (subs, sub_tokens, tokens, parent) == (2, 550, 715, None)
    assert sub_nanos / NANO == pytest.approx(sub_cost) and nanos / NANO == pytest.approx(sub_cost + own_cost)
    assert rows["researcher"][-1] == rows["fact_checker"][-1] == "planner"  # children of the root agent's task
    found = agents(db)
    assert [found[a]["tasks"] for a in ("planner", "researcher", "fact_checker")] == [1, 0, 0]
    assert found["planner"]["orchestration"]["with_subagents"]["tasks"] == 1


# --- one request in a transcript and in Claude Code's OpenTelemetry event -----------------------------------------


@pytest.mark.parametrize("order", ["transcript-first", "otel-first", "one-batch"])
def test_a_subagents_request_seen_by_two_sources_is_the_subagents_whichever_comes_first(tmp_path, order):
    """The transcript names the subagent, Claude Code's api_request event does not: the request (once, with the
    event's final output and cost) is the subagent's share in every order."""
    from test_requests_across_sources import otel_line, transcript_line

    line = json.loads(transcript_line())
    marked = (json.dumps({**line, "subagent": "af1ff21"}) + "\n").encode()
    logs = tmp_path / "logs"
    logs.mkdir()
    db = tmp_path / "r.db"
    files = [("a.jsonl", marked), ("b.jsonl", otel_line())]
    if order == "otel-first":
        files.reverse()
    if order == "one-batch":
        for name, data in files:
            (logs / name).write_bytes(data)
        ingest([logs], db)
    else:
        for name, data in files:
            (logs / name).write_bytes(data)
            ingest([logs], db)
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT subagents, subagent_tokens, input_tokens + output_tokens + cache_read_tokens, subagent_cost_nanos,"
            " cost_nanos FROM tasks WHERE cost_nanos > 0"
        ).fetchall()
    finally:
        conn.close()
    assert rows == [(1, 1200 + 480 + 3000, 1200 + 480 + 3000, 12_300_000, 12_300_000)]


def test_the_emitter_writes_child_tasks_and_subagent_calls(tmp_path):
    from agentmon.emit import Emitter

    emitter = Emitter(tmp_path / "logs" / "orch.jsonl", agent="orch")
    with emitter.task("t1") as task:
        task.llm_call("m", 100, 10, cost_usd=0.01)
        task.llm_call("m", 200, 20, cost_usd=0.02, subagent="reviewer")
        with emitter.task("t1/search", parent_task="t1") as child:
            child.llm_call("m", 300, 30, cost_usd=0.03)
        task.end("success")
    db = tmp_path / "e.db"
    ingest([tmp_path / "logs"], db)
    # t1: a subagent by its calls (reviewer) and a child task: 2; theirs 220 + 330 of 660 tokens, $0.05 of $0.06
    assert task_rows(db) == {"t1": (2, 550, 660, 50_000_000, 60_000_000)}
    o = agents(db)["orch"]["orchestration"]
    assert (o["with_subagents"]["tasks"], o["with_subagents"]["successes"], o["without"]["tasks"]) == (1, 1, 0)


def test_parents_that_name_each_other_end_and_count_nothing(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    lines = [
        native(0, "task_start", "a", parent_task="b"),
        native(0, "task_start", "b", parent_task="a"),
        call(1, "a", 0.10, 100),
        native(2, "task_start", "solo"),
        call(3, "solo", 0.20, 200),
        native(4, "task_end", "solo", outcome="success"),
    ]
    (logs / "a.jsonl").write_text("\n".join(lines) + "\n")
    db = tmp_path / "c.db"
    ingest([logs], db)
    assert aggregates(db)[:5] == (1, 1, 1, 200_000_000, 1)  # "solo" alone: a and b are each other's children
