"""The metric definitions (docs/events.md), checked against values computed by hand.

fixtures/native spreads tasks over three files in two directories: r1's infra
cost arrives after its end, r2's model and escalation come from another file
and are timestamped before its start line, r3 ends in a third file before its
last llm_call. Garbage lines sit between them.
"""

import random

import pytest
from conftest import FIXTURES, agents, ingest, totals
from genai_prices import Usage, calc_price

NATIVE = FIXTURES / "native"


@pytest.fixture
def fleet(db):
    ingest([NATIVE], db)
    return agents(db)


def test_refund_agent_by_hand(fleet):
    r = fleet["refund-agent"]
    # ended: r1 success, r2 failure, r3 success, r5 abandoned; r4 is still open
    assert (r["tasks"], r["successes"], r["task_success_rate"]) == (4, 2, 0.5)
    # r2 escalated, r3 asked for a confirmation: r1 and r5 were autonomous
    assert r["autonomy_rate"] == 0.5
    # r1 0.01 + 0.002 (late infra cost) + r2 0.03 + r3 0.005 + r5 unpriced
    assert r["cost_usd"] == pytest.approx(0.047, abs=1e-9)
    assert r["cost_per_successful_task"] == pytest.approx(0.0235, abs=1e-9)
    assert r["unpriced_llm_calls"] == 1
    # 1 of 5 tasks seen escalated; 1 of 3 tool calls failed; 1 of 1 confirmation rejected
    assert r["escalation_rate"] == 0.2
    assert (r["tool_calls"], r["tool_errors"], r["tool_error_rate"]) == (3, 1, pytest.approx(1 / 3))
    assert r["confirmation_rejection_rate"] == 1.0
    assert (r["input_tokens"], r["output_tokens"], r["cache_read_tokens"]) == (1200 + 2000 + 800 + 10, 905, 4000)
    assert r["eval_pass_rate"] is None
    by_model = {m["model"]: m for m in r["models"]}
    # r2 names no model at its start: its first llm_call's model counts
    assert by_model["claude-sonnet-4-5"]["tasks"] == 1
    assert by_model["claude-sonnet-4-5"]["cost_per_successful_task"] is None
    haiku = by_model["claude-haiku-4-5"]
    assert (haiku["tasks"], haiku["successes"]) == (2, 2)
    assert haiku["cost_per_successful_task"] == pytest.approx(0.0085, abs=1e-9)
    assert by_model["in-house-x"]["task_success_rate"] == 0.0
    assert r["verdict"] == "hold" and r["reasons"] == ["too few tasks: 4 of 30 needed"]


def test_support_bot_by_hand(fleet):
    s = fleet["support-bot"]
    expected = float(calc_price(Usage(input_tokens=1000, output_tokens=200), "claude-haiku-4-5").total_price)
    assert s["cost_usd"] == pytest.approx(expected, abs=1e-9)
    assert (s["tasks"], s["task_success_rate"], s["autonomy_rate"]) == (2, 1.0, 0.0)
    assert s["tool_error_rate"] is None  # no tool calls: null, never 0
    assert s["confirmation_rejection_rate"] == 0.0
    # golden: latest run v2 has a, b pass and c's latest result (ts :10) failed -> 2/3;
    # safety: results without a run form one run -> 1/2; together 3/5
    assert s["eval_pass_rate"] == pytest.approx(0.6)
    assert {m["model"] for m in s["models"]} == {"claude-haiku-4-5", "(unknown)"}


def test_bad_lines_are_quarantined_and_counted(db):
    ingest([NATIVE], db)
    t = totals(db)
    assert t["quarantined"] == 6
    import sqlite3

    rows = sqlite3.connect(db).execute("SELECT path, offset, reason FROM quarantine ORDER BY path, offset").fetchall()
    assert [r[2].split(":")[0] for r in rows if r[0].endswith("refund.jsonl")] == [
        "not JSON",
        "unknown event type",
        "not an event object",
    ]
    refund = (NATIVE / "host-a" / "refund.jsonl").read_bytes()
    for path, offset, _ in rows:
        if path.endswith("refund.jsonl"):
            assert offset == 0 or refund[offset - 1 : offset] == b"\n"  # offsets point at line starts


def test_ingesting_again_changes_nothing(db):
    ingest([NATIVE], db)
    before, t_before = agents(db), totals(db)
    ingest([NATIVE], db)
    assert agents(db) == before and totals(db) == t_before


def _all_lines():
    lines = []
    for f in sorted(NATIVE.rglob("*")):
        if f.is_file():
            data = f.read_bytes()
            complete = data[: data.rfind(b"\n") + 1]
            lines += complete.splitlines(keepends=True)
    return lines


@pytest.mark.parametrize("seed", range(6))
def test_no_result_depends_on_line_order_or_file_split(tmp_path, db, seed):
    reference_db = tmp_path / "reference.db"
    ingest([NATIVE], reference_db)
    reference = agents(reference_db)

    rng = random.Random(seed)
    lines = _all_lines()
    rng.shuffle(lines)
    n_files = rng.randint(1, 7)
    root = tmp_path / "shuffled"
    files = [root / f"d{i % 3}" / f"part{i}.jsonl" for i in range(n_files)]
    for f in files:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"")
    half = len(lines) // 2
    for stage in (lines[:half], lines[half:]):  # delivered in two rounds, ingested after each
        for line in stage:
            with open(rng.choice(files), "ab") as out:
                out.write(line)
        ingest([root], db, batch_lines=rng.choice([1, 3, 10_000]))
    assert agents(db) == reference


def test_the_schema_migrations_build_the_columns_the_code_writes(db):
    """A new database (the migrations' schema: tests/test_schema.py) has exactly the columns taskstate writes."""
    import sqlite3

    from agentmon.store.schema import MIGRATIONS
    from agentmon.store.taskstate import AGG_COLUMNS, TASK_FIELDS
    from agentmon.store.writer import SCHEMA_VERSION, Store

    Store(db).close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
    cols = lambda t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")]
    assert cols("tasks") == list(TASK_FIELDS)
    for table in ("agg_total", "agg_hour", "agg_minute"):
        assert [c for c in cols(table) if c not in ("agent", "model", "bucket")] == list(AGG_COLUMNS)


def test_a_request_logged_several_times_counts_once_with_its_largest_usage(db, logs):
    """As Claude Code streams: one line per content block, the usage repeated, output growing."""
    import json

    lines = [
        {"ts": 10, "agent": "a", "event": "task_start", "task": "t"},
        {
            "ts": 11,
            "agent": "a",
            "event": "llm_call",
            "task": "t",
            "model": "claude-haiku-4-5",
            "input_tokens": 100,
            "output_tokens": 2,
            "cache_read_tokens": 1000,
            "request_id": "req-1",
        },
        {
            "ts": 12,
            "agent": "a",
            "event": "llm_call",
            "task": "t",
            "model": "claude-haiku-4-5",
            "input_tokens": 100,
            "output_tokens": 350,
            "cache_read_tokens": 1000,
            "request_id": "req-1",
        },
        {
            "ts": 13,
            "agent": "a",
            "event": "llm_call",
            "task": "t",
            "model": "claude-haiku-4-5",
            "input_tokens": 100,
            "output_tokens": 350,
            "cache_read_tokens": 1000,
            "request_id": "req-1",
        },
        {"ts": 14, "agent": "a", "event": "task_end", "task": "t", "outcome": "success"},
    ]
    rng = random.Random(5)
    for seed in range(4):  # whatever the order and the split
        rng.shuffle(lines)
        d = logs / f"run{seed}"
        d.mkdir()
        cut = rng.randint(0, len(lines))
        (d / "x.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines[:cut]))
        (d / "y.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines[cut:]))
        run_db = logs / f"run{seed}.db"
        ingest([d], run_db, batch_lines=rng.choice([1, 100]))
        a = agents(run_db)["a"]
        assert (a["input_tokens"], a["output_tokens"], a["cache_read_tokens"]) == (100, 350, 1000)
        expected = float(
            calc_price(
                Usage(input_tokens=1100, output_tokens=350, cache_read_tokens=1000), "claude-haiku-4-5"
            ).total_price
        )
        assert a["cost_usd"] == pytest.approx(expected, abs=1e-9)


def test_unknown_outcomes_count_as_ended_but_not_in_the_success_rate(db, logs):
    import json

    lines = [
        {"ts": i, "agent": "cc", "event": "task_end", "task": f"t{i}", "outcome": o}
        for i, o in enumerate(["success", "failure", "unknown", "unknown", "success"])
    ]
    (logs / "u.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    ingest([logs], db)
    a = agents(db)["cc"]
    assert (a["tasks"], a["successes"], a["unlabeled_tasks"]) == (5, 2, 2)
    assert a["task_success_rate"] == pytest.approx(2 / 3)
    assert a["reasons"] == ["too few labeled tasks: 3 of 30 needed (2 ended without an outcome)"]
