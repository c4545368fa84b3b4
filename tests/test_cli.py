"""The command line: status --json shape, CSV export, exit codes, hostile text."""

import csv
import io
import json
import shutil
import subprocess
import sys

import pytest
from conftest import FIXTURES, ingest

NATIVE = FIXTURES / "native"
AGENT_KEYS = [
    "agent",
    "tasks",
    "successes",
    "unlabeled_tasks",
    "pending_tasks",
    "task_success_rate",
    "autonomy_rate",
    "cost_usd",
    "cost_per_successful_task",
    "cost_per_successful_task_basis",
    "escalation_rate",
    "tool_error_rate",
    "confirmation_rejection_rate",
    "permission_denial_rate",
    "api_error_rate",
    "eval_pass_rate",
    "tool_calls",
    "tool_errors",
    "permission_denials",
    "llm_requests",
    "api_errors",
    "api_retries",
    "cost_status",
    "unpriced_llm_calls",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "task_success_rate_source",
    "inferred_tasks",
    "calibration",  # where success is inferred: docs/success.md, calibration
    "verdict",
    "reasons",
    "models",
    "orchestration",
]
ORCHESTRATION_KEYS = [
    "with_subagents",
    "without",
    "subagent_cost_usd",
    "subagent_tokens",
    "subagent_cost_share",
    "subagent_token_share",
]
GROUP_KEYS = ["tasks", "labeled_tasks", "successes", "success_rate", "enough_labeled", "cost_usd", "cost_per_success"]
MODEL_KEYS = [
    "model",
    "tasks",
    "successes",
    "task_success_rate",
    "cost_usd",
    "cost_per_successful_task",
    "unpriced_llm_calls",
    "cost_status",
]


def run(*args, env=None, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "agentmon.cli", *map(str, args)], capture_output=True, text=True, env=env
    )
    if check and proc.returncode:
        raise AssertionError(proc.stderr)
    return proc


@pytest.fixture
def fleet_db(db):
    run("ingest", NATIVE, "--db", db)
    return db


def test_status_json_has_exactly_the_documented_shape(fleet_db):
    doc = json.loads(run("status", "--json", "--db", fleet_db).stdout)
    assert list(doc) == ["generated_at", "window", "ingest", "remote_sources", "agents", "alerts"]
    assert doc["remote_sources"] == []  # ssh:// sources' state: tests/test_remote.py
    assert doc["alerts"] is None  # no process delivers alerts for this database: tests/test_alerts.py
    assert doc["ingest"] == {"files": 3, "lines": 38, "quarantined": 6, "waiting_documents": []}
    for agent in doc["agents"]:
        assert list(agent) == AGENT_KEYS
        for model in agent["models"]:
            assert list(model) == MODEL_KEYS
        assert list(agent["orchestration"]) == ORCHESTRATION_KEYS
        for group in ("with_subagents", "without"):
            assert list(agent["orchestration"][group]) == GROUP_KEYS


def test_status_table_is_readable(fleet_db):
    out = run("status", "--db", fleet_db).stdout
    assert "refund-agent" in out and "HOLD" in out and "too few tasks: 4 of 30 needed" in out


def test_status_on_a_narrow_terminal_is_a_block_per_agent(fleet_db, monkeypatch):
    """15 columns do not fit 80: on a terminal that narrow each agent is its name, verdict and reason, then
    its figures packed into lines that fit; a pipe (or a wide terminal) still gets the table."""
    from click.testing import CliRunner

    from agentmon.cli import main, status

    wide = CliRunner().invoke(main, ["status", "--db", str(fleet_db)]).output
    assert wide.splitlines()[1].split()[:3] == ["AGENT", "VERDICT", "TASKS"]
    assert max(map(len, wide.splitlines())) > 80
    monkeypatch.setattr(status, "_terminal_columns", lambda: 80)
    out = CliRunner().invoke(main, ["status", "--db", str(fleet_db)]).output.splitlines()
    assert "AGENT" not in "\n".join(out)
    head = next(i for i, line in enumerate(out) if line.startswith("refund-agent  HOLD  too few tasks: 4 of 30"))
    block = out[head + 1 : head + 4]
    assert all(line.startswith("   ") and len(line) <= 80 for line in block), block
    said = " ".join(block)
    for column in ("tasks 4", "success 50.0%", "tool-err", "api-err", "spend $", "tokens in/out/cache-r/cache-w"):
        assert column in said, column
    assert all(len(line) <= 80 for line in out), [line for line in out if len(line) > 80]


def test_a_long_reason_wraps_between_words_on_a_narrow_terminal(tmp_path, monkeypatch):
    """A reason longer than the line (what to run next, say) goes on under the name, indented, cut between words."""
    from click.testing import CliRunner

    from agentmon.cli import main, status

    projects = tmp_path / "projects"
    shutil.copytree(FIXTURES / "claude-code" / "projects", projects)
    db = tmp_path / "cc.db"
    ingest([projects], db)
    monkeypatch.setattr(status, "_terminal_columns", lambda: 80)
    out = CliRunner().invoke(main, ["status", "--db", str(db), "--window", "all"]).output.splitlines()
    head = next(i for i, line in enumerate(out) if line.startswith("claude-code:") and "HOLD" in line)
    assert all(len(line) <= 80 for line in out), [line for line in out if len(line) > 80]
    reason = " ".join(line.strip() for line in out[head : head + 3])
    assert "(agentmon tasks --unlabeled --disagreeing)" in reason  # whole words, whole options
    assert out[head + 1].startswith("   ")


def test_quarantine_lists_file_offset_and_reason(fleet_db):
    out = run("quarantine", "--db", fleet_db).stdout
    assert "refund.jsonl (byte 412): not JSON" in out  # a byte offset, said so: not a line number
    assert "bad value at $.ok" in out
    assert out.rstrip().endswith("6 quarantined lines")


def test_db_from_environment(fleet_db, tmp_path):
    import os

    env = {**os.environ, "AGENTMON_DB": str(fleet_db)}
    assert json.loads(run("status", "--json", env=env).stdout)["ingest"]["files"] == 3


def test_export_by_agent_model_and_hour(fleet_db, tmp_path):
    out = tmp_path / "snap.csv"
    run("export", "--csv", out, "--db", fleet_db)
    rows = list(csv.DictReader(out.open()))
    assert {r["agent"] for r in rows} == {"refund-agent", "support-bot"}
    refund = next(r for r in rows if r["agent"] == "refund-agent")
    assert float(refund["task_success_rate"]) == 0.5 and refund["eval_pass_rate"] == ""
    by_model = list(csv.DictReader(io.StringIO(run("export", "--csv", "-", "--by", "model", "--db", fleet_db).stdout)))
    assert len(by_model) == 5
    by_hour = list(csv.DictReader(io.StringIO(run("export", "--csv", "-", "--by", "hour", "--db", fleet_db).stdout)))
    assert sum(int(r["tasks"]) for r in by_hour) == 6
    assert by_hour[0]["hour"] < by_hour[-1]["hour"]


def test_hostile_agent_names_are_exported_safely_and_shown_literally(db, logs):
    names = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tTab", "\rCR", "\x1b[31mred", "[bold]rich[/bold]"]
    lines = [json.dumps({"ts": 1, "agent": n, "event": "task_end", "task": "t", "outcome": "success"}) for n in names]
    (logs / "x.jsonl").write_text("\n".join(lines) + "\n")
    run("ingest", logs, "--db", db)
    cells = [r[0] for r in csv.reader(io.StringIO(run("export", "--csv", "-", "--db", db).stdout))][1:]
    for cell in cells:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert '\'=HYPERLINK("http://x")' in cells
    table = run("status", "--db", db).stdout
    assert "\x1b" not in table and "\\x1b[31mred" in table and "[bold]rich[/bold]" in table


def test_usage_errors_exit_2_and_runtime_failures_exit_1(tmp_path):
    assert run("status", "--window", "2h", check=False).returncode == 2
    assert run("ingest", check=False).returncode == 2
    missing = run("status", "--db", tmp_path / "nope.db", check=False)
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1 and "no database at" in missing.stderr
    (tmp_path / "notes.db").write_text("not a database\n")
    for args in (("status",), ("ingest", tmp_path)):
        damaged = run(*args, "--db", tmp_path / "notes.db", check=False)
        assert damaged.returncode == 1 and damaged.stderr.count("\n") == 1
        # the file named, then SQLite's own words
        assert damaged.stderr.startswith(f"agentmon: database error in {tmp_path / 'notes.db'}: ")


def test_a_second_ingester_gets_exit_1_and_a_clear_message(db, logs):
    from agentmon.store.writer import Store

    with Store(db):
        proc = run("ingest", logs, "--db", db, check=False)
    assert proc.returncode == 1
    assert "only one ingester per database" in proc.stderr
