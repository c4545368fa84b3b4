"""Claude Code transcripts: tasks per human prompt, signals from tool results, deduplicated usage."""

import json
import os
import shutil
import subprocess
import sys
from collections import Counter

import pytest
from conftest import FIXTURES, REALDATA, agents, ingest, needs_realdata
from genai_prices import Usage, calc_price

PROJECTS = FIXTURES / "claude-code" / "projects"
AGENT = "claude-code:/work/demo"
NOW = 1_780_000_000.0


def tasks(db):
    import sqlite3

    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    return {r["task"]: dict(r) for r in conn.execute("SELECT * FROM tasks")}


def test_the_fixture_session_by_hand(db):
    ingest([PROJECTS], db)
    t = tasks(db)
    assert set(t) == {"p1", "p2", "p3"}  # prompts; meta, command output and the summary are not
    p1, p2, p3 = t["p1"], t["p2"], t["p3"]
    # p1: one streamed request (two lines, output 3 then 250) and one more; the largest usage counts
    assert (p1["llm_calls"], p1["input_tokens"], p1["output_tokens"]) == (2, 30, 650)
    assert (p1["cache_read_tokens"], p1["cache_write_tokens"]) == (12000, 2100)
    # Bash failed, Read ok, Edit rejected, Bash interrupted: the marker after it is the same Esc, not a second one
    assert (p1["tool_calls"], p1["tool_errors"], p1["rejections"], p1["interventions"]) == (4, 1, 1, 1)
    assert (p1["outcome"], p1["end_ts"]) == ("unknown", t["p2"]["first_ts"])  # ended by the next prompt
    # p2: a slash command is a prompt; AskUserQuestion escalates; the subagent's file belongs to p2
    assert (p2["escalations"], p2["tool_calls"], p2["tool_errors"]) == (1, 3, 1)
    assert (p2["llm_calls"], p2["input_tokens"], p2["output_tokens"]) == (2, 55, 140)
    assert p2["model"] == "claude-sonnet-4-5-20250929"  # its first llm_call, not the subagent's haiku
    # p3: nothing after it: ended by the idle timeout, 30 minutes after its last line
    assert p3["end_ts"] == p3["first_ts"] + 1800 and p3["reason"] == "no event for 30 minutes"


def test_the_fixture_metrics(db):
    ingest([PROJECTS], db)
    a = agents(db)[AGENT]  # the project directory decoded to the working directory
    assert (a["tasks"], a["unlabeled_tasks"]) == (3, 3)
    # no label: p1 (interrupted) and p2 (failed on the API) inferred failures, p3 undecided (docs/success.md)
    assert (a["task_success_rate"], a["task_success_rate_source"], a["inferred_tasks"]) == (0.0, "inferred", 2)
    assert a["autonomy_rate"] == pytest.approx(1 / 3)  # only p3 had no human step
    assert a["confirmation_rejection_rate"] == pytest.approx(1 / 7)  # rejections over tool calls here
    assert a["tool_error_rate"] == pytest.approx(2 / 7)
    assert a["api_errors"] == 1  # the <synthetic> API error message, which is no LLM call
    price = lambda model, i, o, r, w: float(
        calc_price(
            Usage(input_tokens=i + r + w, output_tokens=o, cache_read_tokens=r, cache_write_tokens=w), model
        ).total_price
    )
    sonnet, haiku = "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"
    expected = (
        price(sonnet, 10, 250, 5000, 2000)
        + price(sonnet, 20, 400, 7000, 100)
        + price(sonnet, 5, 60, 7100, 0)
        + price(haiku, 50, 80, 0, 0)
    )
    assert a["cost_usd"] == pytest.approx(expected, rel=1e-6)
    assert a["verdict"] == "hold"
    assert a["reasons"] == [
        "inferred success not yet checked: label 20 tasks (agentmon tasks --unlabeled --disagreeing)"
    ]


def test_truncated_lines_are_quarantined_and_the_rest_is_read(db):
    ingest([PROJECTS], db)
    import sqlite3

    reasons = [r for (r,) in sqlite3.connect(db).execute("SELECT reason FROM quarantine")]
    assert len(reasons) == 1 and reasons[0].startswith("not JSON")
    assert "p3" in tasks(db)  # the line after it


def test_labels_are_ingested_once_and_the_latest_wins(db, tmp_path):
    ingest([PROJECTS], db)
    run = lambda *a: subprocess.run(
        [sys.executable, "-m", "agentmon.cli", *map(str, a)],
        capture_output=True,
        text=True,
    )
    assert run("label", AGENT, "p1", "failure", "--db", db).returncode == 0
    assert run("label", AGENT, "p2", "success", "--reason", "shipped", "--db", db).returncode == 0
    bad = run("label", AGENT, "nope", "success", "--db", db)
    assert bad.returncode == 1 and "no task 'nope'" in bad.stderr
    for _ in range(2):
        assert run("ingest", PROJECTS, "--db", db).returncode == 0
    a = agents(db)[AGENT]
    assert (a["tasks"], a["unlabeled_tasks"], a["successes"], a["task_success_rate"]) == (3, 1, 1, 0.5)
    assert run("label", AGENT, "p1", "success", "--db", db).returncode == 0  # changed our mind
    run("ingest", PROJECTS, "--db", db)
    assert agents(db)[AGENT]["task_success_rate"] == 1.0


def test_recognised_by_content_whatever_the_name(db, tmp_path):
    odd = tmp_path / "exports" / "session.log"
    odd.parent.mkdir()
    shutil.copy(next(PROJECTS.glob("*/*.jsonl")), odd)
    ingest([odd.parent], db)
    assert {"p1", "p2", "p3"} <= set(tasks(db))


def test_found_by_default_under_claude_config_dir(tmp_path, monkeypatch):
    config_dir = tmp_path / "claude-home"
    shutil.copytree(PROJECTS, config_dir / "projects")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", f"{tmp_path / 'missing'},{config_dir}")
    db = tmp_path / "default.db"
    out = subprocess.run(
        [sys.executable, "-m", "agentmon.cli", "ingest", "--db", str(db)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    assert out.returncode == 0, out.stderr
    assert agents(db)[AGENT]["tasks"] == 3


def test_ingesting_again_changes_nothing(db):
    ingest([PROJECTS], db)
    before = (agents(db), tasks(db))
    ingest([PROJECTS], db)
    assert (agents(db), tasks(db)) == before


@needs_realdata("Claude Code transcripts", "claude-code")
def test_real_transcripts_usage_is_deduplicated_per_request(tmp_path):
    """Token totals equal those of each (message.id, requestId) counted once with its largest usage,
    computed here independently with the json module. A14 is a Warmup subagent, which adds nothing."""
    src = REALDATA / "claude-code"
    best: dict = {}
    for f in sorted(src.glob("*.jsonl")):
        if f.name.startswith("A14_"):
            continue
        for raw in f.read_text().splitlines():
            try:
                d = json.loads(raw)
            except json.JSONDecodeError:
                continue
            m = d.get("message") or {}
            if d.get("type") != "assistant" or not m.get("usage") or m.get("model") == "<synthetic>":
                continue
            u = m["usage"]
            key = (m.get("id"), d.get("requestId"))
            row = (
                u.get("input_tokens", 0),
                u.get("output_tokens", 0),
                u.get("cache_read_input_tokens", 0),
                u.get("cache_creation_input_tokens", 0),
            )
            best[key] = tuple(max(a, b) for a, b in zip(best.get(key, row), row))
    totals = [sum(col) for col in zip(*best.values())]
    db = tmp_path / "real.db"
    ingest([src], db)
    got = Counter()
    for a in agents(db).values():
        for k in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
            got[k] += a[k]
    assert [got["input_tokens"], got["output_tokens"], got["cache_read_tokens"], got["cache_write_tokens"]] == totals


def test_the_older_subagent_layout_beside_the_session(db, tmp_path):
    """agent-<id>.jsonl files in the project directory (before `subagents/`): their lines still
    belong to the prompt that launched them, whatever order the files are found in."""
    project = tmp_path / "projects" / "-work-demo"
    project.mkdir(parents=True)
    session = next(PROJECTS.glob("*/*.jsonl"))
    shutil.copy(session, project / ("f" + session.name[1:]))  # a name that sorts after "agent-…"
    shutil.copy(next(PROJECTS.glob("*/*/subagents/agent-*.jsonl")), project / "agent-ag1.jsonl")
    ingest([tmp_path / "projects"], db)
    t = tasks(db)
    assert not any(task.endswith("before-first-prompt") for task in t)
    assert (t["p2"]["llm_calls"], t["p2"]["tool_errors"]) == (2, 1)  # the subagent's call and its failed Grep


def test_a_content_of_an_unexpected_shape_loses_only_its_blocks(db, tmp_path):
    """Content that fits no known block shape costs the blocks that do not fit, not the line: its
    request's tokens and its time still count, and nothing is quarantined for it."""
    session = tmp_path / "projects" / "-work-odd" / "s.jsonl"
    session.parent.mkdir(parents=True)
    base = {"sessionId": "s", "cwd": "/work/odd", "timestamp": "2026-06-01T10:00:00Z"}
    lines = [
        {**base, "type": "user", "uuid": "p1", "message": {"role": "user", "content": "fix it"}},
        {
            **base,
            "type": "assistant",
            "requestId": "r1",
            "timestamp": "2026-06-01T10:00:05Z",
            "message": {
                "id": "m1",
                "model": "claude-sonnet-4-5",
                "content": {"unexpected": "object"},
                "usage": {"input_tokens": 7, "output_tokens": 11},
            },
        },
        {
            **base,
            "type": "assistant",
            "requestId": "r2",
            "timestamp": "2026-06-01T10:00:06Z",
            "message": {
                "id": "m2",
                "model": "claude-sonnet-4-5",
                "usage": {"input_tokens": 1, "output_tokens": 2},
                "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "text": ["not", "text"]}],
            },
        },
        {
            **base,
            "type": "user",
            "timestamp": "2026-06-01T10:00:07Z",
            "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "is_error": "maybe"}]},
        },
        {
            **base,
            "type": "user",
            "timestamp": "2026-06-01T10:00:08Z",
            "message": {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "is_error": True, "content": "exit 1"}],
            },
        },
    ]
    session.write_text("".join(json.dumps(line) + "\n" for line in lines))
    ingest([tmp_path / "projects"], db, clock=lambda: NOW)
    p1 = tasks(db)["p1"]
    assert (p1["llm_calls"], p1["input_tokens"], p1["output_tokens"]) == (2, 8, 13)
    assert (p1["tool_calls"], p1["tool_errors"], p1["last_ts"]) == (1, 1, 1780308008.0)
    import sqlite3

    assert sqlite3.connect(db).execute("SELECT count(*) FROM quarantine").fetchone() == (0,)
