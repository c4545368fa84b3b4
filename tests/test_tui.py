"""The live monitor, driven with Pilot: every key and screen, asserting on what is displayed."""

import csv
import json
import shutil
import time

import pytest
from conftest import FIXTURES, ingest
from tui_helpers import FROZEN, demo_db, make_app, text_of
from waiting import DEADLINE, wait_in_app

from agentmon.tui.agent_screen import AgentScreen
from agentmon.tui.app import FleetRefreshed
from agentmon.tui.help_screen import HelpScreen
from agentmon.tui.panel import AgentPanel
from agentmon.tui.quarantine_screen import QuarantineScreen


@pytest.fixture
def fleet(tmp_path):
    return demo_db(tmp_path)


async def settle(pilot, app):
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def panels(app):
    return {p.agent: text_of(p) for p in app.query(AgentPanel) if p.display}


async def test_fleet_screen_shows_every_agent_worst_first(fleet):
    seen = []
    app = make_app(fleet)
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await settle(pilot, app)
        shown = [p.agent for p in app.query(AgentPanel)]
        assert set(shown) == {"refund-agent", "support-bot", "invoice-triage", "code-reviewer", "sales-assistant"}
        order = {"no-go": 0, "hold": 1, "go": 2}
        verdicts = [app.panels[a].view.metrics.verdict for a in shown]
        assert [order[v] for v in verdicts] == sorted(order[v] for v in verdicts)
        text = panels(app)["sales-assistant"]
        assert "success" in text and "escalate" in text and "too few tasks" in text
        status = text_of(app.query_one("#status"))
        assert "5 agents" in status and "1h" in status and "quarantined" in status
    assert any(isinstance(m, FleetRefreshed) for m in seen)


async def test_drifting_agent_leading_signals_turn_first(fleet):
    app = make_app(fleet)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        refund = app.panels["refund-agent"].view
        esc, errors = refund.series["escalation_rate"], refund.series["tool_error_rate"]
        assert esc[-1] > esc[0] and errors[-1] > errors[0]  # the leading signals rose over the hour
        assert refund.metrics.verdict == "no-go"
        assert any("drifting up" in r for r in refund.metrics.reasons)
        assert app.panels["invoice-triage"].view.metrics.verdict == "go"
        assert next(iter(app.panels)) == "refund-agent"  # worst first


async def test_w_cycles_the_window(fleet):
    app = make_app(fleet)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        for expected in ("24h", "7d", "30d", "all", "1h"):
            await pilot.press("w")
            await settle(pilot, app)
            assert app.window == expected
            assert f" {expected} " in text_of(app.query_one("#status"))


async def test_slash_filters_by_name_and_escape_clears(fleet):
    app = make_app(fleet)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("slash", "r", "e", "f")
        assert list(panels(app)) == ["refund-agent"]
        await pilot.press("enter")
        assert list(panels(app)) == ["refund-agent"] and "1/5 agents" in text_of(app.query_one("#status"))
        await pilot.press("slash", "escape")
        assert len(panels(app)) == 5


async def test_enter_opens_the_agent_screen_and_escape_returns(fleet):
    app = make_app(fleet)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        first = next(iter(app.panels))
        await pilot.press("down", "enter")
        await settle(pilot, app)
        assert isinstance(app.screen, AgentScreen) and app.screen.agent == first
        models = text_of(app.screen.query_one("#models"))
        why = text_of(app.screen.query_one("#why"))
        latest = text_of(app.screen.query_one("#latest"))
        evals = text_of(app.screen.query_one("#evals"))
        assert "by model" in models and "claude-" in models and "$/success" in models
        assert f"why {app.panels[first].view.metrics.verdict.upper()}" in why
        assert "latest failures" in latest and "latest escalations" in latest
        assert "golden v2" in evals and "passed" in evals
        assert "success and autonomy" in text_of(app.screen.query_one("#outcome-chart"))
        assert "leading signals" in text_of(app.screen.query_one("#signal-chart"))
        assert "cost per successful task" in text_of(app.screen.query_one("#cost-chart"))
        await pilot.press("escape")
        assert not isinstance(app.screen, AgentScreen)


async def test_x_shows_quarantined_lines(tmp_path):
    db = tmp_path / "f.db"
    ingest([FIXTURES / "native"], db)
    app = make_app(db, window="all")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot, app)
        await pilot.press("x")
        await settle(pilot, app)
        assert isinstance(app.screen, QuarantineScreen)
        table = app.screen.query_one("#quarantine-table")
        assert table.row_count == 6
        reasons = {str(table.get_row_at(i)[3]) for i in range(table.row_count)}
        assert any(r.startswith("bad value at $.ok") for r in reasons)
        assert "6 quarantined lines" in text_of(app.screen.query_one("#quarantine-title"))
        await pilot.press("escape")
        assert not isinstance(app.screen, QuarantineScreen)


async def test_the_quarantined_lines_reason_is_whole_at_80_columns(tmp_path):
    """The table's reason column is past the edge at 80 columns: the selected line is shown whole below it, on
    screen however many lines the table holds."""
    logs, db = tmp_path / "logs", tmp_path / "f.db"
    shutil.copytree(FIXTURES / "native", logs)
    (logs / "more.jsonl").write_text("".join(f'{{"ts": "nope {i}", "event": "task_end"}}\n' for i in range(40)))
    ingest([logs], db)
    app = make_app(db, window="all")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("x")
        await wait_in_app(pilot, lambda: isinstance(app.screen, QuarantineScreen) and len(app.screen.rows) == 46)
        screen = app.screen
        for row in (0, 1, 2):
            await wait_in_app(pilot, lambda row=row: screen.query_one("#quarantine-table").cursor_row == row)
            _, path, offset, reason, _ = screen.rows[row]
            detail = screen.query_one("#quarantine-detail")
            assert f"{path}:{offset}" in text_of(detail) and reason in text_of(detail)
            assert detail.region.height and detail.region.bottom <= 23  # above the footer, not scrolled away
            await pilot.press("down")


async def test_question_mark_lists_every_key(fleet):
    app = make_app(fleet)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        from agentmon.tui.help_screen import KEYS

        listed = " ".join(k for _, keys in KEYS for k, _ in keys)
        for binding in app.BINDINGS:
            key = {"question_mark": "?", "slash": "/", "down,j": "↓", "up,k": "↑", "escape": "esc"}.get(
                binding.key, binding.key
            )
            assert key in listed, binding.key
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_e_exports_what_is_on_screen(fleet, tmp_path):
    app = make_app(fleet, export_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("e")
        await settle(pilot, app)
        files = list(tmp_path.glob("agentmon-1h-*.csv"))
        assert len(files) == 1
        assert any(str(files[0]) in str(n.message) for n in app._notifications)
        rows = list(csv.DictReader(files[0].open()))
        assert [r["agent"] for r in rows] == list(app.panels)  # same agents, same order as the screen
        refund = next(r for r in rows if r["agent"] == "refund-agent")
        view = app.panels["refund-agent"].view.metrics
        assert float(refund["task_success_rate"]) == pytest.approx(view.task_success_rate)
    # byte for byte what `agentmon export --csv F --window 1h` writes at that moment
    import io

    from agentmon.report.export import rows as export_rows
    from agentmon.report.export import write_csv
    from agentmon.store.writer import connect

    expected = io.StringIO(newline="")
    write_csv(expected, *export_rows(connect(fleet, readonly=True), "agent", "1h", FROZEN))
    assert files[0].read_bytes().decode() == expected.getvalue()


async def test_no_color_draws_without_colour(fleet, monkeypatch):
    from rich.style import Style

    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        assert app.no_color
        await pilot.press("enter")
        await settle(pilot, app)
        chart = app.screen.query_one("#outcome-chart").render()
        styles = [Style.parse(s) if isinstance(s, str) else s for s in (span.style for span in chart.spans)]
        assert all(s.color is None and s.bgcolor is None for s in styles)


async def test_a_second_monitor_on_the_same_database_only_reads(fleet, tmp_path):
    from agentmon.store.writer import Store

    logs = tmp_path / "more-logs"
    logs.mkdir()
    with Store(fleet):  # another process is ingesting
        app = make_app(fleet, paths=[logs])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, app)
            assert "reading only" in text_of(app.query_one("#status"))
            assert len(app.panels) == 5


async def test_log_text_is_shown_literally(tmp_path):
    logs, db = tmp_path / "logs", tmp_path / "h.db"
    logs.mkdir()
    name = "[red]evil[/red]\x1b[2J"
    (logs / "h.jsonl").write_text(
        json.dumps(
            {
                "ts": FROZEN - 60,
                "agent": name,
                "event": "task_end",
                "task": "t",
                "outcome": "failure",
                "reason": "[bold]boom[/bold] \x1b]0;pwned\x07",
            }
        )
        + "\n"
    )
    ingest([logs], db)
    app = make_app(db, window="1h")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        panel = next(iter(app.query(AgentPanel)))
        from rich.text import Text

        assert Text.from_markup(panel.border_title).plain == "[red]evil[/red]\\x1b[2J"  # what is drawn
        await pilot.press("enter")
        await settle(pilot, app)
        latest = text_of(app.screen.query_one("#latest"))
        assert "[bold]boom[/bold] \\x1b]0;pwned\\x07" in latest
        assert "\x1b" not in latest


async def test_appending_to_a_watched_file_changes_a_panel(tmp_path):
    logs, db = tmp_path / "logs", tmp_path / "w.db"
    logs.mkdir()
    log = logs / "a.jsonl"

    def task(i, outcome):
        return (
            json.dumps(
                {
                    "ts": FROZEN - 100 + i,
                    "agent": "live-agent",
                    "event": "task_end",
                    "task": f"t{i}",
                    "outcome": outcome,
                }
            )
            + "\n"
        )

    log.write_text(task(0, "success"))
    app = make_app(db, paths=[logs], refresh_interval=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await wait_in_app(pilot, lambda: "live-agent" in app.panels)
        assert app.panels["live-agent"].view.metrics.tasks == 1
        with open(log, "a") as f:
            f.write(task(1, "failure"))
        await wait_in_app(pilot, lambda: app.panels["live-agent"].view.metrics.tasks == 2)
        m = app.panels["live-agent"].view.metrics
        assert (m.tasks, m.task_success_rate) == (2, 0.5)
        assert "50.0%" in text_of(app.panels["live-agent"])


async def test_agentmon_demo_opens_on_a_live_fleet(tmp_path):
    from agentmon.tui.demo import DemoApp

    app = DemoApp(tmp_path, refresh_interval=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_in_app(pilot, lambda: len(app.panels) == 5)
        assert set(app.panels) >= {"refund-agent", "support-bot", "invoice-triage", "code-reviewer"}
        assert "demo" in text_of(app.query_one("#status"))
        first = sum(p.view.metrics.tasks for p in app.panels.values())
        assert first > 100  # two hours of history before the first paint
        await pilot.press("q")
    assert app.stop_fleet.is_set()


async def test_watch_with_otlp_receives_spans_into_the_screen(tmp_path):
    import socket
    import urllib.request

    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = make_app(tmp_path / "otlp.db", otlp_port=port, refresh_interval=0.2)
    request = trace_service_pb2.ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x07" * 16, b"\x08" * 8, "invoke_agent tui-agent"
    span.start_time_unix_nano, span.end_time_unix_nano = int((FROZEN - 60) * 1e9), int((FROZEN - 30) * 1e9)
    kv = span.attributes.add()
    kv.key, kv.value.string_value = "gen_ai.agent.name", "otel-in-tui"
    async with app.run_test(size=(80, 24)) as pilot:
        assert await wait_in_app(pilot, lambda: "OTLP on" in text_of(app.query_one("#status")))
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/traces",
            data=request.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
            method="POST",
        )
        assert urllib.request.urlopen(req, timeout=DEADLINE).status == 200
        await wait_in_app(pilot, lambda: "otel-in-tui" in app.panels)
        assert app.panels["otel-in-tui"].view.metrics.tasks == 1


async def test_the_top_line_says_when_alerts_do_not_get_through(fleet, tmp_path):
    """Whoever ingests (here another process) writes how alerts fare beside the database; a reading monitor
    shows a failing target early on its top line, where 80 columns still show it, and drops it once fixed."""
    from agentmon.alerts.health import state_path

    health = {
        "targets": [
            {
                "target": "webhook",
                "sent": 0,
                "waiting": 2,
                "undelivered": 0,
                "failing_since": time.time() - 300,
                "last_error": "webhook: [Errno 111] Connection refused",
            }
        ],
        "judge_error": None,
        "updated": time.time(),
    }
    state_path(fleet).write_text(json.dumps({"agents": {}, "health": health}))
    app = make_app(fleet)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        app.poll()
        said = lambda: text_of(app.query_one("#status"))
        shown = lambda: "alerts to the webhook failing for 5m" in said() and "s (2 waiting)" in said()
        assert await wait_in_app(pilot, shown)
        assert said().index("alerts to the webhook") < said().index("files")
        health["targets"][0].update(failing_since=None, waiting=0, sent=2)
        state_path(fleet).write_text(json.dumps({"agents": {}, "health": health}))
        app.poll()
        assert await wait_in_app(pilot, lambda: "alerts to the" not in said())
