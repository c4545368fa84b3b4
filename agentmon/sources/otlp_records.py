"""OTLP, protobuf or JSON, read into the small records the mappings take (Span, Record), and the checks
every mapped value passes (agentmon.events' bounds).

Every span and log record also yields a key that the store keeps, so a batch a client sends twice (a retry
after a lost response) counts once.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from agentmon.errors import BadLine
from agentmon.events import (
    COST_BOUNDS,
    COST_MAX_USD,
    TOKENS_BOUNDS,
    TOKENS_MAX,
    TS_BOUNDS,
    Mapped,
    out_of_range,
    time_prefix,
    ts_out_of_range,
)

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
    root: bool = True  # no parent span: the trace's first (an invoke_agent root names the trace's root agent)


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
                    not s.parent_span_id,
                )


def records_from_proto(request) -> Iterator[Record]:
    for rl in request.resource_logs:
        service = _service(_attrs_proto(rl.resource.attributes))
        for sl in rl.scope_logs:
            for r in sl.log_records:
                attrs = _attrs_proto(r.attributes)
                name = r.event_name or _event_name(r.body.string_value, attrs)
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
                    not s.get("parentSpanId"),
                )


def records_from_json(doc: dict) -> Iterator[Record]:
    for rl in doc.get("resourceLogs") or []:
        service = _service(_attrs_json((rl.get("resource") or {}).get("attributes")))
        for sl in rl.get("scopeLogs") or []:
            for r in sl.get("logRecords") or []:
                attrs = _attrs_json(r.get("attributes"))
                body = r.get("body")
                body = body.get("stringValue") if isinstance(body, dict) else None
                name = r.get("eventName") or _event_name(body, attrs)
                ts = _nanos(r.get("timeUnixNano") or r.get("observedTimeUnixNano"))
                key = _record_key(ts, repr((name, ts, sorted(attrs.items(), key=lambda kv: kv[0]))).encode())
                yield Record(name, ts, attrs, service, key)


def _event_name(body: object, attrs: dict) -> str:
    """A record without an event name field: Claude Code names its events in the body
    (`claude_code.user_prompt`, with `event.name` the bare `user_prompt`); others in `event.name`."""
    if isinstance(body, str) and body.startswith("claude_code."):
        return body
    return str(attrs.get("event.name") or "")


def _record_key(ts: float, data: bytes) -> str:
    return f"l{time_prefix(ts)}:{hashlib.blake2b(data, digest_size=12).hexdigest()}"


# --- values, checked ----------------------------------------------------------------------------


def tokens(attrs: dict, *names: str) -> int:
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


def cost(attrs: dict, name: str) -> float | None:
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


def check_time(ts: float, what: str) -> None:
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


def opt(value) -> str | None:
    return None if value is None else str(value)[:200]
