"""Claude Code's OpenTelemetry log events (`claude_code.*`): a task per `prompt.id` (docs/otel.md)."""

from __future__ import annotations

from agentmon.errors import BadLine
from agentmon.events import ApiError, Confirmation, LlmCall, Mapped, TaskStart, ToolCall
from agentmon.sources.genai_spans import evaluation
from agentmon.sources.otlp_records import Record, check_time, cost, opt, tokens

CLAUDE_CODE_SERVICE = "claude-code"
APPROVED = {"user_temporary", "user_permanent"}
REJECTED = {"user_reject", "user_abort"}


def map_record(record: Record) -> Mapped:
    """Claude Code's OpenTelemetry events: a task per `prompt.id`.
    BadLine: a value out of range (agentmon.events), and the record is rejected."""
    try:
        check_time(record.ts, "timeUnixNano")
        return _map_record(record)
    except BadLine as e:
        raise BadLine(f"log record {record.name}: {e}") from None


def _map_record(record: Record) -> Mapped:
    a = record.attrs
    name = record.name.removeprefix("claude_code.")
    agent = "claude-code:" + (record.service if record.service and record.service != CLAUDE_CODE_SERVICE else "otel")
    task = str(a.get("prompt.id") or a.get("session.id") or "")
    if task.isspace():
        raise BadLine("prompt.id is blank")
    out = Mapped(record.key, [])
    if record.name == "gen_ai.evaluation.result":
        result = evaluation(a, record.ts, record.service, record.key)
        out.events += [result] if result is not None else []
        return out
    if not task or not record.name.startswith("claude_code."):
        return out
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
                cost_usd=cost(a, "cost_usd"),
            )
        )
    elif name == "tool_result":
        ok = str(a.get("success")).lower() == "true"
        out.events.append(
            ToolCall(
                ts=ts, agent=agent, task=task, tool=str(a.get("tool_name") or "tool"), ok=ok, error=opt(a.get("error"))
            )
        )
    elif name == "api_error":
        out.events.append(ApiError(ts=ts, agent=agent, task=task, status=opt(a.get("status_code"))))
    elif name == "tool_decision":
        source = str(a.get("source") or "")
        if source in APPROVED or source in REJECTED:
            out.events.append(
                Confirmation(ts=ts, agent=agent, task=task, approved=source in APPROVED, action=opt(a.get("tool_name")))
            )
    return out
