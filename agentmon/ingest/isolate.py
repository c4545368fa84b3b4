"""A batch the store could not take, committed apart: the line to blame quarantined, the rest stored once.

A value that slipped past the parsers (a number SQLite cannot hold, say) makes committing its batch raise,
and would do so again on every rerun, at the same line. Instead the batch is committed again file by file,
each file with its own offset move. In a file that still fails, its lines are parsed again and committing is
rehearsed (applied, then rolled back) on ever shorter runs of them from the start: the line whose event makes
the shortest failing run fail is quarantined, until the rest goes in; then the file's lines commit with the
same offsets, once. Kept per chunk while parsing, not per line: the hot path pays nothing for this.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from agentmon.errors import AgentmonError, BadLine
from agentmon.events import Event, Held, Mapped, Prompt, SessionFact
from agentmon.sources.detect import CLAUDE_CODE, OTLP_JSON
from agentmon.store.batch import Batch, FileAdvance, Quarantined
from agentmon.store.writer import Store

REASON_CHARS = 200
Parse = Callable[[bytes], tuple[list[Event], list[Mapped], list[Prompt], list[SessionFact], list[Held]]]
LoadState = Callable[[str], list[tuple[str, str, str | None, float]]]


@dataclass
class ChunkPart:
    """Where one chunk's lines went in its batch: what it starts at in each of the batch's lists."""

    file_id: int
    path: str
    format: str | None
    start: int  # the offset of its first line
    lines_end: int  # just past its last complete line's newline (not the too long tail it may skip)
    end: int
    marker: str  # a hash of the bytes before `end`: read again, the lines are checked against it
    events: int
    otel: int
    prompts: int
    bad: int
    facts: int = 0
    held: int = 0


@dataclass
class _Line:
    """A line parsed again, with what it becomes."""

    offset: int
    raw: bytes
    events: list[Event]
    otel: list[Mapped]
    prompts: list[Prompt] = field(default_factory=list)
    facts: list[SessionFact] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)


def can_isolate(error: BaseException) -> bool:
    """An error a line's value can cause. Not the store's own (a full disk, the lock: AgentmonError), not
    memory, not an interrupt: those stop the ingest as they did."""
    return isinstance(error, Exception) and not isinstance(error, (AgentmonError, MemoryError))


def commit_apart(
    store: Store,
    batch: Batch,
    parts: list[ChunkPart],
    read_again: Callable[[ChunkPart], list[bytes] | None],
    load_prompts: Callable[[str], list[tuple[float, str]]],
    rename: Callable[[Batch], None],
) -> tuple[list[Batch], list[Quarantined]]:
    """Commit `batch`, whose commit raised, file by file. Returns the batches committed and the lines
    quarantined for the store's sake; raises a file's error when none of its lines is to blame, or its lines
    cannot be read again as they were (`read_again`: None)."""
    committed, blamed = [], []
    for adv, file_batch, file_parts in _by_file(batch, parts):
        try:
            store.commit(file_batch)
        except Exception as e:
            if not can_isolate(e):
                raise
            chunks = []
            for part in file_parts:
                if (raw_lines := read_again(part)) is None:
                    raise  # not the lines that were read: stop, as before; the next run reads them afresh
                chunks.append((part, raw_lines))
            lines, unparsed = _parse_again(
                chunks, {q.offset for q in file_batch.bad}, load_prompts, rename, store.claude_code_state
            )
            culprits = _culprits(store, lines, file_parts[0], batch.host, e)
            quarantined = unparsed + culprits
            file_batch = Batch(
                events=[ev for line in lines for ev in line.events],
                otel=[m for line in lines for m in line.otel],
                prompts=[p for line in lines for p in line.prompts],
                facts=[f for line in lines for f in line.facts],
                held=[h for line in lines for h in line.held],
                bad=file_batch.bad + quarantined,
                advances=[dataclasses.replace(adv, quarantined=adv.quarantined + len(quarantined))],
                lines=file_batch.lines,
                host=batch.host,
            )
            store.commit(file_batch)  # the same offsets: stored once, or raised as before
            blamed += culprits
        committed.append(file_batch)
    return committed, blamed


def _by_file(batch: Batch, parts: list[ChunkPart]) -> Iterator[tuple[FileAdvance, Batch, list[ChunkPart]]]:
    """Per file: its advance, a batch of only its chunks' events, lines and offsets, and its chunks."""
    spans: dict[int, list[tuple[ChunkPart, ChunkPart | None]]] = {}
    for part, after in zip(parts, [*parts[1:], None]):
        spans.setdefault(part.file_id, []).append((part, after))
    for adv in batch.advances:
        chunks = spans[adv.file_id]
        file_batch = Batch(
            events=_taken(batch.events, chunks, "events"),
            otel=_taken(batch.otel, chunks, "otel"),
            prompts=_taken(batch.prompts, chunks, "prompts"),
            facts=_taken(batch.facts, chunks, "facts"),
            held=_taken(batch.held, chunks, "held"),
            bad=_taken(batch.bad, chunks, "bad"),
            advances=[adv],
            lines=adv.lines,
            host=batch.host,
        )
        yield adv, file_batch, [part for part, _ in chunks]


def _taken(items: list, chunks: list[tuple[ChunkPart, ChunkPart | None]], attr: str) -> list:
    """What these chunks put in one of the batch's lists: each from where it starts to where the next starts."""
    out: list = []
    for part, after in chunks:
        out += items[getattr(part, attr) : None if after is None else getattr(after, attr)]
    return out


def _parser(
    form: str | None, path: str, load_prompts: Callable[[str], list[tuple[float, str]]], load_state: LoadState
) -> Parse:
    """How the ingester parsed this file's lines (Claude Code's from a fresh start, as a rerun would)."""
    if form == CLAUDE_CODE:
        from agentmon.sources.claude_code import ClaudeCodeSource

        source = ClaudeCodeSource(load_prompts, load_state)
        source.begin_chunk()

        def claude_code(raw: bytes) -> tuple[list[Event], list[Mapped], list[Prompt], list[SessionFact], list[Held]]:
            events = source.parse(raw, path) + source.end_chunk()  # the line's evidence with it: it may fail too
            prompts, source.new_prompts = list(source.new_prompts), []
            return events, [], prompts, source.take_facts(), source.take_held()

        return claude_code
    if form == OTLP_JSON:
        from agentmon.sources.otlp import parse_json_line as parse_otlp_line

        return lambda raw: ([], parse_otlp_line(raw), [], [], [])
    from agentmon.sources.native import parse_line

    return lambda raw: ([parse_line(raw)], [], [], [], [])


def _parse_again(
    chunks: list[tuple[ChunkPart, list[bytes]]],
    skip: set[int],
    load_prompts: Callable[[str], list[tuple[float, str]]],
    rename: Callable[[Batch], None],
    load_state: LoadState,
) -> tuple[list[_Line], list[Quarantined]]:
    """The file's lines with what each becomes; those already quarantined (`skip`) left out."""
    lines, bad = [], []
    parse = _parser(chunks[0][0].format, chunks[0][0].path, load_prompts, load_state)
    for part, raw_lines in chunks:
        offset = part.start
        for raw in raw_lines:
            if raw and offset not in skip:
                try:
                    events, otel, prompts, facts, held = parse(raw)
                except BadLine as e:
                    if raw.strip():  # blank lines are skipped, as the ingester does
                        bad.append(Quarantined(part.file_id, part.path, offset, str(e), raw[:REASON_CHARS]))
                else:
                    renamed = Batch(events=events, otel=otel, held=held)
                    rename(renamed)
                    lines.append(_Line(offset, raw, renamed.events, otel, prompts, facts, renamed.held))
            offset += len(raw) + 1
    return lines, bad


def _culprits(store: Store, lines: list[_Line], where: ChunkPart, host: str, error: Exception) -> list[Quarantined]:
    """Take out of `lines`, and return quarantined, each line that makes the store fail: the last line of the
    shortest failing run from the start, until all that is left goes in."""

    def fails(n: int) -> Exception | None:
        try:
            head = lines[:n]
            store.rehearse(
                Batch(
                    events=[ev for ln in head for ev in ln.events],
                    otel=[m for ln in head for m in ln.otel],
                    held=[h for ln in head for h in ln.held],
                    host=host,
                )
            )
        except Exception as e:
            if not can_isolate(e):
                raise
            return e
        return None

    if fails(0) is not None:
        raise error  # the store fails with none of these lines: they are not to blame
    out = []
    while (failure := fails(len(lines))) is not None:
        good, bad = 0, len(lines)  # fails(good) is None, fails(bad) is `failure`
        while bad - good > 1:
            mid = (good + bad) // 2
            if (e := fails(mid)) is None:
                good = mid
            else:
                bad, failure = mid, e
        line = lines.pop(bad - 1)
        reason = f"could not be stored: {type(failure).__name__}: {failure}"[:REASON_CHARS]
        out.append(Quarantined(where.file_id, where.path, line.offset, reason, line.raw[:REASON_CHARS]))
    return out
