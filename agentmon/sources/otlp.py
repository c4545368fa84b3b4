"""OpenTelemetry: GenAI spans and Claude Code's log events, from OTLP protobuf or OTLP JSON.

Both encodings are first read into the same small records (Span, Record), then one mapping
turns those into events (docs/otel.md). Every span and log record also yields a key that the
store keeps, so a batch a client sends twice (a retry after a lost response) counts once.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar, get_args

import msgspec

from agentmon.errors import BadLine
from agentmon.events import (
    COST_BOUNDS,
    COST_MAX_USD,
    TOKENS_BOUNDS,
    TOKENS_MAX,
    TS_BOUNDS,
    TS_MAX,
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
    out_of_range,
    time_prefix,
    ts_out_of_range,
)
from agentmon.sources import DEEP

LLM_OPERATIONS = {"chat", "text_completion", "generate_content"}
PASS_LABELS = {"pass", "passed", "true", "yes", "correct", "success"}
FAIL_LABELS = {"fail", "failed", "false", "no", "incorrect", "failure"}
OUTCOMES: dict[str, Outcome] = {o: o for o in get_args(Outcome)}
CLAUDE_CODE_SERVICE = "claude-code"
APPROVED = {"user_temporary", "user_permanent"}
REJECTED = {"user_reject", "user_abort"}
T = TypeVar("T", "Span", "Record")


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


def _service(resource_attrs: dict) -> str:
    """The resource's `service.name`; a blank one names nothing."""
    name = str(resource_attrs.get("service.name") or "")
    return "" if name.isspace() else name


def spans_from_proto(request) -> Iterator[Span]:
    for rs in request.resource_spans:
        service = _service(_attrs_proto(rs.resource.attributes))
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
        service = _service(_attrs_proto(rl.resource.attributes))
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
    """Seconds; NaN when unreadable, for the mapping to reject its span or record alone."""
    try:
        return int(value or 0) / 1e9
    except (TypeError, ValueError, OverflowError):
        return math.nan


def spans_from_json(doc: dict) -> Iterator[Span]:
    for rs in doc.get("resourceSpans") or []:
        service = _service(_attrs_json((rs.get("resource") or {}).get("attributes")))
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
        service = _service(_attrs_json((rl.get("resource") or {}).get("attributes")))
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


def _tokens(attrs: dict, *names: str) -> int:
    """The first of `names` present, in bounds; a text that is no number counts 0, as it always has."""
    for name in names:
        value = attrs.get(name)
        if value is not None:
            try:
                n = int(value)
            except (TypeError, ValueError, OverflowError):  # NaN and infinity as well as words
                if isinstance(value, float):
                    raise BadLine(out_of_range(name, repr(value), TOKENS_BOUNDS)) from None
                return 0
            if not 0 <= n <= TOKENS_MAX:
                raise BadLine(out_of_range(name, str(n), TOKENS_BOUNDS))
            return n
    return 0


def _cost(attrs: dict, name: str) -> float | None:
    value = attrs.get(name)
    if value is None:
        return None
    try:
        usd = float(value)
    except (TypeError, ValueError, OverflowError):
        raise BadLine(f"{name} is not a number: {value!r:.40}") from None
    if not 0 <= usd <= COST_MAX_USD:  # NaN too
        raise BadLine(out_of_range(name, repr(usd), COST_BOUNDS))
    return usd


def _check_time(ts: float, what: str) -> None:
    if ts_out_of_range(ts):
        raise BadLine(out_of_range(what, f"{ts:g} s", TS_BOUNDS))


def map_each(items: Iterable[T], mapper: Callable[[T], Mapped]) -> tuple[list[Mapped], list[str]]:
    """Each span or record mapped, or rejected alone with its reason (a value out of range)."""
    mapped: list[Mapped] = []
    rejected: list[str] = []
    for item in items:
        try:
            mapped.append(mapper(item))
        except BadLine as e:
            rejected.append(str(e))
    return mapped, rejected


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
            _check_time(span.start, "startTimeUnixNano")
            _check_time(span.end, "endTimeUnixNano")
        for _, ts, _ in span.events:
            _check_time(ts, "an event's timeUnixNano")
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
        cache_read = _tokens(a, "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")
        cache_write = _tokens(a, "gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens")
        total_input = _tokens(a, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
        events.append(
            LlmCall(  # OpenTelemetry counts cache tokens inside input_tokens; we keep them apart
                ts=span.end,
                agent=agent,
                task=task,
                model=model,
                input_tokens=max(0, total_input - cache_read - cache_write),
                output_tokens=_tokens(a, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
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
        run=_opt(attrs.get("agentmon.eval.run")),
        critical=bool(attrs.get("agentmon.eval.critical")),
    )


def _opt(value) -> str | None:
    return None if value is None else str(value)[:200]


def map_record(record: Record) -> Mapped:
    """Claude Code's OpenTelemetry events: a task per `prompt.id`.
    BadLine: a value out of range (agentmon.events), and the record is rejected."""
    try:
        _check_time(record.ts, "timeUnixNano")
        return _map_record(record)
    except BadLine as e:
        raise BadLine(f"log record {record.name}: {e}") from None


def _map_record(record: Record) -> Mapped:
    a = record.attrs
    name = record.name.removeprefix("claude_code.")
    agent = "claude-code:" + (record.service if record.service and record.service != CLAUDE_CODE_SERVICE else "otel")
    task = str(a.get("prompt.id") or a.get("session.id") or "")
    if task.isspace():
        raise BadLine("prompt.id is blank")
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
                input_tokens=_tokens(a, "input_tokens"),
                output_tokens=_tokens(a, "output_tokens"),
                cache_read_tokens=_tokens(a, "cache_read_tokens"),
                cache_write_tokens=_tokens(a, "cache_creation_tokens"),
                cost_usd=_cost(a, "cost_usd"),
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
        doc = json.loads(line)  # bytes: read behind a BOM too
    except (ValueError, UnicodeDecodeError) as e:
        raise BadLine(f"not JSON: {e}") from None
    except RecursionError:
        raise BadLine(DEEP) from None
    if not isinstance(doc, dict) or not ({"resourceSpans", "resourceLogs"} & doc.keys()):
        raise BadLine("not an OTLP export request (no resourceSpans or resourceLogs)")
    try:
        spans, bad_spans = map_each(spans_from_json(doc), map_span)
        records, bad_records = map_each(records_from_json(doc), map_record)
    except RecursionError:  # attribute values nested deep enough to exhaust the stack while read
        raise BadLine(DEEP) from None
    except (TypeError, ValueError, AttributeError, OverflowError) as e:
        raise BadLine(f"unreadable telemetry: {e}") from None
    # A line counts entirely or not at all, as any quarantined line; the receiver, which can answer with a
    # partial success, rejects only the spans and records out of range (map_each).
    rejected = bad_spans + bad_records
    if rejected:
        others = len(rejected) - 1 + len(spans) + len(records)
        raise BadLine(rejected[0] + (f" (the line's {others} other spans and records not counted)" if others else ""))
    return spans + records
