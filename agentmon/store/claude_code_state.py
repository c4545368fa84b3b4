"""What the Claude Code parser must remember across restarts, per session: the subagents launched (agentId ->
task), the Warmup subagents, a slash command waiting for the model, whether the assistant's last words asked a
question, API retries no answer ended yet, an Esc counted at its tool result, the calls still waiting for their
result, and what the evidence waits for (a check's or a commit's result, the latest prompt's hash). Written in
the ingest transaction with the lines that taught it (agentmon.events.SessionFact), so a restart between any two
lines reads on as if none happened; loaded with the session's prompts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from agentmon.events import ASKED, COMMAND, RETRYING, SessionFact

# One of these at most per session: a new fact replaces the old one, None removes it. Of the other kinds, None
# removes the fact of that key.
SINGLE = frozenset((COMMAND, ASKED, RETRYING))


def save_facts(conn: sqlite3.Connection, facts: Iterable[SessionFact]) -> None:
    """Store the facts in their order (a batch may set a command and drop it again)."""
    for f in facts:
        if f.kind in SINGLE:
            conn.execute("DELETE FROM claude_code_state WHERE session = ? AND kind = ?", (f.session, f.kind))
        elif f.value is None:
            conn.execute(
                "DELETE FROM claude_code_state WHERE session = ? AND kind = ? AND key = ?", (f.session, f.kind, f.key)
            )
        if f.value is not None:
            conn.execute(
                "INSERT OR REPLACE INTO claude_code_state (session, kind, key, value, ts) VALUES (?, ?, ?, ?, ?)",
                (f.session, f.kind, f.key, f.value, f.ts),
            )


def load_state(conn: sqlite3.Connection, session: str) -> list[tuple[str, str, str | None, float]]:
    """A session's stored facts: [(kind, key, value, ts)]."""
    return conn.execute("SELECT kind, key, value, ts FROM claude_code_state WHERE session = ?", (session,)).fetchall()


def launched(conn: sqlite3.Connection, session: str, subagent: str) -> str | None:
    """The task whose Task call launched `subagent`, if its result was read."""
    row = conn.execute(
        "SELECT value FROM claude_code_state WHERE session = ? AND kind = 'launch' AND key = ?", (session, subagent)
    ).fetchone()
    return None if row is None else row[0]
