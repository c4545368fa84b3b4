"""The GenAI semantic conventions as their own repository now names them (schema 1.42), and the names they
replaced, emitted by the real OpenTelemetry SDK through its OTLP/HTTP exporter into the receiver."""

import sqlite3
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from conftest import agents

from agentmon.events import LlmCall
from agentmon.report.export import rows
from agentmon.sources.native import parse_line
from agentmon.store.pricing import NANO, Pricer
from agentmon.store.writer import connect

trace_sdk = pytest.importorskip(
    "opentelemetry.sdk.trace", reason="the OpenTelemetry SDK is not installed: pip install '.[test]'"
)
from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: E402
from opentelemetry.trace import SpanKind, Status, StatusCode  # noqa: E402

MODEL = "claude-haiku-4-5"

CURRENT = {
    "input": "gen_ai.usage.input_tokens",
    "output": "gen_ai.usage.output_tokens",
    "cache_read": "gen_ai.usage.cache_read.input_tokens",
    "cache_write": "gen_ai.usage.cache_write.input_tokens",
}
NAMES = {  # the current names, and each earlier set an instrumentation may still emit
    "current": CURRENT,
    "semconv-1.41": {**CURRENT, "cache_write": "gen_ai.usage.cache_creation.input_tokens"},
    "flat-cache-names": {
        **CURRENT,
        "cache_read": "gen_ai.usage.cache_read_input_tokens",
        "cache_write": "gen_ai.usage.cache_creation_input_tokens",
    },
    "prompt-completion": {
        **CURRENT,
        "input": "gen_ai.usage.prompt_tokens",
        "output": "gen_ai.usage.completion_tokens",
    },
}


def provider_for(server, service: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{server.server_port}/v1/traces"))
    )
    return provider


def export(*providers: TracerProvider) -> None:
    """Each provider's spans in a request of its own, in this order; each answered once committed."""
    for provider in providers:
        provider.force_flush()
        provider.shutdown()


def expected_cost(**usage: int) -> float:
    from genai_prices import Usage, calc_price

    return float(calc_price(Usage(**usage), MODEL).total_price)


@pytest.mark.parametrize("names", NAMES.values(), ids=NAMES.keys())
def test_token_counts_and_cost_under_current_and_previous_names(receiver, db, names):
    provider = provider_for(receiver, "support-svc")
    tracer = provider.get_tracer("conventions")
    for _ in range(3):
        with tracer.start_as_current_span("invoke_agent support-bot") as task:
            task.set_attribute("gen_ai.operation.name", "invoke_agent")
            task.set_attribute("gen_ai.agent.name", "support-bot")
            with tracer.start_as_current_span(f"chat {MODEL}", kind=SpanKind.CLIENT) as chat:
                chat.set_attribute("gen_ai.operation.name", "chat")
                chat.set_attribute("gen_ai.request.model", MODEL)
                chat.set_attribute(names["input"], 1500)  # all input: 300 uncached, 1000 read, 200 written
                chat.set_attribute(names["cache_read"], 1000)
                chat.set_attribute(names["cache_write"], 200)
                chat.set_attribute(names["output"], 300)
    export(provider)
    a = agents(db)["support-bot"]
    assert a["tasks"] == 3
    assert (a["input_tokens"], a["cache_read_tokens"], a["cache_write_tokens"], a["output_tokens"]) == (
        900,
        3000,
        600,
        900,
    )
    one = expected_cost(input_tokens=1500, cache_read_tokens=1000, cache_write_tokens=200, output_tokens=300)
    assert a["cost_usd"] == pytest.approx(3 * one, rel=1e-9) and a["unpriced_llm_calls"] == 0


def test_reasoning_tokens_are_counted_as_a_part_of_the_output(receiver, db):
    provider = provider_for(receiver, "support-svc")
    tracer = provider.get_tracer("conventions")
    for output, reasoning in ((500, 350), (40, 120)):  # the second left its reasoning out of output_tokens
        with tracer.start_as_current_span("invoke_agent thinker") as task:
            task.set_attribute("gen_ai.operation.name", "invoke_agent")
            task.set_attribute("gen_ai.agent.name", "thinker")
            with tracer.start_as_current_span(f"chat {MODEL}", kind=SpanKind.CLIENT) as chat:
                chat.set_attribute("gen_ai.operation.name", "chat")
                chat.set_attribute("gen_ai.request.model", MODEL)
                chat.set_attribute("gen_ai.usage.input_tokens", 1000)
                chat.set_attribute("gen_ai.usage.output_tokens", output)
                chat.set_attribute("gen_ai.usage.reasoning.output_tokens", reasoning)
    export(provider)
    a = agents(db)["thinker"]
    assert (a["output_tokens"], a["reasoning_tokens"]) == (500 + 160, 350 + 120)
    # priced once, as output: this model has no reasoning price of its own
    want = expected_cost(input_tokens=1000, output_tokens=500) + expected_cost(input_tokens=1000, output_tokens=160)
    assert a["cost_usd"] == pytest.approx(want, rel=1e-9)
    conn = connect(db, readonly=True)
    try:
        header, body = rows(conn, "agent", "all")
        (row,) = [r for r in body if r[0] == "thinker"]
        assert dict(zip(header, row))["reasoning_tokens"] == 470  # in the CSV export
        (per_task,) = conn.execute("SELECT sum(reasoning_tokens) FROM tasks WHERE agent = 'thinker'").fetchone()
        assert per_task == 470
    finally:
        conn.close()


def invocation(caller, target, agent: str, internal_error: bool = False, parent=None) -> int:
    """A remote agent invocation, as the conventions draw it: an `invoke_agent` CLIENT span in the caller's
    process, and in the agent's own process an `invoke_agent` INTERNAL span beneath it, with a chat call."""
    with caller.start_as_current_span(f"invoke_agent {agent}", context=parent, kind=SpanKind.CLIENT) as client:
        client.set_attribute("gen_ai.operation.name", "invoke_agent")
        client.set_attribute("gen_ai.agent.name", agent)
        client.set_attribute("gen_ai.provider.name", "openai")
        with target.start_as_current_span(
            f"invoke_agent {agent}", context=trace.set_span_in_context(client), kind=SpanKind.INTERNAL
        ) as internal:
            internal.set_attribute("gen_ai.operation.name", "invoke_agent")
            internal.set_attribute("gen_ai.agent.name", agent)
            with target.start_as_current_span(f"chat {MODEL}", kind=SpanKind.CLIENT) as chat:
                chat.set_attribute("gen_ai.operation.name", "chat")
                chat.set_attribute("gen_ai.request.model", MODEL)
                chat.set_attribute("gen_ai.usage.input_tokens", 100)
                chat.set_attribute("gen_ai.usage.output_tokens", 10)
            if internal_error:
                internal.set_status(Status(StatusCode.ERROR, "gave up"))
        if internal_error:
            client.set_status(Status(StatusCode.ERROR, "the agent failed"))
        return client.get_span_context().trace_id


@pytest.mark.parametrize("first", ["internal", "client"])
def test_a_client_and_internal_span_pair_is_one_task(receiver, db, first):
    """The caller's CLIENT span and the agent's INTERNAL span beneath it, from two services and in two
    requests, either first: one task of the agent, with its chat call, and no task of either service."""
    caller, target = provider_for(receiver, "caller-svc"), provider_for(receiver, "refund-svc")
    for i in range(4):
        invocation(caller.get_tracer("caller"), target.get_tracer("agent"), "refund_agent", internal_error=i == 0)
    export(*((target, caller) if first == "internal" else (caller, target)))
    found = agents(db)
    a = found["refund_agent"]
    assert (a["tasks"], a["successes"], a["input_tokens"], a["output_tokens"]) == (4, 3, 400, 40)
    assert "caller-svc" not in found and "refund-svc" not in found


def test_a_sub_agent_beneath_another_is_its_subagent(receiver, db):
    """support_agent, in its own process, invokes refund_agent remotely: the same trace holds two
    invocations of two agents; refund_agent's, nested in support_agent's, is its subagent (not a task of its
    own), and its chat call is the subagents' share of support_agent's task."""
    caller, target = provider_for(receiver, "support-svc"), provider_for(receiver, "refund-svc")
    tracer = caller.get_tracer("caller")
    for _ in range(2):
        with tracer.start_as_current_span("invoke_agent support_agent", kind=SpanKind.INTERNAL) as outer:
            outer.set_attribute("gen_ai.operation.name", "invoke_agent")
            outer.set_attribute("gen_ai.agent.name", "support_agent")
            invocation(tracer, target.get_tracer("agent"), "refund_agent", parent=trace.set_span_in_context(outer))
    export(target, caller)
    found = agents(db)
    assert (found["support_agent"]["tasks"], found["refund_agent"]["tasks"]) == (2, 0)
    orchestration = found["support_agent"]["orchestration"]
    assert orchestration["with_subagents"]["tasks"] == 2 and orchestration["subagent_tokens"] == 2 * 110
    assert orchestration["subagent_cost_share"] == 1.0  # support_agent made no call of its own


def test_evaluation_results_read_per_the_current_attributes(receiver, db):
    provider = provider_for(receiver, "support-svc")
    tracer = provider.get_tracer("conventions")
    results: list[dict[str, str | float]] = [
        {"gen_ai.evaluation.score.label": "pass"},
        {"gen_ai.evaluation.score.label": "fail", "gen_ai.evaluation.explanation": "made up a refund policy"},
        {"gen_ai.evaluation.score.value": 4.0, "agentmon.eval.threshold": 3.0},
        {"gen_ai.evaluation.score.value": 2.0, "agentmon.eval.threshold": 3.0},
        {"gen_ai.evaluation.score.label": "pass", "error.type": "timeout"},  # the evaluator failed: judged nothing
        {"gen_ai.evaluation.score.value": 5.0},  # no label, no threshold: nothing guessed
    ]
    with tracer.start_as_current_span("invoke_agent support-bot") as task:
        task.set_attribute("gen_ai.operation.name", "invoke_agent")
        task.set_attribute("gen_ai.agent.name", "support-bot")
        task.set_attribute("gen_ai.agent.version", "2.1.0")
        for i, attrs in enumerate(results):
            task.add_event(
                "gen_ai.evaluation.result",
                {"gen_ai.evaluation.name": "Relevance", "gen_ai.response.id": f"chatcmpl-{i}", **attrs},
            )
    export(provider)
    assert agents(db)["support-bot"]["eval_pass_rate"] == pytest.approx(2 / 4)
    conn = sqlite3.connect(db)
    try:
        versions = {v for (v,) in conn.execute("SELECT agent_version FROM eval_runs WHERE agent = 'support-bot'")}
    finally:
        conn.close()
    assert versions == {"2.1.0"}


def test_a_tool_span_without_its_required_name_still_counts(receiver, db):
    provider = provider_for(receiver, "support-svc")
    tracer = provider.get_tracer("conventions")
    with tracer.start_as_current_span("invoke_agent support-bot") as task:
        task.set_attribute("gen_ai.operation.name", "invoke_agent")
        task.set_attribute("gen_ai.agent.name", "support-bot")
        with tracer.start_as_current_span("execute_tool") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_status(Status(StatusCode.ERROR, "bad arguments"))
    export(provider)
    a = agents(db)["support-bot"]
    assert (a["tool_calls"], a["tool_errors"]) == (1, 1)


def test_reasoning_priced_at_a_models_own_reasoning_price(monkeypatch):
    """Where genai-prices knows a reasoning price, reasoning tokens are charged at it instead of the output
    price, never on top of it. A model's price is given one here, as genai-prices would hold it."""
    from genai_prices import Usage, calc_price
    from genai_prices.data_snapshot import get_snapshot
    from genai_prices.types import ModelPrice

    _, info = get_snapshot().find_provider_model(MODEL, None, None, None)
    assert not isinstance(info.prices, list), "a model with one price, so it can be given a reasoning price"
    prices = {k: v for k, v in vars(info.prices).items() if v is not None}
    monkeypatch.setattr(info, "prices", ModelPrice(**prices, output_reasoning_mtok=Decimal("1")))
    ts = time.time()
    pricer = Pricer(None)
    got = pricer.cost_nanos(MODEL, ts, 1000, 500, reasoning_tokens=400)
    want = calc_price(
        Usage(input_tokens=1000, output_tokens=500, output_reasoning_tokens=400),
        MODEL,
        genai_request_timestamp=datetime.fromtimestamp(ts, tz=UTC),
    ).total_price
    assert got == round(float(want) * NANO)
    assert got is not None and got < (
        pricer.cost_nanos(MODEL, ts, 1000, 500) or 0
    )  # cheaper than output here: not double counted
    assert pricer.cost_nanos(MODEL, ts, 1000, 500, reasoning_tokens=900) == pricer.cost_nanos(
        MODEL, ts, 1000, 500, reasoning_tokens=500
    )  # at most all the output


def test_native_llm_call_takes_reasoning_tokens():
    line = (
        b'{"ts":1780000000,"agent":"a","event":"llm_call","task":"t","model":"m",'
        b'"input_tokens":10,"output_tokens":50,"reasoning_tokens":30}'
    )
    event = parse_line(line)
    assert isinstance(event, LlmCall) and event.reasoning_tokens == 30
