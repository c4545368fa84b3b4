"""The Vercel AI SDK's own spans (to v6: `ai.generateText`, `ai.generateText.doGenerate`, `ai.toolCall`, no
gen_ai.operation.name): a call is a task of its `functionId`, its steps LLM calls, `ai.toolCall` a tool call."""

import json

import pytest
from conftest import REALDATA, agents, needs_realdata
from test_genai_conventions import export, provider_for

from agentmon.events import LlmCall, TaskEnd, TaskStart
from agentmon.sources.genai_spans import map_span
from agentmon.sources.otlp_records import Span

pytest.importorskip("opentelemetry.sdk.trace", reason="the OpenTelemetry SDK is not installed: pip install '.[test]'")
from opentelemetry.trace import Status, StatusCode

B01 = REALDATA / "otel" / "B01_otel_vercel_ai_sdk_v6_captured_spans.json"


def span_of(captured: dict) -> Span:
    """A span as the SDK's in-memory exporter captured it (B01's form), as the OTLP reader makes it."""
    seconds = lambda t: t[0] + t[1] / 1e9
    return Span(
        captured["spanContext"]["traceId"],
        captured["spanContext"]["spanId"],
        captured["name"],
        seconds(captured["startTime"]),
        seconds(captured["endTime"]),
        captured["status"]["code"] == 2,
        captured["status"].get("message", ""),
        captured["attributes"],
        [],
        "vercel-app",
    )


@needs_realdata("OpenTelemetry spans", "otel")
def test_spans_the_ai_sdk_v6_wrote_map_to_tasks_and_llm_calls():
    tasks, calls = [], 0
    for span in map(span_of, json.loads(B01.read_text())):
        mapped = map_span(span)
        events = mapped.events + mapped.agentless
        a = span.attrs
        if span.name.endswith((".doGenerate", ".doStream")):  # a step: one LLM call, its tokens as stated
            [call] = events
            assert isinstance(call, LlmCall)
            want = (a["gen_ai.response.model"], a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"])
            assert (call.model, call.input_tokens, call.output_tokens) == want
            calls += 1
        elif span.name.startswith("ai.embed"):
            assert events == []  # embeddings count nothing
        else:  # a call: a task of its functionId, ended as its status says
            start, end = events
            assert isinstance(start, TaskStart) and isinstance(end, TaskEnd) and end.outcome == "success"
            tasks.append((span.name, start.agent, start.model))
    assert calls == 4
    assert sorted(tasks) == [
        ("ai.generateObject", "test-generate-object", "gpt-4o-mini"),
        ("ai.generateText", "test-generate-text", "gpt-4o-mini"),
        ("ai.generateText", "test-generate-text-messages", "gpt-4o-mini"),
        ("ai.streamText", "test-stream-text", "gpt-4o-mini"),
    ]


def test_a_vercel_agent_exported_through_the_sdk_is_measured(receiver, db):
    provider = provider_for(receiver, "web-app")
    tracer = provider.get_tracer("ai")
    for failing in (False, True):
        with tracer.start_as_current_span("ai.generateText") as call:
            call.set_attribute("operation.name", "ai.generateText refund-bot")
            call.set_attribute("ai.telemetry.functionId", "refund-bot")
            call.set_attribute("ai.model.id", "gpt-4o-mini")
            for step in range(2):
                with tracer.start_as_current_span("ai.generateText.doGenerate") as llm:
                    llm.set_attribute("ai.telemetry.functionId", "refund-bot")
                    llm.set_attribute("gen_ai.request.model", "gpt-4o-mini")
                    llm.set_attribute("gen_ai.response.model", "gpt-4o-mini-2024-07-18")
                    llm.set_attribute("gen_ai.usage.input_tokens", 100)
                    llm.set_attribute("gen_ai.usage.output_tokens", 10)
                if step == 0:
                    with tracer.start_as_current_span("ai.toolCall") as tool:
                        tool.set_attribute("ai.toolCall.name", "lookup_order")
                        if failing:
                            tool.set_status(Status(StatusCode.ERROR, "order service down"))
            if failing:
                call.set_status(Status(StatusCode.ERROR, "tool failed"))
    export(provider)
    a = agents(db)["refund-bot"]
    assert (a["tasks"], a["task_success_rate"]) == (2, 0.5)
    assert (a["input_tokens"], a["output_tokens"], a["unpriced_llm_calls"]) == (400, 40, 0)
    assert (a["tool_calls"], a["tool_error_rate"]) == (2, 0.5)
    assert "web-app" not in agents(db)  # every span joined the call's task
