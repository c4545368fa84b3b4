"""The real transcripts, counted by reading their lines (docs/claude-code.md, "Real transcripts, by hand"):
agentmon's figures must equal that table, whichever file of a session is read first."""

import json
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from conftest import REALDATA, ingest, needs_realdata

from agentmon.events import ApiError
from agentmon.sources.claude_code import ClaudeCodeSource

COLUMNS = ("tasks", "tool_calls", "tool_errors", "permission_denials", "rejections", "interventions", "escalations")
# transcript: tasks, tool calls, tool errors, permission denials, rejections, interventions, escalations,
# API failures, API retries, LLM requests; and the one agent each is
BY_HAND = {
    "A07": ((1, 12, 0, 1, 0, 0, 0, 0, 0, 7), "claude-code:/path/to/Demo"),
    "A08": ((1, 21, 3, 0, 0, 0, 0, 0, 0, 20), "claude-code:/path/to/Demo"),
    "A09": ((2, 167, 23, 0, 0, 0, 0, 0, 0, 170), "claude-code:/path/to/Demo"),
    "A13+A14": ((5, 10, 2, 0, 0, 0, 0, 0, 0, 12), "claude-code:/workspace"),
    "A16": ((1, 0, 0, 0, 0, 0, 0, 0, 0, 1), "claude-code:/tmp/agent-history-real-agent/claude/workspace"),
}


def laid_out(name: str, root: Path) -> tuple[Path, list[Path]]:
    """The transcript(s) where Claude Code keeps them: projects/<encoded cwd>/<session>.jsonl, a subagent's in
    <session>/subagents/agent-<id>.jsonl. Returns the projects folder and its subagents' files."""
    src = REALDATA / "claude-code"
    subagents = []
    for prefix in name.split("+"):
        f = next(src.glob(f"{prefix}_*.jsonl"))
        first = next(json.loads(line) for line in f.read_text().splitlines() if '"cwd"' in line)
        folder = root / "projects" / "".join(c if c.isascii() and c.isalnum() else "-" for c in first["cwd"])
        if first.get("isSidechain") and first.get("agentId"):
            dest = folder / first["sessionId"] / "subagents" / f"agent-{first['agentId']}.jsonl"
            subagents.append(dest)
        else:
            dest = folder / f"{first['sessionId']}.jsonl"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dest)
    return root / "projects", subagents


def api_failures(projects: Path) -> tuple[int, int]:
    source = ClaudeCodeSource(lambda session: [])
    c: Counter = Counter()
    for path in sorted(projects.rglob("*.jsonl"), key=lambda p: (p.parent.name == "subagents", str(p))):
        source.begin_chunk(str(path), 0)
        for raw in path.read_bytes().splitlines():
            c.update(e.retry for e in source.parse(raw, str(path)) if type(e) is ApiError)
    return c[False], c[True]


@needs_realdata("Claude Code transcripts", "claude-code")
@pytest.mark.parametrize("subagents_first", [False, True], ids=["session-first", "subagents-first"])
@pytest.mark.parametrize("name", list(BY_HAND))
def test_real_transcripts_count_as_read_by_hand(tmp_path, name, subagents_first):
    projects, subagents = laid_out(name, tmp_path)
    db = tmp_path / "real.db"
    if subagents_first:
        for f in subagents:
            ingest([f], db)
    ingest([projects], db)
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT agent, count(*), sum(tool_calls), sum(tool_errors), sum(permission_denials), sum(rejections),"
        " sum(interventions), sum(escalations), sum(llm_calls) FROM tasks GROUP BY agent"
    ).fetchall()
    expected, agent = BY_HAND[name]
    assert len(rows) == 1 and rows[0][0] == agent  # one agent: the project, whatever the lines' cwd
    got = (*rows[0][1:8], *api_failures(projects), rows[0][8])
    assert got == expected
