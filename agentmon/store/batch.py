"""What one ingest transaction commits: the store's only input from the ingest side.

Typed in full: a batch crosses to a commit process as msgpack (agentmon.ingest.commits).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from agentmon.events import Event, Held, Mapped, Prompt, SessionFact


@dataclass
class FileAdvance:
    """Move a file's committed offset from `old_offset` to `offset` (a compare-and-set)."""

    file_id: int
    old_offset: int
    offset: int
    marker: str  # a hash of the bytes just before `offset`, checked before resuming
    fp_len: int  # the fingerprint: how many first bytes, and their hash
    fp_hash: str
    skipping: bool  # inside a line longer than the cap, skipping to its end
    lines: int
    quarantined: int
    state: str = "active"
    format: str | None = None  # set once, when the file's first line tells its format
    # The file's size and modification time when this advance read it to its end, if they tell a later run
    # that nothing changed (agentmon.ingest.tail.Tracked.seen); None: the next run checks its content.
    seen: tuple[int, int] | None = None


class Quarantined(NamedTuple):
    """A line that could not become events: kept as evidence, with where it was and why."""

    file_id: int
    path: str
    offset: int
    reason: str
    excerpt: bytes


class CloseIdle(NamedTuple):
    """End, unlabeled, the open tasks of agents named `agent_prefix…` (sources that never say when a
    task is over) that have had no event for `idle_seconds` at `now`. Idempotent: the end is a pure
    function of the task's last event. OpenTelemetry traces that waited too long for their
    invoke_agent span are let go then too (agentmon.store.otel_traces)."""

    agent_prefix: str
    idle_seconds: float
    now: float


@dataclass
class Batch:
    """Everything one ingest transaction commits."""

    events: list[Event] = field(default_factory=list)
    bad: list[Quarantined] = field(default_factory=list)
    prompts: list[Prompt] = field(default_factory=list)
    facts: list[SessionFact] = field(default_factory=list)  # the Claude Code parser's state, as these lines left it
    held: list[Held] = field(default_factory=list)  # events kept apart until their task is known (store.held_events)
    otel: list[Mapped] = field(default_factory=list)  # one per span or log record
    advances: list[FileAdvance] = field(default_factory=list)
    lines: int = 0
    host: str = ""  # where the events come from: '' this machine, else a remote source's host
    close_idle: CloseIdle | None = None
