"""OpenTelemetry's GenAI semantic conventions: spans (and `gen_ai.evaluation.result` events) as agentmon's
events (docs/otel.md). A task is a trace; its agent comes from the `invoke_agent` span.

The names followed are those of the GenAI conventions' own repository (semantic-conventions-genai, schema
1.42), and the ones they replaced: instrumentations move to new names slowly, so both are read.
"""

from __future__ import annotations

import math
from typing import get_args

import msgspec

from agentmon.errors import BadLine
from agentmon.events import (
    TOKENS_MAX,
    TS_MAX,
    UNKNOWN_AGENT,
    Confirmation,
    Escalation,
    EvalResult,
    HumanIntervention,
    LlmCall,
    Mapped,
    Outcome,
    TaskEnd,
    TaskStart,
    ToolCall,
    time_prefix,
)
from agentmon.sources.otlp_records import Span, check_time, opt, tokens

LLM_OPERATIONS = {"chat", "text_completion", "generate_content"}
PASS_LABELS = {"pass", "passed", "true", "yes", "correct", "success"}
FAIL_LABELS = {"fail", "failed", "false", "no", "incorrect", "failure"}
OUTCOMES: dict[str, Outcome] = {o: o for o in get_args(Outcome)}

# Token attributes, the current name first, then the names it replaced, then the Vercel AI SDK's own
# (docs/otel.md has the table).
INPUT_TOKENS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "ai.usage.inputTokens",
    "ai.usage.promptTokens",
)
OUTPUT_TOKENS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "ai.usage.outputTokens",
    "ai.usage.completionTokens",
)
CACHE_READ_TOKENS = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "ai.usage.cachedInputTokens",
)
CACHE_WRITE_TOKENS = (
    "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
)
REASONING_TOKENS = ("gen_ai.usage.reasoning.output_tokens", "ai.usage.reasoningTokens")

# The Vercel AI SDK (to v6) sets no gen_ai.operation.name: its spans are named `ai.<function>[.<step>]`. A call
# (generateText...) is an agent's task, its steps LLM calls, `ai.toolCall` a tool call; embeddings count nothing.
VERCEL_OPERATIONS = {
    **dict.fromkeys(("ai.generateText", "ai.streamText", "ai.generateObject", "ai.streamObject"), "invoke_agent"),
    **dict.fromkeys(
        (
            "ai.generateText.doGenerate",
            "ai.streamText.doStream",
            "ai.generateObject.doGenerate",
            "ai.streamObject.doStream",
        ),
        "chat",
    ),
    "ai.toolCall": "execute_tool",
}


def _operation(span: Span) -> str:
    op = span.attrs.get("gen_ai.operation.name")
    if op:
        return str(op)
    first = span.name.split(" ", 1)[0]
    return VERCEL_OPERATIONS.get(first, first)


def map_span(span: Span) -> Mapped:
    """A GenAI span's events. A task is a trace; its agent comes from the `invoke_agent` span.
    An invocation exported as a CLIENT span and, beneath it, the agent's own INTERNAL span names the
    same agent in the same trace: both fold into that one task, in whatever order they come. A
    sub-agent invoked beneath another names another agent, so it is a task of its own.
    BadLine: a value out of range (agentmon.events), and the span is rejected."""
    try:
        if not (0 <= span.start < TS_MAX and 0 <= span.end < TS_MAX):  # inline: two comparisons, most spans
            check_time(span.start, "startTimeUnixNano")
            check_time(span.end, "endTimeUnixNano")
        for _, ts, _ in span.events:
            check_time(ts, "an event's timeUnixNano")
        return _map_span(span)
    except BadLine as e:
        raise BadLine(f"span {span.span_id}: {e}") from None


def _map_span(span: Span) -> Mapped:
    a = span.attrs
    op = _operation(span)
    task = span.trace_id
    agent = str(a.get("gen_ai.agent.name") or "")
    if agent.isspace():
        raise BadLine("gen_ai.agent.name is blank")
    out = Mapped(f"s{time_prefix(span.start)}:{span.trace_id}:{span.span_id}", [])
    events: list = []
    if op == "invoke_agent":
        agent = agent or _function_id(a) or span.service or UNKNOWN_AGENT
        outcome = OUTCOMES.get(str(a.get("agentmon.task.outcome"))) or ("failure" if span.error else "success")
        model = a.get("gen_ai.request.model") or a.get("ai.model.id")
        events += [
            TaskStart(ts=span.start, agent=agent, task=task, model=str(model) if model else None),
            TaskEnd(ts=span.end, agent=agent, task=task, outcome=outcome, reason=span.status_message or None),
        ]
        out.trace_agent = (span.trace_id, agent)
        out.agent_span = (span.start, span.end, span.root)
    elif op in LLM_OPERATIONS:
        model = str(
            a.get("gen_ai.response.model") or a.get("gen_ai.request.model") or a.get("ai.model.id") or "unknown-model"
        )
        cache_read = tokens(a, *CACHE_READ_TOKENS)
        cache_write = tokens(a, *CACHE_WRITE_TOKENS)
        total_input = tokens(a, *INPUT_TOKENS)
        output = tokens(a, *OUTPUT_TOKENS)
        reasoning = tokens(a, *REASONING_TOKENS)
        if reasoning > output:  # the convention counts them inside output_tokens; more proves they were left out
            output = min(output + reasoning, TOKENS_MAX)
        events.append(
            LlmCall(  # OpenTelemetry counts cache tokens inside input_tokens; we keep them apart
                ts=span.end,
                agent=agent,
                task=task,
                model=model,
                input_tokens=max(0, total_input - cache_read - cache_write),
                output_tokens=output,
                cache_read_tokens=cache_read,
                cache_write_tokens=cache_write,
                reasoning_tokens=reasoning,
            )
        )
    elif op == "execute_tool":  # gen_ai.tool.name is required; a span without it still counts, as "tool"
        failed = span.error or bool(a.get("error.type"))
        error = str(a.get("error.type") or span.status_message or "")[:200] or None
        events.append(
            ToolCall(
                ts=span.end,
                agent=agent,
                task=task,
                tool=str(a.get("gen_ai.tool.name") or a.get("ai.toolCall.name") or "tool"),
                ok=not failed,
                error=error,
            )
        )
    for name, ts, attrs in span.events:
        if name == "agentmon.escalation":
            events.append(Escalation(ts=ts, agent=agent, task=task, reason=opt(attrs.get("reason"))))
        elif name == "agentmon.confirmation":
            events.append(
                Confirmation(
                    ts=ts,
                    agent=agent,
                    task=task,
                    approved=bool(attrs.get("approved")),
                    action=opt(attrs.get("action")),
                )
            )
        elif name == "agentmon.human_intervention":
            events.append(HumanIntervention(ts=ts, agent=agent, task=task, kind=opt(attrs.get("kind"))))
        elif name == "gen_ai.evaluation.result":
            result = evaluation(
                attrs, ts, agent or span.service, f"{span.trace_id}/{span.span_id}", opt(a.get("gen_ai.agent.version"))
            )
            if result is not None:
                out.events.append(result)
    for ev in events:
        if ev.agent:
            out.events.append(ev)
        else:  # named when its trace's invoke_agent span is seen (agentmon.store.otel_traces); its service till then
            out.agentless.append(msgspec.structs.replace(ev, agent=span.service or UNKNOWN_AGENT))
    return out


def _function_id(attrs: dict) -> str:
    """The Vercel AI SDK's name for the calling function (`experimental_telemetry.functionId`): its agent."""
    name = str(attrs.get("ai.telemetry.functionId") or "")
    return "" if name.isspace() else name


def evaluation(
    attrs: dict, ts: float, agent: str, operation: str, agent_version: str | None = None
) -> EvalResult | None:
    """A `gen_ai.evaluation.result` event as an eval result: the suite is `gen_ai.evaluation.name`, the case the
    evaluated response (`gen_ai.response.id`, else the span). Passed by `gen_ai.evaluation.score.label`
    (pass/fail words), else by `gen_ai.evaluation.score.value` against `agentmon.eval.threshold`; with
    neither, nothing is guessed and the result is left out. An evaluation that ended in an error
    (`error.type`) judged nothing and is left out too. `gen_ai.evaluation.explanation` is the
    evaluator's prose about the output: never read."""
    suite = attrs.get("gen_ai.evaluation.name")
    if not suite or not agent or attrs.get("error.type"):
        return None
    label = str(attrs.get("gen_ai.evaluation.score.label") or "").strip().lower()
    score, threshold = attrs.get("gen_ai.evaluation.score.value"), attrs.get("agentmon.eval.threshold")
    for name, value in (("gen_ai.evaluation.score.value", score), ("agentmon.eval.threshold", threshold)):
        if isinstance(value, float) and not math.isfinite(value):  # NaN would fail every case quietly
            raise BadLine(f"{name} out of range: {value!r} is not a finite number")
    if label in PASS_LABELS or label in FAIL_LABELS:
        passed = label in PASS_LABELS
    elif isinstance(score, (int, float)) and isinstance(threshold, (int, float)):
        passed = score >= threshold
    else:
        return None
    return EvalResult(
        ts=ts,
        agent=agent,
        suite=str(suite),
        case=str(attrs.get("gen_ai.response.id") or operation),
        passed=passed,
        run=opt(attrs.get("agentmon.eval.run")),
        agent_version=agent_version,
        critical=bool(attrs.get("agentmon.eval.critical")),
    )
