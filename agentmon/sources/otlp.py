"""OpenTelemetry: GenAI spans and Claude Code's log events, from OTLP protobuf or OTLP JSON.

Both encodings are first read into the same small records (agentmon.sources.otlp_records), then mapped
into events: spans by agentmon.sources.genai_spans, log records by agentmon.sources.claude_code_events
(docs/otel.md). This module is what the receiver and the file tailer call.
"""

from __future__ import annotations

from agentmon.errors import BadLine
from agentmon.events import Mapped
from agentmon.sources import DEEP
from agentmon.sources.claude_code_events import map_record
from agentmon.sources.genai_spans import map_span
from agentmon.sources.otlp_records import (
    Record,
    Span,
    map_each,
    records_from_json,
    records_from_proto,
    spans_from_json,
    spans_from_proto,
)

__all__ = [
    "Record",
    "Span",
    "map_each",
    "map_record",
    "map_span",
    "parse_json_line",
    "records_from_json",
    "records_from_proto",
    "spans_from_json",
    "spans_from_proto",
]


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
