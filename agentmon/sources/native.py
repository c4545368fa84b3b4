"""agentmon's own JSONL events, v1 (docs/events.md)."""

from __future__ import annotations

import msgspec

from agentmon.events import Event
from agentmon.sources import BadLine

_decoder = msgspec.json.Decoder(Event)


def parse_line(line: bytes) -> Event:
    """One JSON line to one event, or BadLine with a reason fit for a human."""
    try:
        return _decoder.decode(line)
    except msgspec.ValidationError as e:
        raise BadLine(_explain(str(e))) from None
    except msgspec.DecodeError as e:
        raise BadLine(f"not JSON: {e}") from None
    except UnicodeDecodeError:
        raise BadLine("invalid UTF-8 inside a JSON string") from None


def _explain(msg: str) -> str:
    if msg.startswith("Invalid value") and msg.endswith("`$.event`"):
        return f"unknown event type: {msg}"
    if msg == "Object missing required field `event`":
        return "no `event` field"
    return msg
