"""Snapshot tests (pytest-textual-snapshot) of the monitor's screens, frozen clock, two sizes.

After a deliberate change of the screens: `python -m pytest tests/test_snapshots.py --snapshot-update`,
then look at the SVGs in tests/__snapshots__/ before committing them.
"""

import json
import sqlite3
import time

import pytest
from conftest import ingest
from tui_helpers import FROZEN, demo_db, make_app

pytestmark = pytest.mark.slow  # each draws the monitor in a headless terminal and compares it to an SVG
SIZES = [(80, 24), (160, 48)]
sizes = pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    """Clock times on screen (chart axes, the quarantine's "when") in one time zone wherever the tests run."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def _settled(pilot):
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def _press(*keys):
    async def run_before(pilot):
        await _settled(pilot)
        for key in keys:
            await pilot.press(key)
            await _settled(pilot)

    return run_before


def _old_db(tmp_path):
    """One agent whose 40 tasks ended 317 days before the frozen clock."""
    logs, db = tmp_path / "logs", tmp_path / "old.db"
    logs.mkdir()
    with open(logs / "old.jsonl", "w") as f:
        for i in range(40):
            ts = FROZEN - 317 * 86400 + i * 600
            f.write(json.dumps({"ts": ts, "agent": "old-agent", "event": "task_start", "task": f"t{i}"}) + "\n")
            end = {"ts": ts + 60, "agent": "old-agent", "event": "task_end", "task": f"t{i}"}
            f.write(json.dumps(end | {"outcome": "success" if i % 5 else "failure"}) + "\n")
    ingest([logs], db)
    return db


@sizes
def test_fleet_screen(snap_compare, tmp_path, size):
    assert snap_compare(make_app(demo_db(tmp_path)), terminal_size=size, run_before=_settled)


@sizes
def test_agent_screen(snap_compare, tmp_path, size):
    async def open_refund_agent(pilot):
        await _settled(pilot)
        await pilot.press("slash", *"refund", "enter", "enter")
        await _settled(pilot)

    assert snap_compare(make_app(demo_db(tmp_path)), terminal_size=size, run_before=open_refund_agent)


@sizes
def test_old_data_opens_on_the_all_window(snap_compare, tmp_path, size):
    app = make_app(_old_db(tmp_path), window="24h")
    assert snap_compare(app, terminal_size=size, run_before=_settled)


def test_empty_window_hint(snap_compare, tmp_path):
    app = make_app(_old_db(tmp_path), window="all")
    assert snap_compare(app, terminal_size=(80, 24), run_before=_press("w"))  # 1h


def test_agent_screen_with_nothing_in_the_window(snap_compare, tmp_path):
    app = make_app(_old_db(tmp_path), window="all")
    assert snap_compare(app, terminal_size=(80, 24), run_before=_press("w", "enter"))  # 1h, its agent


@sizes
def test_help_screen(snap_compare, tmp_path, size):
    assert snap_compare(make_app(demo_db(tmp_path)), terminal_size=size, run_before=_press("question_mark"))


@sizes
def test_quarantine_screen(snap_compare, tmp_path, size):
    logs, db = tmp_path / "logs", tmp_path / "q.db"
    logs.mkdir()
    start = {"ts": FROZEN - 600, "agent": "billing-bot", "event": "task_start", "task": "b1"}
    (logs / "bad.jsonl").write_text(
        json.dumps(start)
        + "\nthis line is not JSON at all\n"
        + '{"ts": 1780000000000, "agent": "x", "event": "nope"}\n'
    )
    ingest([logs], db)
    with sqlite3.connect(db) as conn:  # where, when and why in fixed words: this pins the screen, not the parsers
        conn.execute(
            "UPDATE quarantine SET path = 'logs/bad.jsonl', at = ?,"
            " reason = CASE WHEN excerpt LIKE 'this%' THEN 'not JSON' ELSE 'unknown event type: nope' END",
            (FROZEN,),
        )
    assert snap_compare(make_app(db), terminal_size=size, run_before=_press("x"))


@sizes
def test_hosts_screen(snap_compare, tmp_path, size):
    assert snap_compare(make_app(demo_db(tmp_path)), terminal_size=size, run_before=_press("h"))
