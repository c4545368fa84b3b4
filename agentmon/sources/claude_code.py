"""Claude Code session transcripts: `~/.claude/projects/<project>/<session>.jsonl`.

The agent is the project (the folder under `projects/`), whatever directories a session visits. A task
is what a person asked for: a human prompt and everything until the next one of that session. Not
prompts: local slash commands and their output, task notifications, interrupt markers, compaction
summaries, meta lines, and an answer to the assistant's question (it continues the task). Subagent
lines (inline with `isSidechain`, or in `<session>/subagents/` files) belong to the task that launched
them: by the Task result's `toolUseResult.agentId` when it was read first, else by time. Warmup
subagents add nothing. Transcripts carry no outcome: a task ends `unknown` at the next prompt (or
after an idle timeout, see agentmon.store.batch.CloseIdle), until `agentmon label` says otherwise.
docs/claude-code.md lists every rule with the line shape that triggers it.

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
from itertools import islice
from typing import cast

import msgspec

from agentmon.errors import BadLine
from agentmon.events import (
    ASKED,
    BEFORE_FIRST_PROMPT,
    CHAIN,
    ESC,
    LAST_PROMPT,
    LAUNCH,
    RETRYING,
    TOOL,
    TS_BOUNDS,
    TS_MAX,
    WATCH,
    ApiError,
    Confirmation,
    Escalation,
    Event,
    Held,
    HumanIntervention,
    LlmCall,
    PermissionDenial,
    Prompt,
    SessionFact,
    TaskEnd,
    TaskStart,
    Tokens,
    ToolCall,
    Usd,
    range_reason,
    ts_out_of_range,
)
from agentmon.events import COMMAND as COMMAND_FACT
from agentmon.events import WARMUP as WARMUP_FACT
from agentmon.sources import BOM, DEEP, behind_bom
from agentmon.sources.claude_code_evidence import COMMAND_TOOLS, TODO_TOOLS, EvidenceTracker

AGENT_PREFIX = "claude-code:"
EVIDENCE_FACTS = (WATCH, LAST_PROMPT)  # the evidence's own, given back to it (EvidenceTracker.restore)
# A person said no (at a permission prompt, or Esc on it): a rejected confirmation.
REJECTIONS = (
    "The user doesn't want to proceed with this tool use",
    "The user doesn't want to take this action right now",
    "Permission for this tool use was denied. The tool use was rejected",
)
# The agent's own permission rules refused, asking no one: a permission denial.
DENIALS = ("This command requires approval", "Claude requested permissions to", "Permission to use ")
DENIED_WITHIN = ("requires approval", "has been denied", "haven't granted it yet")  # in a result's first 200 chars
INTERRUPT = "[Request interrupted by user"
COMMAND = ("<command-name>", "<command-message>")
# Not prompts, and they end nothing: command output, bash mode, notifications Claude Code injects.
NOT_PROMPTS = (
    "<local-command-stdout>",
    "<local-command-stderr>",
    "<local-command-caveat>",
    "Caveat:",
    "<bash-input>",
    "<bash-stdout>",
    "<bash-stderr>",
    "<task-notification>",
    "<system-reminder>",
    "<user-prompt-submit-hook>",
)
# Built-in slash commands that never ask the model for work. Any other command is a prompt once the model
# answers it (an assistant line, or an API error while calling the model); see _user.
LOCAL_COMMANDS = frozenset(
    {
        "add-dir",
        "agents",
        "bashes",
        "bug",
        "clear",
        "compact",
        "config",
        "context",
        "cost",
        "doctor",
        "exit",
        "export",
        "extra-usage",
        "fast",
        "feedback",
        "help",
        "hooks",
        "ide",
        "install-github-app",
        "login",
        "logout",
        "mcp",
        "memory",
        "migrate-installer",
        "model",
        "output-style",
        "permissions",
        "plugin",
        "privacy-settings",
        "quit",
        "release-notes",
        "resume",
        "rewind",
        "sandbox",
        "stats",
        "status",
        "statusline",
        "stickers",
        "tasks",
        "terminal-setup",
        "theme",
        "todos",
        "upgrade",
        "usage",
        "vim",
    }
)
LAUNCHERS = ("Task", "Agent")  # tools whose result names the subagent they launched (toolUseResult.agentId)
QUOTE, QUESTION = ord('"'), ord("?")
MAYBE_LAST = frozenset(b" ntrf\x9f")  # last bytes of a blank, an escape, or a full-width question mark
WARMUP = "Warmup"  # a subagent Claude Code starts to warm its cache: no task, nothing counted
MAIN = "-"  # the main conversation, in an ESC fact's key (a subagent's is its id)
EVIDENCE_TOOLS = COMMAND_TOOLS | TODO_TOOLS  # tool uses whose input says something of the task (docs/success.md)
TOOL_NAMES_KEPT = 50_000


# Tokens and Usd carry the bounds the decoder checks (agentmon.events says why): out of them, quarantined.
# Every struct decoded here is gc=False: decoded JSON holds no reference cycles, and leaving a line's few
# structs untracked by the cycle collector makes decoding about 5% faster.
class CacheCreation(msgspec.Struct, gc=False):
    ephemeral_1h_input_tokens: Tokens = 0


class Usage(msgspec.Struct, gc=False):
    input_tokens: Tokens = 0
    output_tokens: Tokens = 0
    cache_creation_input_tokens: Tokens = 0
    cache_read_input_tokens: Tokens = 0
    cache_creation: CacheCreation | None = None


class Block(msgspec.Struct, gc=False):
    """A content block: a tool use (assistant), a tool result or a text. Thinking is skipped, and a
    text is decoded only where it may be a human prompt (see _user)."""

    type: str = ""
    id: str | None = None
    name: str | None = None
    text: msgspec.Raw = msgspec.Raw(b"null")
    tool_use_id: str | None = None
    is_error: bool | None = None
    content: msgspec.Raw = msgspec.Raw(b"null")
    input: msgspec.Raw = msgspec.Raw(b"null")  # a tool use's, read for the few tools EVIDENCE_TOOLS names


class _MessageFields(msgspec.Struct, gc=False):
    id: str | None = None
    model: str | None = None
    usage: Usage | None = None


class Message(_MessageFields):
    # An assistant's blocks decoded loosely are ToolUse, which has every field the assistant path reads.
    content: str | list[Block] = ""


class LooseMessage(_MessageFields):
    content: msgspec.Raw = msgspec.Raw(b'""')


class PermissionDecision(msgspec.Struct, gc=False):
    """How a tool call was allowed or refused: `decision` accept/reject, by `source` (`config`, `hook`: the
    rules; `user_*`: a person)."""

    decision: str = ""
    source: str = ""


class _LineFields(msgspec.Struct, gc=False):
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
    agentId: str | None = None  # a subagent's lines carry its id
    permissionDecision: PermissionDecision | None = None  # on a tool result, since 2.1.3xx: who allowed or denied it


class Line(_LineFields):
    message: Message | None = None


class LooseLine(_LineFields):
    """A line whose content has an unexpected shape: the rest still counts (see _loose)."""

    message: LooseMessage | None = None


class Chain(msgspec.Struct, gc=False):
    """An inline sidechain line's link to the line before it in its subagent's conversation."""

    parentUuid: str | None = None


_chain = msgspec.json.Decoder(Chain)


class ToolUse(msgspec.Struct, gc=False):
    """An assistant content block, read loosely: a tool use, or a text (whether it asks, see _asks; raw, as
    in Block). Thinking is skipped."""

    type: str = ""
    id: str | None = None
    name: str | None = None
    text: msgspec.Raw = msgspec.Raw(b"null")
    input: msgspec.Raw = msgspec.Raw(b"null")


class TextBlock(msgspec.Struct, gc=False):
    type: str = ""
    text: str = ""


class Launched(msgspec.Struct, gc=False):
    agentId: str | None = None


class LaunchLine(msgspec.Struct, gc=False):
    """A launcher's result line, decoded again (they are few) for the subagent it started."""

    toolUseResult: Launched | str | list | None = None


_line = msgspec.json.Decoder(Line)
_loose_line = msgspec.json.Decoder(LooseLine)
_blocks = msgspec.json.Decoder(str | list[Block])
_tool_uses = msgspec.json.Decoder(list[ToolUse])
_result_text = msgspec.json.Decoder(str | list[TextBlock] | None)
_text = msgspec.json.Decoder(str | None)
_launch_line = msgspec.json.Decoder(LaunchLine)


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


def _nothing_stored(session: str) -> list[tuple[str, str, str | None, float]]:
    return []


class ClaudeCodeSource:
    """Parses transcript lines into events; remembers each session's prompts to attribute lines."""

    def __init__(
        self,
        load_prompts: Callable[[str], list[tuple[float, str]]],
        load_state: Callable[[str], list[tuple[str, str, str | None, float]]] = _nothing_stored,
    ):
        self.load_prompts = load_prompts  # a session's stored prompts: [(ts, task)], oldest first
        self.load_state = load_state  # its stored SessionFacts: [(kind, key, value, ts)]
        self.sessions: dict[str, list[tuple[float, str]]] = {}  # the sessions loaded: their prompts
        self.new_prompts: list[Prompt] = []  # to store with the batch
        self.new_facts: list[SessionFact] = []  # likewise (take_facts)
        self.new_held: list[Held] = []  # likewise: events of subagent lines whose launch is not known yet
        self.tool_names: dict[str, str] = {}
        # Calls with no result read yet: tool_use id -> (session, name, ts). Those still open at a chunk's end are
        # stored (a TOOL fact, `_open_stored`) for a result read after a restart to know its tool.
        self._open: dict[str, tuple[str, str, float]] = {}
        self._open_stored: set[str] = set()
        self._projects: dict[str, str] = {}  # project folder -> agent, decided once
        self._agents: dict[str, str] = {}  # file -> agent
        self._last_call: LlmCall | None = None  # the previous line's request, still in this chunk's events
        # Consecutive lines mostly share a file and a task: the last answers, reused.
        self._agent_path: str | None = None
        self._agent_name = ""
        self._span: tuple[str, float, float, str] | None = None  # (session, from, until, task): see task_at
        # Per-session state of the main conversation, kept only while it matters (mostly empty):
        self._commands: dict[str, tuple[float, str, str]] = {}  # a slash command waiting for the model
        # The last text or tool use of the assistant (did it ask?); True: it asked, as a stored fact says.
        self._said: dict[str, Block | bool] = {}
        self._said_changed: dict[str, float] = {}  # sessions whose _said changed since take_facts: when
        self._holding: tuple[str, str] | None = None  # (subagent, task) of this line, when its launch is unknown
        self._retrying: dict[str, ApiError] = {}  # api_error retries with no answer yet: the request, if it gave up
        self._esc: set[tuple[str, str | None]] = set()  # a rejected or interrupted tool result: its Esc is counted
        self._launched: dict[str, str] = {}  # subagent id -> the task whose Task call launched it
        self._warmups: set[str] = set()  # subagents (ids, or files) that only warm a cache
        self._from_start: dict[str, bool] = {}  # file -> read from its first byte in this run
        self._subagent: str | None = None  # the subagent whose line this is (None: the main conversation's)
        self._chains: dict[str, str] = {}  # an inline sidechain line's uuid -> its subagent (old layout)
        # how each task went (agentmon.sources.claude_code_evidence); what it must remember is stored as our facts are
        self.evidence = EvidenceTracker(_said_ending, lambda fact: self.new_facts.append(fact))
        self._watched = self.evidence.watched  # tool uses whose result the evidence needs
        self._endings = self.evidence.endings

    def begin_chunk(self, path: str | None = None, start: int = 0) -> None:
        """The events parsed so far are handed over: a repeated line must not change them any more.
        `path` and `start`: the file and offset the chunk is read from, to know whether this run saw
        every tool use of the file (a result whose call it did not see then counts the call)."""
        self._last_call = None
        self._holding = None
        if path is not None and path not in self._from_start:
            self._from_start[path] = start == 0

    def reset(self) -> None:
        """Forget what a failed commit may have left half-applied: each session's state is loaded again
        from the store, as the last commit left it."""
        self.sessions.clear()
        self.new_prompts.clear()
        self.new_facts.clear()
        self.new_held.clear()
        self._last_call = None
        self._span = None
        self._holding = None
        self._commands.clear()
        self._said.clear()
        self._said_changed.clear()
        self._launched.clear()
        self._warmups.clear()
        self._retrying.clear()
        self._esc.clear()
        self._open.clear()  # the failed batch's facts are gone: its lines, read again, open their calls again
        self._open_stored.clear()
        self.evidence.reset()

    def take_facts(self) -> list[SessionFact]:
        """The state changes since the last call, to store with the batch of the lines that made them."""
        if self._said_changed:
            for session, ts in self._said_changed.items():
                said = self._said.get(session)
                self.new_facts.append(
                    SessionFact(session, ASKED, "", "1" if said is not None and _asked(said) else None, ts)
                )
            self._said_changed.clear()
        facts, self.new_facts = self.new_facts, []
        return facts

    def take_held(self) -> list[Held]:
        held, self.new_held = self.new_held, []
        return held

    def end_chunk(self) -> list[Event]:
        """The evidence kept back while the chunk was read (how each session's last turn ended so far); the calls
        still waiting for their result, stored."""
        if len(self._open) > len(self._open_stored):
            for call, (session, name, ts) in self._open.items():
                if call not in self._open_stored:
                    self._open_stored.add(call)
                    self.new_facts.append(SessionFact(session, TOOL, call, name, ts))
        return self.evidence.flush()  # type: ignore[return-value]  # TaskEvidence is an Event

    def _answered(self, call: str) -> None:
        """A call's result was read: no longer open (nor stored as open)."""
        opened = self._open.pop(call, None)
        if opened is not None and call in self._open_stored:
            self._open_stored.discard(call)
            self.new_facts.append(SessionFact(opened[0], TOOL, call, None, opened[2]))

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
        kind = line.type
        if kind == "assistant" or kind == "user":
            m, session = line.message, line.sessionId
            if m is None or not session:
                return []
            stamp = line.timestamp
            if stamp is None:
                raise BadLine("transcript line without a timestamp")
            ts = stamp.timestamp()
            if not 0 <= ts < TS_MAX:  # inline: every line
                _seconds(stamp)
            if line.isSidechain:
                if session not in self.sessions:
                    self._load(session)  # a warmup or a launch may be stored
                if self._warmups and _subagent(line, path) in self._warmups:
                    return []
            self._subagent = self._subagent_of(line, path, raw, ts) if line.isSidechain else None
            agent = self._agent_name if path == self._agent_path else self.agent(path, line.cwd)
            if kind == "assistant":
                events = self._assistant(line, m, session, ts, agent)
            else:
                content = m.content
                if content.__class__ is list and content and (first := content[0]).type == "tool_result":
                    # Most user lines: one result of a call counted at its tool_use (see _results), nothing else.
                    if (
                        len(content) == 1
                        and not first.is_error
                        and (tool := self.tool_names.get(first.tool_use_id or "")) is not None
                        and tool not in LAUNCHERS
                        and session in self.sessions  # else its stored facts first (after a reset): _results
                    ):
                        self._answered(first.tool_use_id)  # type: ignore[arg-type]  # named: not None
                        if first.tool_use_id in self._watched:  # a check's or a commit's result
                            self.evidence.result(first.tool_use_id, ts, agent, False, lambda: _result(first.content))
                        return []
                    events = self._results(line, content, session, ts, agent, path, raw)
                else:
                    events = self._user(line, m, session, ts, agent, path, raw)
            return events if self._holding is None else self._hold(events, session)
        if kind == "system" and line.subtype == "api_error" and line.sessionId and line.timestamp:
            events = self._retry(line, line.sessionId, _seconds(line.timestamp), path)
            return events if self._holding is None else self._hold(events, line.sessionId)
        return []

    def _hold(self, events: list[Event], session: str) -> list[Event]:
        """A subagent's line whose launch is not known: its events go to the store apart (see Held)."""
        subagent, task = cast(tuple[str, str], self._holding)
        self._holding = None
        kept: list[Event] = []
        for ev in events:
            if cast(TaskStart, ev).task == task:  # every event this parser makes names its task
                self.new_held.append(Held(session, subagent, ev))
            else:
                kept.append(ev)
        return kept

    # --- what a line means ------------------------------------------------------------

    def _assistant(self, line: Line, m: Message, session: str, ts: float, agent: str) -> list[Event]:
        events: list[Event] = []
        main = not line.isSidechain
        if main:
            if session not in self.sessions:
                self._load(session)  # a command or a question may be stored
            if self._commands and (command := self._drop_command(session)) is not None:
                events += self._prompt(session, *command)  # the model answers a slash command: it was a prompt
            if self._retrying:
                self._gave_up(session)  # answered (or failed for good, below): no longer retrying
        if self._esc:
            self._drop_esc((session, None if main else line.agentId), ts)
        span = self._span  # _task, inline: most lines are between the same two prompts as the line before
        if span is not None and span[0] == session and span[1] <= ts < span[2] and line.agentId is None:
            task = span[3]
        else:
            task = self._task(line, session, ts)
        if line.isApiErrorMessage:  # written by Claude Code itself when a request failed: no model call
            events.append(ApiError(ts=ts, agent=agent, task=task))
        u, model = m.usage, m.model
        if u is not None and model and model != "<synthetic>":
            # The API's request id (`req_…`), as Claude Code's OpenTelemetry api_request event carries it too: a
            # request logged by both counts once (agentmon.store.llm_requests); older lines without one, the message.
            request_id = line.requestId or m.id
            last = self._last_call
            if (
                last is not None
                and request_id is not None
                and last.request_id == request_id
                and last.task == task
                and last.agent == agent
            ):
                # The next content block of the same streamed message: one request, its largest usage. The
                # store folds repeats across lines, files and batches too; doing it here is just cheaper.
                # (Comparisons, not min/max: the same values, without a call per field on every line.)
                if ts < last.ts:  # type: ignore[operator]  # a float: this parser set it
                    last.ts = ts
                if u.input_tokens > last.input_tokens:
                    last.input_tokens = u.input_tokens
                if u.output_tokens > last.output_tokens:
                    last.output_tokens = u.output_tokens
                if u.cache_read_input_tokens > last.cache_read_tokens:
                    last.cache_read_tokens = u.cache_read_input_tokens
                if u.cache_creation_input_tokens > last.cache_write_tokens:
                    last.cache_write_tokens = u.cache_creation_input_tokens
                if (c := u.cache_creation) is not None and c.ephemeral_1h_input_tokens > last.cache_write_1h_tokens:
                    last.cache_write_1h_tokens = c.ephemeral_1h_input_tokens
                if line.costUSD is not None:
                    last.cost_usd = max(last.cost_usd or 0.0, line.costUSD)
            else:
                c = u.cache_creation
                call = self._last_call = LlmCall(
                    ts=ts,
                    agent=agent,
                    task=task,
                    model=model,
                    input_tokens=u.input_tokens,
                    output_tokens=u.output_tokens,
                    cache_read_tokens=u.cache_read_input_tokens,
                    cache_write_tokens=u.cache_creation_input_tokens,
                    cache_write_1h_tokens=c.ephemeral_1h_input_tokens if c is not None else 0,
                    cost_usd=line.costUSD,
                    request_id=request_id,
                    subagent=self._subagent,
                )
                events.append(call)
        content = m.content
        if not isinstance(content, str):
            said: Block | None = None  # the line's last text or tool use: whether it asks, decided at a prompt
            for block in content:
                kind = block.type
                if kind == "tool_use" and block.id:
                    name = block.name or "tool"
                    tool_names = self.tool_names
                    if len(tool_names) >= TOOL_NAMES_KEPT:
                        self._remember(tool_names, block.id, name)
                    else:
                        tool_names[block.id] = name
                    if len(self._open) >= TOOL_NAMES_KEPT:  # calls never answered (a session cut short): the older go
                        for old in list(islice(self._open, TOOL_NAMES_KEPT // 2)):
                            del self._open[old]
                            self._open_stored.discard(old)
                    self._open[block.id] = (session, name, ts)
                    events.append(ToolCall(ts=ts, agent=agent, task=task, tool=name, ok=True))
                    if name in EVIDENCE_TOOLS:
                        self.evidence.tool_use(block.id, name, block.input, ts, task, agent, main, session)
                    if name == "AskUserQuestion":
                        events.append(Escalation(ts=ts, agent=agent, task=task, reason="asked the user a question"))
                    said = block
                elif kind == "text":
                    said = block
            if said is not None and main:
                self._said[session] = said
                self._said_changed[session] = ts
                self._endings[session] = (ts, task, agent, "api_failed" if line.isApiErrorMessage else said)
        return events

    def _user(self, line: Line, m: Message, session: str, ts: float, agent: str, path: str, raw: bytes) -> list[Event]:
        content = m.content
        if isinstance(content, str):
            text = content.lstrip()
        else:
            for block in content:
                if block.type == "tool_result":
                    return self._results(line, content, session, ts, agent, path, raw)
            first = next((b for b in content if b.type == "text"), None)
            text = _decoded(first.text, _text).lstrip() if first is not None else ""
        main = not line.isSidechain
        if main and session not in self.sessions:
            self._load(session)  # a command, a question, retries or an Esc may be stored
        if text.startswith(INTERRUPT):
            events = self._gave_up(session) if main and self._retrying else []
            esc = (session, None if main else line.agentId)
            task = self._task(line, session, ts)
            if main:
                self.evidence.ended(session, ts, task, agent, "interrupted")
            if esc in self._esc:  # the marker Claude Code writes after the tool result that took the Esc
                self._drop_esc(esc, ts)
            else:
                events.append(HumanIntervention(ts=ts, agent=agent, task=task, kind="interrupt"))
            return events
        if not main:
            if text.rstrip() == WARMUP and (key := _subagent(line, path)) is not None:
                self._warmups.add(key)
                self.new_facts.append(SessionFact(session, WARMUP_FACT, key, "1", ts))
            return []  # a subagent's prompt is its launcher's
        if line.isMeta or line.isCompactSummary or not text:
            return []
        if text.startswith(NOT_PROMPTS):
            if self._commands:
                self._drop_command(session)  # a command's own output: it was local
            return []
        task = _named(line.uuid) or f"{session}@{ts}"
        if text.startswith(COMMAND):
            if self._said.pop(session, None) is not None:
                self._said_changed[session] = ts
            if _command_name(text) in LOCAL_COMMANDS:
                self._drop_command(session)
            else:
                self._commands[session] = (ts, task, agent)  # a prompt once the model answers it
                self.new_facts.append(SessionFact(session, COMMAND_FACT, agent, task, ts))
            return []
        if (said := self._said.get(session)) is not None and _asked(said):
            # an answer to the assistant's question: the same task goes on until it speaks again
            self.evidence.answer(ts, self._task(line, session, ts), agent)
            return []
        self._drop_command(session)
        events = self._gave_up(session) if self._retrying else []
        return events + self._prompt(session, ts, task, agent, text)

    def _prompt(self, session: str, ts: float, task: str, agent: str, text: str | None = None) -> list[Event]:
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
        else:  # the session's newest prompt: how it relates to the task before (docs/success.md)
            self.evidence.prompt(session, ts, task, agent, prompts[i - 1][1] if i else None, text)
        return events

    def _results(
        self, line: Line, content: list[Block], session: str, ts: float, agent: str, path: str, raw: bytes
    ) -> list[Event]:
        """The line's tool results (its other blocks say nothing)."""
        events: list[Event] = []
        names = self.tool_names
        task: str | None = None  # looked up only for a result that says something (most say nothing)
        for block in content:
            if block.type != "tool_result":
                continue
            call = block.tool_use_id or ""
            if session not in self.sessions:
                # its call, read before a restart or a failed commit, may be stored as open, or watched
                self._load(session)
            tool = names.get(call)
            self._answered(call)
            if (
                tool is not None
                and not block.is_error
                and tool not in LAUNCHERS
                and block.tool_use_id not in self._watched
            ):
                continue  # most results: a call counted at its tool_use, and done
            if task is None:
                task = self._task(line, session, ts)
            if tool in LAUNCHERS or (tool is None and b'"agentId"' in raw):  # its call read before a restart
                self._launch(raw, task, session, ts)
            esc = (session, line.agentId if line.isSidechain else None)
            by_rules = None if (d := line.permissionDecision) is None else _refused_by_rules(d)
            events += self._tool_result(block, tool, ts, agent, task, esc, self._from_start.get(path, False), by_rules)
        return events

    def _launch(self, raw: bytes, task: str, session: str, ts: float) -> None:
        """A Task (Agent) result: the subagent it names (`toolUseResult.agentId`) works for `task`."""
        try:
            result = _launch_line.decode(raw).toolUseResult
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
            return
        if isinstance(result, Launched) and result.agentId:
            self._remember(self._launched, result.agentId, task)
            self.new_facts.append(SessionFact(session, LAUNCH, result.agentId, task, ts))

    def _tool_result(
        self,
        block: Block,
        tool: str | None,
        ts: float,
        agent: str,
        task: str,
        esc: tuple[str, str | None],
        from_start: bool,
        by_rules: bool | None = None,
    ) -> list[Event]:
        """A call is counted at its tool_use; its result adds a failure or a signal. A result whose
        tool_use this run never saw, in a file it read from the start (a lost line), counts the call too.
        `by_rules`: what the line's permissionDecision says (refused by the rules or not); None: it has none,
        and the result's words decide."""
        if tool == "AskUserQuestion":
            if block.is_error:
                self._add_esc(esc, ts)  # dismissed with Esc: its marker is no second intervention
            return []  # the answer, whatever it says, is part of the escalation
        call = tool is None and from_start
        name = tool or "tool"
        if not block.is_error:
            if block.tool_use_id in self._watched:  # a check's or a commit's result
                self.evidence.result(block.tool_use_id, ts, agent, False, lambda: _result(block.content))
            return [ToolCall(ts=ts, agent=agent, task=task, tool=name, ok=True)] if call else []
        text = _result(block.content)
        signal: Event
        if text.startswith(INTERRUPT):
            signal = HumanIntervention(ts=ts, agent=agent, task=task, kind="interrupt")
            self._add_esc(esc, ts)
            if esc[1] is None:
                self.evidence.ended(esc[0], ts, task, agent, "interrupted")
        elif by_rules if by_rules is not None else _denied(text):
            signal = PermissionDenial(ts=ts, agent=agent, task=task, tool=name)
            self.evidence.error(block.tool_use_id, ts, agent)
        elif text.startswith(REJECTIONS):
            signal = Confirmation(ts=ts, agent=agent, task=task, approved=False, action=name)
            self._add_esc(esc, ts)
            if esc[1] is None:
                self.evidence.ended(esc[0], ts, task, agent, "rejected")
        else:
            self.evidence.error(block.tool_use_id, ts, agent)
            return [ToolCall(ts=ts, agent=agent, task=task, tool=name, ok=False, error=text[:200], call=call)]
        return [ToolCall(ts=ts, agent=agent, task=task, tool=name, ok=True), signal] if call else [signal]

    def _retry(self, line: Line, session: str, ts: float, path: str) -> list[Event]:
        """A `system` api_error line: a request failed and Claude Code retries it."""
        events: list[Event] = []
        main = not line.isSidechain
        if main and session not in self.sessions:
            self._load(session)
        if main and self._commands and (command := self._drop_command(session)) is not None:
            events += self._prompt(session, *command)  # the model was called for it, and failed
        agent = self.agent(path, line.cwd)
        task = self._task(line, session, ts)
        events.append(ApiError(ts=ts, agent=agent, task=task, retry=True))
        if main:  # until an answer comes: a person giving up on it leaves one failed request
            self._retrying[session] = ApiError(ts=ts, agent=agent, task=task)
            self.new_facts.append(SessionFact(session, RETRYING, agent, task, ts))
        return events

    def _gave_up(self, session: str) -> list[Event]:
        """The prompt or Esc that ends a run of retries no answer ended: the request failed."""
        failed = self._retrying.pop(session, None)
        if failed is None:
            return []
        self.new_facts.append(SessionFact(session, RETRYING, "", None, cast(float, failed.ts)))
        self.evidence.ended(session, failed.ts, failed.task, failed.agent, "api_failed")  # type: ignore[arg-type]
        return [failed]

    # --- attribution ----------------------------------------------------------------------

    def _prompts(self, session: str) -> list[tuple[float, str]]:
        prompts = self.sessions.get(session)
        if prompts is None:
            prompts = self._load(session)
        return prompts

    def _load(self, session: str) -> list[tuple[float, str]]:
        """A session's stored prompts and state, once per run (and after a reset): what this run learns
        about it later stays in memory, and is newer."""
        prompts = self.sessions[session] = sorted(self.load_prompts(session))
        for kind, key, value, ts in self.load_state(session):
            if kind == LAUNCH and value is not None:
                self._launched.setdefault(key, value)
            elif kind == WARMUP_FACT:
                self._warmups.add(key)
            elif kind == COMMAND_FACT and value is not None:
                self._commands.setdefault(session, (ts, value, key))
            elif kind == ASKED:
                self._said.setdefault(session, True)
            elif kind == RETRYING and value is not None:
                self._retrying.setdefault(session, ApiError(ts=ts, agent=key, task=value))
            elif kind == ESC:
                self._esc.add((session, None if key == MAIN else key))
            elif kind == CHAIN and value is not None:
                self._chains.setdefault(key, value)
            elif kind == TOOL and value is not None:
                self.tool_names.setdefault(key, value)
                self._open.setdefault(key, (session, value, ts))
                self._open_stored.add(key)
            elif kind in EVIDENCE_FACTS and value is not None:
                self.evidence.restore(session, kind, key, value, ts)
        return prompts

    def _add_esc(self, esc: tuple[str, str | None], ts: float) -> None:
        self._esc.add(esc)
        self.new_facts.append(SessionFact(esc[0], ESC, esc[1] or MAIN, "1", ts))

    def _drop_esc(self, esc: tuple[str, str | None], ts: float) -> None:
        if esc in self._esc:
            self._esc.discard(esc)
            self.new_facts.append(SessionFact(esc[0], ESC, esc[1] or MAIN, None, ts))

    def _drop_command(self, session: str) -> tuple[float, str, str] | None:
        """The session's command waiting for the model, no longer waiting."""
        command = self._commands.pop(session, None)
        if command is not None:
            self.new_facts.append(SessionFact(session, COMMAND_FACT, "", None, command[0]))
        return command

    def _task(self, line: Line, session: str, ts: float) -> str:
        """A subagent's line belongs to the task that launched it, when its launch was read; else by time,
        held apart (see Held) until the launch is read."""
        if (subagent := line.agentId) is not None:
            if session not in self.sessions:
                self._load(session)
            if (task := self._launched.get(subagent)) is not None:
                return task
            task = self.task_at(session, ts)
            if line.isSidechain:  # (a main line that names an agent is no subagent's)
                self._holding = (subagent, task)
            return task
        span = self._span  # task_at's first step, inline: most lines are between the same prompts as the last
        if span is not None and span[0] == session and span[1] <= ts < span[2]:
            return span[3]
        return self.task_at(session, ts)

    def task_at(self, session: str, ts: float) -> str:
        """The task of the latest prompt at or before `ts`; lines before any prompt form their own."""
        span = self._span
        if span is not None and span[0] == session and span[1] <= ts < span[2]:
            return span[3]  # between the same two prompts as the line before
        prompts = self._prompts(session)
        i = bisect_right(prompts, (ts, "\uffff"))
        task = prompts[i - 1][1] if i else session + BEFORE_FIRST_PROMPT
        self._span = (
            session,
            prompts[i - 1][0] if i else -math.inf,
            prompts[i][0] if i < len(prompts) else math.inf,
            task,
        )
        return task

    def _subagent_of(self, line: Line, path: str, raw: bytes, ts: float) -> str:
        """Which subagent a sidechain line is: its `agentId`, else its `agent-*.jsonl` file, else (inline lines
        of older versions, which name neither) the first line of its chain, followed through `parentUuid`."""
        sub = _subagent(line, path)
        if sub is not None:
            return os.path.basename(sub)
        chain = _chain.decode(raw)
        parent = chain.parentUuid
        sub = (self._chains.get(parent) or parent) if parent else (line.uuid or "sidechain")
        if line.uuid:
            self._remember(self._chains, line.uuid, sub)
            if parent:  # stored: a restart before the chain's next line must still find its first
                self.new_facts.append(SessionFact(cast(str, line.sessionId), CHAIN, line.uuid, sub, ts))
        return sub

    @staticmethod
    def _remember(kept: dict[str, str], key: str, value: str) -> None:
        if len(kept) >= TOOL_NAMES_KEPT:  # the older half goes: a call still running keeps its name
            for old in list(islice(kept, TOOL_NAMES_KEPT // 2)):
                del kept[old]
        kept[key] = value

    def agent(self, path: str, cwd: str | None) -> str:
        """`claude-code:<project>`: the project folder, shown as the working directory it encodes (decided
        once per folder, from the first line with a `cwd`: that directory or the nearest parent that
        encodes to the folder's name), else as the folder's name."""
        if path == self._agent_path:
            return self._agent_name
        name = self._agents.get(path)
        if name is None:
            folder = project_dir_name(path)
            name = self._projects.get(folder)
            if name is None:
                if not cwd:
                    return AGENT_PREFIX + folder  # undecided until a line says where it ran
                name = self._projects[folder] = AGENT_PREFIX + _shown(folder, cwd)
            self._agents[path] = name
        self._agent_path, self._agent_name = path, name
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
    """Claude Code names a project's folder by its path with every character but ASCII letters and digits made '-'."""
    return "".join(c if c.isascii() and c.isalnum() else "-" for c in cwd)


def _shown(folder: str, cwd: str) -> str:
    """The project folder as a person knows it: `cwd` or its nearest parent when it encodes to the folder's
    name (a session that ran `cd` stays in its project), else the folder's own name."""
    path = cwd
    while True:
        if _encode(path) == folder:
            return path
        parent = os.path.dirname(path)
        if not parent or parent == path:
            return folder
        path = parent


def _subagent(line: Line, path: str) -> str | None:
    """What identifies a subagent's lines: its id, or (older files) its own `agent-*.jsonl` file."""
    if line.agentId is not None:
        return line.agentId
    return path if os.path.basename(path).startswith("agent-") else None


def _command_name(text: str) -> str:
    """`init` of `<command-message>…</command-message><command-name>/init</command-name>`."""
    start = text.find("<command-name>")
    if start < 0:
        return ""
    start += len("<command-name>")
    end = text.find("</command-name>", start)
    return text[start : end if end >= 0 else None].strip().lstrip("/")


def _asked(said: Block | bool) -> bool:
    """Whether the assistant's last words asked: a stored fact (True), or its last block."""
    if isinstance(said, bool):
        return said
    return _asks(said)


def _asks(said: Block) -> bool:
    """Whether the assistant's last words asked the user something: an AskUserQuestion call, or a text (raw
    JSON, read from its end, not decoded) ending with a question mark."""
    if said.type == "tool_use":
        return said.name == "AskUserQuestion"
    raw = memoryview(said.text)
    if len(raw) < 3 or raw[-1] != QUOTE:
        return False  # not a string
    if raw[-2] not in MAYBE_LAST:
        return raw[-2] == QUESTION  # most texts: one byte says
    tail = bytes(raw[-32:-1])
    while True:  # trailing blanks and escaped newlines
        stripped = tail.rstrip(b" ")
        for escape in (b"\\n", b"\\t", b"\\r"):
            if stripped.endswith(escape):
                stripped = stripped[: -len(escape)]
        if stripped == tail:
            break
        tail = stripped
    return tail.endswith((b"?", "\uff1f".encode(), b"\\uff1f"))


def _said_ending(said: Block) -> str:
    """How a turn whose last block is `said` ended: asking the user, answering, or cut off in a tool call."""
    if said.type == "tool_use" and said.name != "AskUserQuestion":
        return "cut_off"
    return "asked" if _asks(said) else "answered"


def _refused_by_rules(d: PermissionDecision) -> bool:
    """A `permissionDecision` that refused the call without a person: by the settings' rules or a hook."""
    return d.decision == "reject" and not d.source.startswith("user")


def _denied(text: str) -> bool:
    """A refusal by the agent's own permission rules (settings, mode, hooks), not by a person."""
    if text.startswith(DENIALS):
        return True
    head = text[:200]
    return not text.startswith("Exit code") and any(s in head for s in DENIED_WITHIN)


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
