"""Running agentmon for a team (docs/team.md): `serve --token-file`, `backup` while an ingester writes."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from waiting import DEADLINE, committed_lines, count, port_open, wait_for

from agentmon.emit import Emitter


def cli(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentmon.cli", *map(str, args)], capture_output=True, text=True, timeout=DEADLINE
    )


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620])
def test_a_token_file_others_can_read_or_change_is_refused(tmp_path, mode):
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    token.chmod(mode)
    proc = cli("serve", "--port", 0, "--token-file", token, "--db", tmp_path / "a.db")
    assert proc.returncode == 1
    assert f"others can read or change it (mode {mode:o}): chmod 600 it" in proc.stderr
    assert not (tmp_path / "a.db").exists()  # refused before anything opened


def test_a_token_file_must_hold_one_token(tmp_path):
    token = tmp_path / "token"
    token.write_text("\n")
    token.chmod(0o600)
    proc = cli("serve", "--port", 0, "--token-file", token, "--db", tmp_path / "a.db")
    assert proc.returncode == 1 and "a token is one word" in proc.stderr
    proc = cli("serve", "--token-file", token, "--no-token", "--db", tmp_path / "a.db")
    assert proc.returncode == 2 and "--token-file and --no-token contradict each other" in proc.stderr
    proc = cli("serve", "--token-file", tmp_path / "missing", "--db", tmp_path / "a.db")
    assert proc.returncode == 1 and "cannot read the token" in proc.stderr


def tasks_of(db: Path) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT agent, task, outcome FROM tasks ORDER BY agent, task").fetchall()
    finally:
        conn.close()


def test_backup_while_an_ingester_writes(tmp_path, logs, db):
    emitter = Emitter(logs / "agent.jsonl", agent="a")
    written = [0]
    stop = threading.Event()

    def agent() -> None:
        while not stop.is_set():
            with emitter.task(f"t-{written[0]}") as t:
                t.tool_call("x")
                t.end("success")
            written[0] += 1

    ingester = subprocess.Popen(
        [sys.executable, "-m", "agentmon.cli", "ingest", "--follow", str(logs), "--db", str(db)],
        stderr=subprocess.DEVNULL,
    )
    writer = threading.Thread(target=agent)
    writer.start()
    try:
        assert wait_for(lambda: committed_lines(db) > 0)
        for n in range(5):  # each copy is whole and as of one commit, while commits go on
            copy = tmp_path / "backups" / f"b{n}.db"
            proc = cli("backup", copy, "--db", db)
            assert proc.returncode == 0, proc.stderr
            tasks = tasks_of(copy)
            assert f"({len(tasks):,} tasks)" in proc.stderr and tasks
            assert {outcome for _, _, outcome in tasks} <= {"success", None}  # None: open at that commit
            assert not list(copy.parent.glob(".*partial"))
        stop.set()
        writer.join()
        lines = written[0] * 3  # task_start, tool_call, task_end
        assert wait_for(lambda: committed_lines(db) == lines), (committed_lines(db), lines)
        final = tmp_path / "final.db"
        assert cli("backup", final, "--db", db).returncode == 0
        assert tasks_of(final) == tasks_of(db) and len(tasks_of(final)) == written[0]
    finally:
        stop.set()
        writer.join()
        ingester.terminate()
        ingester.wait(DEADLINE)


def test_backup_takes_the_labels_file_and_replaces_an_old_copy(tmp_path, logs, db):
    with Emitter(logs / "agent.jsonl", agent="a").task("t1") as t:
        t.tool_call("x")
    assert cli("ingest", logs, "--db", db).returncode == 0
    assert cli("label", "a", "t1", "success", "--db", db).returncode == 0
    copy = tmp_path / "copy.db"
    copy.write_bytes(b"an older backup")
    assert cli("backup", copy, "--db", db).returncode == 0
    assert (tmp_path / "copy.labels.jsonl").read_bytes() == (tmp_path / "agentmon.labels.jsonl").read_bytes()
    assert cli("ingest", logs, "--db", copy).returncode == 0  # the copy's next ingest reads its labels
    status = cli("status", "--json", "--db", copy)
    assert '"successes": 1' in status.stdout and '"tasks": 1' in status.stdout
    proc = cli("backup", db, "--db", db)
    assert proc.returncode == 1 and "is the database itself" in proc.stderr


SPAN = {
    "resourceSpans": [
        {
            "scopeSpans": [
                {
                    "spans": [
                        {
                            "traceId": "5b8efff798038103d269b633813fc60c",
                            "spanId": "eee19b7ec3c1b173",
                            "name": "invoke_agent otel-agent",
                            "startTimeUnixNano": "1700000000000000000",
                            "endTimeUnixNano": "1700000002000000000",
                            "attributes": [
                                {"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}},
                                {"key": "gen_ai.agent.name", "value": {"stringValue": "otel-agent"}},
                            ],
                        }
                    ]
                }
            ]
        }
    ]
}


def post(port: int, headers: dict[str, str]) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/traces",
        data=json.dumps(SPAN).encode(),
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=DEADLINE) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_serve_takes_its_token_from_a_file_and_follows_logs_too(tmp_path, logs, db):
    """One process, the one writer of the database: OTLP with the file's token, and the logs under PATHS."""
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    token.chmod(0o600)
    with Emitter(logs / "agent.jsonl", agent="file-agent").task("t1") as t:
        t.end("success")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "agentmon.cli", "serve", logs, "--port", str(port), "--token-file", token, "--db", db],
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: port_open(port) or server.poll() is not None) and server.poll() is None
        assert post(port, {}) == 401
        assert post(port, {"Authorization": "Bearer wrong"}) == 401
        assert post(port, {"Authorization": "Bearer s3cret"}) == 200
        with Emitter(logs / "agent.jsonl", agent="file-agent").task("t2") as t:
            t.end("success")  # written while it serves
        assert wait_for(lambda: count(db, "SELECT count(*) FROM tasks WHERE end_ts IS NOT NULL") == 3)
    finally:
        server.terminate()
        server.wait(DEADLINE)
    assert sorted(agent for agent, _, _ in tasks_of(db)) == ["file-agent", "file-agent", "otel-agent"]
