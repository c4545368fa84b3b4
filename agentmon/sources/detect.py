"""Which format a log file is in, from its first complete line: a path given explicitly is
recognised by its content, not its name."""

from __future__ import annotations

from agentmon.sources import BOM

NATIVE = "native"
CLAUDE_CODE = "claude-code"
OTLP_JSON = "otlp-json"  # the OpenTelemetry Collector's file exporter: an export request per line


def detect(first_line: bytes) -> str:
    head = first_line.removeprefix(BOM)[:64]  # each parser reads a line behind a BOM too
    if head.lstrip().startswith(b"{") and (b'"resourceSpans"' in head or b'"resourceLogs"' in head):
        return OTLP_JSON
    from agentmon.sources.claude_code import looks_like as looks_like_claude_code  # loaded with the first new file

    if looks_like_claude_code(first_line):
        return CLAUDE_CODE
    return NATIVE  # including garbage: the native parser says what is wrong with each line
