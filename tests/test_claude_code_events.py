"""Claude Code's OpenTelemetry log events, as Claude Code sends them (the event's name in the record's body,
`event.name` the bare name, booleans as "true"/"false"), exported by the real OpenTelemetry Logs SDK through
its OTLP/HTTP exporter to agentmon's receiver; under the rules before and since Claude Code 2.1.216."""

import json
import sqlite3

import pytest
from conftest import agents

from agentmon.events import ApiError, Confirmation, HumanIntervention, Rating, ToolCall
from agentmon.sources.claude_code_events import map_record
from agentmon.sources.otlp import parse_json_line
from agentmon.sources.otlp_records import Record

logs_sdk = pytest.importorskip(
    "opentelemetry.sdk._logs", reason="the OpenTelemetry SDK is not installed: pip install '.[test]'"
)
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter  # noqa: E402
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402

T0 = 1_780_000_000
SESSION = "0b6f3c1e-3f49-4a8e-9d3e-5f3a2b1c0d9e"
PROMPT = "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"


def claude_code(receiver, version: str, events: list[tuple[str, dict]]) -> None:
    """Emit `events` (name without `claude_code.`, attributes) as Claude Code does, one a second, and
    return once the receiver has committed them (it answers after the commit; force_flush waits)."""
    resource = Resource.create({"service.name": "claude-code", "service.version": version})
    provider = logs_sdk.LoggerProvider(resource=resource)
    endpoint = f"http://127.0.0.1:{receiver.server_port}/v1/logs"
    provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint)))
    logger = provider.get_logger("com.anthropic.claude_code.events")
    for seq, (name, attrs) in enumerate(events):
        standard = {"event.name": name, "event.sequence": seq, "session.id": SESSION, "prompt.id": PROMPT}
        logger.emit(timestamp=(T0 + seq) * 10**9, body=f"claude_code.{name}", attributes=standard | attrs)
    assert provider.force_flush()
    provider.shutdown()


def a_session(failed_prompt: dict, interrupt: dict) -> list[tuple[str, dict]]:
    """One prompt's story; only how Claude Code reports a failed permission prompt and an interrupt
    changed at 2.1.216."""
    return [
        ("user_prompt", {"prompt_length": 42, "prompt": "<REDACTED>"}),
        ("api_request", {"model": "claude-sonnet-4-5", "input_tokens": 10, "output_tokens": 20, "cost_usd": 0.01}),
        ("tool_decision", {"tool_name": "Bash", "decision": "accept", "source": "user_temporary", "tool_use_id": "t1"}),
        ("tool_result", {"tool_name": "Bash", "success": "true", "duration_ms": 5, "tool_use_id": "t1"}),
        ("tool_decision", {"tool_name": "Read", "decision": "accept", "source": "config", "tool_use_id": "t2"}),
        ("tool_result", {"tool_name": "Read", "success": "false", "error_type": "Error:ENOENT", "tool_use_id": "t2"}),
        ("tool_decision", {"tool_name": "Edit", "decision": "reject", "source": "user_reject", "tool_use_id": "t3"}),
        ("tool_decision", {"tool_name": "Write", "decision": "reject", "tool_use_id": "t4"} | failed_prompt),
        ("tool_decision", {"tool_name": "Bash", "decision": "reject", "tool_use_id": "t5"} | interrupt),
        ("tool_decision", {"tool_name": "WebFetch", "decision": "reject", "source": "hook", "tool_use_id": "t6"}),
        # One request that failed after its retries: the last api_error, and the event beside it.
        ("api_error", {"model": "claude-sonnet-4-5", "status_code": 529, "attempt": 11, "error": "Overloaded"}),
        ("api_retries_exhausted", {"model": "claude-sonnet-4-5", "status_code": 529, "total_attempts": 11}),
        # A refusal the API's fallback retried on another model, then the one the user saw.
        ("api_refusal", {"model": "claude-sonnet-4-5", "attempt": 1, "server_fallback_hop": True}),
        ("api_refusal", {"model": "claude-haiku-4-5", "attempt": 1, "server_fallback_hop": False}),
        ("subagent_completed", {"agent_type": "Explore", "total_tool_uses": 7, "total_tokens": 9000}),
        ("compaction", {"trigger": "auto", "success": "true", "pre_tokens": 150000, "post_tokens": 20000}),
        ("feedback_survey", {"event_type": "appeared", "appearance_id": "s1", "survey_type": "session"}),
        (
            "feedback_survey",
            {"event_type": "responded", "appearance_id": "s1", "survey_type": "session", "response": "bad"},
        ),
    ]


BEFORE_2_1_216 = a_session(failed_prompt={"source": "user_reject"}, interrupt={"source": "user_reject"})
SINCE_2_1_216 = a_session(failed_prompt={"source": "config"}, interrupt={"source": "user_abort"})
# Events that carry a prompt id no prompt of this session has: they must not make a task of it.
NOT_TASKS = [
    ("compaction", {"trigger": "manual", "success": "true", "prompt.id": "only-compacted"}),
    ("permission_mode_changed", {"from_mode": "default", "to_mode": "plan", "prompt.id": "only-a-mode"}),
    ("subagent_completed", {"agent_type": "Explore", "prompt.id": "only-a-subagent"}),
]


def task_rows(db) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT task, tool_calls, tool_errors, confirmations, rejections, interventions, rating FROM tasks"
        ).fetchall()
    finally:
        conn.close()


def settle(receiver) -> None:
    """End the session's tasks, unlabeled, as the receiver does 30 minutes after their last event."""
    with receiver.commit_lock:
        receiver.store.close_idle_tasks("claude-code:", 1800, T0 + 100 + 1801)


def test_since_2_1_216_a_no_is_a_rejection_an_interrupt_an_intervention_a_denial_neither(receiver, db):
    claude_code(receiver, "2.1.216", SINCE_2_1_216 + NOT_TASKS)
    # tool calls: the two that ran (one failed), the one rejected and the one interrupted;
    # confirmations: the person's "yes" and "no"; the config and hook denials count nowhere.
    assert task_rows(db) == [(f"{SESSION}:{PROMPT}", 4, 1, 2, 1, 1, "bad")]
    settle(receiver)
    a = agents(db)["claude-code:otel"]
    assert (a["tasks"], a["tool_calls"], a["tool_errors"], a["api_errors"]) == (1, 4, 1, 2)
    assert a["confirmation_rejection_rate"] == pytest.approx(1 / 4)  # Claude Code: rejections over tool calls


def test_before_2_1_216_failed_prompts_and_interrupts_were_rejections(receiver, db):
    """The same story from an older Claude Code: its `user_reject` cannot be told apart, so its rejection
    rate is higher; the rate drops at the upgrade with no change in what people did."""
    claude_code(receiver, "2.1.215", BEFORE_2_1_216 + NOT_TASKS)
    assert task_rows(db) == [(f"{SESSION}:{PROMPT}", 5, 1, 4, 3, 0, "bad")]
    settle(receiver)
    a = agents(db)["claude-code:otel"]
    assert (a["tasks"], a["tool_calls"], a["tool_errors"], a["api_errors"]) == (1, 5, 1, 2)
    assert a["confirmation_rejection_rate"] == pytest.approx(3 / 5)


# --- the mapping alone ---------------------------------------------------------------------------------


def record(name: str, **attrs) -> Record:
    return Record(f"claude_code.{name}", T0, {"session.id": SESSION, "prompt.id": PROMPT} | attrs, "claude-code")


def test_the_same_prompt_id_in_two_sessions_is_two_tasks():
    one = map_record(record("user_prompt")).events[0]
    other = map_record(record("user_prompt", **{"session.id": "another-session"})).events[0]
    assert one.task != other.task
    assert map_record(record("user_prompt", **{"session.id": None})).events[0].task == PROMPT  # not sent
    assert map_record(record("api_request", **{"prompt.id": None})).events[0].task == SESSION  # before a prompt


@pytest.mark.parametrize(("success", "ok"), [("true", True), ("false", False), (True, True), (False, False)])
def test_tool_success_as_a_string_or_a_boolean(success, ok):
    (call,) = map_record(record("tool_result", tool_name="Bash", success=success)).events
    assert isinstance(call, ToolCall) and call.ok is ok


def test_a_tool_error_is_its_category_never_its_message():
    attrs = {"tool_name": "Bash", "success": "false", "error_type": "ShellError", "error": "secret output: 42"}
    (call,) = map_record(record("tool_result", **attrs)).events
    assert (call.ok, call.error) == (False, "ShellError")
    (call,) = map_record(record("tool_result", tool_name="Bash", success="false", error="secret")).events
    assert (call.ok, call.error) == (False, None)  # before error_type: no category, and no message either


def test_decisions_by_source():
    def kinds(source, decision):
        events = map_record(record("tool_decision", tool_name="Edit", source=source, decision=decision)).events
        return [(type(e).__name__, getattr(e, "approved", None)) for e in events]

    assert kinds("user_temporary", "accept") == [("Confirmation", True)]
    assert kinds("user_permanent", "accept") == [("Confirmation", True)]
    assert kinds("user_reject", "reject") == [("ToolCall", None), ("Confirmation", False)]
    assert kinds("user_abort", "reject") == [("ToolCall", None), ("HumanIntervention", None)]
    for source, decision in [("config", "accept"), ("config", "reject"), ("hook", "reject"), ("hook", "accept")]:
        assert kinds(source, decision) == []  # decided without asking: no human step, no rejection, no error
    assert kinds("classifier", "accept") == []  # a source Claude Code may add later: nothing guessed
    (_, step) = map_record(record("tool_decision", source="user_abort")).events
    assert isinstance(step, HumanIntervention) and step.kind == "interrupt"


def test_api_failures_once_per_failed_request():
    (error,) = map_record(record("api_error", status_code=529, attempt=11)).events
    assert isinstance(error, ApiError) and error.status == "529"
    assert map_record(record("api_retries_exhausted", total_attempts=11)).events == []  # beside that api_error
    (refusal,) = map_record(record("api_refusal", server_fallback_hop="false")).events
    assert isinstance(refusal, ApiError) and refusal.status == "refusal"
    assert map_record(record("api_refusal", server_fallback_hop="true")).events == []  # retried, not seen
    assert len(map_record(record("api_refusal")).events) == 1  # before 2.1.204 (no hop attribute)


def test_a_session_rating_joins_the_prompt_it_followed():
    survey = {"event_type": "responded", "survey_type": "session", "appearance_id": "a"}
    (rating,) = map_record(record("feedback_survey", response="good", **survey)).events
    assert isinstance(rating, Rating) and (rating.task, rating.rating) == (f"{SESSION}:{PROMPT}", "good")
    assert map_record(record("feedback_survey", response="dismissed", **survey)).events == []
    assert map_record(record("feedback_survey", **(survey | {"event_type": "appeared"}))).events == []
    assert map_record(record("feedback_survey", response="bad", **(survey | {"survey_type": "memory"}))).events == []
    no_prompt = record("feedback_survey", response="good", **survey)
    del no_prompt.attrs["prompt.id"]
    assert map_record(no_prompt).events == []  # not a rating of the whole session's first task


def test_the_events_that_are_not_task_events_make_none():
    for name in ("compaction", "permission_mode_changed", "subagent_completed", "hook_execution_complete"):
        assert map_record(record(name, success="false", trigger="auto")).events == []


def test_claude_code_records_in_otlp_json_are_named_by_their_body():
    """Claude Code names its events in the body; the Collector's file exporter keeps them so."""
    line = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "claude-code"}}]},
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": str(T0 * 10**9),
                                "body": {"stringValue": "claude_code.tool_decision"},
                                "attributes": [
                                    {"key": k, "value": {"stringValue": v}}
                                    for k, v in {
                                        "event.name": "tool_decision",
                                        "session.id": SESSION,
                                        "prompt.id": PROMPT,
                                        "source": "user_reject",
                                        "tool_name": "Edit",
                                    }.items()
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    (mapped,) = parse_json_line(json.dumps(line).encode())
    assert [type(e) for e in mapped.events] == [ToolCall, Confirmation]
