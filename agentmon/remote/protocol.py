"""What both ends of an ssh:// source agree on (docs/remote.md)."""

from __future__ import annotations

import re

VERSION = 1
# The server's first line: its implementation, then the host's boot id, "-" if it has none
# (agentmon.ingest.boot; older servers do not send it).
HELLO = b"AGENTMON-FILES 1 %s %s\n"
MAX_READ = 8 << 20  # the most one READ returns
# The names a LIST returns: the tailer's patterns, rotated names and documents, loosely; the local
# side classifies them exactly (agentmon.ingest.tail.classify).
LISTED_NAMES = re.compile(r"\.(jsonl|ndjson|log)([.-]|$)|\.(json|eval)$")
