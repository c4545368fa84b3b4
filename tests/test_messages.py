"""What agentmon says when something is wrong: each message names the thing, says why, and what to do."""

import json
import subprocess
import sys


def run(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agentmon.cli", *map(str, args)], capture_output=True, text=True)


def quarantined(tmp_path, db, *lines: dict) -> str:
    log = tmp_path / "e.jsonl"
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = run("ingest", "--db", db, log)
    assert "`agentmon quarantine` lists the quarantined lines" in out.stderr  # ingest points to it
    return run("quarantine", "--db", db).stdout


def test_a_millisecond_timestamp_says_seconds_are_wanted(tmp_path, db):
    listed = quarantined(tmp_path, db, {"ts": 1_780_000_000_000, "agent": "a", "event": "task_start", "task": "t"})
    assert "out of range at $.ts" in listed and "(a time in milliseconds? `ts` is Unix seconds" in listed


def test_a_time_that_is_not_one_says_what_a_time_is(tmp_path, db):
    listed = quarantined(tmp_path, db, {"ts": "yesterday", "agent": "a", "event": "task_start", "task": "t"})
    assert "bad value at $.ts: " in listed
    assert "(`ts` is Unix seconds, or an ISO 8601 time: 2026-11-30T09:30:00Z)" in listed


def test_an_unknown_event_or_outcome_lists_the_allowed_ones(tmp_path, db):
    listed = quarantined(
        tmp_path,
        db,
        {"ts": 1_780_000_000, "agent": "a", "event": "tool_cal", "task": "t"},
        {"ts": 1_780_000_000, "agent": "a", "event": "task_end", "task": "t", "outcome": "done"},
    )
    assert "unknown event type: 'tool_cal' (the events: task_start, llm_call, tool_call," in listed
    assert "'done' is not an outcome (one of success, failure, abandoned, unknown)" in listed


def test_quarantine_says_a_byte_offset_is_one(tmp_path, db):
    first = {"ts": 1_780_000_000, "agent": "a", "event": "task_start", "task": "t"}
    listed = quarantined(tmp_path, db, first, {"no": "event"})
    offset = len(json.dumps(first)) + 1  # where the second line starts
    assert f"{tmp_path / 'e.jsonl'} (byte {offset}): no `event` field" in listed


def test_a_directory_of_files_agentmon_does_not_read_says_so(tmp_path, db):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "events.txt").write_text('{"ts":1780000000,"agent":"a","event":"task_start","task":"t"}\n')
    out = run("ingest", "--db", db, tmp_path / "logs")
    assert "0 files" in out.stderr
    assert f"no log files under {tmp_path / 'logs'}" in out.stderr and "such as events.txt: rename it" in out.stderr
    assert "1 files" in run("ingest", "--db", db, tmp_path / "logs" / "events.txt").stderr  # named: read


def test_a_database_error_names_the_file(tmp_path):
    bad = tmp_path / "notes.db"
    bad.write_text("not a database, just words long enough to fill a page header" * 2)
    for args in (("status", "--db", bad), ("--db", bad, "status")):
        out = run(*args)
        assert out.returncode == 1 and out.stderr.startswith(f"agentmon: database error in {bad}: "), out.stderr


def test_golden_export_of_an_unknown_agent_fails(tmp_path, db):
    log = tmp_path / "e.jsonl"
    log.write_text(json.dumps({"ts": 1_780_000_000, "agent": "bot", "event": "task_start", "task": "t"}) + "\n")
    run("ingest", "--db", db, log)
    out = run("golden", "export", "--agent", "nosuch", "--db", db)
    assert out.returncode == 1 and f"no agent 'nosuch' in {db} (agents: 'bot')" in out.stderr


def test_the_monitors_options_work_without_a_command(db):
    out = run("--window", "7d", "status", "--db", db)
    assert out.returncode == 2 and "--window goes after the command: agentmon status --window 7d" in out.stderr
    assert "No such option" not in run("--window", "all", "--help").stderr


def test_status_fail_on_exits_3_at_or_past_the_level(tmp_path, db):
    log = tmp_path / "e.jsonl"
    log.write_text(json.dumps({"ts": 1_780_000_000, "agent": "bot", "event": "task_start", "task": "t"}) + "\n")
    run("ingest", "--db", db, log)  # one task: too few to judge, so HOLD
    held = run("status", "--db", db, "--fail-on", "hold")
    assert held.returncode == 3 and "HOLD" in held.stdout and "1 agent at hold or worse: bot" in held.stderr
    assert run("status", "--db", db, "--fail-on", "hold", "--json").returncode == 3
    assert run("status", "--db", db, "--fail-on", "no-go").returncode == 0
    assert run("status", "--db", db).returncode == 0
