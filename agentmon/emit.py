"""Write agentmon's native events (docs/events.md) from your own agent: the standard library only, safe from
many threads and processes appending to one file at once.

    emitter = Emitter("logs/refund-agent.jsonl", agent="refund-agent")
    with emitter.task("r-8812", model="claude-haiku-4-5") as task:
        task.llm_call("claude-haiku-4-5", input_tokens=1200, output_tokens=300)
        task.tool_call("lookup_order", ok=True)
        task.end("success")

Each event is one `write` of one whole line to a descriptor opened with O_APPEND: POSIX sets the offset to
the end of the file and writes with no modification in between, and Linux holds the file's lock for the
whole write to a local file, so lines from many writers never interleave. (Not over NFS, whose appends are
not atomic across clients: give each host its own file.) The file is opened for each event, so a rotated
file is followed at once and a forked process needs nothing reopened.

The API takes only what the metrics need: usage, names, outcomes, short reasons; never prompts or outputs.
"""

from __future__ import annotations

import json
import os
import threading
import time
from types import TracebackType
from typing import Any, Literal

# agentmon ingest's default cap on a line (without its newline; ingest/tail.DEFAULT_MAX_LINE): a longer
# line is quarantined there, so it is refused here.
MAX_LINE_BYTES = 1 << 20
SUFFIXES = (".jsonl", ".ndjson", ".log")
OUTCOMES = ("success", "failure", "abandoned", "unknown")

Outcome = Literal["success", "failure", "abandoned", "unknown"]
_now = time.time


class EmitError(ValueError):
    """An event agentmon would not count: refused before anything is written."""


class Emitter:
    """Appends one agent's events to `path` (a `.jsonl`, `.ndjson` or `.log` file; its directory is made)."""

    def __init__(self, path: str | os.PathLike[str], agent: str, *, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.path = os.fspath(path)
        if not self.path.endswith(SUFFIXES):
            raise EmitError(f"{self.path}: agentmon reads only files named *.jsonl, *.ndjson or *.log")
        self.agent = _name("agent", agent)
        self.max_line_bytes = max_line_bytes
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)

    def task(
        self, task: str, *, key: str | None = None, model: str | None = None, parent_task: str | None = None
    ) -> Task:
        """Start a task (writes `task_start`). Use it in a `with`: leaving the block ends the task as
        `failure` on an exception (its type, never its message, as the reason), else `unknown` if `end` was
        not called. `parent_task`: this is a subagent's run for that task of this agent (its cost rolls up
        into it, docs/events.md)."""
        t = Task(self, _name("task", task))
        parent = None if parent_task is None else _name("parent_task", parent_task)
        t._emit("task_start", key=key, model=model, parent_task=parent)
        return t

    def end(self, task: str, outcome: Outcome, reason: str | None = None) -> None:
        """End a task begun elsewhere (another process, a later review): `task_end` for it, now."""
        Task(self, _name("task", task)).end(outcome, reason)

    def eval_result(
        self,
        suite: str,
        case: str,
        passed: bool,
        *,
        run: str | None = None,
        agent_version: str | None = None,
        critical: bool | None = None,
    ) -> None:
        """One case of an eval run (docs/evals.md)."""
        self.write(
            "eval_result",
            suite=_name("suite", suite),
            case=_name("case", case),
            passed=_bool("passed", passed),
            run=run,
            agent_version=agent_version,
            critical=critical,
        )

    def write(self, event: str, task: str | None = None, **fields: Any) -> None:
        """Append one event as one line; fields that are None are left out."""
        record: dict[str, Any] = {"ts": round(_now(), 6), "agent": self.agent, "event": event}
        if task is not None:
            record["task"] = task
        record.update((k, v) for k, v in fields.items() if v is not None)
        try:
            text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as e:
            raise EmitError(f"{event}: not JSON: {e}") from None
        line = text.encode("utf-8")
        if len(line) > self.max_line_bytes:
            raise EmitError(
                f"{event}: a line of {len(line):,} bytes, over agentmon's {self.max_line_bytes:,}-byte cap"
                " (it would be quarantined): keep reasons short"
            )
        line += b"\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            written = os.write(fd, line)
        finally:
            os.close(fd)
        if written != len(line):  # a full disk: never write the rest, it would land after another's line
            raise OSError(f"{self.path}: wrote {written} of {len(line)} bytes of an event (disk full?)")


class Task:
    """One task's events; every method writes one line at once."""

    def __init__(self, emitter: Emitter, task: str) -> None:
        self.emitter = emitter
        self.id = task
        self.ended = False
        self._lock = threading.Lock()

    def __enter__(self) -> Task:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        if not self.ended:
            if kind is None:
                self.end("unknown")
            else:
                self.end("failure", kind.__name__)
        return False

    def llm_call(
        self,
        model: str,
        input_tokens: int,
        output_tokens: int,
        *,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        reasoning_tokens: int | None = None,
        cost_usd: float | None = None,
        request_id: str | None = None,
        subagent: str | None = None,
    ) -> None:
        """One model call's usage: input tokens exclude cache tokens (as Anthropic reports them). Without
        `cost_usd`, agentmon prices it from the model and tokens. `subagent`: the subagent that made it."""
        self._emit(
            "llm_call",
            model=_name("model", model),
            input_tokens=_tokens("input_tokens", input_tokens),
            output_tokens=_tokens("output_tokens", output_tokens),
            cache_read_tokens=_tokens("cache_read_tokens", cache_read_tokens),
            cache_write_tokens=_tokens("cache_write_tokens", cache_write_tokens),
            reasoning_tokens=_tokens("reasoning_tokens", reasoning_tokens),
            cost_usd=_usd(cost_usd),
            request_id=request_id,
            subagent=subagent,
        )

    def tool_call(self, tool: str, ok: bool = True, error: str | None = None) -> None:
        self._emit("tool_call", tool=_name("tool", tool), ok=_bool("ok", ok), error=error)

    def escalation(self, reason: str | None = None) -> None:
        """The task was handed to a human."""
        self._emit("escalation", reason=reason)

    def confirmation(self, approved: bool, action: str | None = None) -> None:
        """The agent asked a human to confirm an action; `approved` is their answer."""
        self._emit("confirmation", approved=_bool("approved", approved), action=action)

    def human_intervention(self, kind: str | None = None) -> None:
        self._emit("human_intervention", kind=kind)

    def cost(self, cost_usd: float, kind: str | None = None) -> None:
        """Infrastructure cost of the task (a vector search, a paid API)."""
        self._emit("cost", cost_usd=_usd(cost_usd), kind=kind)

    def api_error(self, status: str | int | None = None, retry: bool = False) -> None:
        """The model provider failed a request; `retry=True` for an attempt your client then retried."""
        self._emit("api_error", status=None if status is None else str(status), retry=retry or None)

    def permission_denial(self, tool: str | None = None) -> None:
        """The agent's own rules refused a tool call without asking anyone."""
        self._emit("permission_denial", tool=tool)

    def rating(self, rating: str) -> None:
        """A user's rating, a word from a fixed scale (at most 40 characters)."""
        if not 0 < len(rating) <= 40:
            raise EmitError("rating: a word of 1 to 40 characters")
        self._emit("rating", rating=rating)

    def end(self, outcome: Outcome, reason: str | None = None) -> None:
        """The task's outcome: success, failure, abandoned or unknown."""
        if outcome not in OUTCOMES:
            raise EmitError(f"outcome {outcome!r}: one of {', '.join(OUTCOMES)}")
        with self._lock:
            self.emitter.write("task_end", self.id, outcome=outcome, reason=reason)
            self.ended = True

    def _emit(self, event: str, **fields: Any) -> None:
        self.emitter.write(event, self.id, **fields)


def _name(what: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise EmitError(f"{what}: a non-blank string, not {value!r}")
    return value


def _tokens(what: str, value: int | None) -> int | None:
    if value is not None and (value.__class__ is not int or not 0 <= value <= 10**9):
        raise EmitError(f"{what}: an integer from 0 to 10**9, not {value!r}")
    return value


def _usd(value: float | None) -> float | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1e6):
        raise EmitError(f"cost_usd: dollars from 0 to 1e6, not {value!r}")
    return value


def _bool(what: str, value: bool) -> bool:
    if value.__class__ is not bool:
        raise EmitError(f"{what}: True or False, not {value!r}")
    return value
