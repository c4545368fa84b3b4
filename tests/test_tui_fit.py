"""The monitor fits the terminal: columns of panels when wide, nothing cut at 80x24, plurals, the window it
opens on, charts that cover their window and say "no data", sparklines that do not leap on tiny counts."""

import json
import sqlite3

import pytest
from conftest import ingest
from tui_helpers import FROZEN, demo_db, make_app, text_of

from agentmon.report.fleet import MIN_SAMPLES, fleet_view
from agentmon.tui.agent_screen import AgentScreen
from agentmon.tui.charts import line_chart
from agentmon.tui.help_screen import KEYS, HelpScreen
from agentmon.tui.panel import AgentPanel

DAY = 86400.0


async def settle(pilot, app):
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def screen_lines(app) -> list[str]:
    """The rows of the terminal as drawn."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def write_events(path, agent: str, start: float, tasks: int, every: float = 600.0, **end) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        for i in range(tasks):
            ts = start + i * every
            f.write(json.dumps({"ts": ts, "agent": agent, "event": "task_start", "task": f"{agent}-{i}"}) + "\n")
            done = {"ts": ts + 30, "agent": agent, "event": "task_end", "task": f"{agent}-{i}", "outcome": "success"}
            f.write(json.dumps(done | end) + "\n")


@pytest.fixture
def fleet(tmp_path):
    return demo_db(tmp_path)


def old_db(tmp_path, days_ago: float = 317):
    db = tmp_path / "old.db"
    write_events(tmp_path / "logs" / "old.jsonl", "old-agent", FROZEN - days_ago * DAY, 40)
    ingest([tmp_path / "logs"], db)
    return db


async def test_a_wide_terminal_shows_panels_side_by_side(fleet):
    for size, columns in (((80, 24), 1), ((160, 48), 2), ((240, 48), 3)):
        app = make_app(fleet)
        async with app.run_test(size=size) as pilot:
            await settle(pilot, app)
            tops = [p.region.y for p in app.query(AgentPanel)]
            lefts = {p.region.x for p in app.query(AgentPanel)}
            assert len(lefts) == columns, size
            assert tops[:columns] == [tops[0]] * columns, size


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_every_panel_line_fits_its_panel(fleet, size):
    app = make_app(fleet)
    async with app.run_test(size=size) as pilot:
        await settle(pilot, app)
        for panel in app.query(AgentPanel):
            lines = panel.lines(panel.content_region.width)
            assert len(lines) == 4 and panel.content_region.height == 4
            assert all(line.cell_len <= panel.content_region.width for line in lines)
            spend = lines[2].plain
            assert spend.startswith("deny") and "api-err" in spend and "$" in spend and "cache r+w" in spend
        rows = screen_lines(app)
        assert "deny" in rows[4] and "api-err" in rows[4]  # the first panel's third line, drawn
        # Liveness sits on the bottom border, beside the verdict: a long reason never pushes it off.
        assert "open " in rows[6] and " · last event " in rows[6] and " ago " in rows[6], rows[6]


async def test_at_80_columns_the_footer_and_the_top_line_are_whole_or_end_in_an_ellipsis(fleet):
    app = make_app(fleet, banner="a banner long enough to push the end of the top line past eighty columns")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        rows = screen_lines(app)
        assert rows[0].rstrip().endswith("…")
        assert "? Help" in rows[-1]
        await pilot.press("down", "enter")
        await settle(pilot, app)
        assert isinstance(app.screen, AgentScreen)
        footer = screen_lines(app)[-1]
        assert "? Help" in footer and "f Failure" in footer


async def test_at_80x24_the_help_shows_every_key_at_once(fleet):
    app = make_app(fleet)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await settle(pilot, app)
        assert isinstance(app.screen, HelpScreen)
        box = app.screen.query_one("#help-box")
        assert box.max_scroll_y == 0
        drawn = "\n".join(screen_lines(app))
        for _, keys in KEYS:
            for _, what in keys:
                assert what in drawn  # each on one line: none wrapped, none below the fold


async def test_one_agent_and_one_file_are_singular(tmp_path):
    db = tmp_path / "one.db"
    write_events(tmp_path / "logs" / "a.jsonl", "solo", FROZEN - 1800, 3)
    ingest([tmp_path / "logs"], db)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        status = text_of(app.query_one("#status"))
        assert " 1 agent · " in status and " 1 file · " in status and "0 lines/s" in status


async def test_old_data_opens_on_the_shortest_window_with_tasks_and_says_so(tmp_path):
    app = make_app(old_db(tmp_path, days_ago=3), window="24h")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        assert app.window == "7d"
        assert app.panels["old-agent"].view.metrics.tasks == 40
        assert "7d (no tasks in 24h)" in text_of(app.query_one("#status"))
        await pilot.press("w")
        await settle(pilot, app)
        assert app.window == "30d" and "no tasks in" not in text_of(app.query_one("#status"))


async def test_an_empty_window_says_when_the_last_task_was(tmp_path):
    app = make_app(old_db(tmp_path), window="24h")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        assert app.window == "all"
        await pilot.press("w")
        await settle(pilot, app)
        assert app.window == "1h"
        hint = app.query_one("#hint")
        assert hint.display and text_of(hint) == "no tasks in the last 1h — last event 317d ago, press w"


async def test_a_window_with_tasks_shows_no_hint(fleet):
    app = make_app(fleet)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        assert not app.query_one("#hint").display and app.window == "1h"


def test_the_all_window_series_cover_all_the_data(tmp_path):
    db = old_db(tmp_path, days_ago=90)
    with sqlite3.connect(db) as conn:
        view = fleet_view(conn, "all", FROZEN, buckets=12)
    covered = view.bucket_seconds * 12
    assert abs(covered - 90 * DAY) < 120  # from the first task's minute to now
    success = view.agents[0].series["task_success_rate"]
    assert success[0] == 1.0 and success[1:] == [None] * 11  # the 40 tasks, in the window's first bucket


def test_a_bucket_with_too_few_samples_is_a_gap_not_a_leap(tmp_path):
    db = tmp_path / "few.db"
    logs = tmp_path / "logs" / "few.jsonl"
    # One bucket (the first 5 minutes of the hour) with one rejected confirmation; the rest with plenty.
    write_events(logs, "few", FROZEN - 3600 + 10, 1)
    with open(logs, "a") as f:
        ask = {"ts": FROZEN - 3600 + 20, "agent": "few", "event": "confirmation", "task": "few-0"}
        f.write(json.dumps(ask | {"action": "refund", "approved": False}) + "\n")
    write_events(logs, "many", FROZEN - 3000, 40, every=60)
    ingest([tmp_path / "logs"], db)
    with sqlite3.connect(db) as conn:
        view = fleet_view(conn, "1h", FROZEN, buckets=12)
    few = next(a for a in view.agents if a.metrics.agent == "few")
    assert few.metrics.confirmation_rejection_rate == 1.0  # the window's figure is still the whole truth
    assert few.series["confirmation_rejection_rate"] == [None] * 12  # 1 of 1 < MIN_SAMPLES: no 100% spike
    assert MIN_SAMPLES > 1
    many = next(a for a in view.agents if a.metrics.agent == "many")
    assert any(v == 1.0 for v in many.series["task_success_rate"])


def test_an_empty_chart_says_no_data_and_draws_no_negative_axis():
    empty = line_chart({"$ per successful task": [None] * 24}, 60, 9, FROZEN, 150, "cost, $", percent=False)
    assert "no data in this window" in empty.plain and "-1.00" not in empty.plain
    assert len(empty.plain.split("\n")) == 9  # as tall as a chart: the screen does not jump
    zeros = line_chart({"$": [0.0] * 24}, 60, 9, FROZEN, 150, "cost, $", percent=False, color=False)
    assert "-" not in "".join(line.split("┤")[0] for line in zeros.plain.split("\n") if "┤" in line)


async def test_the_agent_screen_of_an_empty_window_says_no_data(tmp_path):
    app = make_app(old_db(tmp_path), window="24h")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("w")  # all -> 1h
        await settle(pilot, app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, AgentScreen)
        for chart in ("#outcome-chart", "#signal-chart", "#cost-chart"):
            assert "no data in this window" in text_of(app.screen.query_one(chart))


async def test_a_chart_too_thin_to_draw_says_so_not_no_data(tmp_path):
    """Claude Code's own transcripts: four tasks over a year, too few at any point to draw a rate. The charts say
    that, not "no data" (the panel shows the window's rate), and that success there is inferred."""
    import shutil

    from conftest import FIXTURES

    projects = tmp_path / "projects"
    shutil.copytree(FIXTURES / "claude-code" / "projects", projects)
    db = tmp_path / "cc.db"
    ingest([projects], db)
    from agentmon.config import Config

    app = make_app(db, window="all", limits_for=Config().limits_for)  # as `agentmon watch` reads agentmon.toml
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, AgentScreen)
        outcome = text_of(app.screen.query_one("#outcome-chart"))
        assert f"too few a point to draw ({MIN_SAMPLES} needed)" in outcome
        assert "no data in this window" not in outcome
        assert "success (inferred) and autonomy, %" in outcome
        assert "cost per successful task, $ (success inferred)" in text_of(app.screen.query_one("#cost-chart"))
