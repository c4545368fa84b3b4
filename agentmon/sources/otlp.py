"""OpenTelemetry: GenAI spans and Claude Code's log events, from OTLP protobuf or OTLP JSON.

Both encodings are first read into the same small records (Span, Record), then one mapping
turns those into events (docs/otel.md). Every span and log record also yields a key that the
store keeps, so a batch a client sends twice (a retry after a lost response) counts once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import get_args

import msgspec

from agentmon.errors import BadLine
from agentmon.events import (
    UNKNOWN_AGENT,
    ApiError,
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

LLM_OPERATIONS = {"chat", "text_completion", "generate_content"}
PASS_LABELS = {"pass", "passed", "true", "yes", "correct", "success"}
FAIL_LABELS = {"fail", "failed", "false", "no", "incorrect", "failure"}
OUTCOMES: dict[str, Outcome] = {o: o for o in get_args(Outcome)}
CLAUDE_CODE_SERVICE = "claude-code"
APPROVED = {"user_temporary", "user_permanent"}
REJECTED = {"user_reject", "user_abort"}


@dataclass
class Span:
    trace_id: str
    span_id: str
    name: str
    start: float
    end: float
    error: bool
    status_message: str
    attrs: dict
    events: list[tuple[str, float, dict]]
    service: str


@dataclass
class Record:
    """A log record: Claude Code's events are these."""

    name: str
    ts: float
    attrs: dict
    service: str
    key: str = field(default="")


# --- reading OTLP protobuf -----------------------------------------------------------------


def _any_value(v):
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind)


def _attrs_proto(kvs) -> dict:
    return {kv.key: _any_value(kv.value) for kv in kvs}


def spans_from_proto(request) -> Iterator[Span]:
    for rs in request.resource_spans:
        service = str(_attrs_proto(rs.resource.attributes).get("service.name") or "")
        for ss in rs.scope_spans:
            for s in ss.spans:
                yield Span(
                    s.trace_id.hex(),
                    s.span_id.hex(),
                    s.name,
                    s.start_time_unix_nano / 1e9,
                    s.end_time_unix_nano / 1e9,
                    s.status.code == 2,
                    s.status.message,
                    _attrs_proto(s.attributes),
                    [(e.name, e.time_unix_nano / 1e9, _attrs_proto(e.attributes)) for e in s.events],
                    service,
                )


def records_from_proto(request) -> Iterator[Record]:
    for rl in request.resource_logs:
        service = str(_attrs_proto(rl.resource.attributes).get("service.name") or "")
        for sl in rl.scope_logs:
            for r in sl.log_records:
                attrs = _attrs_proto(r.attributes)
                name = r.event_name or str(attrs.get("event.name") or "")
                ts = (r.time_unix_nano or r.observed_time_unix_nano) / 1e9
                yield Record(name, ts, attrs, service, _record_key(ts, r.SerializeToString(deterministic=True)))


# --- reading OTLP JSON ------------------------------------------------------------------------


def _any_json(v: object) -> object:
    if not isinstance(v, dict) or not v:
        return None
    kind, value = next(iter(v.items()))
    if kind == "intValue":
        return int(value)
    if kind == "doubleValue":
        return float(value)
    if kind == "arrayValue":
        return [_any_json(x) for x in value.get("values", [])]
    if kind == "kvlistValue":
        return _attrs_json(value.get("values", []))
    return value


def _attrs_json(kvs: object) -> dict:
    if not isinstance(kvs, list):
        return {}
    return {kv.get("key"): _any_json(kv.get("value")) for kv in kvs if isinstance(kv, dict)}


def _nanos(value) -> float:
    return int(value or 0) / 1e9


def spans_from_json(doc: dict) -> Iterator[Span]:
    for rs in doc.get("resourceSpans") or []:
        service = str(_attrs_json((rs.get("resource") or {}).get("attributes")).get("service.name") or "")
        for ss in rs.get("scopeSpans") or []:
            for s in ss.get("spans") or []:
                status = s.get("status") or {}
                yield Span(
                    str(s.get("traceId", "")).lower(),
                    str(s.get("spanId", "")).lower(),
                    s.get("name", ""),
                    _nanos(s.get("startTimeUnixNano")),
                    _nanos(s.get("endTimeUnixNano")),
                    status.get("code") in (2, "STATUS_CODE_ERROR"),
                    status.get("message", ""),
                    _attrs_json(s.get("attributes")),
                    [
                        (e.get("name", ""), _nanos(e.get("timeUnixNano")), _attrs_json(e.get("attributes")))
                        for e in s.get("events") or []
                    ],
                    service,
                )


def records_from_json(doc: dict) -> Iterator[Record]:
    for rl in doc.get("resourceLogs") or []:
        service = str(_attrs_json((rl.get("resource") or {}).get("attributes")).get("service.name") or "")
        for sl in rl.get("scopeLogs") or []:
            for r in sl.get("logRecords") or []:
                attrs = _attrs_json(r.get("attributes"))
                name = r.get("eventName") or str(attrs.get("event.name") or "")
                ts = _nanos(r.get("timeUnixNano") or r.get("observedTimeUnixNano"))
                key = _record_key(ts, repr((name, ts, sorted(attrs.items(), key=lambda kv: kv[0]))).encode())
                yield Record(name, ts, attrs, service, key)


def _record_key(ts: float, data: bytes) -> str:
    return f"l{time_prefix(ts)}:{hashlib.blake2b(data, digest_size=12).hexdigest()}"


# --- the mapping ----------------------------------------------------------------------------------


def _int(attrs: dict, *names: str) -> int:
    for name in names:
        value = attrs.get(name)
        if value is not None:
            try:
                return max(0, int(value))
            except (TypeError, ValueError):
                return 0
    return 0


def _operation(span: Span) -> str:
    op = span.attrs.get("gen_ai.operation.name")
    if op:
        return str(op)
    return span.name.split(" ", 1)[0]


def map_span(span: Span) -> Mapped:
    """A GenAI span's events. A task is a trace; its agent comes from the `invoke_agent` span."""
    a = span.attrs
    op = _operation(span)
    task = span.trace_id
    agent = str(a.get("gen_ai.agent.name") or "")
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
        cache_read = _int(a, "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")
        cache_write = _int(a, "gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens")
        total_input = _int(a, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
        events.append(
            LlmCall(  # OpenTelemetry counts cache tokens inside input_tokens; we keep them apart
                ts=span.end,
                agent=agent,
                task=task,
                model=model,
                input_tokens=max(0, total_input - cache_read - cache_write),
                output_tokens=_int(a, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
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
            events.append(Escalation(ts=ts, agent=agent, task=task, reason=_opt(attrs.get("reason"))))
        elif name == "agentmon.confirmation":
            events.append(
                Confirmation(
                    ts=ts,
                    agent=agent,
                    task=task,
                    approved=bool(attrs.get("approved")),
                    action=_opt(attrs.get("action")),
                )
            )
        elif name == "agentmon.human_intervention":
            events.append(HumanIntervention(ts=ts, agent=agent, task=task, kind=_opt(attrs.get("kind"))))
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
        run=_opt(attrs.get("agentmon.eval.run")),
        critical=bool(attrs.get("agentmon.eval.critical")),
    )


def _opt(value) -> str | None:
    return None if value is None else str(value)[:200]


def map_record(record: Record) -> Mapped:
    """Claude Code's OpenTelemetry events: a task per `prompt.id`."""
    a = record.attrs
    name = record.name.removeprefix("claude_code.")
    agent = "claude-code:" + (record.service if record.service and record.service != CLAUDE_CODE_SERVICE else "otel")
    task = str(a.get("prompt.id") or a.get("session.id") or "")
    out = Mapped(record.key, [])
    if record.name == "gen_ai.evaluation.result":
        result = evaluation(a, record.ts, record.service, record.key)
        out.events += [result] if result is not None else []
        return out
    if not task or not record.name.startswith("claude_code."):
        return out
    ts = record.ts
    if name == "user_prompt":
        out.events.append(TaskStart(ts=ts, agent=agent, task=task))
    elif name == "api_request":
        out.events.append(
            LlmCall(
                ts=ts,
                agent=agent,
                task=task,
                model=str(a.get("model") or "unknown-model"),
                input_tokens=_int(a, "input_tokens"),
                output_tokens=_int(a, "output_tokens"),
                cache_read_tokens=_int(a, "cache_read_tokens"),
                cache_write_tokens=_int(a, "cache_creation_tokens"),
                cost_usd=float(a["cost_usd"]) if a.get("cost_usd") is not None else None,
            )
        )
    elif name == "tool_result":
        ok = str(a.get("success")).lower() == "true"
        out.events.append(
            ToolCall(
                ts=ts, agent=agent, task=task, tool=str(a.get("tool_name") or "tool"), ok=ok, error=_opt(a.get("error"))
            )
        )
    elif name == "api_error":
        out.events.append(ApiError(ts=ts, agent=agent, task=task, status=_opt(a.get("status_code"))))
    elif name == "tool_decision":
        source = str(a.get("source") or "")
        if source in APPROVED or source in REJECTED:
            out.events.append(
                Confirmation(
                    ts=ts, agent=agent, task=task, approved=source in APPROVED, action=_opt(a.get("tool_name"))
                )
            )
    return out


def parse_json_line(line: bytes) -> list[Mapped]:
    """One line of the Collector's file exporter: an ExportTraceServiceRequest or
    ExportLogsServiceRequest in OTLP JSON."""
    import json

    try:
        doc = json.loads(line)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadLine(f"not JSON: {e}") from None
    if not isinstance(doc, dict) or not ({"resourceSpans", "resourceLogs"} & doc.keys()):
        raise BadLine("not an OTLP export request (no resourceSpans or resourceLogs)")
    try:
        return [map_span(s) for s in spans_from_json(doc)] + [map_record(r) for r in records_from_json(doc)]
    except (TypeError, ValueError, AttributeError) as e:
        raise BadLine(f"unreadable telemetry: {e}") from None
