"""Spend at a glance: cost and tokens with no label needed, "unpriced" never shown as $0, and cost per
successful task over the labelled tasks when some ended without an outcome (docs/events.md)."""

import csv
import io
import json
import sqlite3
import subprocess
import sys

import pytest
from conftest import agents, ingest

from agentmon.report.fleet import fleet_view
from agentmon.report.metrics import tokens_text
from agentmon.store.schema import MIGRATIONS
from agentmon.store.writer import Store, connect

T0 = 1_780_000_000
PRICED, UNPRICED = "claude-haiku-4-5", "in-house-x"


def line(ts: float, event: str, task: str, agent: str = "a", **fields) -> bytes:
    return json.dumps({"ts": ts, "agent": agent, "event": event, "task": task, **fields}).encode() + b"\n"


def call(ts: float, task: str, agent: str = "a", model: str = PRICED, **fields) -> bytes:
    usage = {"input_tokens": 1000, "output_tokens": 200, "cache_read_tokens": 3000, "cache_write_tokens": 400}
    return line(ts, "llm_call", task, agent, model=model, **{**usage, **fields})


def cli(db, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "agentmon.cli", *args, "--db", str(db)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def panel_text(db, agent: str) -> str:
    from agentmon.tui.panel import AgentPanel

    conn = connect(db, readonly=True)
    try:
        view = fleet_view(conn, "all", now=T0 + 3600)
    finally:
        conn.close()
    (agent_view,) = [v for v in view.agents if v.metrics.agent == agent]
    return "\n".join(t.plain for t in AgentPanel(agent_view, T0 + 3600).lines(140))


@pytest.fixture
def spend_db(db, logs):
    (logs / "a.jsonl").write_bytes(
        b"".join(
            [
                # claude: three tasks the logs left unknown, none labelled: spend shows all the same
                *(call(T0 + i, f"c{i}", "claude", cost_usd=0.25) for i in range(3)),
                *(line(T0 + 60 + i, "task_end", f"c{i}", "claude", outcome="unknown") for i in range(3)),
                # local: a model no price list knows
                call(T0, "l1", "local", UNPRICED),
                call(T0 + 1, "l1", "local", UNPRICED),
                line(T0 + 60, "task_end", "l1", "local", outcome="success"),
                # mixed: two labelled tasks (one success) at $0.01 and $0.02; one unknown task at $0.50
                call(T0, "m1", "mixed", cost_usd=0.01),
                line(T0 + 60, "task_end", "m1", "mixed", outcome="success"),
                call(T0, "m2", "mixed", cost_usd=0.02),
                line(T0 + 60, "task_end", "m2", "mixed", outcome="failure"),
                call(T0, "m3", "mixed", cost_usd=0.5),
                call(T0 + 1, "m3", "mixed", UNPRICED),
                line(T0 + 60, "task_end", "m3", "mixed", outcome="unknown"),
            ]
        )
    )
    ingest([logs], db)
    return db


def test_spend_and_tokens_need_no_label(spend_db):
    c = agents(spend_db)["claude"]
    assert (c["tasks"], c["unlabeled_tasks"], c["cost_usd"]) == (3, 3, pytest.approx(0.75))
    tokens = (c["input_tokens"], c["output_tokens"], c["cache_read_tokens"], c["cache_write_tokens"])
    assert tokens == (3000, 600, 9000, 1200) and c["cost_status"] == "priced"
    assert c["cost_per_successful_task"] is None  # no success: nothing to divide by
    row = next(r for r in cli(spend_db, "status").splitlines() if r.startswith("claude"))
    assert "$0.7500" in row and "3.0k/600/9.0k/1.2k" in row
    assert "$0.750 · 3.0k in 600 out 9.0k+1.2k cache r+w" in panel_text(spend_db, "claude").replace("  ", " · ")


def test_unpriced_calls_are_unpriced_never_zero(spend_db):
    local = agents(spend_db)["local"]
    assert (local["cost_status"], local["unpriced_llm_calls"], local["cost_per_successful_task"]) == (
        "unpriced",
        2,
        None,
    )
    (model,) = local["models"]
    assert (model["cost_status"], model["unpriced_llm_calls"]) == ("unpriced", 2)
    row = next(r for r in cli(spend_db, "status").splitlines() if r.startswith("local"))
    assert row.count("unpriced (2 calls)") == 2 and "$0" not in row  # spend and $/success
    assert "unpriced (2 calls)" in panel_text(spend_db, "local") and "$0" not in panel_text(spend_db, "local")
    by_agent = {r["agent"]: r for r in csv.DictReader(io.StringIO(cli(spend_db, "export", "--csv", "-")))}
    assert by_agent["local"]["cost_usd"] == by_agent["local"]["cost_per_successful_task"] == "unpriced"
    by_model = list(csv.DictReader(io.StringIO(cli(spend_db, "export", "--csv", "-", "--by", "model"))))
    assert [r["cost_usd"] for r in by_model if r["agent"] == "local"] == ["unpriced"]
    # some calls priced, some not: the known part, and how many had no price
    mixed = agents(spend_db)["mixed"]
    assert (mixed["cost_status"], mixed["unpriced_llm_calls"]) == ("partly unpriced", 1)
    assert "$0.5300 +1 unpriced" in next(r for r in cli(spend_db, "status").splitlines() if r.startswith("mixed"))


def test_cost_per_successful_task_over_labelled_tasks_says_so(spend_db):
    m = agents(spend_db)["mixed"]
    assert m["cost_usd"] == pytest.approx(0.53)  # every ended task
    # (0.01 + 0.02) / 1: the unknown task's $0.50 could belong to a success or not, so it is left out
    assert m["cost_per_successful_task"] == pytest.approx(0.03)
    assert m["cost_per_successful_task_basis"] == "labeled"
    assert agents(spend_db)["local"]["cost_per_successful_task_basis"] == "all"
    row = next(r for r in cli(spend_db, "status").splitlines() if r.startswith("mixed"))
    assert "$0.0300 (labeled)" in row
    assert "$/labeled $0.030" in panel_text(spend_db, "mixed")
    assert "$/succ" in panel_text(spend_db, "local")


def test_tokens_text():
    assert [tokens_text(n) for n in (0, 999, 1000, 12_345, 999_999, 1_200_000, 45_000_000, 3_400_000_000)] == [
        "0",
        "999",
        "1.0k",
        "12k",
        "999k",
        "1.2M",
        "45M",
        "3.4G",
    ]


def test_m017_fills_the_unknown_tasks_cost_and_the_requests_from_what_was_stored(db, logs):
    """A database from before m017: its unknown tasks' cost is summed from the tasks, its requests counted at
    their task's end, so cost per success over labelled tasks is right at once."""
    (logs / "a.jsonl").write_bytes(
        call(T0, "m1", cost_usd=0.01)
        + line(T0 + 60, "task_end", "m1", outcome="success")
        + call(T0, "m3", cost_usd=0.5)
        + call(T0 + 1, "m3", model=UNPRICED)
        + line(T0 + 60, "task_end", "m3", outcome="unknown")
    )
    ingest([logs], db)
    fresh = agents(db)["a"]
    new_columns = (
        "permission_denials",
        "api_retries",
        "requests",
        "unlabeled_cost_nanos",
        "unlabeled_unpriced_llm_calls",
    )
    conn = sqlite3.connect(db)
    with conn:  # back to the state m017 found: its counters zero, as ALTER TABLE leaves them, then run it again
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm017_denials_retries_and_spend'")
        for table in ("agg_total", "agg_hour", "agg_minute", "agg_host_hour", "agg_host_total"):
            for column in new_columns:
                conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        for column in ("api_errors", "api_failed", "logged_reason"):
            conn.execute(f"ALTER TABLE tasks DROP COLUMN {column}")
        conn.execute("PRAGMA user_version = 16")
    conn.close()
    assert "m017_denials_retries_and_spend" in [m.__name__ for m in MIGRATIONS]
    Store(db).close()
    again = agents(db)["a"]
    assert (
        again["cost_per_successful_task"] == pytest.approx(0.01)
        and again["cost_per_successful_task_basis"] == "labeled"
    )
    assert again == fresh


async def test_the_agent_screen_says_unpriced_never_zero(spend_db):
    from tui_helpers import make_app, text_of

    from agentmon.tui.agent_screen import AgentScreen

    app = make_app(spend_db, window="all")
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        app.push_screen(AgentScreen("local"))
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        why, models = text_of(app.screen.query_one("#why")), text_of(app.screen.query_one("#models"))
        assert "cost unpriced (2 calls) over 1 ended task" in why and "$0" not in why
        assert "cache write 800" in why and "0 permission denials of 0 tool calls" in why
        assert models.count("unpriced (2 calls)") == 2 and "$0" not in models  # cost and $/success
