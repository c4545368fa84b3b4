"""Follow-ups: a task is followed up when another task with the same key (the same customer, say)
starts after it ended. Kept per task as the earliest such start, from both directions, so the
order in which the two tasks arrive does not matter."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from typing import NamedTuple

from agentmon.store.sql import in_chunks
from agentmon.store.taskstate import TaskState


class FollowUp(NamedTuple):
    """A stored task's follow-up, moved: the earliest start of a later task with its key, or None."""

    agent: str
    task: str
    follow_up_ts: float | None


def changed_follow_ups(conn: sqlite3.Connection, touched: list[TaskState]) -> list[FollowUp]:
    """The stored tasks sharing a key with `touched` whose follow-up moved; call once the touched
    tasks' rows are written."""
    keys: dict[str, set[str]] = defaultdict(set)
    for state in touched:
        if state.key is not None:
            keys[state.agent].add(state.key)
    changes: list[FollowUp] = []
    for agent, agent_keys in keys.items():
        groups: dict[str, list[tuple]] = defaultdict(list)  # key -> [(task, first_ts, end_ts, follow_up_ts)]
        for row in in_chunks(
            conn,
            "SELECT key, task, first_ts, end_ts, follow_up_ts FROM tasks WHERE agent = ? AND key IN ({})",
            list(agent_keys),
            (agent,),
        ):
            groups[row[0]].append(row[1:])
        for tasks in groups.values():
            for task, _, end, stored in tasks:
                later = [first for other, first, _, _ in tasks if other != task and end is not None and first > end]
                follow_up = min(later) if later else None
                if follow_up != stored:
                    changes.append(FollowUp(agent, task, follow_up))
    return changes
