"""What the store keeps per task, and what each task adds to the aggregates.

A task's contribution to the aggregates is a pure function of its state, and
the state is a pure, order-free fold of its events (minimums, maximums and
sums). The store folds a batch into the affected tasks and adds
`contribution(new) - contribution(old)` to the aggregates (agentmon.store.aggregates.add_change), so
no result depends on the order lines arrive in or on how they are split across files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any, cast

import msgspec

from agentmon.events import (
    ApiError,
    Confirmation,
    Cost,
    Escalation,
    HumanIntervention,
    LlmCall,
    PermissionDenial,
    Rating,
    TaskEnd,
    TaskEvidence,
    TaskStart,
    ToolCall,
)
from agentmon.store.inferred import FAMILIES, infer


class UsageDelta(msgspec.Struct, kw_only=True):
    """What a repeated LLM request adds: the growth of its usage (see agentmon.store.llm_requests.dedupe_request)."""

    ts: float
    agent: str
    task: str
    tokens: tuple[int, int, int, int]  # input, output, cache read, cache write; the cost comes beside
    subagent: str | None = None  # the request was a subagent's (LlmCall.subagent)
    # (tokens, cost) the request had counted before a line named its subagent: now the subagent's share too
    subagent_before: tuple[int, int] = (0, 0)


class ChildRollup(msgspec.Struct, kw_only=True, tag_field="event", tag="child_rollup"):
    """What a child task (a task_start's `parent_task`) adds to its parent: the change in its `rollup`. Tagged:
    one to a provisional Claude Code task is kept with its held events (agentmon.store.held_events)."""

    ts: float
    agent: str
    task: str  # the parent
    values: tuple[int, ...]  # ROLLUP_FIELDS, then the subagents it counts for (itself and its own)


REASON_CHARS = 200  # reasons are cut here: the store keeps no prompts or outputs
INF = float("inf")

# The counters kept per (agent, model, time bucket). Outcome counters belong to
# the bucket of the task's end; the leading signals to their own timestamps.
AGG_COLUMNS = (
    "ended",
    "successes",
    "failures",
    "abandoned",
    "autonomous",
    "cost_nanos",
    "llm_calls",
    "unpriced_llm_calls",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "tasks_seen",
    "escalated_tasks",
    "tool_calls",
    "tool_errors",
    "confirmations",
    "rejections",
    "unlabeled",  # ended with outcome "unknown": counted, but not in the success rate
    "api_errors",  # a leading signal, by its own timestamp
    # Successes under stricter definitions (agentmon.toml's `success`), so a definition is chosen
    # when reading, without rebuilding the aggregates:
    "successes_no_escalation",  # success, and never handed to a human
    "successes_no_human_step",  # success, with no escalation, confirmation or intervention
    # Of those successes, the ones followed within FOLLOW_UP_SECONDS by a new task with the same key
    # (a customer coming back): not successes where agentmon.toml requires no follow-up.
    "followed_up",
    "followed_up_no_escalation",
    "followed_up_no_human_step",
    "reasoning_tokens",  # of output_tokens, those spent reasoning (by the task's end, like the other tokens)
    # Schema m017. Leading signals, by their own timestamps:
    "permission_denials",  # tool calls the agent's own permission rules refused
    "api_retries",  # failed attempts the client retried: apart from api_errors, the requests that failed
    "requests",  # LLM requests (each once), the denominator of the API error rate
    # Of the tasks that ended unknown (by the task's end): their cost and unpriced calls, so that cost per
    # successful task can be taken over the labelled tasks alone.
    "unlabeled_cost_nanos",
    "unlabeled_unpriced_llm_calls",
    # Schema m021, by the task's end. Of the ended tasks, those with subagents (orchestrated): how many, their
    # successes (by outcome), unknown ends, cost and the unknown ones' cost; what is left is the tasks without.
    "orchestrated",
    "orchestrated_successes",
    "orchestrated_unlabeled",
    "orchestrated_cost_nanos",
    "orchestrated_unlabeled_cost_nanos",
    # Of every ended task's cost and tokens, what its subagents spent.
    "subagent_cost_nanos",
    "subagent_tokens",
    # Schema m022. Of the tasks that ended unknown (by the task's end), those the rule over their evidence
    # decides (agentmon.store.inferred): the success rate where an agent's success is "inferred".
    "inferred_successes",
    "inferred_failures",
)
FOLLOW_UP_SECONDS = 48 * 3600
COL = {name: i for i, name in enumerate(AGG_COLUMNS)}
WIDTH = len(AGG_COLUMNS)


@dataclass(slots=True)
class TaskState:
    agent: str
    task: str
    key: str | None = None
    model: str | None = None
    model_rank: float = INF  # 0: from task_start, 1: from an llm_call; the lowest (rank, ts, name) wins
    model_ts: float = INF
    first_ts: float = INF
    last_ts: float = -INF
    end_ts: float | None = None
    outcome: str | None = None
    reason: str | None = None
    cost_nanos: int = 0
    llm_calls: int = 0
    unpriced_llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    tool_calls: int = 0
    tool_errors: int = 0
    escalations: int = 0
    first_escalation_ts: float | None = None
    escalation_reason: str | None = None
    escalation_reason_ts: float | None = None
    confirmations: int = 0
    rejections: int = 0
    rejected_action: str | None = None
    rejected_ts: float | None = None
    interventions: int = 0
    follow_up_ts: float | None = None  # the earliest start, after this task's end, of a task with the same key
    host: str = ""  # where its first event came from ('' this machine; else a remote source's host)
    reasoning_tokens: int = 0  # of output_tokens; last, as the column was added last (schema m013)
    rating: str | None = None  # the user's latest rating of the task; after it, as added after (schema m014)
    rating_ts: float | None = None
    labeled_at: float | None = None  # when a person labelled its outcome (schema m016)
    permission_denials: int = 0
    api_errors: int = 0  # failed API requests (retried attempts apart; schema m017)
    # Set while its outcome is "failed on the API" (`_settle`): then `logged_reason` keeps the reason of the
    # unknown end the logs gave, so that a late successful call undoes it whatever the order of events.
    api_failed: int = 0  # 0 or 1, as stored: sqlite3 binds a bool through its slow adapter path
    logged_reason: str | None = None
    # Subagents (schema m021). Of the task's cost and tokens (all four kinds), what its subagents spent, and how
    # many did work for it: the distinct ids its events named (`subagent_ids`, space-separated) and its children.
    subagents: int = 0
    subagent_tokens: int = 0
    subagent_cost_nanos: int = 0
    subagent_ids: str | None = None
    parent_task: str | None = None  # set: this task is a child, a subagent's run for that task
    parent_agent: str | None = None  # the parent's agent, when not this task's
    parent_ts: float | None = None  # the time of the task_start that named the parent: the earliest wins
    # Evidence of how it went (schema m022; TaskEvidence, docs/success.md): each the latest observation, with
    # its time. Derived values only: enums, counts, a prompt's hash.
    ending: str | None = None
    ending_ts: float | None = None
    next_prompt: str | None = None
    next_prompt_ts: float | None = None
    prompt_hash: str | None = None
    check_kind: str | None = None
    check_ts: float | None = None  # the check's call
    check_ok: int | None = None  # 1 passed, 0 failed, None no result (yet)
    todos_done: int | None = None
    todos_total: int | None = None
    todos_ts: float | None = None
    committed: int = 0
    unresolved_errors: int | None = None  # tool families whose latest failure came after their latest call
    tool_families: str | None = None  # per tool family, its latest call and failure: see _fold_tools


TASK_FIELDS = tuple(f.name for f in fields(TaskState))
task_row = attrgetter(*TASK_FIELDS)  # TaskState -> the tasks table's row


def cut(text: str | None) -> str | None:
    return None if text is None else text[:REASON_CHARS]


def _later(ts: float, text: str | None, cur_ts: float | None, cur_text: str | None) -> bool:
    """Whether (ts, text) replaces the current pick: the latest wins, ties by text."""
    return cur_ts is None or (ts, text or "") > (cur_ts, cur_text or "")


def fold_all(state: TaskState, events: Sequence[tuple[object, float, int | None]]) -> None:
    """Fold a task's events into `state`, each with its epoch ts and, for llm_call, its price. The first and last
    times and the commonest event, a tool call, are folded here, without a call per event: a batch holds many.
    An idle end is no event of the task (its last time stays its last line's), and it follows the task's last
    line: one read before more lines of the task ends it as late as if it had been read after them."""
    first, last = state.first_ts, state.last_ts
    waited = state.end_ts - last if state.end_ts is not None and idle_ended(state) else None
    # Per tool, its latest call that went out and its latest failure here (_fold_tools): two dicts, no tuple a call.
    calls: dict[str, float] = {}
    failures: dict[str, float] = {}
    for event, ts, cost_nanos in events:
        if ts < first:
            first = ts
        if type(event) is ToolCall:
            if ts > last:
                last = ts
            state.tool_calls += event.call
            state.tool_errors += not event.ok
            latest = calls if event.ok else failures
            if ts > latest.get(event.tool, -1.0):
                latest[event.tool] = ts
        else:
            if ts > last and not (type(event) is TaskEnd and event.labeled_at is None and _idle(event.reason)):
                last = ts
            _fold(state, event, ts, cost_nanos)
            if type(event) is PermissionDenial:
                tool = event.tool or UNNAMED
                if ts > failures.get(tool, -1.0):
                    failures[tool] = ts
    if waited is not None and last > state.last_ts and idle_ended(state):
        state.end_ts = max(cast(float, state.end_ts), last + waited)
    state.first_ts, state.last_ts = first, last
    if calls or failures:
        _fold_tools(state, calls, failures)


def _fold_tools(state: TaskState, calls: dict[str, float], failures: dict[str, float]) -> None:
    """Tool errors left unresolved: per tool family (FAMILIES), the latest call that went out (a `tool_call` that
    is ok: Claude Code's at its tool_use) and the latest failure (an error, a permission the rules refused); a
    family whose latest failure came after its latest call is unresolved. Maxima, so order-free; kept as JSON,
    `{"family": [call, failure]}` in milliseconds (-1: none), keys sorted so that any order writes the same.
    `calls`, `failures`: the fold's latest of each per tool, gathered in fold_all's one pass over the events."""
    stored = state.tool_families
    kept: dict[str, list[int]] = _tools_decode(stored) if stored else {}
    # Whether any family has a failure (a time >= 0): known from the stored ones, and from each failure kept below
    # (a time above the one before, at least -1).
    failed = stored is not None and any(failure >= 0 for _, failure in kept.values())
    for i, by_tool in ((0, calls), (1, failures)):
        for tool, ts in by_tool.items():
            family = FAMILIES.get(tool, tool)
            times = kept.get(family)
            if times is None:
                times = kept[family] = [-1, -1]
            ms = int(ts * 1000)
            if ms > times[i]:
                times[i] = ms
                failed = failed or i == 1
    state.tool_families = _tools_encode(kept).decode()
    if failed:
        # A failure whose call was read before a restart has no name ("tool"): any later call resolves it, as
        # a person reading on would take it (the parser does not keep every call's name across runs).
        latest = max(call for call, _ in kept.values())
        state.unresolved_errors = sum(
            failure > (latest if family == UNNAMED else call) for family, (call, failure) in kept.items()
        )


UNNAMED = "tool"  # the name of a tool whose call was not read (agentmon.sources.claude_code)
_tools_encode = msgspec.json.Encoder(order="sorted").encode
_tools_decode = msgspec.json.Decoder(dict[str, list[int]]).decode


IDLE_END = "no event for "  # the reason of an end agentmon gave a task that had no event for the idle time


def idle_reason(seconds: float) -> str:
    return f"{IDLE_END}{seconds / 60:.0f} minutes"


def _idle(reason: str | None) -> bool:
    return reason is not None and reason.startswith(IDLE_END)


def idle_ended(state: TaskState) -> bool:
    """Whether the task's end is the idle timeout's, not the logs' nor a person's: any other end wins over it."""
    return state.labeled_at is None and _idle(state.logged_reason if state.api_failed else state.reason)


def unfold(state: TaskState, events: Sequence[tuple[Any, float, int | None]]) -> None:
    """Take back what these events, folded into `state` before, added to its sums: they belong to another task
    (agentmon.store.held_events). Its times and its latest reasons stay as the fold left them. A subagent
    whose requests leave is no longer among those that worked for it: held events move a subagent's lines
    together, so none of its work stays behind."""
    left: set[str] = set()
    for event, _ts, cost_nanos in events:
        kind = type(event)
        if kind is ToolCall:
            state.tool_calls -= event.call
            state.tool_errors -= not event.ok
        elif kind is LlmCall:
            state.llm_calls -= 1
            state.input_tokens -= event.input_tokens
            state.output_tokens -= event.output_tokens
            state.cache_read_tokens -= event.cache_read_tokens
            state.cache_write_tokens -= event.cache_write_tokens
            state.reasoning_tokens -= event.reasoning_tokens
            if cost_nanos is None:
                state.unpriced_llm_calls -= 1
            else:
                state.cost_nanos -= cost_nanos
            if event.subagent is not None:
                state.subagent_tokens -= (
                    event.input_tokens + event.output_tokens + event.cache_read_tokens + event.cache_write_tokens
                )
                state.subagent_cost_nanos -= cost_nanos or 0
                left.add(event.subagent.replace(" ", "_"))
        elif kind is Escalation:
            state.escalations -= 1
        elif kind is Confirmation:
            state.confirmations -= 1
            state.rejections -= not event.approved
        elif kind is HumanIntervention:
            state.interventions -= 1
        elif kind is PermissionDenial:
            state.permission_denials -= 1
        elif kind is ApiError and not event.retry:
            state.api_errors -= 1
    if left and state.subagent_ids is not None:
        ids = state.subagent_ids.split(" ")
        kept = [sid for sid in ids if sid not in left]
        state.subagent_ids, state.subagents = " ".join(kept) or None, state.subagents - (len(ids) - len(kept))
    if not state.escalations:
        state.first_escalation_ts = state.escalation_reason = state.escalation_reason_ts = None
    if not state.rejections:
        state.rejected_action = state.rejected_ts = None
    if state.api_failed:
        _unsettle(state)
    _settle(state)


def _fold(state: TaskState, event, ts: float, cost_nanos: int | None) -> None:
    """Fold one event into `state`, its times apart (fold_all): no other part of the state depends on them."""
    kind = type(event)
    if kind is ToolCall:
        state.tool_calls += event.call
        state.tool_errors += not event.ok
    elif kind is LlmCall:
        state.llm_calls += 1
        if state.api_failed:  # a successful call after all: the logs' unknown end stands
            _unsettle(state)
        state.input_tokens += event.input_tokens
        state.output_tokens += event.output_tokens
        state.cache_read_tokens += event.cache_read_tokens
        state.cache_write_tokens += event.cache_write_tokens
        state.reasoning_tokens += event.reasoning_tokens
        if cost_nanos is None:
            state.unpriced_llm_calls += 1
        else:
            state.cost_nanos += cost_nanos
        if event.subagent is not None:
            _subagent_work(
                state,
                event.subagent,
                event.input_tokens + event.output_tokens + event.cache_read_tokens + event.cache_write_tokens,
                cost_nanos or 0,
            )
        _offer_model(state, 1, ts, event.model)
    elif kind is Cost:
        assert cost_nanos is not None  # a cost event always carries its cost
        state.cost_nanos += cost_nanos
    elif kind is UsageDelta:
        assert cost_nanos is not None  # what the request's cost grew by: 0 at least
        state.cost_nanos += cost_nanos
        state.input_tokens += event.tokens[0]
        state.output_tokens += event.tokens[1]
        state.cache_read_tokens += event.tokens[2]
        state.cache_write_tokens += event.tokens[3]
        if event.subagent is not None:
            before_tokens, before_cost = event.subagent_before
            _subagent_work(state, event.subagent, sum(event.tokens) + before_tokens, cost_nanos + before_cost)
    elif kind is TaskStart:
        if event.key is not None and state.key is None:
            state.key = cut(event.key)
        if event.model:
            _offer_model(state, 0, ts, event.model)
        if event.parent_task is not None:
            _offer_parent(state, ts, event.parent_agent or state.agent, event.parent_task)
    elif kind is ChildRollup:
        _add_rollup(state, event.values)
    elif kind is TaskEnd:
        if state.api_failed:
            _unsettle(state)  # `_end` weighs the end the logs gave
        _end(state, event, ts)
        _settle(state)
    elif kind is Escalation:
        state.escalations += 1
        if state.first_escalation_ts is None or ts < state.first_escalation_ts:
            state.first_escalation_ts = ts
        if _later(ts, event.reason, state.escalation_reason_ts, state.escalation_reason):
            state.escalation_reason_ts, state.escalation_reason = ts, cut(event.reason)
    elif kind is Confirmation:
        state.confirmations += 1
        if not event.approved:
            state.rejections += 1
            if _later(ts, event.action, state.rejected_ts, state.rejected_action):
                state.rejected_ts, state.rejected_action = ts, cut(event.action)
    elif kind is HumanIntervention:
        state.interventions += 1
    elif kind is Rating:
        if _later(ts, event.rating, state.rating_ts, state.rating):
            state.rating_ts, state.rating = ts, event.rating
    elif kind is PermissionDenial:
        state.permission_denials += 1
    elif kind is TaskEvidence:
        _fold_evidence(state, event, ts)
    elif kind is ApiError:
        if not event.retry:  # a retried attempt changes nothing about the task
            state.api_errors += 1
            _settle(state)
    else:
        raise TypeError(f"not a task event: {kind.__name__}")


def _offer_parent(state: TaskState, ts: float, agent: str, task: str) -> None:
    """Of the parents named, that of the earliest task_start (ties: the smallest agent, then task): order-free."""
    if (agent, task) == (state.agent, state.task):
        return  # its own parent: none
    if state.parent_task is None or (ts, agent, task) < (
        state.parent_ts,
        state.parent_agent or state.agent,
        state.parent_task,
    ):
        state.parent_ts, state.parent_task = ts, task
        state.parent_agent = agent if agent != state.agent else None


def _subagent_work(state: TaskState, subagent: str, tokens: int, cost_nanos: int) -> None:
    """A subagent's request in this task: its share, and the subagent among those that did work for it."""
    state.subagent_tokens += tokens
    state.subagent_cost_nanos += cost_nanos
    ids = state.subagent_ids
    sid = subagent.replace(" ", "_")  # the separator
    if ids is None:
        state.subagent_ids, state.subagents = sid, state.subagents + 1
    elif sid not in (known := ids.split(" ")):  # sorted: the same text whichever request came first
        state.subagent_ids, state.subagents = " ".join(sorted((*known, sid))), state.subagents + 1


# What a child task hands its parent (`rollup`), in this order; then the subagents it counts for.
ROLLUP_FIELDS = (
    "cost_nanos",
    "llm_calls",
    "unpriced_llm_calls",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
_rollup_values = attrgetter(*ROLLUP_FIELDS)
_TOKEN_VALUES = slice(3, 7)  # input .. cache write


Rollup = tuple[tuple[str, str], tuple[int, ...]]  # (the parent's agent and task, what the child adds to it)


def rollup(state: TaskState) -> Rollup | None:
    """What a child task adds to its parent: its whole cost and tokens (its own children's included) and the
    subagents it counts for (itself and its own); None for a task with no parent."""
    if state.parent_task is None:
        return None
    return (state.parent_agent or state.agent, state.parent_task), (*_rollup_values(state), 1 + state.subagents)


def rollup_change(before: Rollup | None, after: Rollup | None, state: TaskState) -> list[ChildRollup]:
    """The events that move a child's parents from `before` to `after`: the growth, or, when its parent
    changed, all of it taken from the old one and given to the new."""
    if before == after:
        return []
    ts = state.first_ts
    if before is not None and after is not None and before[0] == after[0]:
        grown = tuple(a - b for a, b in zip(after[1], before[1]))
        return [ChildRollup(ts=ts, agent=after[0][0], task=after[0][1], values=grown)]
    out = []
    if before is not None:
        out.append(ChildRollup(ts=ts, agent=before[0][0], task=before[0][1], values=tuple(-v for v in before[1])))
    if after is not None:
        out.append(ChildRollup(ts=ts, agent=after[0][0], task=after[0][1], values=after[1]))
    return out


def _add_rollup(state: TaskState, values: tuple[int, ...]) -> None:
    for name, v in zip(ROLLUP_FIELDS, values):
        setattr(state, name, getattr(state, name) + v)
    state.subagent_cost_nanos += values[0]
    state.subagent_tokens += sum(values[_TOKEN_VALUES])
    state.subagents += values[-1]


def _fold_evidence(state: TaskState, e: TaskEvidence, ts: float) -> None:
    """Each observation replaces the one before it in time (ties: the larger value), whatever the order read."""
    if e.ending is not None:
        at = ts if e.ending_at is None else e.ending_at
        if _later(at, e.ending, state.ending_ts, state.ending):
            state.ending_ts, state.ending = at, e.ending
    if e.next_prompt is not None:
        at = ts if e.next_prompt_at is None else e.next_prompt_at
        if _later(at, e.next_prompt, state.next_prompt_ts, state.next_prompt):
            state.next_prompt_ts, state.next_prompt = at, e.next_prompt
    if e.prompt_hash is not None and (state.prompt_hash is None or e.prompt_hash < state.prompt_hash):
        state.prompt_hash = e.prompt_hash
    if e.check is not None:
        at = ts if e.check_at is None else e.check_at
        if state.check_ts is None or at > state.check_ts:
            state.check_ts, state.check_kind = at, e.check
            state.check_ok = None if e.check_ok is None else int(e.check_ok)
        elif at == state.check_ts and e.check_ok is not None:  # the result of the latest check
            state.check_ok = int(e.check_ok) if state.check_ok is None else min(state.check_ok, int(e.check_ok))
    if e.todos_total is not None:
        at = ts if e.todos_at is None else e.todos_at
        if state.todos_ts is None or (at, e.todos_done or 0, e.todos_total) > (
            state.todos_ts,
            state.todos_done or 0,
            state.todos_total or 0,
        ):
            state.todos_ts, state.todos_done, state.todos_total = at, e.todos_done or 0, e.todos_total
    if e.committed:
        state.committed = 1


def _end(state: TaskState, event: TaskEnd, ts: float) -> None:
    """A task's end: its own time, the latest end seen; its outcome, a person's latest label over any end the
    logs gave (a label keeps the task in its own window: it never moves the end to the labelling time)."""
    if event.labeled_at is None:
        # The logs' own end (the next prompt) over the idle timeout's; then the latest.
        if state.end_ts is None or (not _idle(event.reason), ts, event.outcome, event.reason or "") > (
            state.labeled_at is not None or not _idle(state.reason),
            state.end_ts,
            state.outcome,
            state.reason or "",
        ):
            state.end_ts = ts
            if state.labeled_at is None:
                state.outcome, state.reason = event.outcome, cut(event.reason)
    elif state.labeled_at is None or (event.labeled_at, event.outcome, event.reason or "") > (
        state.labeled_at,
        state.outcome,
        state.reason or "",
    ):
        state.labeled_at, state.outcome, state.reason = event.labeled_at, event.outcome, cut(event.reason)
        if state.end_ts is None:
            state.end_ts = ts


API_FAILED = "failed on the API"


def _settle(state: TaskState) -> None:
    """A task that ended with no outcome, not labelled, whose every request failed on the API (no successful
    LLM call, at least one failed request) failed: it did nothing, autonomously or not."""
    if state.outcome == "unknown" and state.labeled_at is None and not state.llm_calls and state.api_errors:
        state.api_failed, state.logged_reason = 1, state.reason
        state.outcome, state.reason = "failure", API_FAILED


def _unsettle(state: TaskState) -> None:
    """Back to the end the logs gave (see `_settle`)."""
    state.outcome, state.reason = "unknown", state.logged_reason
    state.api_failed, state.logged_reason = 0, None


def _offer_model(state: TaskState, rank: int, ts: float, model: str) -> None:
    if (rank, ts, model) < (state.model_rank, state.model_ts, state.model or ""):
        state.model_rank, state.model_ts, state.model = rank, ts, model


_SEEN, _ESCALATED, _UNLABELED = COL["tasks_seen"], COL["escalated_tasks"], COL["unlabeled"]
_STRICT_SUCCESSES = COL["successes_no_escalation"]
_FOLLOWED_UP = COL["followed_up"]
_REASONING = COL["reasoning_tokens"]
_UNLABELED_COST = COL["unlabeled_cost_nanos"]
_ORCHESTRATED = COL["orchestrated"]
_INFERRED = COL["inferred_successes"]


# One part of a task's contribution: (model, timestamp, first column, values). The values fill
# consecutive columns of AGG_COLUMNS from the first one. A plain tuple: two lists of them are built
# for every task a batch touches.
Part = tuple[str, float, int, tuple[int, ...]]


def contribution(state: TaskState) -> list[Part]:
    """What this task adds to its agent's aggregates, in parts.

    Model "" holds what belongs to no model: the leading signals, and the outcomes of tasks that
    never named one. A child task adds nothing: it is part of its parent (`rollup`).
    """
    if state.parent_task is not None:
        return []
    out: list[Part] = [("", state.first_ts, _SEEN, (1,))]
    if state.first_escalation_ts is not None:
        out.append(("", state.first_escalation_ts, _ESCALATED, (1,)))
    if state.end_ts is not None:
        outcome = state.outcome
        out.append(
            (
                state.model or "",
                state.end_ts,
                0,
                (  # the columns "ended" .. "cache_write_tokens"
                    1,
                    outcome == "success",
                    outcome == "failure",
                    outcome == "abandoned",
                    not (state.escalations or state.confirmations or state.interventions or state.api_failed),
                    state.cost_nanos,
                    state.llm_calls,
                    state.unpriced_llm_calls,
                    state.input_tokens,
                    state.output_tokens,
                    state.cache_read_tokens,
                    state.cache_write_tokens,
                ),
            )
        )
        if state.reasoning_tokens:  # a part of its own: most tasks have none, and add nothing for it
            out.append((state.model or "", state.end_ts, _REASONING, (state.reasoning_tokens,)))
        if state.subagents:  # the columns "orchestrated" .. "subagent_tokens"
            out.append(
                (
                    state.model or "",
                    state.end_ts,
                    _ORCHESTRATED,
                    (
                        1,
                        outcome == "success",
                        outcome == "unknown",
                        state.cost_nanos,
                        state.cost_nanos if outcome == "unknown" else 0,
                        state.subagent_cost_nanos,
                        state.subagent_tokens,
                    ),
                )
            )
        if outcome == "unknown":
            out.append((state.model or "", state.end_ts, _UNLABELED, (1,)))
            if state.cost_nanos or state.unpriced_llm_calls:
                out.append(
                    (state.model or "", state.end_ts, _UNLABELED_COST, (state.cost_nanos, state.unpriced_llm_calls))
                )
            inferred = infer(state)[0]
            if inferred != "unknown":
                out.append((state.model or "", state.end_ts, _INFERRED, (inferred == "success", inferred == "failure")))

        elif outcome == "success" and not state.escalations:
            out.append(
                (
                    state.model or "",
                    state.end_ts,
                    _STRICT_SUCCESSES,
                    (1, not (state.confirmations or state.interventions)),
                )
            )
        if (
            outcome == "success"
            and state.follow_up_ts is not None
            and state.follow_up_ts - state.end_ts <= FOLLOW_UP_SECONDS
        ):
            out.append(
                (
                    state.model or "",
                    state.end_ts,
                    _FOLLOWED_UP,
                    (1, not state.escalations, not (state.escalations or state.confirmations or state.interventions)),
                )
            )
    return out


assert AGG_COLUMNS[:12] == (
    "ended",
    "successes",
    "failures",
    "abandoned",
    "autonomous",
    "cost_nanos",
    "llm_calls",
    "unpriced_llm_calls",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
), "contribution() writes these columns in this order"
assert AGG_COLUMNS[_ORCHESTRATED : _ORCHESTRATED + 7] == (
    "orchestrated",
    "orchestrated_successes",
    "orchestrated_unlabeled",
    "orchestrated_cost_nanos",
    "orchestrated_unlabeled_cost_nanos",
    "subagent_cost_nanos",
    "subagent_tokens",
), "contribution() writes these columns in this order"
assert AGG_COLUMNS[_INFERRED : _INFERRED + 2] == ("inferred_successes", "inferred_failures"), "and these"


_TOOL_CALLS, _TOOL_ERRORS = COL["tool_calls"], COL["tool_errors"]
_CONFIRMATIONS, _REJECTIONS, _API_ERRORS = COL["confirmations"], COL["rejections"], COL["api_errors"]
_DENIALS, _API_RETRIES, _REQUESTS = COL["permission_denials"], COL["api_retries"], COL["requests"]


def add_event_signals(counters: list[int], event) -> None:
    """Add the counters an event adds by its own timestamp, whatever its task's state."""
    kind = type(event)
    if kind is LlmCall:  # a request (one with a request_id only at its first sight: store.apply)
        counters[_REQUESTS] += 1
    elif kind is ToolCall:
        counters[_TOOL_CALLS] += event.call
        counters[_TOOL_ERRORS] += not event.ok
    elif kind is Confirmation:
        counters[_CONFIRMATIONS] += 1
        counters[_REJECTIONS] += not event.approved
    elif kind is ApiError:
        counters[_API_RETRIES if event.retry else _API_ERRORS] += 1
    elif kind is PermissionDenial:
        counters[_DENIALS] += 1


SIGNAL_EVENTS = frozenset((LlmCall, ToolCall, Confirmation, ApiError, PermissionDenial))  # `in`: one hash
