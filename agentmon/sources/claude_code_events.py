"""Claude Code's OpenTelemetry log events (`claude_code.*`): a task per prompt, `prompt.id` within
`session.id` (docs/otel.md has every event and attribute read, by Claude Code version)."""

from __future__ import annotations

from agentmon.errors import BadLine
from agentmon.events import (
    RATING_CHARS,
    ApiError,
    Confirmation,
    HumanIntervention,
    LlmCall,
    Mapped,
    Rating,
    TaskStart,
    ToolCall,
)
from agentmon.sources.genai_spans import evaluation
from agentmon.sources.otlp_records import Record, check_time, cost, opt, tokens

CLAUDE_CODE_SERVICE = "claude-code"
# tool_decision's `source`. Only a person's answer at a permission prompt is a confirmation. `config` and
# `hook` decide without asking: an approval is no human step, a denial a permission denial (no counter yet),
# and neither is a rejection; since 2.1.216 a permission prompt that failed reports `config` (before, it was
# `user_reject`, which cannot be told apart: those years' rejections include them).
APPROVED = ("user_temporary", "user_permanent")
REJECTED = "user_reject"
# The prompt dismissed without an answer (since 2.1.216 also an interrupt while an SDK prompt was pending,
# before reported as `user_reject`): the person stepped in; it is not a "no" to the tool.
ABORTED = "user_abort"
# Claude Code writes its booleans as the strings "true"/"false". Tuples, not sets: an attribute may be a list.
TRUE = ("true", "True", True)
SESSION_SURVEY = "session"  # "How is Claude doing this session?"; the other surveys rate other things
NO_RATING = "dismissed"


def map_record(record: Record) -> Mapped:
    """Claude Code's OpenTelemetry events: a task per prompt.
    BadLine: a value out of range (agentmon.events), and the record is rejected."""
    try:
        check_time(record.ts, "timeUnixNano")
        return _map_record(record)
    except BadLine as e:
        raise BadLine(f"log record {record.name}: {e}") from None


def task_of(attrs: dict) -> str:
    """`prompt.id` within its `session.id`: one prompt of one session, whatever another session's ids.
    Without a prompt (before the first), the session."""
    prompt = str(attrs.get("prompt.id") or "")
    session = str(attrs.get("session.id") or "")
    if prompt.isspace():
        raise BadLine("prompt.id is blank")
    if session.isspace():
        session = ""
    return f"{session}:{prompt}" if session and prompt else prompt or session


def _map_record(record: Record) -> Mapped:
    a = record.attrs
    out = Mapped(record.key, [])
    if record.name == "gen_ai.evaluation.result":
        result = evaluation(a, record.ts, record.service, record.key)
        out.events += [result] if result is not None else []
        return out
    if not record.name.startswith("claude_code."):
        return out
    name = record.name[12:]  # past "claude_code."
    task = task_of(a)
    if not task:
        return out
    agent = "claude-code:" + (record.service if record.service and record.service != CLAUDE_CODE_SERVICE else "otel")
    ts = record.ts
    if name == "user_prompt":
        out.events.append(TaskStart(ts=ts, agent=agent, task=task))
    elif name == "api_request":
        out.events.append(
            LlmCall(
                ts=ts,
                agent=agent,
                task=task,
                model=str(a.get("model") or "unknown-model"),
                input_tokens=tokens(a, "input_tokens"),
                output_tokens=tokens(a, "output_tokens"),
                cache_read_tokens=tokens(a, "cache_read_tokens"),
                cache_write_tokens=tokens(a, "cache_creation_tokens"),
                cache_write_1h_tokens=tokens(a, "cache_creation_1h_tokens"),
                cost_usd=cost(a, "cost_usd"),
                # The API's request id, as the transcript's `requestId`: a request logged by both counts once.
                request_id=opt(a.get("request_id")),
            )
        )
    elif name == "tool_result":
        ok = a.get("success") in TRUE
        # The error's category ("ShellError"), never its message: with OTEL_LOG_TOOL_DETAILS the
        # `error` attribute holds the tool's full error text, which may quote its output.
        error = None if ok else opt(a.get("error_type"))
        out.events.append(
            ToolCall(ts=ts, agent=agent, task=task, tool=str(a.get("tool_name") or "tool"), ok=ok, error=error)
        )
    elif name == "api_error":
        # Once per failed request, after Claude Code's own retries (`attempt` counts them); the
        # `api_retries_exhausted` event that accompanies the last one is the same failure, not another.
        out.events.append(ApiError(ts=ts, agent=agent, task=task, status=opt(a.get("status_code"))))
    elif name == "api_refusal":
        # A hop the API's server-side fallback already retried on another model was not seen by the user.
        if a.get("server_fallback_hop") not in TRUE:
            out.events.append(ApiError(ts=ts, agent=agent, task=task, status="refusal"))
    elif name == "tool_decision":
        source = a.get("source")
        tool = str(a.get("tool_name") or "tool")
        if source in APPROVED:  # the call runs: its tool_result is the tool call
            out.events.append(Confirmation(ts=ts, agent=agent, task=task, approved=True, action=tool))
        elif source == REJECTED:  # no tool_result follows: a tool call, as transcripts count it (docs/claude-code.md)
            out.events += [
                ToolCall(ts=ts, agent=agent, task=task, tool=tool, ok=True),
                Confirmation(ts=ts, agent=agent, task=task, approved=False, action=tool),
            ]
        elif source == ABORTED:
            out.events += [
                ToolCall(ts=ts, agent=agent, task=task, tool=tool, ok=True),
                HumanIntervention(ts=ts, agent=agent, task=task, kind="interrupt"),
            ]
    elif name == "feedback_survey":
        response = str(a.get("response") or "")
        if (
            a.get("event_type") == "responded"
            and a.get("survey_type") == SESSION_SURVEY
            and response
            and response != NO_RATING
            and "prompt.id" in a  # the prompt it followed; a survey joins no task by its session alone
        ):
            out.events.append(Rating(ts=ts, agent=agent, task=task, rating=response[:RATING_CHARS]))
    # Not tasks nor steps of one: compaction, permission_mode_changed, subagent_completed (its requests and
    # tool calls arrive as their own api_request and tool_result events of the same prompt), and the rest.
    return out
