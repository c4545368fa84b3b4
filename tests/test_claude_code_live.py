"""The real Claude Code, where it is installed (`claude` on PATH, or $AGENTMON_CLAUDE), run in print mode
against a stand-in Messages API on loopback, exporting its OpenTelemetry events into agentmon's receiver:
what agentmon reports must be what that Claude Code did. Skipped where Claude Code is not installed."""

import os
import shutil
import subprocess

import pytest
from fake_anthropic import USAGE, FakeAnthropic
from waiting import wait_for

from agentmon.store.writer import connect

CLAUDE = os.environ.get("AGENTMON_CLAUDE") or shutil.which("claude")
pytestmark = pytest.mark.skipif(
    not CLAUDE, reason="Claude Code is not installed (`claude` on PATH or $AGENTMON_CLAUDE)"
)


def run_claude(home, otlp_port: int, api: FakeAnthropic, prompt: str) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),  # no settings, login or history of the person running the tests
        "ANTHROPIC_API_KEY": "sk-ant-agentmon-test",
        "ANTHROPIC_BASE_URL": api.url,
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}",
        "OTEL_LOGS_EXPORT_INTERVAL": "200",
        "DISABLE_AUTOUPDATER": "1",
    }
    done = subprocess.run([CLAUDE, "-p", prompt], cwd=home, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def tasks(db) -> list[dict]:
    conn = connect(db, readonly=True)
    conn.row_factory = lambda cur, row: dict(zip([d[0] for d in cur.description], row))
    try:
        return conn.execute("SELECT * FROM tasks ORDER BY first_ts").fetchall()
    finally:
        conn.close()


def test_what_claude_code_did_is_what_agentmon_counts(receiver, db, tmp_path):
    allowed, denied = FakeAnthropic("echo hi"), FakeAnthropic(f"touch {tmp_path}/made")
    run_claude(tmp_path, receiver.server_port, allowed, "say hi with echo")  # echo: allowed by the default rules
    run_claude(tmp_path, receiver.server_port, denied, "make a file")  # print mode cannot ask: denied by config
    assert not (tmp_path / "made").exists()
    both = wait_for(lambda: len(t := tasks(db)) == 2 and all(x["llm_calls"] == 2 for x in t) and t)
    assert both, tasks(db)
    for task in both:  # one prompt, two requests (the tool call, then the answer), as the stand-in API counted
        assert task["agent"] == "claude-code:otel" and task["task"].count(":") == 1  # session:prompt
        assert (task["input_tokens"], task["output_tokens"]) == (2 * USAGE["input_tokens"], 2 * 80)
        assert task["cache_read_tokens"] == 2 * USAGE["cache_read_input_tokens"]
        assert task["cache_write_tokens"] == 2 * USAGE["cache_creation_input_tokens"]
        assert task["cost_nanos"] > 0  # Claude Code's own cost_usd
        assert (task["confirmations"], task["rejections"], task["tool_errors"]) == (0, 0, 0)  # no person asked
    echo, touch = both
    assert echo["tool_calls"] == 1
    assert touch["tool_calls"] == 0  # denied by the rules before it ran: no rejection, no tool error


def test_its_transcripts_and_its_events_together_count_each_request_once(db, tmp_path):
    """`agentmon watch --otlp ~/.claude/projects` as a session does it: the transcripts Claude Code writes and
    the events it exports, read by one ingest session; every API request (same request id) counts once."""
    import socket
    import threading

    from agentmon.session import IngestSession

    with socket.socket() as s:  # a free port for the receiver
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    projects = tmp_path / ".claude" / "projects"
    projects.mkdir(parents=True)
    session = IngestSession(db, [projects], follow=True, otlp=("127.0.0.1", port))
    with session:
        thread = threading.Thread(target=session.follow, daemon=True)
        thread.start()
        for command, prompt in (("echo hi", "say hi with echo"), (f"touch {tmp_path}/made", "make a file")):
            run_claude(tmp_path, port, FakeAnthropic(command), prompt)
        conn = connect(db, readonly=True)
        counted = lambda: conn.execute("SELECT count(*), sum(output_tokens) FROM llm_requests").fetchone()
        done = wait_for(lambda: counted() == (4, 4 * 80) and len({t["task"] for t in tasks(db)}) == 4)
        requests = counted()
        calls = conn.execute("SELECT sum(llm_calls), sum(permission_denials) FROM tasks").fetchone()
        conn.close()
        session.stop()
        thread.join(timeout=60)
    assert done, (requests, tasks(db))
    # Two prompts, each a task in each source (transcript: the project's agent; events: claude-code:otel);
    # four requests in all, each counted once, in whichever source's task saw it first.
    assert requests == (4, 320) and calls == (4, 1)  # and the denial, read from the transcript
