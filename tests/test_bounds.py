"""Values in range, or quarantined, at the parser: no number, depth or name in a line can stop an ingest.

Each attack is a file holding the bad line beside a good file: the ingest goes on, the good lines count,
the bad line is quarantined with a reason that names its field, and a second run changes nothing.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ingest

from agentmon.errors import BadLine
from agentmon.events import COST_MAX_USD, TOKENS_MAX
from agentmon.sources import otlp
from agentmon.sources.detect import CLAUDE_CODE, NATIVE, OTLP_JSON, detect
from agentmon.sources.native import parse_line

BOM = b"\xef\xbb\xbf"
GOOD = b'{"ts":1780000000,"agent":"good","event":"tool_call","task":"g","tool":"x","ok":true}\n'


def native(**fields) -> bytes:
    line = {"ts": 1780000000, "agent": "a", "event": "llm_call", "task": "t", "model": "m"}
    line |= {"input_tokens": 1, "output_tokens": 1} | fields
    return json.dumps(line).encode() + b"\n"


def state(db: Path) -> tuple:
    conn = sqlite3.connect(db)
    try:
        return (
            conn.execute("SELECT lines, quarantined FROM ingest_totals").fetchone(),
            conn.execute("SELECT path, offset, reason FROM quarantine ORDER BY path, offset").fetchall(),
            conn.execute(
                "SELECT agent, task, tool_calls, input_tokens, cost_nanos FROM tasks ORDER BY 1, 2"
            ).fetchall(),
        )
    finally:
        conn.close()


def ingest_beside_good(logs: Path, db: Path, bad: bytes, name: str = "bad.jsonl") -> tuple[list[str], list[tuple]]:
    """Ingest `bad` beside a good file, twice: the quarantine reasons and the tasks, the same after both runs."""
    (logs / name).write_bytes(bad)
    (logs / "good.jsonl").write_bytes(GOOD)
    ingest([logs], db)
    first = state(db)
    ingest([logs], db)
    assert state(db) == first, "a second run changed something"
    _, quarantined, tasks = first
    assert ("good", "g", 1, 0, 0) in tasks, "the good file was not counted"
    return [reason for _, _, reason in quarantined], tasks


# --- the native format: bounds in the decoder --------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (b'{"ts":1780000000,"agent":"a","event":"cost","task":"t","cost_usd":1e12}\n', "out of range at $.cost_usd"),
        (native(input_tokens=2**63), "out of range at $.input_tokens"),
        (native(output_tokens=-1), "out of range at $.output_tokens"),
        (native(cache_read_tokens=TOKENS_MAX + 1), "out of range at $.cache_read_tokens"),
        (native(cost_usd=1.5).replace(b"1.5", b"1e400"), "out of range at $.cost_usd"),
        (native(ts=1e11), "out of range at $.ts"),
        (native(ts="5139-01-01T00:00:00Z"), "out of range at $.ts"),
        (native(ts="1969-12-31T23:59:59Z"), "out of range at $.ts"),
    ],
)
def test_a_native_number_out_of_range_is_quarantined(logs, db, bad, words):
    reasons, _ = ingest_beside_good(logs, db, bad + native(ts=1780000001))
    assert len(reasons) == 1 and reasons[0].startswith(words), reasons


def test_per_task_sums_of_huge_token_counts_are_quarantined_line_by_line(logs, db):
    """Three lines of 2**62 tokens in one task overflowed the task's int64 sum at commit."""
    lines = b"".join(native(ts=1780000000 + i, input_tokens=2**62) for i in range(3))
    reasons, tasks = ingest_beside_good(logs, db, lines + native(ts=1780000009, input_tokens=7))
    assert reasons == ["out of range at $.input_tokens: Expected `int` <= 1000000000"] * 3
    assert ("a", "t", 0, 7, 0) in tasks


def test_the_largest_values_in_range_are_stored(logs, db):
    at_max = native(input_tokens=TOKENS_MAX, output_tokens=TOKENS_MAX, cost_usd=COST_MAX_USD)
    reasons, tasks = ingest_beside_good(logs, db, at_max + native(ts="2026-03-02T09:00:00Z", input_tokens=0))
    assert reasons == []
    assert ("a", "t", 0, TOKENS_MAX, COST_MAX_USD * 1_000_000_000) in tasks


@pytest.mark.parametrize(("agent", "task", "field"), [(" ", "t", "$.agent"), ("a", "\\t ", "$.task")])
def test_a_blank_agent_or_task_name_is_quarantined(logs, db, agent, task, field):
    bad = b'{"ts":1780000000,"agent":"%s","event":"tool_call","task":"%s","tool":"x","ok":true}\n'
    reasons, tasks = ingest_beside_good(logs, db, bad % (agent.encode(), task.encode()))
    assert reasons == [f"bad value at {field}: a blank name"]
    assert [t[0] for t in tasks] == ["good"]


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_a_line_nested_a_thousand_levels_deep_is_quarantined_even_in_an_ignored_field(logs, db, depth):
    deep = b"[" * depth + b"]" * depth
    bad = b'{"ts":1780000000,"agent":"a","event":"tool_call","task":"t","tool":"x","ok":true,"extra":%s}\n' % deep
    reasons, _ = ingest_beside_good(logs, db, bad)
    assert reasons == ["nested too deeply to read"]


def test_the_cli_goes_on_past_every_bad_value_and_exits_0(logs, db):
    (logs / "bad.jsonl").write_bytes(
        native(input_tokens=2**63)
        + b'{"ts":1780000000,"agent":"a","event":"cost","task":"t","cost_usd":1e12}\n'
        + b'{"ts":1780000000,"agent":"a","event":"x","extra":'
        + b"[" * 1000
        + b"]" * 1000
        + b"}\n"
    )
    (logs / "good.jsonl").write_bytes(GOOD)
    runs = [
        subprocess.run(
            [sys.executable, "-m", "agentmon.cli", "ingest", logs, "--db", db], capture_output=True, text=True
        )
        for _ in range(2)
    ]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    assert "4 lines, 1 events, 3 quarantined" in runs[0].stdout + runs[0].stderr
    assert "0 lines, 0 events, 0 quarantined" in runs[1].stdout + runs[1].stderr
    assert state(db)[2] == [("good", "g", 1, 0, 0)]


# --- a BOM at the start of a file ----------------------------------------------------------------------


def test_a_bom_before_the_first_native_line_is_skipped(logs, db):
    reasons, tasks = ingest_beside_good(logs, db, BOM + native(input_tokens=5))
    assert reasons == [] and ("a", "t", 0, 5, 0) in tasks


def test_a_bom_before_the_first_claude_code_line_is_skipped(logs, db):
    reasons, tasks = ingest_beside_good(logs, db, BOM + transcript(usage={"input_tokens": 5, "output_tokens": 1}))
    assert reasons == [] and ("claude-code:logs", "u1", 0, 5, 0) in tasks


def test_a_bom_before_the_first_otlp_json_line_is_skipped(logs, db):
    reasons, tasks = ingest_beside_good(logs, db, BOM + log_record(input_tokens={"intValue": "5"}))
    assert reasons == [] and ("claude-code:otel", "p1", 0, 5, 0) in tasks


def test_a_line_of_nothing_but_boms_is_quarantined(logs, db):
    reasons, _ = ingest_beside_good(logs, db, GOOD.replace(b"good", b"a") + BOM * 300_000 + b"\n")
    assert len(reasons) == 1 and reasons[0].startswith("not JSON"), reasons


def test_the_format_is_recognised_behind_a_bom():
    assert detect(BOM + transcript().split(b"\n")[0]) == CLAUDE_CODE
    assert detect(BOM + log_record()) == OTLP_JSON
    assert detect(BOM + GOOD) == NATIVE
    assert parse_line(BOM + GOOD).agent == "good"


# --- Claude Code transcripts ---------------------------------------------------------------------------


def transcript(usage: dict | None = None, **line) -> bytes:
    """A prompt, then an assistant line with `usage` (and any other fields of its line)."""
    session = {"sessionId": "s1", "cwd": "/nowhere"}
    prompt = {"type": "user", "uuid": "u1", "timestamp": "2026-03-02T09:00:00Z", "message": {"content": "hi"}}
    reply = {
        "type": "assistant",
        "uuid": "u2",
        "timestamp": "2026-03-02T09:00:01Z",
        "requestId": "r1",
        "message": {"id": "m1", "model": "m", "content": [], "usage": usage or {"input_tokens": 1}},
    }
    return b"".join(json.dumps(session | x).encode() + b"\n" for x in (prompt, reply | line))


@pytest.mark.parametrize(
    ("usage", "line", "words"),
    [
        ({"input_tokens": -5}, {}, "out of range at $.message.usage.input_tokens"),
        ({"output_tokens": 2**63}, {}, "out of range at $.message.usage.output_tokens"),
        ({"cache_creation": {"ephemeral_1h_input_tokens": -1}}, {}, "out of range at $.message.usage.cache_creation"),
        ({"input_tokens": 1}, {"costUSD": -624.99}, "out of range at $.costUSD"),
        ({"input_tokens": 1}, {"costUSD": 1e12}, "out of range at $.costUSD"),
        ({"input_tokens": 1}, {"timestamp": "6000-01-01T00:00:00Z"}, "out of range at $.timestamp"),
    ],
)
def test_a_claude_code_number_out_of_range_is_quarantined(logs, db, usage, line, words):
    reasons, tasks = ingest_beside_good(logs, db, transcript(usage, **line))
    assert len(reasons) == 1 and reasons[0].startswith(words), reasons
    assert ("claude-code:logs", "u1", 0, 0, 0) in tasks  # the prompt before it counts


def test_a_claude_code_prompt_with_a_blank_uuid_is_named_by_its_session_and_time(logs, db):
    reasons, tasks = ingest_beside_good(logs, db, transcript().replace(b'"uuid": "u1"', b'"uuid": " "'))
    assert reasons == [] and ("claude-code:logs", "s1@1772442000.0", 0, 1, 0) in tasks


def test_a_deep_claude_code_line_is_quarantined(logs, db):
    deep = {"type": "tool_use", "id": "x", "name": "Bash", "input": {}}
    line = transcript().replace(b'"content": []', b'"content": [%s]' % json.dumps(deep).encode())
    line = line.replace(b'"input": {}', b'"input": ' + b"[" * 5000 + b"]" * 5000)
    reasons, _ = ingest_beside_good(logs, db, line)
    assert reasons == ["nested too deeply to read"]


def test_a_deep_first_line_is_read_as_native_and_quarantined():
    deep = b'{"x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert detect(deep) == NATIVE
    with pytest.raises(BadLine, match="nested too deeply to read"):
        parse_line(deep)


# --- OpenTelemetry: the Collector's file exporter lines, and the mapping of a span -----------------------


def log_record(ts: str = "1780000000000000000", /, **attrs: Any) -> bytes:
    """A Claude Code `api_request` log record as one line of the Collector's file exporter."""
    a = {"prompt.id": {"stringValue": "p1"}, "model": {"stringValue": "m"}} | attrs
    record = {
        "timeUnixNano": ts,
        "eventName": "claude_code.api_request",
        "attributes": [{"key": k, "value": v} for k, v in a.items()],
    }
    return json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}).encode() + b"\n"


def chat_span(start: str = "1780000000000000000", /, **attrs: Any) -> bytes:
    a = {"gen_ai.operation.name": {"stringValue": "chat"}, "gen_ai.agent.name": {"stringValue": "o"}} | attrs
    span = {
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "spanId": "00f067aa0ba902b1",
        "name": "chat m",
        "startTimeUnixNano": start,
        "endTimeUnixNano": start,
        "attributes": [{"key": k, "value": v} for k, v in a.items()],
    }
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode() + b"\n"


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (log_record(str(10**29)), "log record claude_code.api_request: timeUnixNano out of range"),
        (chat_span(str(10**29)), "span 00f067aa0ba902b1: startTimeUnixNano out of range"),
        (log_record(cost_usd={"doubleValue": "NaN"}), "log record claude_code.api_request: cost_usd out of range"),
        (log_record(cost_usd={"doubleValue": -624.99}), "log record claude_code.api_request: cost_usd out of range"),
        (log_record(cost_usd={"doubleValue": "Infinity"}), "log record claude_code.api_request: cost_usd out of range"),
        (
            log_record(input_tokens={"doubleValue": "Infinity"}),
            "log record claude_code.api_request: input_tokens out of range",
        ),
        (
            log_record(input_tokens={"intValue": str(2**63)}),
            "log record claude_code.api_request: input_tokens out of range",
        ),
        (
            log_record(output_tokens={"intValue": "-3"}),
            "log record claude_code.api_request: output_tokens out of range",
        ),
        (chat_span(**{"gen_ai.usage.input_tokens": {"intValue": str(2**62)}}), "gen_ai.usage.input_tokens out of"),
        (chat_span(**{"gen_ai.agent.name": {"stringValue": " "}}), "span 00f067aa0ba902b1: gen_ai.agent.name is blank"),
        (log_record(**{"prompt.id": {"stringValue": "  "}}), "log record claude_code.api_request: prompt.id is blank"),
    ],
)
def test_an_otlp_value_out_of_range_quarantines_its_line(logs, db, bad, words):
    reasons, tasks = ingest_beside_good(logs, db, bad + log_record(input_tokens={"intValue": "7"}))
    assert len(reasons) == 1 and words in reasons[0], reasons
    assert ("claude-code:otel", "p1", 0, 7, 0) in tasks  # the good line after it counts


def test_a_deep_otlp_line_is_quarantined(logs, db):
    deep = {"kvlistValue": {"values": [{"key": "k", "value": {"arrayValue": {"values": []}}}]}}
    line = log_record(x=deep).replace(b'"values": []', b'"values": ' + b"[" * 3000 + b"]" * 3000)
    reasons, _ = ingest_beside_good(logs, db, line)
    assert reasons == ["nested too deeply to read"]


def span(**changes: Any) -> otlp.Span:
    fields: dict[str, Any] = dict(
        trace_id="t" * 32,
        span_id="s" * 16,
        name="chat m",
        start=1780000000.0,
        end=1780000001.0,
        error=False,
        status_message="",
        attrs={"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 3},
        events=[],
        service="svc",
    )
    return otlp.Span(**(fields | changes))


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"end": 1e20}, "endTimeUnixNano out of range"),
        ({"events": [("agentmon.escalation", -1.0, {})]}, "an event's timeUnixNano out of range"),
        ({"attrs": {"gen_ai.operation.name": "chat", "gen_ai.usage.output_tokens": -1}}, "gen_ai.usage.output_tokens"),
        ({"attrs": {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": float("nan")}}, "input_tokens"),
        (
            {
                "events": [
                    (
                        "gen_ai.evaluation.result",
                        1780000000.0,
                        {"gen_ai.evaluation.name": "s", "gen_ai.evaluation.score.value": float("nan")},
                    )
                ]
            },
            "gen_ai.evaluation.score.value out of range",
        ),
    ],
)
def test_a_span_out_of_range_is_rejected_by_the_mapping(changes, words):
    """The receiver maps each span (from protobuf or JSON) with map_span: BadLine rejects that span alone."""
    assert otlp.map_span(span()).agentless  # a chat span of a trace whose agent is not known yet
    with pytest.raises(BadLine, match=re.escape(words)):
        otlp.map_span(span(**changes))


def test_map_each_keeps_the_good_spans_and_counts_the_rejected():
    mapped, rejected = otlp.map_each([span(), span(end=1e20), span(span_id="2" * 16)], otlp.map_span)
    assert len(mapped) == 2
    assert rejected == [f"span {'s' * 16}: endTimeUnixNano out of range: 1e+20 s is not in [0, 1e+11)"]


# --- Inspect AI logs, read whole -----------------------------------------------------------------------


def inspect_log(created: str = "2026-03-02T09:00:00Z", metadata: object = None) -> bytes:
    doc = {
        "version": 2,
        "status": "success",
        "eval": {"task": "golden", "run_id": "r1", "created": created, "model": "m", "metadata": metadata},
        "samples": [{"id": 1, "scores": {"match": {"value": "C"}}}],
    }
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("log", "words"),
    [
        (inspect_log(created="6000-01-01T00:00:00Z"), "out of range at $.eval.created"),
        (inspect_log(metadata={"x": "DEEP"}).replace(b'"DEEP"', b"[" * 5000 + b"]" * 5000), "nested too deeply"),
        (inspect_log(metadata={"agent": " "}), "a blank agent or task name"),
    ],
    ids=["created", "deep", "blank agent"],
)
def test_an_inspect_log_out_of_range_is_quarantined(logs, db, log, words):
    (logs / "bad.json").write_bytes(log)
    (logs / "good.json").write_bytes(inspect_log())
    for name in ("bad.json", "good.json"):
        os.utime(logs / name, (1_700_000_000, 1_700_000_000))  # settled: not being written any more
    ingest([logs], db)
    first = state(db)
    ingest([logs], db)
    assert state(db) == first
    (_, quarantined, _) = first
    assert [(Path(path).name, reason[: len(words)]) for path, _, reason in quarantined] == [("bad.json", words)]
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM eval_results").fetchone() == (1,)
