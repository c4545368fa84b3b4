"""Claude Code session transcripts: `~/.claude/projects/<project>/<session>.jsonl`.

A task is one human prompt and everything until the next human prompt of that
session; subagent lines (inline with `isSidechain`, or in `<session>/subagents/`
files) belong to the task whose prompt precedes them in time. Transcripts carry
no outcome: a task ends `unknown` at the next prompt (or after an idle timeout,
see agentmon.store.batch.CloseIdle), until `agentmon label` says otherwise.

Each line is decoded, in one pass, into structs that name only the fields the metrics
need, so outputs, thinking and file contents are skipped by the decoder, never copied; a
user's text is decoded only to tell a human prompt from the rest.
"""

from __future__ import annotations

import math
import os
from bisect import bisect_right, insort
from collections.abc import Callable
from datetime import datetime
from typing import cast

import msgspec

from agentmon.errors import BadLine
from agentmon.events import (
    TS_BOUNDS,
    TS_MAX,
    ApiError,
    Confirmation,
    Escalation,
    Event,
    HumanIntervention,
    LlmCall,
    Prompt,
    TaskEnd,
    TaskStart,
    Tokens,
    ToolCall,
    Usd,
    range_reason,
    ts_out_of_range,
)
from agentmon.sources import BOM, DEEP, behind_bom

AGENT_PREFIX = "claude-code:"
REJECTIONS = (
    "The user doesn't want to proceed with this tool use",
    "Permission for this tool use was denied",
    "Permission to use",
)
INTERRUPT = "[Request interrupted by user"
NOT_PROMPTS = ("<local-command-stdout>", "<local-command-stderr>", "Caveat:", "<bash-stdout>", "<bash-stderr>")
TOOL_NAMES_KEPT = 50_000


# Tokens and Usd carry the bounds the decoder checks (agentmon.events says why): out of them, quarantined.
class CacheCreation(msgspec.Struct):
    ephemeral_1h_input_tokens: Tokens = 0


class Usage(msgspec.Struct):
    input_tokens: Tokens = 0
    output_tokens: Tokens = 0
    cache_creation_input_tokens: Tokens = 0
    cache_read_input_tokens: Tokens = 0
    cache_creation: CacheCreation | None = None


class Block(msgspec.Struct):
    """A content block: a tool use (assistant), a tool result or a text. Thinking is skipped, and a
    text is decoded only where it may be a human prompt (see _user)."""

    type: str = ""
    id: str | None = None
    name: str | None = None
    text: msgspec.Raw = msgspec.Raw(b"null")
    tool_use_id: str | None = None
    is_error: bool | None = None
    content: msgspec.Raw = msgspec.Raw(b"null")


class _MessageFields(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    usage: Usage | None = None


class Message(_MessageFields):
    # An assistant's blocks decoded loosely are ToolUse, which has every field the assistant path reads.
    content: str | list[Block] = ""


class LooseMessage(_MessageFields):
    content: msgspec.Raw = msgspec.Raw(b'""')


class _LineFields(msgspec.Struct):
    type: str = ""
    subtype: str | None = None
    isApiErrorMessage: bool = False
    timestamp: datetime | None = None
    sessionId: str | None = None
    uuid: str | None = None
    cwd: str | None = None
    isSidechain: bool = False
    isMeta: bool = False
    isCompactSummary: bool = False
    requestId: str | None = None
    costUSD: Usd | None = None


class Line(_LineFields):
    message: Message | None = None


class LooseLine(_LineFields):
    """A line whose content has an unexpected shape: the rest still counts (see _loose)."""

    message: LooseMessage | None = None


class ToolUse(msgspec.Struct):
    """An assistant content block, of which only tool uses matter (text and thinking are skipped)."""

    type: str = ""
    id: str | None = None
    name: str | None = None


class TextBlock(msgspec.Struct):
    type: str = ""
    text: str = ""


_line = msgspec.json.Decoder(Line)
_loose_line = msgspec.json.Decoder(LooseLine)
_blocks = msgspec.json.Decoder(str | list[Block])
_tool_uses = msgspec.json.Decoder(list[ToolUse])
_result_text = msgspec.json.Decoder(str | list[TextBlock] | None)
_text = msgspec.json.Decoder(str | None)


LINE_TYPES = {
    "user",
    "assistant",
    "system",
    "summary",
    "file-history-snapshot",
    "queue-operation",
    "last-prompt",
    "progress",
}  # only user and assistant lines carry anything for the metrics


def looks_like(first_line: bytes) -> bool:
    """Whether a file whose first complete line is this is a Claude Code transcript."""
    try:
        obj = msgspec.json.decode(first_line.removeprefix(BOM))
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return False
    return isinstance(obj, dict) and "event" not in obj and ("sessionId" in obj or obj.get("type") in LINE_TYPES)


class ClaudeCodeSource:
    """Parses transcript lines into events; remembers each session's prompts to attribute lines."""

    def __init__(self, load_prompts: Callable[[str], list[tuple[float, str]]]):
        self.load_prompts = load_prompts  # a session's stored prompts: [(ts, task)], oldest first
        self.sessions: dict[str, list[tuple[float, str]]] = {}
        self.new_prompts: list[Prompt] = []  # to store with the batch
        self.tool_names: dict[str, str] = {}
        self._agents: dict[tuple[str, str | None], str] = {}
        self._last_call: LlmCall | None = None  # the previous line's request, still in this chunk's events
        # Consecutive lines mostly share a file, a directory and a task: the last answers, reused.
        self._agent_key: tuple[str, str | None] | None = None
        self._agent_name = ""
        self._span: tuple[str, float, float, str] | None = None  # (session, from, until, task): see task_at

    def begin_chunk(self) -> None:
        """The events parsed so far are handed over: a repeated line must not change them any more."""
        self._last_call = None

    def reset(self) -> None:
        """Forget what a failed commit may have left half-applied."""
        self.sessions.clear()
        self.new_prompts.clear()
        self._last_call = None
        self._span = None

    def parse(self, raw: bytes, path: str) -> list[Event]:
        try:
            line = _line.decode(raw)  # one pass, content blocks included
        except msgspec.ValidationError:
            line = _loose(raw)
        except (msgspec.DecodeError, UnicodeDecodeError) as e:
            if (behind := behind_bom(raw)) is not None:
                return self.parse(behind, path)
            raise BadLine(f"not JSON: {e}") from None
        except RecursionError:
            raise BadLine(DEEP) from None
        if line.type == "system" and line.subtype == "api_error" and line.sessionId and line.timestamp:
            ts = _seconds(line.timestamp)
            return [ApiError(ts=ts, agent=self.agent(path, line.cwd), task=self.task_at(line.sessionId, ts))]
        if line.type not in ("user", "assistant") or line.message is None or not line.sessionId:
            return []
        if line.timestamp is None:
            raise BadLine("transcript line without a timestamp")
        ts = line.timestamp.timestamp()
        if not 0 <= ts < TS_MAX:  # inline: every line
            _seconds(line.timestamp)
        agent = self.agent(path, line.cwd)
        if line.type == "assistant":
            return self._assistant(line, line.message, line.sessionId, ts, agent)
        return self._user(line, line.message, line.sessionId, ts, agent)

    # --- what a line means ------------------------------------------------------------

    def _assistant(self, line: Line, m: Message, session: str, ts: float, agent: str) -> list[Event]:
        task = self.task_at(session, ts)
        events: list[Event] = []
        if line.isApiErrorMessage:  # written by Claude Code itself when the API failed: no model call
            events.append(ApiError(ts=ts, agent=agent, task=task))
        if m.usage is not None and m.model and m.model != "<synthetic>":
            u = m.usage
            request_id = f"{m.id}/{line.requestId}" if m.id else None
            last = self._last_call
            if (
                request_id is not None
                and last is not None
                and last.request_id == request_id
                and last.task == task
                and last.agent == agent
            ):
                # The next content block of the same streamed message: one request, its largest usage. The
                # store folds repeats across lines, files and batches too; doing it here is just cheaper.
                last.ts = min(last.ts, ts)
                last.input_tokens = max(last.input_tokens, u.input_tokens)
                last.output_tokens = max(last.output_tokens, u.output_tokens)
                last.cache_read_tokens = max(last.cache_read_tokens, u.cache_read_input_tokens)
                last.cache_write_tokens = max(last.cache_write_tokens, u.cache_creation_input_tokens)
                if u.cache_creation:
                    last.cache_write_1h_tokens = max(
                        last.cache_write_1h_tokens, u.cache_creation.ephemeral_1h_input_tokens
                    )
                if line.costUSD is not None:
                    last.cost_usd = max(last.cost_usd or 0.0, line.costUSD)
            else:
                call = self._last_call = LlmCall(
                    ts=ts,
                    agent=agent,
                    task=task,
                    model=m.model,
                    input_tokens=u.input_tokens,
                    output_tokens=u.output_tokens,
                    cache_read_tokens=u.cache_read_input_tokens,
                    cache_write_tokens=u.cache_creation_input_tokens,
                    cache_write_1h_tokens=u.cache_creation.ephemeral_1h_input_tokens if u.cache_creation else 0,
                    cost_usd=line.costUSD,
                    request_id=request_id,
                )
                events.append(call)
        if not isinstance(m.content, str):
            for block in m.content:
                if block.type == "tool_use" and block.id:
                    self._remember_tool(block.id, block.name or "tool")
                    if block.name == "AskUserQuestion":
                        events.append(Escalation(ts=ts, agent=agent, task=task, reason="asked the user a question"))
        return events

    def _user(self, line: Line, m: Message, session: str, ts: float, agent: str) -> list[Event]:
        content = m.content
        if isinstance(content, str):
            text = content.lstrip()
        else:
            results = [b for b in content if b.type == "tool_result"]
            if results:
                task = self.task_at(session, ts)
                return [e for b in results for e in self._tool_result(b, ts, agent, task)]
            first = next((b for b in content if b.type == "text"), None)
            text = _decoded(first.text, _text).lstrip() if first is not None else ""
        if text.startswith(INTERRUPT):
            return [HumanIntervention(ts=ts, agent=agent, task=self.task_at(session, ts), kind="interrupt")]
        if line.isSidechain or line.isMeta or line.isCompactSummary or not text or text.startswith(NOT_PROMPTS):
            return []
        return self._prompt(session, ts, _named(line.uuid) or f"{session}@{ts}", agent)

    def _prompt(self, session: str, ts: float, task: str, agent: str) -> list[Event]:
        """A human prompt starts a task and ends the one before it, unlabeled."""
        prompts = self._prompts(session)
        i = bisect_right(prompts, (ts, task))
        if i and prompts[i - 1] == (ts, task):
            return []  # seen before
        insort(prompts, (ts, task))
        self._span = None
        self.new_prompts.append(Prompt(session, ts, task))
        events: list[Event] = [TaskStart(ts=ts, agent=agent, task=task)]
        if i:
            events.append(TaskEnd(ts=ts, agent=agent, task=prompts[i - 1][1], outcome="unknown", reason="next prompt"))
        if i + 1 < len(prompts):  # a later prompt is already known: it ends this one
            events.append(
                TaskEnd(ts=prompts[i + 1][0], agent=agent, task=task, outcome="unknown", reason="next prompt")
            )
        return events

    def _tool_result(self, block: Block, ts: float, agent: str, task: str) -> list[Event]:
        tool = self.tool_names.get(block.tool_use_id or "", "tool")
        if not block.is_error:
            return [ToolCall(ts=ts, agent=agent, task=task, tool=tool, ok=True)]
        text = _result(block.content)
        if text.startswith(REJECTIONS) or "has been denied" in text[:200]:
            return [
                ToolCall(ts=ts, agent=agent, task=task, tool=tool, ok=True),
                Confirmation(ts=ts, agent=agent, task=task, approved=False, action=tool),
            ]
        if text.startswith(INTERRUPT):
            return [
                ToolCall(ts=ts, agent=agent, task=task, tool=tool, ok=True),
                HumanIntervention(ts=ts, agent=agent, task=task, kind="interrupt"),
            ]
        return [ToolCall(ts=ts, agent=agent, task=task, tool=tool, ok=False, error=text[:200])]

    # --- attribution ----------------------------------------------------------------------

    def _prompts(self, session: str) -> list[tuple[float, str]]:
        prompts = self.sessions.get(session)
        if prompts is None:
            prompts = self.sessions[session] = sorted(self.load_prompts(session))
        return prompts

    def task_at(self, session: str, ts: float) -> str:
        """The task of the latest prompt at or before `ts`; lines before any prompt form their own."""
        span = self._span
        if span is not None and span[0] == session and span[1] <= ts < span[2]:
            return span[3]  # between the same two prompts as the line before
        prompts = self._prompts(session)
        i = bisect_right(prompts, (ts, "\uffff"))
        task = prompts[i - 1][1] if i else f"{session}:before-first-prompt"
        self._span = (
            session,
            prompts[i - 1][0] if i else -math.inf,
            prompts[i][0] if i < len(prompts) else math.inf,
            task,
        )
        return task

    def _remember_tool(self, tool_use_id: str, name: str) -> None:
        if len(self.tool_names) >= TOOL_NAMES_KEPT:
            self.tool_names.clear()
        self.tool_names[tool_use_id] = name

    def agent(self, path: str, cwd: str | None) -> str:
        """`claude-code:<project>`: the project's working directory when the encoded name matches it."""
        key = (path, cwd)
        if key == self._agent_key:
            return self._agent_name
        name = self._agents.get(key)
        if name is None:
            project = project_dir_name(path)
            if cwd and _encode(cwd) == project:
                project = cwd
            name = self._agents[key] = AGENT_PREFIX + project
        self._agent_key, self._agent_name = key, name
        return name


def _named(name: str | None) -> str | None:
    """A name, or None when it is blank: a task is never named by whitespace."""
    return None if name is None or name.isspace() else name


def _seconds(timestamp: datetime) -> float:
    """Unix seconds, in the bounds every source shares (agentmon.events)."""
    ts = timestamp.timestamp()
    if ts_out_of_range(ts):
        raise BadLine(f"out of range at $.timestamp: {timestamp.isoformat()} is not in {TS_BOUNDS} Unix seconds")
    return ts


def project_dir_name(path: str) -> str:
    """The directory under `projects/` (or, elsewhere, the transcript's own directory)."""
    parts = os.path.normpath(path).split(os.sep)
    if "projects" in parts[:-1]:
        i = len(parts) - 1 - parts[::-1].index("projects")
        if i + 1 < len(parts) - 1:
            return parts[i + 1]
    parent = parts[-2] if len(parts) > 1 else ""
    if parent == "subagents" and len(parts) > 3:
        return parts[-4]
    return parent


def _encode(cwd: str) -> str:
    """Claude Code names a project's directory by its path with every other character made '-'."""
    return "".join(c if c.isalnum() or c == "-" else "-" for c in cwd)


def _loose(raw: bytes) -> Line:
    """A line that did not fit `Line`: if only its message content has an unexpected shape, keep
    the blocks that fit (none, if none does) rather than lose the line's tokens and its time."""
    try:
        loose = _loose_line.decode(raw)
    except RecursionError:
        raise BadLine(DEEP) from None
    except msgspec.ValidationError as e:
        raise BadLine(range_reason(str(e)) or f"not a Claude Code transcript line: {e}") from None
    message = None
    if (m := loose.message) is not None:
        decoder = _tool_uses if loose.type == "assistant" else _blocks
        try:
            content = decoder.decode(m.content)
        except (msgspec.ValidationError, RecursionError):  # deeper than the stack left here: no blocks
            content = []
        message = Message(id=m.id, model=m.model, content=cast(list[Block], content), usage=m.usage)
    fields = {name: getattr(loose, name) for name in _LineFields.__struct_fields__}
    return Line(**fields, message=message)


def _decoded(raw: msgspec.Raw, decoder: msgspec.json.Decoder):
    try:
        return decoder.decode(raw) or ""
    except (msgspec.ValidationError, RecursionError):  # a block nested deeper than the stack left here
        return ""


def _result(raw: msgspec.Raw) -> str:
    value = _decoded(raw, _result_text)
    if isinstance(value, list):
        return " ".join(b.text for b in value if b.type == "text")
    return value
