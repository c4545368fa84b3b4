"""The agent screen's latest tasks: select one with j/k, label it success (s) or failure (f)."""

import json
import shutil
import sqlite3

from conftest import FIXTURES, ingest
from tui_helpers import make_app, text_of
from waiting import wait_in_app

from agentmon.config import labels_path
from agentmon.tui.agent_screen import AgentScreen
from agentmon.tui.help_screen import HelpScreen

PROJECTS = FIXTURES / "claude-code" / "projects"
CLAUDE = "claude-code:/work/demo"


def labels(db) -> list[dict]:
    path = labels_path(db)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def outcome(db, task) -> str | None:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT outcome FROM tasks WHERE task = ?", (task,)).fetchone()[0]
    finally:
        conn.close()


async def open_agent(pilot, app) -> AgentScreen:
    await wait_in_app(pilot, lambda: CLAUDE in app.panels)
    await pilot.press("enter")
    await wait_in_app(pilot, lambda: isinstance(app.screen, AgentScreen) and len(app.screen.tasks) == 3)
    return app.screen


async def test_s_and_f_label_the_selected_task(tmp_path):
    db = tmp_path / "a.db"
    ingest([PROJECTS], db)
    app = make_app(db, window="all")
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_agent(pilot, app)
        shown = text_of(screen.query_one("#tasks"))
        assert "j k select · s success · f failure" in shown
        assert "▶ " in shown and "fix the failing test in billing" in shown  # the prompt, read from the transcript
        assert [t.task for t in screen.tasks] == ["p3", "p2", "p1"] and screen.selected == 0
        await pilot.press("j")
        assert screen.selected == 1
        await pilot.press("s")
        await wait_in_app(pilot, lambda: len(labels(db)) == 1)
        await pilot.press("j", "j", "f")  # the last one, and no further
        await wait_in_app(pilot, lambda: len(labels(db)) == 2)
        await pilot.press("k", "k", "k")
        assert screen.selected == 0
    p2, p1 = labels(db)
    conn = sqlite3.connect(db)
    ends = dict(conn.execute("SELECT task, end_ts FROM tasks"))
    assert (p2["task"], p2["outcome"], p2["ts"], p2["agent"]) == ("p2", "success", ends["p2"], CLAUDE)
    assert (p1["task"], p1["outcome"], p1["ts"]) == ("p1", "failure", ends["p1"])
    assert p2["labeled_at"] <= p1["labeled_at"]


async def test_a_monitor_that_ingests_counts_the_label_and_shows_it(tmp_path):
    projects = tmp_path / "projects"
    shutil.copytree(PROJECTS, projects)
    db = tmp_path / "a.db"
    app = make_app(db, window="all", paths=[projects], poll=True)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_agent(pilot, app)
        await pilot.press("s")  # p3, the newest
        assert await wait_in_app(pilot, lambda: outcome(db, "p3") == "success")
        screen.load()
        await wait_in_app(pilot, lambda: screen.tasks and screen.tasks[0].labeled_at is not None)
        assert "success*" in text_of(screen.query_one("#tasks"))
        assert "labelled by a person" in text_of(screen.query_one("#tasks"))


async def test_help_lists_the_label_keys(tmp_path):
    db = tmp_path / "a.db"
    ingest([PROJECTS], db)
    app = make_app(db, window="all")
    async with app.run_test(size=(100, 40)) as pilot:
        await open_agent(pilot, app)
        await pilot.press("question_mark")
        await wait_in_app(pilot, lambda: isinstance(app.screen, HelpScreen))
        (static,) = app.screen.query("Static")
        text = text_of(static)
        assert "label the selected task success" in text and "label the selected task failure" in text


async def test_at_80_columns_a_task_is_one_line_its_prompt_cut_at_the_edge(tmp_path):
    db = tmp_path / "a.db"
    ingest([PROJECTS], db)
    app = make_app(db, window="all")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_agent(pilot, app)
        tasks = screen.query_one("#tasks")
        screen.query_one("#agent-body").scroll_to_widget(tasks, animate=False)
        await pilot.pause()
        rows = [strip.text for strip in screen._compositor.render_strips()]
        (p1,) = [row for row in rows if " p1 " in row]
        assert "unknown" in p1 and p1.rstrip().endswith("…") and "fix the failing test" in p1
        below = rows[rows.index(p1) + 1]
        assert "billing" not in below  # not wrapped onto the next row


async def test_the_agent_screen_says_how_far_the_inferred_outcomes_agree_with_the_labels(tmp_path):
    """One line under the reasons, in words: no label yet, then how many agree once some are labelled."""
    from agentmon.report.metrics import default_limits

    db = tmp_path / "a.db"
    ingest([PROJECTS], db)
    app = make_app(db, window="all", limits_for=default_limits)  # claude-code:*: success inferred
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_agent(pilot, app)
        why = text_of(screen.query_one("#why"))
        assert "inferred vs your labels: none to compare yet; needs 20, not counted" in why
