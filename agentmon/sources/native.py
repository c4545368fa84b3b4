"""agentmon's own JSONL events, v1 (docs/events.md)."""

from __future__ import annotations

from datetime import datetime
from typing import get_args

import msgspec

from agentmon.errors import BadLine
from agentmon.events import EVENT_NAMES, TS_BOUNDS, EvalResult, Event, Outcome, range_reason, ts_out_of_range
from agentmon.sources import DEEP, behind_bom

_decoder = msgspec.json.Decoder(Event)


def parse_line(line: bytes) -> Event:
    """One JSON line to one event, or BadLine with a reason fit for a human."""
    try:
        event = _decoder.decode(line)
    except msgspec.ValidationError as e:
        raise BadLine(_explain(str(e))) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        if (behind := behind_bom(line)) is not None:
            return parse_line(behind)
        if not _utf8(line):  # msgspec has said this in more than one way: say it in ours
            raise BadLine("invalid UTF-8 inside a JSON string") from None
        raise BadLine(f"not JSON: {e}") from None
    except RecursionError:
        raise BadLine(DEEP) from None
    # What msgspec's bounds cannot say: blank names, a datetime's range. A few cheap tests per line.
    if (
        event.ts.__class__ is datetime
        or event.agent.isspace()
        or (event.__class__ is not EvalResult and event.task.isspace())  # type: ignore[union-attr]
    ):
        _check(event)
    return event


def _check(event: Event) -> None:
    if event.agent.isspace():
        raise BadLine("bad value at $.agent: a blank name")
    if not isinstance(event, EvalResult) and event.task.isspace():
        raise BadLine("bad value at $.task: a blank name")
    if isinstance(event.ts, datetime) and ts_out_of_range(event.ts.timestamp()):
        raise BadLine(f"out of range at $.ts: {event.ts.isoformat()} is not in {TS_BOUNDS} Unix seconds")


def _utf8(line: bytes) -> bool:
    try:
        line.decode()
    except UnicodeDecodeError:
        return False
    return True


def _explain(msg: str) -> str:
    """msgspec's message, behind our words for what went wrong and where (the words tests hold us to)."""
    detail, _, where = msg.partition(" - at `")
    where = where.rstrip("`")
    if where == "$.event" and detail.startswith("Invalid value"):
        return f"unknown event type: {detail.removeprefix('Invalid value ')} (the events: {', '.join(EVENT_NAMES)})"
    if where == "$.outcome" and detail.startswith("Invalid enum value"):
        value = detail.removeprefix("Invalid enum value ")
        return f"bad value at $.outcome: {value} is not an outcome (one of {', '.join(get_args(Outcome))})"
    if "missing required field `event`" in detail and not where:
        return "no `event` field"
    if "missing required field" in detail:
        return f"a required field is missing{' in ' + where if where else ''}: {detail}"
    if (reason := range_reason(msg)) is not None:
        if where == "$.ts" and " < " in detail:  # the usual cause: a JavaScript Date.now()
            return f"{reason} (a time in milliseconds? `ts` is Unix seconds, or an ISO 8601 time)"
        return reason
    if where == "$.ts":
        return f"bad value at $.ts: {detail} (`ts` is Unix seconds, or an ISO 8601 time: 2026-11-30T09:30:00Z)"
    if where:
        return f"bad value at {where}: {detail}"
    return f"not an event object: {detail}"
