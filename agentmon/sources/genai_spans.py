"""OpenTelemetry's GenAI semantic conventions: spans (and `gen_ai.evaluation.result` events) as agentmon's
events (docs/otel.md). A task is a trace; its agent comes from the `invoke_agent` span.
"""

from __future__ import annotations

import math
from typing import get_args

import msgspec

from agentmon.errors import BadLine
from agentmon.events import (
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


def _operation(span: Span) -> str:
    op = span.attrs.get("gen_ai.operation.name")
    if op:
        return str(op)
    return span.name.split(" ", 1)[0]


def map_span(span: Span) -> Mapped:
    """A GenAI span's events. A task is a trace; its agent comes from the `invoke_agent` span.
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
        agent = agent or span.service or UNKNOWN_AGENT
        outcome = OUTCOMES.get(str(a.get("agentmon.task.outcome"))) or ("failure" if span.error else "success")
        model = a.get("gen_ai.request.model")
        events += [
            TaskStart(ts=span.start, agent=agent, task=task, model=str(model) if model else None),
            TaskEnd(ts=span.end, agent=agent, task=task, outcome=outcome, reason=span.status_message or None),
        ]
        out.trace_agent = (span.trace_id, agent)
    elif op in LLM_OPERATIONS:
        model = str(a.get("gen_ai.response.model") or a.get("gen_ai.request.model") or "unknown-model")
        cache_read = tokens(a, "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")
        cache_write = tokens(a, "gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens")
        total_input = tokens(a, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
        events.append(
            LlmCall(  # OpenTelemetry counts cache tokens inside input_tokens; we keep them apart
                ts=span.end,
                agent=agent,
                task=task,
                model=model,
                input_tokens=max(0, total_input - cache_read - cache_write),
                output_tokens=tokens(a, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
                cache_read_tokens=cache_read,
                cache_write_tokens=cache_write,
            )
        )
    elif op == "execute_tool":
        failed = span.error or bool(a.get("error.type"))
        error = str(a.get("error.type") or span.status_message or "")[:200] or None
        events.append(
            ToolCall(
                ts=span.end,
                agent=agent,
                task=task,
                tool=str(a.get("gen_ai.tool.name") or "tool"),
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
            result = evaluation(attrs, ts, agent or span.service, f"{span.trace_id}/{span.span_id}")
            if result is not None:
                out.events.append(result)
    for ev in events:
        if ev.agent:
            out.events.append(ev)
        else:  # named when its trace's invoke_agent span is seen (agentmon.store.otel_traces); its service till then
            out.agentless.append(msgspec.structs.replace(ev, agent=span.service or UNKNOWN_AGENT))
    return out


def evaluation(attrs: dict, ts: float, agent: str, operation: str) -> EvalResult | None:
    """A `gen_ai.evaluation.result` event as an eval result: the suite is `gen_ai.evaluation.name`, the case the
    evaluated response (`gen_ai.response.id`, else the span). Passed by `gen_ai.evaluation.score.label`
    (pass/fail words), else by `gen_ai.evaluation.score.value` against `agentmon.eval.threshold`; with
    neither, nothing is guessed and the result is left out."""
    suite = attrs.get("gen_ai.evaluation.name")
    if not suite or not agent:
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
        critical=bool(attrs.get("agentmon.eval.critical")),
    )
