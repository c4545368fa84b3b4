"""One API request logged by two sources (a Claude Code transcript and Claude Code's own OpenTelemetry
`api_request` event, with the same request id) counts once: the larger of each token count and the event's
cost_usd, whichever is read first."""

import json

import pytest
from conftest import ingest

from agentmon.store.writer import connect

REQUEST = "req_011CVz8kE2aBcDeFgHiJkLmN"


def transcript_line() -> bytes:  # as a transcript records it: a lower bound of the output, no cost
    event = {
        "ts": 1_780_000_000,
        "agent": "claude-code:demo",
        "event": "llm_call",
        "task": "t1",
        "model": "claude-sonnet-4-5",
        "input_tokens": 1200,
        "output_tokens": 1,
        "cache_read_tokens": 3000,
        "request_id": REQUEST,
    }
    return json.dumps(event).encode() + b"\n"


def otel_line() -> bytes:  # Claude Code's own event for the same request: the final output, its own cost
    attrs = {
        "session.id": "s1",
        "prompt.id": "p1",
        "model": "claude-sonnet-4-5",
        "input_tokens": "1200",
        "output_tokens": "480",
        "cache_read_tokens": "3000",
        "cost_usd": 0.0123,
        "request_id": REQUEST,
    }
    record = {
        "timeUnixNano": str(1_780_000_001 * 10**9),
        "body": {"stringValue": "claude_code.api_request"},
        "attributes": [
            {"key": k, "value": {"doubleValue": v} if isinstance(v, float) else {"stringValue": v}}
            for k, v in attrs.items()
        ],
    }
    return json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}).encode() + b"\n"


def requests(db) -> list[tuple]:
    conn = connect(db, readonly=True)
    try:
        return conn.execute(
            "SELECT input_tokens, output_tokens, cache_read_tokens, cost_nanos, priced FROM llm_requests"
        ).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("transcript_first", [True, False], ids=["transcript-first", "otel-first"])
def test_a_request_in_both_counts_once_with_the_events_figures(tmp_path, db, transcript_first):
    first, second = (transcript_line(), otel_line()) if transcript_first else (otel_line(), transcript_line())
    (tmp_path / "a.jsonl").write_bytes(first)
    ingest([tmp_path / "a.jsonl"], db)
    (tmp_path / "b.jsonl").write_bytes(second)
    ingest([tmp_path / "a.jsonl", tmp_path / "b.jsonl"], db)
    assert requests(db) == [(1200, 480, 3000, 12_300_000, 2)]  # once: the final output, the logged cost
    conn = connect(db, readonly=True)
    (calls, cost, output) = conn.execute(
        "SELECT sum(llm_calls), sum(cost_nanos), sum(output_tokens) FROM tasks"
    ).fetchone()
    conn.close()
    assert (calls, cost, output) == (1, 12_300_000, 480)
