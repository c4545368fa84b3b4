"""Claude Code, counted the way its users would: one fixture per rule (fixtures/claude-code/rules/<rule>),
each a line shape docs/claude-code.md names, checked on the parser's events and on the stored tasks."""

import sqlite3
from collections import Counter
from pathlib import Path

from conftest import FIXTURES, ingest

from agentmon.errors import BadLine
from agentmon.events import (
    ApiError,
    Confirmation,
    Escalation,
    HumanIntervention,
    LlmCall,
    PermissionDenial,
    TaskStart,
    ToolCall,
)
from agentmon.sources.claude_code import ClaudeCodeSource

RULES = FIXTURES / "claude-code" / "rules"


def files(rule: str, subagents_first: bool = False) -> list[Path]:
    found = sorted((RULES / rule).rglob("*.jsonl"))
    return sorted(found, key=lambda p: (p.parent.name == "subagents") != subagents_first)


def parse(rule: str, subagents_first: bool = False) -> list:
    source = ClaudeCodeSource(lambda session: [])
    events: list = []
    for path in files(rule, subagents_first):
        source.begin_chunk(str(path), 0)
        for raw in path.read_bytes().splitlines():
            try:
                events += source.parse(raw, str(path))
            except BadLine:
                pass
    return events


def signals(events: list) -> dict[str, int]:
    """What a person reading the transcript would count."""
    c: Counter = Counter()
    for e in events:
        kind = type(e)
        if kind is ToolCall:
            c["tool calls"] += e.call
            c["tool errors"] += not e.ok
        elif kind is ApiError:
            c["API retries" if e.retry else "API failures"] += 1
        elif kind is Confirmation:
            c["rejections"] += not e.approved
        else:
            c[
                {
                    TaskStart: "tasks",
                    LlmCall: "LLM requests",
                    PermissionDenial: "permission denials",
                    HumanIntervention: "interventions",
                    Escalation: "escalations",
                }.get(kind, kind.__name__)
            ] += 1
    c.pop("TaskEnd", None)
    c.pop("TaskEvidence", None)  # how a task went: tests/test_claude_code_evidence.py
    return {k: n for k, n in c.items() if n}


def stored(rule: str, db: Path) -> dict[str, dict]:
    ingest([RULES / rule], db)
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    return {r["task"]: dict(r) for r in conn.execute("SELECT * FROM tasks")}


def test_a_session_that_runs_cd_stays_one_agent_the_project(db):
    events = parse("cd-keeps-the-project")
    assert {e.agent for e in events} == {"claude-code:/work/app"}  # cwd /work/app/src and /tmp included
    t = stored("cd-keeps-the-project", db)
    assert set(t) == {"p1"} and t["p1"]["agent"] == "claude-code:/work/app"
    assert (t["p1"]["tool_calls"], t["p1"]["llm_calls"]) == (2, 4)  # the subagent's call too


def test_the_project_is_decided_once_whatever_line_comes_first(tmp_path):
    """A subagent file read first, from a subdirectory, names the project as the session would."""
    source = ClaudeCodeSource(lambda session: [])
    path = str(tmp_path / "projects" / "-work-app" / "s" / "subagents" / "agent-x.jsonl")
    assert source.agent(path, "/work/app/src/deep") == "claude-code:/work/app"
    assert source.agent(str(tmp_path / "projects" / "-work-app" / "s.jsonl"), "/tmp") == "claude-code:/work/app"
    other = str(tmp_path / "projects" / "-srv-x" / "s.jsonl")
    assert source.agent(other, "/elsewhere") == "claude-code:-srv-x"  # no cwd of it encodes to the folder
    assert source.agent(other, "/srv/x") == "claude-code:-srv-x"  # decided once: never per line


def test_local_slash_commands_and_their_output_are_no_tasks(db):
    assert signals(parse("slash-commands")) == {"tasks": 2, "LLM requests": 2}
    t = stored("slash-commands", db)
    assert set(t) == {"p1", "p2"}  # not /cost, /security-review (failed), ! bash, /compact, /clear, /login, /exit
    assert t["p2"]["llm_calls"] == 1 and t["p2"]["first_ts"] == t["p1"]["end_ts"]  # /review, answered by the model


def test_a_task_notification_keeps_the_running_task(db):
    events = parse("task-notification")
    assert {e.task for e in events} == {"p1"}  # its API errors included
    assert signals(events) == {"tasks": 1, "LLM requests": 2, "tool calls": 1, "API retries": 1, "API failures": 1}
    assert set(stored("task-notification", db)) == {"p1"}


def test_an_answer_to_the_assistants_question_continues_the_task(db):
    events = parse("answers")
    assert signals(events) == {"tasks": 2, "LLM requests": 3, "tool calls": 1, "escalations": 1}
    t = stored("answers", db)
    assert set(t) == {"p1", "p2"}
    assert (t["p1"]["escalations"], t["p1"]["rejections"], t["p1"]["tool_errors"]) == (1, 0, 0)


def test_permission_auto_denials_are_their_own_signal(db):
    assert signals(parse("permission-denials")) == {
        "tasks": 1,
        "LLM requests": 1,
        "tool calls": 4,
        "permission denials": 3,
        "tool errors": 1,  # the failing test run only
    }
    p1 = stored("permission-denials", db)["p1"]
    assert (p1["tool_calls"], p1["tool_errors"], p1["permission_denials"], p1["rejections"]) == (4, 1, 3, 0)


def test_one_esc_is_one_intervention(db):
    events = parse("esc")
    by_task = {task: signals([e for e in events if e.task == task]) for task in ("p1", "p2")}
    assert by_task["p1"] == {"tasks": 1, "LLM requests": 1, "tool calls": 1, "interventions": 1}
    # p2: a person said no (one rejection, its marker not counted again), then pressed Esc once more
    assert by_task["p2"] == {"tasks": 1, "LLM requests": 2, "tool calls": 1, "rejections": 1, "interventions": 1}
    t = stored("esc", db)
    assert (t["p1"]["interventions"], t["p1"]["tool_errors"]) == (1, 0)
    assert (t["p2"]["interventions"], t["p2"]["rejections"], t["p2"]["tool_errors"]) == (1, 1, 0)


def test_api_errors_count_failed_requests_and_retries_apart():
    events = parse("api-errors")
    by_task = {
        task: signals([e for e in events if e.task == task and type(e) is ApiError]) for task in ("p1", "p2", "p3")
    }
    assert by_task == {
        "p1": {"API retries": 3},  # answered after three retries
        "p2": {"API retries": 2, "API failures": 1},  # Claude Code gave up: its <synthetic> message
        "p3": {"API retries": 1, "API failures": 1},  # the person gave up (Esc) while it retried
    }


def test_tool_calls_count_at_the_tool_use_and_from_a_result_whose_call_was_lost(db):
    assert signals(parse("tool-calls")) == {"tasks": 1, "LLM requests": 1, "tool calls": 3, "tool errors": 1}
    p1 = stored("tool-calls", db)["p1"]
    assert (p1["tool_calls"], p1["tool_errors"]) == (3, 1)  # Read, Edit (never answered), the cut line's call


def test_a_result_read_after_a_restart_does_not_count_its_call_again():
    """A file resumed mid-way: the result's tool_use was counted by the run before."""
    path = files("tool-calls")[0]
    lines = path.read_bytes().splitlines()
    source = ClaudeCodeSource(lambda session: [(1772445600.0, "p1")])
    source.begin_chunk(str(path), 1234)  # not the first byte
    events = [e for raw in lines[2:3] for e in source.parse(raw, str(path))]  # t1's result
    assert events == []


def test_a_warmup_subagent_adds_nothing_whichever_file_is_read_first(db, tmp_path):
    for subagents_first in (False, True):
        assert signals(parse("warmup", subagents_first)) == {"tasks": 1, "LLM requests": 1}
    ingest([files("warmup", subagents_first=True)[0]], db)  # the subagent's file alone first
    t = stored("warmup", db)
    assert set(t) == {"p1"} and t["p1"]["llm_calls"] == 1


def test_a_subagent_joins_the_task_that_launched_it(db):
    events = parse("launched-subagent")
    sub = [e for e in events if e.ts >= 1772445640.0]  # the subagent's Bash, after p2 began
    assert sub and {e.task for e in sub} == {"p1"}
    t = stored("launched-subagent", db)
    assert (t["p1"]["tool_calls"], t["p1"]["tool_errors"]) == (2, 1)
    assert (t["p2"]["tool_calls"], t["p2"]["tool_errors"]) == (0, 0)


def test_a_command_confirmed_in_a_lost_batch_is_confirmed_again():
    """A failed commit loses the batch's prompts; the lines read again (from the committed offset, after the
    command's line) must still make the command a task: the command waiting was committed with its line."""
    path = files("slash-commands")[0]
    lines = path.read_bytes().splitlines()
    review = next(i for i, raw in enumerate(lines) if b"/review" in raw)
    committed: list = []  # the parser's facts, as the store keeps them
    source = ClaudeCodeSource(
        lambda session: [], lambda session: [(f.kind, f.key, f.value, f.ts) for f in committed if f.value is not None]
    )
    source.begin_chunk(str(path), 0)
    starts = lambda raws: [e.task for raw in raws for e in source.parse(raw, str(path)) if type(e) is TaskStart]
    assert starts(lines[review : review + 2]) == []  # the command and its expanded prompt: waiting for the model
    committed += [f for f in source.take_facts() if f.kind == "command"]  # committed with the command's line
    assert starts(lines[review + 2 : review + 3]) == ["p2"]  # the model answers it: in a batch that fails
    source.reset()
    assert starts(lines[review + 2 : review + 3]) == ["p2"]
