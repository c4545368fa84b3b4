"""The normalized events: the only thing that crosses from sources to the store.

The native JSONL format (docs/events.md) is these structs encoded as JSON, so
the native source decodes straight into them and msgspec's validation errors
("Expected `bool`, got `str` - at `$.ok`") become quarantine reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Literal, NamedTuple

import msgspec

# --- Bounds: every number of every source is checked against these at the parser, so that a line out of
# range is quarantined (a span rejected) and nothing out of range reaches the store, which keeps costs as
# integer nano-dollars and token counts as integers in SQLite's int64 (at most 9.2e18).

# Unix seconds, for every source: from 1970 to before the year 5138. Wide enough for any real clock,
# narrow enough that microseconds (time_prefix) and minute buckets stay small integers.
TS_MAX = 1e11
# Tokens of one kind in one request: 500 times the largest context window of today (2M). Not 2**53: the
# pricer multiplies tokens by the price, and 2**53 tokens at any price above $1 per million overflow
# int64 nano-dollars in a single request; 1e9 would need a price of $9,200 per token to. A task's token
# sums reach int64 only after 9.2e9 requests at the maximum.
TOKENS_MAX = 10**9
# Dollars of one event: a thousand times any single request or run an agent has had, still far below
# int64 nano-dollars ($9.2e9) for one event; a task's cost overflows only after 9,223 events at the
# maximum, and priced requests (at most ~$600 per million tokens x 1e9 tokens) are of the same order.
COST_MAX_USD = 1e6

# RFC 3339 with an offset, or Unix seconds. Naive datetimes are rejected: a
# timestamp whose zone is a guess would put events in the wrong bucket. A datetime's range is
# checked after decoding (sources.native), as msgspec bounds only numbers.
Timestamp = Annotated[datetime, msgspec.Meta(tz=True)] | Annotated[float, msgspec.Meta(ge=0, lt=TS_MAX)]
# Not empty; not blank either: checked after decoding for agent and task (a pattern costs 4x the decode).
Name = Annotated[str, msgspec.Meta(min_length=1)]
Tokens = Annotated[int, msgspec.Meta(ge=0, le=TOKENS_MAX)]
Usd = Annotated[float, msgspec.Meta(ge=0, le=COST_MAX_USD)]  # JSON has no NaN; 1e400 is "out of range"
Outcome = Literal["success", "failure", "abandoned", "unknown"]
RATING_CHARS = 40  # a rating is a word from its survey's scale


class _Base(msgspec.Struct, tag_field="event", kw_only=True, omit_defaults=True):
    ts: Timestamp
    agent: Name


class _TaskEvent(_Base, kw_only=True):
    task: Name


class TaskStart(_TaskEvent, tag="task_start", kw_only=True):
    key: str | None = None
    model: str | None = None
    # This task is a subagent's run for another task: its cost and tokens roll up into that task's, and it is no
    # task of its own in the metrics (docs/events.md, "Subagents"). The parent is of the same agent unless
    # `parent_agent` names another.
    parent_task: Name | None = None
    parent_agent: Name | None = None


class LlmCall(_TaskEvent, tag="llm_call", kw_only=True):
    model: Name
    input_tokens: Tokens  # excluding cache reads and writes, as Anthropic reports it
    output_tokens: Tokens
    cache_read_tokens: Tokens = 0
    cache_write_tokens: Tokens = 0
    cache_write_1h_tokens: Tokens = 0  # of cache_write_tokens, those kept an hour (a higher price)
    reasoning_tokens: Tokens = 0  # of output_tokens, those spent reasoning (priced apart where a model says so)
    cost_usd: Usd | None = None
    # The same request logged more than once (streamed, or in two files) counts once, with the
    # largest usage seen: Claude Code writes a line per content block, repeating the usage.
    request_id: str | None = None
    # The subagent that made the call, within the task (Claude Code's `agentId`): its tokens and cost are the
    # task's, and also its subagents' share.
    subagent: str | None = None


class ToolCall(_TaskEvent, tag="tool_call", kw_only=True):
    tool: Name
    ok: bool
    error: str | None = None
    # False: the call was counted already (a transcript counts it at its tool_use block); this event is
    # its result alone, and adds only its error.
    call: bool = True


class PermissionDenial(_TaskEvent, tag="permission_denial", kw_only=True):
    """The agent's own permission rules refused a tool call without asking anyone (Claude Code's "requires
    approval", a `config`/`hook` denial): a leading signal of its own, neither a tool error nor a rejection."""

    tool: str | None = None


class Escalation(_TaskEvent, tag="escalation", kw_only=True):
    reason: str | None = None


class Confirmation(_TaskEvent, tag="confirmation", kw_only=True):
    approved: bool
    action: str | None = None


class HumanIntervention(_TaskEvent, tag="human_intervention", kw_only=True):
    kind: str | None = None


class Cost(_TaskEvent, tag="cost", kw_only=True):
    cost_usd: Usd
    kind: str | None = None


class TaskEnd(_TaskEvent, tag="task_end", kw_only=True):
    outcome: Outcome
    reason: str | None = None
    # When a person labelled the task (`agentmon label`); `ts` stays the task's own end. A labelled end wins
    # over any other, and the latest label over earlier ones.
    labeled_at: Annotated[float, msgspec.Meta(ge=0, lt=TS_MAX)] | None = None  # Unix seconds


class ApiError(_TaskEvent, tag="api_error", kw_only=True):
    """The model provider's API failed the agent (overloaded, rate limited, 5xx)."""

    status: str | None = None
    retry: bool = False  # an attempt the client retried: counted apart, not as a failed request


class Rating(_TaskEvent, tag="rating", kw_only=True):
    """A user's rating of the task ("good", "bad"...): a word from a fixed scale, never free text."""

    rating: Annotated[str, msgspec.Meta(min_length=1, max_length=RATING_CHARS)]


Ending = Literal["answered", "asked", "interrupted", "rejected", "api_failed", "cut_off"]
NextPrompt = Literal["new", "repeat", "correction", "thanks", "answer"]
CheckKind = Literal["test", "build", "lint", "typecheck"]


Seconds = Annotated[float, msgspec.Meta(ge=0, lt=TS_MAX)]  # Unix seconds


class TaskEvidence(_TaskEvent, tag="task_evidence", kw_only=True):
    """What a task's log shows about how it went, as derived values only (docs/success.md). Each field given is
    an observation at `ts`, or at its own `…_at` when given (one event may carry several made at different times;
    a check's is its call's); the latest observation of each field wins."""

    ending: Ending | None = None  # how the assistant's last turn ended
    ending_at: Seconds | None = None
    next_prompt: NextPrompt | None = None  # how the session's next prompt relates to this task
    next_prompt_at: Seconds | None = None
    prompt_hash: Annotated[str, msgspec.Meta(max_length=64)] | None = None  # of the task's own prompt, normalized
    check: CheckKind | None = None  # the last test / build / lint / type-check command run
    check_at: Seconds | None = None  # its call's time
    check_ok: bool | None = None  # its result: passed or failed; None while none came back
    todos_done: Annotated[int, msgspec.Meta(ge=0, le=10**6)] | None = None
    todos_total: Annotated[int, msgspec.Meta(ge=0, le=10**6)] | None = None
    todos_at: Seconds | None = None
    committed: bool = False  # a commit succeeded


class EvalResult(_Base, tag="eval_result", kw_only=True):
    suite: Name
    case: Name
    passed: bool
    run: str | None = None
    agent_version: str | None = None
    critical: bool = False


Event = (
    TaskStart
    | LlmCall
    | ToolCall
    | Escalation
    | Confirmation
    | HumanIntervention
    | Cost
    | TaskEnd
    | ApiError
    | PermissionDenial
    | Rating
    | EvalResult
    | TaskEvidence
)
EVENT_NAMES = tuple(t.__struct_config__.tag for t in Event.__args__)


def ts_out_of_range(seconds: float) -> bool:
    """Outside [0, TS_MAX): NaN included."""
    return not 0 <= seconds < TS_MAX


def out_of_range(what: str, shown: str, bounds: str) -> str:
    """A quarantine reason for a value out of its bounds, in one wording for every source."""
    return f"{what} out of range: {shown[:40]} is not in {bounds}"


TS_BOUNDS = f"[0, {TS_MAX:g})"
TOKENS_BOUNDS = f"[0, {TOKENS_MAX}]"
COST_BOUNDS = f"[0, {COST_MAX_USD:g}]"


def range_reason(msgspec_error: str) -> str | None:
    """Our words for msgspec's bound violations ("Expected `int` <= 1000000000 - at `$.input_tokens`",
    "Number out of range - at `$.cost_usd`"); None for any other validation error."""
    detail, _, where = msgspec_error.partition(" - at `")
    if " <= " in detail or " >= " in detail or " < " in detail or detail == "Number out of range":
        return f"out of range at {where.rstrip('`')}: {detail}"
    return None


def epoch_seconds(ts: Timestamp) -> float:
    """Unix seconds of an event timestamp."""
    return ts.timestamp() if isinstance(ts, datetime) else float(ts)


class Prompt(NamedTuple):
    """A Claude Code prompt: the task that its session's later lines (and subagents) belong to."""

    session: str
    ts: float
    task: str


# A Claude Code task of lines older than every prompt of their session: provisional (agentmon.store.held_events).
BEFORE_FIRST_PROMPT = ":before-first-prompt"
LAUNCH, WARMUP, COMMAND, ASKED = "launch", "warmup", "command", "asked"  # SessionFact kinds
RETRYING, ESC, CHAIN = "retrying", "esc", "chain"
WATCH, LAST_PROMPT = "watch", "last_prompt"  # the evidence's (agentmon.sources.claude_code_evidence)
TOOL = "tool"


class SessionFact(NamedTuple):
    """What the Claude Code parser must remember across restarts, stored with the lines that taught it
    (agentmon.store.claude_code_state): `kind` "launch" (subagent `key` works for task `value`), "warmup"
    (subagent `key` counts nothing), "command" (a slash command waiting for the model: task `value` of agent
    `key`, at `ts`), "asked" (the assistant's last words asked a question), "retrying" (API retries no answer
    ended yet, in task `value` of agent `key`), "esc" (the Esc of conversation `key` was counted at its tool
    result: its marker is not), "chain" (inline sidechain line `key` is subagent `value`'s), "watch" (tool use
    `key` is a check or a commit whose result the evidence waits for: `value` says which, of what task),
    "last_prompt" (the session's latest prompt: its task and hash, for the next one to be compared with; `key`
    ""), "tool" (call `key` of tool `value` had no result when its chunk ended). `value` None: no longer so."""

    session: str
    kind: str
    key: str
    value: str | None
    ts: float


class Held(NamedTuple):
    """An event of a subagent's line whose launch is not known yet: the store keeps it apart, to re-attribute
    it when the launch (or a prompt) is read (agentmon.store.held_events)."""

    session: str
    subagent: str
    event: Event


# --- OpenTelemetry: what a span or log record becomes (agentmon.sources.otlp -> agentmon.store) ---

UNKNOWN_AGENT = "unknown-agent"  # a trace that never named its agent


@dataclass
class Mapped:
    """The events of one span or log record; `agentless` ones wait for their trace's agent."""

    key: str
    events: list[Event]
    agentless: list[Event] = field(default_factory=list)
    trace_agent: tuple[str, str] | None = None  # (trace id, agent): an invoke_agent span names it
    agent_span: tuple[float, float, bool] | None = None  # that span's start, end, and whether it is the trace's root


def time_prefix(ts: float) -> str:
    """Keys start with their time so that a request's keys land together at the end of the
    `otel_seen` index: random keys dirtied a page each, and writing those pages was a third of
    the commit. Deterministic, so a retried span or record gets the same key."""
    return f"{round(ts * 1e6) if 0 < ts < TS_MAX else 0:014x}"  # the parsers reject a span out of range
