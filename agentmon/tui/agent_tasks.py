"""The agent screen's latest tasks: read, shown with a selection, and labelled success or failure."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from rich.text import Text

from agentmon.errors import AgentmonError
from agentmon.labels import append_label
from agentmon.report.metrics import WINDOWS
from agentmon.report.tasks import TaskRow, add_prompts, list_tasks
from agentmon.text import NAME_LIMIT, literal
from agentmon.tui.render import clock, plain, usd

TASKS_SHOWN = 8
PROMPT_SHOWN = 40  # characters of a prompt on this screen (fewer when the screen is narrow: cut at its edge)
TASK_SHOWN = 14  # characters of a task's id: a uuid's first two groups


def latest_tasks(
    conn: sqlite3.Connection, agent: str, window: str, now: float, prompts: dict[str, str | None]
) -> list[TaskRow]:
    """The agent's newest tasks that ended in the window (or are still open), with their prompts. A prompt
    never changes: `prompts` keeps those read (None: none to read), so a refresh reads no transcript again."""
    seconds = WINDOWS[window]
    rows = list_tasks(conn, agent, since=None if seconds is None else now - seconds, limit=TASKS_SHOWN)
    add_prompts(conn, [r for r in rows if r.task not in prompts])
    for r in rows:
        r.prompt = prompts.setdefault(r.task, r.prompt)
    return rows


def label_task(conn: sqlite3.Connection, db_path: Path, task: TaskRow, outcome: str) -> tuple[str, bool]:
    """Label it as `agentmon label` does; (what to tell the person, whether it worked)."""
    try:
        append_label(conn, db_path, task.agent, task.task, outcome)
    except (AgentmonError, OSError) as e:
        return f"not labelled: {literal(str(e))}", False
    return f"labelled {literal(task.task, NAME_LIMIT)} {outcome}: counted at the next ingest", True


def tasks_text(tasks: list[TaskRow], selected: int) -> Text:
    out = Text("latest tasks (j k select · s success · f failure)\n", style="bold")
    if not tasks:
        out.append("  none in this window\n", style="dim")
    for i, t in enumerate(tasks):
        mine = i == selected
        line = Text("▶ " if mine else "  ", style="bold")
        line.append(f"{clock(t.end if t.end is not None else t.start):<12} ")
        line.append_text(plain(f"{literal(t.task, TASK_SHOWN):<{TASK_SHOWN}}"))  # a uuid's head tells it apart
        outcome = "open" if t.outcome is None else t.outcome
        style = {"success": "green", "failure": "red", "abandoned": "red"}.get(outcome, "dim")
        line.append(f"  {outcome + ('*' if t.labeled_at is not None else ''):<10}", style=style)
        cost = "unpriced" if t.unpriced_llm_calls and not t.cost_usd else usd(t.cost_usd)
        line.append(f" {cost:>8}  ")
        if t.prompt:
            line.append_text(plain(t.prompt[:PROMPT_SHOWN], "italic"))
        if mine:
            line.stylize("reverse")
        out.append_text(line + Text("\n"))
    if any(t.labeled_at is not None for t in tasks):
        out.append("  * labelled by a person\n", style="dim")
    return out
