"""A large backlog is committed by a second process (agentmon.ingest.commits) while the ingester parses:
the same rows as committing inline, and exactly once through kill -9 of either process."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FIXTURES, REALDATA, tool_line, totals
from waiting import DEADLINE, children, committed_lines, ended, wait_for

from agentmon.config import Config
from agentmon.events import ToolCall
from agentmon.ingest import commits
from agentmon.ingest.ingester import PARALLEL_BYTES, Ingester
from agentmon.simulate.workload import claude_code_transcripts
from agentmon.store.batch import Batch
from agentmon.store.taskstate import TASK_FIELDS
from agentmon.store.writer import Store

NOW = 1_790_000_000.0
TABLES = {  # table -> the columns compared (not the wall-clock times of the ingest itself)
    "tasks": "*",
    "agg_total": "*",
    "agg_hour": "*",
    "agg_minute": "*",
    "agg_host_total": "*",
    "agg_host_hour": "*",
    "llm_requests": "*",
    "session_prompts": "*",
    "held_events": "agent, task, session, subagent, ts, request_id, cost_nanos, event",
    "claude_code_state": "*",
    "eval_results": "*",
    "eval_runs": "*",
    "agents": "*",
    "otel_seen": "key",
    "otel_pending": "*",
    "files": "path, offset, marker, fp_len, fp_hash, lines, quarantined, state, format, host",
    "quarantine": "path, offset, reason, excerpt",
    "ingest_totals": "lines, quarantined",
}


def dump(db: Path) -> dict:
    conn = sqlite3.connect(db)
    try:
        return {t: sorted(conn.execute(f"SELECT {cols} FROM {t}").fetchall(), key=repr) for t, cols in TABLES.items()}
    finally:
        conn.close()


def mixed_logs(root: Path) -> list[Path]:
    """Every format, with bad lines among them."""
    root.mkdir()
    with open(root / "native.jsonl", "wb") as f:
        for i in range(3000):
            f.write(tool_line(i, task=f"t{i % 41}", agent=f"a{i % 3}", ok=i % 11 != 0))
            if i % 500 == 0:
                f.write(b'{"event": "tool_call", "ts": "yesterday"}\n[1m\x1b]0;not json\n')

    def spans(trace: int) -> list[str]:
        """Collector file-exporter lines: a trace's tool and chat spans first (their events wait for
        an agent), its invoke_agent span in a later line."""

        def span(n, op, **attrs):
            attrs = {"gen_ai.operation.name": op, **attrs}
            return {
                "traceId": f"{trace:032x}",
                "spanId": f"{trace * 10 + n:016x}",
                "name": op,
                "startTimeUnixNano": str((1_700_000_000 + trace) * 10**9),
                "endTimeUnixNano": str((1_700_000_003 + trace) * 10**9),
                "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()],
            }

        line = lambda *s: json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": list(s)}]}]})
        return [
            line(
                span(1, "execute_tool", **{"gen_ai.tool.name": "search"}),
                span(2, "chat", **{"gen_ai.request.model": "claude-sonnet-4-5"}),
            ),
            line(span(0, "invoke_agent", **{"gen_ai.agent.name": f"file-agent-{trace % 2}"})),
        ]

    with open(root / "support.jsonl", "w") as f:  # tasks by customer: follow-ups kept for agent "support"
        for i in range(400):
            start = 1_780_000_000 + i * 3600
            f.write(
                json.dumps(
                    {
                        "ts": start,
                        "agent": "support",
                        "event": "task_start",
                        "task": f"s{i}",
                        "key": f"customer-{i % 37}",
                    }
                )
                + "\n"
            )
            f.write(
                json.dumps(
                    {"ts": start + 60, "agent": "support", "event": "task_end", "task": f"s{i}", "outcome": "success"}
                )
                + "\n"
            )
    (root / "otel.json").write_text("".join(line + "\n" for trace in range(1, 300) for line in spans(trace)))
    return [root, FIXTURES] + ([REALDATA] if REALDATA.is_dir() else [])


def ingest(paths: list[Path], db: Path, parallel: bool) -> Ingester:
    cfg = Config(limits=[("support", {"require_no_follow_up": True})])
    with Store(db, track_follow_ups=cfg.follows_up) as store:  # the child is told, too
        ingester = Ingester(store, paths, batch_lines=97, clock=lambda: NOW)
        if parallel:
            ingester.parallel_bytes = 0
        ingester.run_once()
        ingester.close()
    return ingester


def test_a_commit_process_stores_exactly_what_committing_inline_stores(tmp_path, monkeypatch):
    started = []
    start = commits.CommitProcess.start
    monkeypatch.setattr(commits.CommitProcess, "start", lambda store: started.append(1) or start(store))
    paths = mixed_logs(tmp_path / "logs")
    inline = ingest(paths, tmp_path / "inline.db", parallel=False)
    assert not started
    parallel = ingest(paths, tmp_path / "parallel.db", parallel=True)
    assert started  # in a second process, in batches of 97 lines: many in flight one after another
    assert (parallel.stats.lines, parallel.stats.events, parallel.stats.quarantined) == (
        inline.stats.lines,
        inline.stats.events,
        inline.stats.quarantined,
    )
    assert inline.stats.quarantined >= 12
    expected = dump(tmp_path / "inline.db")
    follow_up = TASK_FIELDS.index("follow_up_ts")
    assert sum(row[follow_up] is not None for row in expected["tasks"]) > 300  # kept, and compared
    assert dump(tmp_path / "parallel.db") == expected
    ingest(paths, tmp_path / "parallel.db", parallel=True)  # again: nothing new
    assert dump(tmp_path / "parallel.db") == expected


def test_the_collectors_threshold_is_put_back_when_the_commit_process_ends(tmp_path, monkeypatch):
    """A commit process raises the cycle collector's threshold for its parent's bulk read, not for good."""
    import gc

    seen = []
    start = commits.CommitProcess.start
    monkeypatch.setattr(commits.CommitProcess, "start", lambda store: seen.append(1) or start(store))
    before = gc.get_threshold()
    projects = tmp_path / "projects"
    transcripts(projects, 300_000)
    ingest([projects], tmp_path / "a.db", parallel=True)
    assert seen and gc.get_threshold() == before


def transcripts(projects: Path, size: int) -> None:
    """Claude Code transcripts: the format whose large backlogs commit in a second process."""
    claude_code_transcripts(projects, size)


def test_a_batch_in_flight_that_another_writer_got_to_first_is_dropped_not_doubled(tmp_path, monkeypatch):
    """Another writer ingests the same files while a batch is in flight: that batch and the one parsed
    after it are dropped, the offsets reloaded, and every line counts once."""
    projects = tmp_path / "projects"
    transcripts(projects, 1_500_000)  # ~13 sessions of ~85 lines: a batch of 200 lines every few files
    ingest([projects], tmp_path / "clean.db", parallel=False)
    db = tmp_path / "agentmon.db"
    sent = []
    submit = commits.CommitProcess.submit

    def racing_submit(self, batch):
        sent.append(batch)
        done = []
        if len(sent) == 3:  # two batches committed: the other writer reads all the rest now
            done = self.settle()
            other_lock = os.open(tmp_path / "other.lock", os.O_RDWR | os.O_CREAT)
            with Store(db, lock_fd=other_lock) as other:
                assert Ingester(other, [projects], clock=lambda: NOW).run_once().last_error is None
        return done + submit(self, batch)  # the third: in flight, where it meets the other writer's offsets

    monkeypatch.setattr(commits.CommitProcess, "submit", racing_submit)
    with Store(db) as store:
        ingester = Ingester(store, [projects], batch_lines=200, clock=lambda: NOW)
        ingester.parallel_bytes = 0
        ingester.run_once()
        assert len(sent) >= 4 and "advanced by another writer" in ingester.stats.last_error
        ingester.run_once()
    assert dump(db) == dump(tmp_path / "clean.db")


@pytest.mark.slow
def test_kill_9_of_the_ingester_or_of_its_commit_process_loses_and_doubles_nothing(tmp_path):
    """`agentmon ingest` of a large backlog of transcripts, killed at random moments (it, or its
    commit process) until one run finishes: the database equals that of one uninterrupted run."""
    if children(os.getpid()) is None:
        pytest.skip("this test finds the commit process in /proc/PID/task/*/children, which only Linux has")
    projects = tmp_path / "claude" / "projects"
    transcripts(projects, int(5 * PARALLEL_BYTES))  # the first runs commit in a second process, the last inline
    clean = tmp_path / "clean.db"
    cmd = [sys.executable, "-m", "agentmon.cli", "ingest", "--wait", str(projects), "--db"]
    subprocess.run([*cmd, str(clean)], check=True, capture_output=True)
    rng = random.Random(3)
    kills = {"ingester": 0, "commit process": 0}
    # How many kills one backlog allows depends on how fast the machine is: ingest it afresh until
    # each has been killed three times, and hold every database to the uninterrupted one.
    for attempt in range(10):
        db = tmp_path / f"killed-{attempt}.db"
        ingest_killed_at_random([*cmd, str(db)], db, rng, kills)
        subprocess.run([*cmd, str(db)], check=True, capture_output=True)
        assert dump(db) == dump(clean)
        if min(kills.values()) >= 3:
            break
    assert min(kills.values()) >= 3, kills


def ingest_killed_at_random(cmd: list[str], db, rng: random.Random, kills: dict[str, int]) -> None:
    """Run `cmd` until it finishes, killing it or its commit process at random moments of its work."""
    for _ in range(60):
        before = committed_lines(db)
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
        # Under way first: this run has committed a batch (a run with a commit process commits only
        # there, so that process is up and working) or has finished; then a random moment of its work.
        under_way = lambda p=proc, before=before: p.poll() is not None or committed_lines(db) > before
        assert wait_for(under_way), "the ingester committed nothing within a minute"
        time.sleep(rng.uniform(0, 0.3))
        child = children(proc.pid) or []
        if proc.poll() is not None:
            assert proc.returncode == 0, proc.stderr.read() if proc.stderr else b""
            return
        # Each in turn; the ingester alone once what is left is too little for a commit process.
        victim = "commit process" if child and kills["commit process"] <= kills["ingester"] else "ingester"
        os.kill(proc.pid if victim == "ingester" else child[0], signal.SIGKILL)
        kills[victim] += 1
        _, err = proc.communicate(timeout=DEADLINE)
        if victim == "commit process" and proc.returncode:
            assert b"the commit process ended" in err and b"reads its lines again" in err, err
        for pid in child:  # an orphaned commit process finishes its batch and leaves by itself
            assert wait_for(lambda pid=pid: ended(pid)), "the commit process outlived its ingester"


def test_without_a_commit_process_the_backlog_commits_inline(tmp_path, monkeypatch):
    """A child that cannot start (no interpreter there), or a store setting that cannot be handed to
    one, leaves the ingester committing as it always did."""
    paths = mixed_logs(tmp_path / "logs")
    ingest(paths, tmp_path / "expected.db", parallel=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python-here"))
    ingest(paths, tmp_path / "no-child.db", parallel=True)
    assert dump(tmp_path / "no-child.db") == dump(tmp_path / "expected.db")
    monkeypatch.undo()
    with Store(tmp_path / "lambda.db", track_follow_ups=lambda agent: agent == "support") as store:
        assert commits.CommitProcess.start(store) is None


def test_a_batch_the_commit_process_cannot_take_is_committed_here(tmp_path):
    """An event built in memory out of its type's bounds (an empty tool name) fails msgpack's checks
    in the child: that batch is committed by the parent, as it would be inline, never lost."""
    db = tmp_path / "agentmon.db"
    with Store(db) as store:
        child = commits.CommitProcess.start(store)
        try:
            batch = Batch(events=[ToolCall(ts=NOW, agent="a", task="t", tool="", ok=False)], lines=1)
            assert child.submit(batch) == []
            assert child.settle() == [batch]
        finally:
            child.close()
    assert totals(db) == {"lines": 1, "quarantined": 0, "tool_calls": 1}


@pytest.mark.slow  # 64 MB of transcripts, read three times
def test_a_long_read_stops_when_asked_and_the_next_goes_on_from_there(tmp_path):
    """Quitting the monitor, or stopping a service, during a first read of a large directory: the
    drain stops at the next chunk, commits what it read, and the next run reads exactly the rest."""

    class StopHalfway:
        """Set once the drain has asked `checks` times (it asks before each file and each chunk)."""

        def __init__(self, checks: int):
            self.checks = checks

        def is_set(self) -> bool:
            self.checks -= 1
            return self.checks < 0

    projects = tmp_path / "projects"
    transcripts(projects, 2 * PARALLEL_BYTES)  # ~560 files: a commit process too
    ingest([projects], tmp_path / "clean.db", parallel=False)
    db = tmp_path / "agentmon.db"
    with Store(db) as store:
        ingester = Ingester(store, [projects], clock=lambda: NOW)
        ingester.stop = StopHalfway(500)
        ingester.run_once()
        ingester.close()
    with sqlite3.connect(db) as conn:
        lines = conn.execute("SELECT lines FROM ingest_totals").fetchone()[0]
    assert 0 < lines < sum(1 for p in projects.rglob("*.jsonl") for _ in p.open("rb"))
    with Store(db) as store:
        Ingester(store, [projects], clock=lambda: NOW).run_once()
    assert dump(db) == dump(tmp_path / "clean.db")


def test_a_commit_process_that_dies_is_named_with_its_last_words(tmp_path, monkeypatch):
    """What the child wrote to its stderr before it ended is in the error the parent raises (and never on the
    parent's own screen)."""
    from agentmon.errors import AgentmonError
    from agentmon.store.writer import Store

    monkeypatch.setattr(commits, "_BOOTSTRAP", "import sys; sys.stderr.write('out of luck\\n'); sys.exit(3)")
    with Store(tmp_path / "a.db") as store:
        child = commits.CommitProcess.start(store)
        assert child is not None
        with pytest.raises(AgentmonError, match=r"exit status 3; out of luck"):
            child.submit(Batch())
            child.settle()
        child.close()


def _posix_locks(pid: int, path: Path) -> set[tuple[str, int, int]]:
    """The POSIX locks `pid` holds on `path`, as Linux lists them (/proc/locks): (READ or WRITE, first, last byte)."""
    st = os.stat(path)
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    held = set()
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields[:2]:  # a request waiting for a lock, not a lock
            continue
        _, kind, _, mode, owner, where, first, last = fields[:8]
        if kind == "POSIX" and int(owner) == pid and where == inode:
            held.add((mode, int(first), int(last)))
    return held


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="Linux lists its locks in /proc/locks")
def test_a_commit_process_holds_the_locks_of_a_connection_of_its_own(tmp_path):
    """SQLite keeps a connection's POSIX locks per process, and a fork inherits its parent's bookkeeping of them but
    none of the locks: a forked child would commit holding neither the database's shared lock nor the WAL index's
    (its "dead man's switch"). With its parent killed, a reader that comes and goes would take itself for the last
    connection, checkpoint and delete the WAL under the child, and the child's next commits would be lost. So the
    child is a new interpreter, and holds both."""
    from agentmon.store.writer import Store

    db = tmp_path / "a.db"
    with Store(db) as store:
        child = commits.CommitProcess.start(store)
        assert child is not None
        child.submit(Batch())
        assert child.settle()  # committed: the child's connection is open
        shared = ("READ", 1073741826, 1073742335)  # SQLite's SHARED_FIRST .. + SHARED_SIZE - 1 (os_unix.c)
        dead_mans_switch = ("READ", 128, 128)  # the WAL index's DMS byte
        try:
            assert shared in _posix_locks(child.proc.pid, db)
            assert dead_mans_switch in _posix_locks(child.proc.pid, Path(f"{db}-shm"))
        finally:
            child.close()


def test_a_commit_process_that_ends_before_its_first_read_leaves_the_ingest_inline(tmp_path, monkeypatch):
    """Its settings could not be sent: no commit process, and nothing of one left behind (the collector's
    threshold is the parent's own again), so the read commits inline."""
    import gc

    from agentmon.errors import AgentmonError
    from agentmon.store.writer import Store

    def dead(self, body):
        raise AgentmonError("the commit process ended")

    monkeypatch.setattr(commits.CommitProcess, "_send", dead)
    before = gc.get_threshold()
    with Store(tmp_path / "a.db") as store:
        assert commits.CommitProcess.start(store) is None
    assert gc.get_threshold() == before
