"""The parser's shortcuts for the lines most transcripts are made of (a streamed message's next block, a
tool result that says nothing, a line between the same two prompts as the last) give what the long way does."""

import json

from agentmon.events import LlmCall, TaskStart, ToolCall
from agentmon.sources.claude_code import ClaudeCodeSource

PATH = "/home/u/.claude/projects/-work-demo/s1.jsonl"
T0 = "2026-01-05T10:00:"


def line(kind: str, second: int, content, **fields) -> bytes:
    obj = {
        "type": kind,
        "sessionId": "s1",
        "cwd": "/work/demo",
        "timestamp": f"{T0}{second:02d}.000Z",
        "message": {"role": kind, "content": content, **fields.pop("message", {})},
        **fields,
    }
    return json.dumps(obj).encode()


def tool_use(second: int, tool_id: str, name: str, **fields) -> bytes:
    block = {"type": "tool_use", "id": tool_id, "name": name, "input": {}}
    return line("assistant", second, [block], **fields)


def result(tool_id: str, error: bool = False) -> dict:
    return {"type": "tool_result", "tool_use_id": tool_id, "content": "no such file", "is_error": error}


def parse(lines: list[bytes]) -> list:
    source = ClaudeCodeSource(lambda session: [])
    source.begin_chunk(PATH, 0)
    # a subagent's events whose launch is unknown go to the store apart (held), to the same task
    return [event for raw in lines for event in (*source.parse(raw, PATH), *(h.event for h in source.take_held()))]


def test_a_result_that_says_something_after_one_that_says_nothing_on_the_same_line():
    events = parse(
        [
            line("user", 0, "fix it", uuid="p1"),
            tool_use(1, "t1", "Read"),
            tool_use(2, "t2", "Bash"),
            line("user", 3, [result("t1"), result("t2", error=True)]),
            tool_use(4, "t3", "Grep"),
            line("user", 5, [{"type": "text", "text": "see"}, result("t3", error=True)]),
        ]
    )
    failed = [e for e in events if isinstance(e, ToolCall) and not e.ok]
    assert [(e.tool, e.task, e.call) for e in failed] == [("Bash", "p1", False), ("Grep", "p1", False)]


def test_a_subagent_line_goes_to_its_launcher_even_between_the_same_prompts_as_the_line_before():
    launch = {"type": "tool_result", "tool_use_id": "t1", "content": "done"}
    events = parse(
        [
            line("user", 0, "first", uuid="p1"),
            tool_use(1, "t1", "Task"),
            line("user", 2, [launch], toolUseResult={"agentId": "a1", "status": "completed"}),
            line("user", 3, "second", uuid="p2"),
            tool_use(4, "t2", "Read"),  # the main line: between p2 and the next prompt
            tool_use(5, "t3", "Grep", isSidechain=True, agentId="a1"),
            tool_use(6, "t4", "Glob", isSidechain=True, agentId="unknown"),
        ]
    )
    calls = {e.tool: e.task for e in events if isinstance(e, ToolCall)}
    assert calls == {"Task": "p1", "Read": "p2", "Grep": "p1", "Glob": "p2"}


def test_a_streamed_message_keeps_its_earliest_time_and_each_largest_count():
    def block(second: int, usage: dict, cost: float | None = None) -> bytes:
        extra = {} if cost is None else {"costUSD": cost}
        message = {"id": "msg_1", "model": "claude-sonnet-4-5", "usage": usage}
        return line("assistant", second, [{"type": "text", "text": "hi"}], requestId="req_1", message=message, **extra)

    usage = {"input_tokens": 10, "output_tokens": 3, "cache_read_input_tokens": 500}
    events = parse(
        [
            line("user", 0, "go", uuid="p1"),
            block(9, usage, cost=0.5),
            block(8, {**usage, "cache_creation": {"ephemeral_1h_input_tokens": 7}}),
            block(9, {**usage, "output_tokens": 250, "cache_creation_input_tokens": 40}, cost=0.25),
            block(9, {**usage, "input_tokens": 2}),
        ]
    )
    [call] = [e for e in events if isinstance(e, LlmCall)]
    assert call.ts == parse([block(8, usage)])[0].ts
    counts = (call.input_tokens, call.output_tokens, call.cache_read_tokens, call.cache_write_tokens)
    assert counts == (10, 250, 500, 40)
    assert (call.cache_write_1h_tokens, call.cost_usd) == (7, 0.5)


def test_a_loosely_read_assistant_text_still_says_whether_it_asked():
    # A block the strict shape refuses (is_error is no bool) is read loosely: its text must still be there for
    # the next human line to know whether it answers a question.
    odd = {"type": "text", "text": "Shall I go on?", "is_error": "no"}
    events = parse(
        [
            line("user", 0, "start", uuid="p1"),
            line("assistant", 1, [odd], message={"id": "m1", "model": "claude-sonnet-4-5"}),
            line("user", 2, "yes", uuid="p2"),  # an answer: the same task goes on
            line("assistant", 3, [{"type": "text", "text": "Done."}]),
            line("user", 4, "next", uuid="p3"),
        ]
    )
    assert [e.task for e in events if isinstance(e, TaskStart)] == ["p1", "p3"]
