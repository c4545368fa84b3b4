"""The agent screen's line on orchestration: tasks with subagents against tasks without."""

import shutil

from conftest import FIXTURES, ingest
from tui_helpers import make_app, text_of
from waiting import wait_in_app

from agentmon.tui.agent_screen import AgentScreen

AGENT = "claude-code:/work/app"


async def test_the_agent_screen_compares_tasks_with_subagents_and_without(tmp_path):
    projects = tmp_path / "projects"
    shutil.copytree(FIXTURES / "claude-code" / "rules" / "orchestration" / "projects", projects)
    db = tmp_path / "a.db"
    ingest([projects], db)
    app = make_app(db, window="all")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_in_app(pilot, lambda: AGENT in app.panels)
        await pilot.press("enter")
        await wait_in_app(pilot, lambda: isinstance(app.screen, AgentScreen) and app.screen.detail is not None)
        lines = [line.strip() for line in text_of(app.screen.query_one("#why")).splitlines()]
    # Counted by hand in tests/test_subagents.py: p1 had 3 subagents, $0.18 of the ended tasks' $0.21; no labels.
    # Two lines, each whole at 80 columns.
    i = lines.index("subagents: 1 task, none labelled")
    assert lines[i + 1] == "without: 2 tasks, none labelled · 86% of spend in subagents"
