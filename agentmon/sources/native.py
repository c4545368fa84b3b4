"""agentmon's own JSONL events, v1 (docs/events.md)."""

from __future__ import annotations

import msgspec

from agentmon.errors import BadLine
from agentmon.events import Event

_decoder = msgspec.json.Decoder(Event)


def parse_line(line: bytes) -> Event:
    """One JSON line to one event, or BadLine with a reason fit for a human."""
    try:
        return _decoder.decode(line)
    except msgspec.ValidationError as e:
        raise BadLine(_explain(str(e))) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        if not _utf8(line):  # msgspec has said this in more than one way: say it in ours
            raise BadLine("invalid UTF-8 inside a JSON string") from None
        raise BadLine(f"not JSON: {e}") from None


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
        return f"unknown event type: {msg}"
    if "missing required field `event`" in detail and not where:
        return "no `event` field"
    if "missing required field" in detail:
        return f"a required field is missing{' in ' + where if where else ''}: {detail}"
    if where:
        return f"bad value at {where}: {detail}"
    return f"not an event object: {detail}"
