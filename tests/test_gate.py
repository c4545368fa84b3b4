"""Eval logs (Inspect AI .json and .eval) and the release gate's verdicts and exit codes."""

import json
import os
import subprocess
import sys
import zipfile

from conftest import REALDATA, ingest, needs_realdata


def run(*args):
    return subprocess.run([sys.executable, "-m", "agentmon.cli", *map(str, args)], capture_output=True, text=True)


def eval_zip(path, run_id, scores, task="refunds", agent="refund-agent", critical=(), created="2026-03-01T10:00:00Z"):
    """An Inspect AI .eval log as Inspect writes it: a zip with header.json and samples/."""
    header = {
        "version": 2,
        "status": "success",
        "eval": {
            "task": task,
            "run_id": run_id,
            "created": created,
            "model": "anthropic/claude-haiku-4-5",
            "metadata": {"agent": agent, "agent_version": run_id} if agent else None,
        },
    }
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("header.json", json.dumps(header))
        for case, value in scores.items():
            z.writestr(
                f"samples/{case}_epoch_1.json",
                json.dumps(
                    {
                        "id": case,
                        "epoch": 1,
                        "scores": {"match": {"value": value}},
                        "input": "a prompt we never store",
                        "metadata": {"critical": case in critical},
                    }
                ),
            )
    os.utime(path, (1_700_000_000, 1_700_000_000))  # settled: not being written any more


def test_gate_passes_fails_and_finds_regressions(db, logs):
    eval_zip(logs / "r1.eval", "run-1", {"a": "C", "b": "C", "c": "I", "d": "C"}, created="2026-03-01T10:00:00Z")
    eval_zip(logs / "r2.eval", "run-2", {"a": "C", "b": "I", "c": "C", "d": "C"}, created="2026-03-02T10:00:00Z")
    ingest([logs], db)
    ok = run("gate", "--suite", "refunds", "--min-pass-rate", "0.7", "--db", db)
    assert ok.returncode == 0, ok.stdout
    assert "run run-2 (version run-2) against run-1: PASS" in ok.stdout and "regressions: b" in ok.stdout
    assert "pass rate 75.0% (3/4), minimum 70.0%; 75.0% in the run before" in ok.stdout
    strict = run("gate", "--suite", "refunds", "--min-pass-rate", "0.7", "--no-regressions", "--db", db)
    assert strict.returncode == 1 and "passed in 'run-1' and fail now: b" in strict.stdout
    doc = json.loads(run("gate", "--suite", "refunds", "--json", "--min-pass-rate", "0.7", "--db", db).stdout)
    assert doc["result"] == "pass" and doc["agents"][0]["pass_rate"] == 0.75
    assert doc["agents"][0]["agent_version"] == "run-2" and doc["agents"][0]["previous_pass_rate"] == 0.75


def test_a_failing_critical_case_always_fails(db, logs):
    eval_zip(logs / "r.eval", "run-1", {"a": "C", "b": "I"}, critical=("b",))
    ingest([logs], db)
    out = run("gate", "--suite", "refunds", "--min-pass-rate", "0", "--db", db)
    assert out.returncode == 1 and "critical case(s) failing: b" in out.stdout


def test_no_data_or_bad_arguments_exit_2(db, logs):
    eval_zip(logs / "r.eval", "run-1", {"a": "C"})
    ingest([logs], db)
    assert run("gate", "--suite", "other", "--db", db).returncode == 2
    assert run("gate", "--db", db).returncode == 2  # --suite is required
    assert run("gate", "--suite", "refunds", "--min-pass-rate", "1.5", "--db", db).returncode == 2


def test_an_unreadable_eval_log_is_quarantined(db, logs):
    (logs / "broken.eval").write_bytes(b"PK\x03\x04 not really a zip")
    os.utime(logs / "broken.eval", (1_700_000_000, 1_700_000_000))
    ingest([logs], db)
    import sqlite3

    reason = sqlite3.connect(db).execute("SELECT reason FROM quarantine").fetchone()[0]
    assert reason.startswith("cut short: not a whole zip")


@needs_realdata("Inspect AI logs", "inspect")
def test_the_gate_on_real_inspect_logs_follows_their_scores(db):
    ingest([REALDATA / "inspect"], db)
    ingest([REALDATA / "inspect"], db)  # again: nothing changes
    popularity = run("gate", "--suite", "popularity", "--db", db)  # a cancelled run: 2 of 3 scored C
    assert popularity.returncode == 1 and "66.7% (2/3)" in popularity.stdout
    assert run("gate", "--suite", "security_guide", "--db", db).returncode == 0  # 3 of 3 C
    doc = json.loads(run("gate", "--suite", "browser", "--json", "--db", db).stdout)
    assert doc["agents"][0]["agent"] == "openai/gpt-4o-mini" and doc["agents"][0]["cases"] == 1


def test_golden_export_writes_the_tasks_that_went_wrong(db):
    from conftest import FIXTURES

    ingest([FIXTURES / "native"], db)
    out = run("golden", "export", "--agent", "refund-agent", "--db", db)
    assert out.returncode == 0, out.stderr
    cases = [json.loads(line) for line in out.stdout.splitlines()]
    # r2 failed and escalated, r3 had a rejected confirmation (and succeeded), r5 was abandoned
    assert [c["task"] for c in cases] == ["r2", "r3", "r5"]
    r2 = cases[0]
    assert (r2["outcome"], r2["reason"], r2["key"]) == ("failure", "refund amount mismatch", "cust-2")
    assert r2["signals"]["escalation_reason"] == "customer asked for a human"
    assert r2["model"] == "claude-sonnet-4-5" and r2["started"].startswith("2026-03-02T08:1")


def test_eval_agent_and_pass_values(db, logs, tmp_path, monkeypatch):
    """An Inspect log without metadata.agent takes --eval-agent; agentmon.toml's pass values decide passes."""
    path = logs / "graded.eval"
    eval_zip(path, "run-1", {"a": "PASS", "b": "FAIL", "c": "C"}, agent=None)
    cfg = tmp_path / "agentmon.toml"
    cfg.write_text('[evals]\npass_values = ["PASS"]\n')
    monkeypatch.setenv("AGENTMON_CONFIG", str(cfg))
    assert run("ingest", logs, "--db", db, "--eval-agent", "grader-bot").returncode == 0
    doc = json.loads(run("gate", "--suite", "refunds", "--json", "--db", db).stdout)
    [g] = doc["agents"]
    assert (g["agent"], g["passed"], g["cases"]) == ("grader-bot", 1, 3)
