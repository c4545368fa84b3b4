"""Which format a log file is in, from its first complete line: a path given explicitly is
recognised by its content, not its name."""

from __future__ import annotations

from agentmon.sources.claude_code import looks_like as looks_like_claude_code

NATIVE = "native"
CLAUDE_CODE = "claude-code"


def detect(first_line: bytes) -> str:
    if looks_like_claude_code(first_line):
        return CLAUDE_CODE
    return NATIVE  # including garbage: the native parser says what is wrong with each line
