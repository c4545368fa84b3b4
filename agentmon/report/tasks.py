"""`agentmon tasks`: the latest tasks one by one, with their signals, outcome and the prompt that began them.

A listing reads at most `limit` rows per agent through the `tasks_by_end` index (open tasks first, then by
end, newest first), so its cost follows the limit and the number of agents, not the history. The prompt of a
Claude Code task is never stored: it is read from the session's transcript when shown, the task id being the
prompt line's `uuid`, and only up to that line.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from agentmon.store.inferred import EVIDENCE, EvidenceRow, conflict, infer
from agentmon.store.pricing import NANO

CLAUDE_CODE = "claude-code:"  # the agents of Claude Code transcripts (agentmon.sources.claude_code)
PROMPT_CHARS = 60
# The per-task signals, in the order shown; those the database has (a newer schema may add some).
SIGNALS = (
    "tool_calls",
    "tool_errors",
    "permission_denials",
    "rejections",
    "interventions",
    "escalations",
    "api_errors",
)
BEFORE_FIRST_PROMPT = ":before-first-prompt"
# Without statistics SQLite reads an agent's open tasks through the primary key, every task of the agent;
# the end index (schema m001) holds them together at its NULL end.
BY_END = "tasks INDEXED BY tasks_by_end"  # the task of a session's lines before any prompt
# `--disagreeing` ranks this many of each agent's newest unlabelled ended tasks per task shown (and at least
# DISAGREEING_MIN): a bounded read, however long the history.
DISAGREEING_SCAN, DISAGREEING_MIN = 10, 500


@dataclass
class TaskRow:
    agent: str
    task: str
    session: str | None
    project: str | None
    start: float
    end: float | None  # None: still open
    duration_s: float
    cost_usd: float
    unpriced_llm_calls: int
    outcome: str | None  # None while open; "unknown" when it ended without one
    labeled_at: float | None
    signals: dict[str, int] = field(default_factory=dict)
    prompt: str | None = None  # the first PROMPT_CHARS characters, read from the transcript; not escaped
    # What orchestration cost: how many subagents did work for it, and their part of its tokens and cost
    subagents: int = 0
    subagent_tokens: int = 0
    subagent_token_share: float | None = None  # of its tokens, all four kinds; None: it had none
    subagent_cost_usd: float = 0.0
    subagent_cost_share: float | None = None  # of its priced cost; None: it had none
    evidence: dict[str, object] = field(default_factory=dict)  # how it went (docs/success.md); {} without any
    inferred: str | None = None  # ended unknown: what the rule over its evidence says, and why
    inferred_reason: str | None = None
    conflict: str | None = None  # its evidence points both ways: inferred.conflict()

    def as_dict(self) -> dict:
        return asdict(self)


def signal_columns(conn: sqlite3.Connection) -> list[str]:
    have = {name for _, name, *_ in conn.execute("PRAGMA table_info(tasks)")}
    return [c for c in SIGNALS if c in have]


TOKENS_SQL = "input_tokens + output_tokens + cache_read_tokens + cache_write_tokens"
SUBAGENT_COLUMNS = f"{TOKENS_SQL}, subagents, subagent_tokens, subagent_cost_nanos"  # schema m021


def has_subagents(conn: sqlite3.Connection) -> bool:
    return any(name == "subagents" for _, name, *_ in conn.execute("PRAGMA table_info(tasks)"))


def _has_tasks(conn: sqlite3.Connection, agent: str) -> bool:
    """Whether the agent saw a task that is no child (children add nothing to the aggregates)."""
    (seen,) = conn.execute("SELECT sum(tasks_seen) FROM agg_total WHERE agent = ?", (agent,)).fetchone()
    return bool(seen)


def list_tasks(
    conn: sqlite3.Connection,
    agent: str | None = None,
    unlabeled: bool = False,
    since: float | None = None,
    until: float | None = None,
    limit: int = 20,
    disagreeing: bool = False,
) -> list[TaskRow]:
    """The newest `limit` tasks: open ones first (by their last event), then by end, latest first.

    `since`/`until` bound the task's end (an open task: its last event; none when `until` is given, as it
    has not ended by then). `unlabeled`: the tasks with no outcome yet (open, or ended "unknown") and
    no person's label. `disagreeing` (implies `unlabeled`): of the newest DISAGREEING_SCAN × `limit` ended
    ones, those whose evidence conflicts first, then those the rule cannot decide, then the others."""
    unlabeled = unlabeled or disagreeing
    signals = signal_columns(conn)
    subagents = has_subagents(conn)
    have = {name for _, name, *_ in conn.execute("PRAGMA table_info(tasks)")}
    evidence = [c for c in EVIDENCE if c in have]
    cols = "agent, task, first_ts, last_ts, end_ts, outcome, labeled_at, cost_nanos, unpriced_llm_calls, " + ", ".join(
        (*signals, *evidence, SUBAGENT_COLUMNS if subagents else f"{TOKENS_SQL}, 0, 0, 0")
    )
    filters = " AND labeled_at IS NULL AND (outcome IS NULL OR outcome = 'unknown')" if unlabeled else ""
    if subagents:  # a child task (a native task_start's parent_task) is part of its parent, not a task
        filters += " AND parent_task IS NULL"
    agents = [agent] if agent is not None else [a for (a,) in conn.execute("SELECT agent FROM agents")]
    if subagents:  # an agent that only ever ran as a subagent has no task of its own: not walked through
        agents = [a for a in agents if _has_tasks(conn, a)]
    rows: list[tuple] = []
    lo = -1.0 if since is None else since
    wanted = limit
    if disagreeing:  # ranked among a bounded number of the newest; open tasks are not over yet
        limit = max(DISAGREEING_SCAN * limit, DISAGREEING_MIN)
    for name in agents:
        if until is None and not disagreeing:  # open tasks: the index's NULL end_ts range
            rows += conn.execute(
                f"SELECT {cols} FROM {BY_END} WHERE agent = ? AND end_ts IS NULL AND last_ts >= ?{filters}"
                " ORDER BY last_ts DESC LIMIT ?",
                (name, lo, limit),
            ).fetchall()
        hi = "" if until is None else " AND end_ts < ?"
        rows += conn.execute(
            f"SELECT {cols} FROM {BY_END} WHERE agent = ? AND end_ts >= ?{hi}{filters} ORDER BY end_ts DESC LIMIT ?",
            (name, lo, *(() if until is None else (until,)), limit),
        ).fetchall()
    # Open tasks first, then the latest end; a stable order for equal times.
    rows.sort(key=lambda r: (r[4] is None, r[4] if r[4] is not None else r[3], r[0], r[1]), reverse=True)
    if disagreeing and len(evidence) == len(EVIDENCE):
        first = 9 + len(signals)  # the evidence columns: after the nine named first and the signals
        rank = {id(r): _doubt(EvidenceRow(*r[first : first + len(evidence)])) for r in rows}
        rows.sort(key=lambda r: rank[id(r)])  # stable: newest first within each rank
    rows = rows[:wanted]
    sessions = sessions_of(conn, [r[1] for r in rows if r[0].startswith(CLAUDE_CODE)])
    out = []
    for r in rows:
        name, task, first, last, end, outcome, labeled_at, nanos, unpriced, *rest = r
        counts, more = rest[: len(signals)], rest[len(signals) :]
        found = dict(zip(evidence, more[: len(evidence)]))
        tokens, subs, sub_tokens, sub_nanos = more[len(evidence) :]
        inferred = reason = conflicting = None
        if outcome == "unknown" and len(found) == len(EVIDENCE):  # undecided, and its evidence was kept
            row = EvidenceRow(**found)
            (inferred, reason), conflicting = infer(row), conflict(row)
        out.append(
            TaskRow(
                agent=name,
                task=task,
                session=sessions.get(task) if name.startswith(CLAUDE_CODE) else None,
                project=name[len(CLAUDE_CODE) :] if name.startswith(CLAUDE_CODE) else None,
                start=first,
                end=end,
                duration_s=(end if end is not None else last) - first,
                cost_usd=nanos / NANO,
                unpriced_llm_calls=unpriced,
                outcome=outcome,
                labeled_at=labeled_at,
                signals=dict(zip(signals, counts)),
                subagents=subs,
                subagent_tokens=sub_tokens,
                subagent_token_share=sub_tokens / tokens if tokens else None,
                subagent_cost_usd=sub_nanos / NANO,
                subagent_cost_share=sub_nanos / nanos if nanos else None,
                evidence={k: v for k, v in found.items() if v is not None and (v or k != "committed")},
                inferred=inferred if reason else None,
                inferred_reason=reason or None,
                conflict=conflicting,
            )
        )
    return out


def _doubt(t: EvidenceRow) -> int:
    """How much a label would tell: 0 the evidence conflicts, 1 the rule cannot decide, 2 it decides."""
    if conflict(t) is not None:
        return 0
    return 1 if infer(t)[0] == "unknown" else 2


def sessions_of(conn: sqlite3.Connection, tasks: list[str]) -> dict[str, str]:
    """The Claude Code session of each task: from the stored prompts (by the m018 index), else its id."""
    found: dict[str, str] = {}
    wanted = sorted(set(tasks))
    for i in range(0, len(wanted), 500):  # under SQLite's limit on parameters
        chunk = wanted[i : i + 500]
        marks = ", ".join("?" * len(chunk))
        found.update(
            (task, session)
            for session, task in conn.execute(
                f"SELECT session, task FROM session_prompts WHERE task IN ({marks})", chunk
            )
        )
    for task in wanted:
        if task not in found and (session := session_in_id(task)) is not None:
            found[task] = session
    return found


def session_in_id(task: str) -> str | None:
    """The session a task with no stored prompt names in its id: its lines before the first prompt, or a prompt
    line without a uuid (`<session>@<ts>`)."""
    if task.endswith(BEFORE_FIRST_PROMPT):
        return task[: -len(BEFORE_FIRST_PROMPT)]
    if "@" in task:
        return task.rsplit("@", 1)[0]
    return None


def transcripts(conn: sqlite3.Connection, sessions: Iterable[str]) -> dict[str, str]:
    """The local transcript file of each session: `<session>.jsonl`, as the files table knows it; else, for a
    transcript saved under another name (an export, a shared copy), the renamed file whose start names it."""
    wanted = {f"{s}.jsonl": s for s in sessions}
    out: dict[str, str] = {}
    renamed: list[str] = []
    for path, state in conn.execute("SELECT path, state FROM files WHERE format = 'claude-code' AND host = ''"):
        name = os.path.basename(path)
        session = wanted.get(name)
        if session is not None and (session not in out or state == "active"):
            out[session] = path
        elif session is None and not _SESSION_FILE.fullmatch(name) and not name.startswith("agent-"):
            renamed.append(path)
    missing = {json.dumps(s).encode(): s for s in wanted.values() if s not in out}
    for path in renamed if missing else ():
        try:
            with open(path, "rb") as f:
                head = f.read(RENAMED_HEAD)
        except OSError:
            continue
        for needle, session in list(missing.items()):
            if b'"sessionId":' + needle in head or b'"sessionId": ' + needle in head:
                out[session] = path
                del missing[needle]
    return out


# Claude Code names a transcript by its session's id; any other name was given by a person.
_SESSION_FILE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.jsonl")
RENAMED_HEAD = 65536  # bytes of a renamed transcript read for the session it holds: its first lines name it


def add_prompts(conn: sqlite3.Connection, rows: list[TaskRow]) -> None:
    """Fill in the prompts of Claude Code tasks, reading each session's transcript once and only as far
    as its last wanted prompt. A transcript gone or unreadable leaves the prompt out."""
    by_session: dict[str, dict[str, TaskRow]] = {}
    for row in rows:
        if row.session is not None:
            by_session.setdefault(row.session, {})[row.task] = row
    files = transcripts(conn, by_session)
    for session, wanted in by_session.items():
        path = files.get(session)
        if path is None:
            continue
        try:
            for task, text in prompts_in(path, set(wanted)):
                wanted[task].prompt = text
        except OSError:
            continue


def prompts_in(path: str, tasks: set[str]) -> Iterable[tuple[str, str]]:
    """(task, its prompt's first PROMPT_CHARS characters) for the prompt lines whose uuid is in `tasks`."""
    needles = {json.dumps(t, ensure_ascii=False).encode(): t for t in tasks}
    left = set(tasks)
    with open(path, "rb") as f:
        for line in f:
            hits = [t for n, t in needles.items() if n in line and t in left]
            if not hits:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            task = obj.get("uuid") if isinstance(obj, dict) else None
            if task in left:
                left.discard(task)
                yield task, prompt_text(obj)[:PROMPT_CHARS]
                if not left:
                    return


def prompt_text(line: dict) -> str:
    """The text of a prompt line: its message's content, or its first text block."""
    message = line.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content.strip()
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str):
                return block["text"].strip()
    return ""
