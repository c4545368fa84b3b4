"""The demo tells its story within three minutes of launch, driven with a clock instead of in real time:
`refund-agent` opens on hold with its leading signals drifting (the panel's reason says so), turns no-go
when its success rate crosses the limit with confidence, and is listed first throughout."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_helpers import text_of
from waiting import wait_in_app

from agentmon.ingest.ingester import Ingester
from agentmon.report.metrics import AgentMetrics, agent_metrics
from agentmon.simulate.demo import DemoFleet
from agentmon.store.writer import Store, connect

LAUNCH = 1_780_000_000.0  # on a minute boundary; the tests below also launch mid-minute


def replay(tmp_path: Path, seconds: list[int], launch: float = LAUNCH) -> dict[int, tuple[list, dict]]:
    """The demo launched at `launch`, written and ingested up to each of `seconds` after launch: there,
    the fleet's metrics over the last hour (the demo's window), worst first, and the hour before's."""
    fleet = DemoFleet(tmp_path / "logs", now=launch)
    fleet.start()
    seen = {}
    with Store(tmp_path / "db") as store:
        ingester = Ingester(store, [tmp_path / "logs"])
        conn = connect(tmp_path / "db", readonly=True)
        try:
            for second in seconds:
                fleet.write_due(launch + second)
                ingester.run_once()
                previous: dict[str, AgentMetrics] = {}
                seen[second] = agent_metrics(conn, "1h", launch + second, previous_out=previous), previous
        finally:
            ingester.close()
            conn.close()
    return seen


@pytest.mark.parametrize("offset", [0, 29, 59])  # the window starts on a minute: launch anywhere in one
def test_the_demo_holds_on_drift_at_once_and_is_no_go_within_three_minutes(tmp_path, offset):
    seen = replay(tmp_path, list(range(0, 181, 30)), launch=LAUNCH + offset)
    for second, (fleet, _) in seen.items():
        assert fleet[0].agent == "refund-agent", (second, [(m.agent, m.verdict) for m in fleet])
    refund = {second: fleet[0] for second, (fleet, _) in seen.items()}

    # At launch the leading signals already stand above the hour before (the panel's red arrows), and
    # the hold says they drift, first: the reason the panel shows.
    at_launch, before = refund[0], seen[0][1]["refund-agent"]
    assert at_launch.escalation_rate > before.escalation_rate
    assert at_launch.tool_error_rate > before.tool_error_rate
    for second in (0, 30, 60):
        m = refund[second]
        assert m.verdict == "hold", (second, m.reasons)
        assert "drifting up" in m.reasons[0], (second, m.reasons)
    assert {r.split(" drifting")[0] for r in at_launch.reasons if "drifting" in r} == {"escalations", "tool errors"}

    # Its success rate keeps falling, and its last hour is past the limit with confidence by 180 s.
    no_go = refund[180]
    assert no_go.verdict == "no-go", no_go.reasons
    assert no_go.reasons[0].startswith("success ") and "below the 85.0% limit" in no_go.reasons[0]
    assert any("drifting up" in r for r in no_go.reasons)
    rates = [refund[s].task_success_rate for s in sorted(refund)]
    assert rates[-1] < rates[0] - 0.01


def test_the_rest_of_the_fleet_stays_in_its_lane(tmp_path):
    """Nobody else drifts: the others go or hold on their own small numbers, never no-go."""
    seen = replay(tmp_path, [0, 180])
    for fleet, _ in seen.values():
        others = {m.agent: m for m in fleet if m.agent != "refund-agent"}
        assert set(others) == {"support-bot", "invoice-triage", "code-reviewer", "sales-assistant"}
        assert all(m.verdict != "no-go" and not any("drifting up" in r for r in m.reasons) for m in others.values())
        assert others["invoice-triage"].verdict == "go"


def test_the_live_minutes_do_not_depend_on_how_often_the_fleet_writes(tmp_path):
    """Each agent draws from its own random stream: written every half second, as the live demo does, or
    at once, the same events land, so a test that steps the clock sees what a person watching sees."""
    written = {}
    for name, steps in (("stepped", [i / 2 for i in range(361)]), ("at-once", [180.0])):
        fleet = DemoFleet(tmp_path / name, now=LAUNCH)
        fleet.start()
        for second in steps:
            fleet.write_due(LAUNCH + second)
        written[name] = {
            p.parent.name: [line for line in p.read_text().splitlines() if '"yesterday"' not in line]
            for p in sorted((tmp_path / name).glob("*/events.jsonl"))
        }
    assert written["stepped"] == written["at-once"]
    assert len(written["at-once"]["refund-agent"]) > 30_000


def test_the_demo_writes_one_unreadable_line_shortly_after_launch(tmp_path):
    """Once, not every minute: the quarantine count shows the path, and stays a count a person can read."""
    fleet = DemoFleet(tmp_path / "logs", now=LAUNCH)
    fleet.start()
    bad = lambda: sum(p.read_text().count('"yesterday"') for p in (tmp_path / "logs").glob("*/events.jsonl"))
    fleet.write_due(LAUNCH + 5)
    assert bad() == 0  # the monitor opens clean
    for i in range(20, 600):
        fleet.write_due(LAUNCH + i / 2 + 10)
    assert bad() == 1


async def test_the_demo_screen_tells_it_at_80x24(tmp_path):
    """The monitor itself, on the demo's own clock: hold on drift at launch, listed first; no-go at 180 s."""
    from agentmon.tui.demo import DemoApp

    now = [LAUNCH + 17]

    app = DemoApp(tmp_path, clock=lambda: now[0], refresh_interval=0.2)

    def refund() -> AgentMetrics | None:
        panel = app.panels.get("refund-agent")
        return panel.view.metrics if panel else None

    async with app.run_test(size=(80, 24)) as pilot:
        # the first paint may come before the whole history is read: wait for the reading to settle
        assert await wait_in_app(pilot, lambda: (m := refund()) is not None and m.tasks > 1500)
        assert await wait_in_app(pilot, lambda: "drifting" in text_of(app.panels["refund-agent"]))
        assert refund().verdict == "hold"
        assert next(iter(app.panels)) == "refund-agent"
        now[0] += 180
        assert await wait_in_app(pilot, lambda: refund().verdict == "no-go"), refund().reasons
        assert "below the 85.0% limit" in text_of(app.panels["refund-agent"])
        assert next(iter(app.panels)) == "refund-agent"
        await pilot.press("q")
