"""Snapshot tests (pytest-textual-snapshot) of the fleet and agent screens, frozen clock, two sizes.

After a deliberate change of the screens: `python -m pytest tests/test_snapshots.py --snapshot-update`,
then look at the SVGs in tests/__snapshots__/ before committing them.
"""

import pytest
from tui_helpers import demo_db, make_app

pytestmark = pytest.mark.slow  # each draws the monitor in a headless terminal and compares it to an SVG
SIZES = [(80, 24), (160, 48)]


async def _settled(pilot):
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_fleet_screen(snap_compare, tmp_path, size):
    assert snap_compare(make_app(demo_db(tmp_path)), terminal_size=size, run_before=_settled)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_agent_screen(snap_compare, tmp_path, size):
    async def open_refund_agent(pilot):
        await _settled(pilot)
        await pilot.press("slash", *"refund", "enter", "enter")
        await _settled(pilot)

    assert snap_compare(make_app(demo_db(tmp_path)), terminal_size=size, run_before=open_refund_agent)
