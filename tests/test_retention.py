"""Retention: what is forgotten never changes a figure a window shows; a late event of a forgotten task
counts no task twice; the file gives its pages back; `[retention]` and `agentmon prune`."""

import json
import sqlite3
import subprocess
import sys
import time

import pytest
from conftest import ingest

from agentmon.config import load
from agentmon.errors import AgentmonError
from agentmon.report.fleet import series
from agentmon.report.metrics import WINDOWS, snapshot
from agentmon.session import IngestSession
from agentmon.store import retention
from agentmon.store.retention import Retention, Sweeps, prune, prune_step
from agentmon.store.writer import Store, connect

NOW = 1_780_000_000.0 + 1234.0  # not on an hour: every window has ragged edges
DAY = 86400


def ev(ts: float, event: str, task: str, **fields: object) -> str:
    return json.dumps({"ts": ts, "agent": "a", "event": event, "task": task, **fields}) + "\n"


def history(days: int, now: float = NOW, every: float = 7 * 3600 + 77) -> str:
    """A task about every 7 hours over `days` days: a tool call (every third fails), a cost, an end."""
    lines, i, ts = [], 0, now - days * DAY
    while ts < now - 600:
        task = f"t{i}"
        lines += [
            ev(ts, "task_start", task, model="m"),
            ev(ts + 130, "tool_call", task, tool="x", ok=i % 3 != 0),
            ev(ts + 200, "cost", task, cost_usd=0.01 * (i % 5 + 1)),
            ev(ts + 400, "task_end", task, outcome="success" if i % 4 else "failure"),
        ]
        i, ts = i + 1, ts + every
    return "".join(lines)


def views(db) -> dict:
    """Every window's status document and its series, coarse and fine, as of NOW."""
    conn = connect(db, readonly=True)
    try:
        out = {}
        for window in WINDOWS:
            out[window] = snapshot(conn, window, NOW)
            for buckets in (60, 800):  # 800 buckets of 30 days: under an hour each, read from minute buckets
                out[f"{window}/{buckets}"] = series(conn, window, NOW, buckets)
        return out
    finally:
        conn.close()


def count(db, sql: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize(
    "kept",
    [Retention(), Retention(minute_days=61, hour_days=61, task_days=31, request_days=1, quarantine_days=1)],
    ids=["defaults", "the least allowed"],
)
def test_forgetting_changes_no_figure_any_window_shows(db, logs, kept):
    (logs / "a.jsonl").write_text(history(130))
    ingest([logs], db)
    before = views(db)
    minutes = count(db, "SELECT count(*) FROM agg_minute")
    with Store(db) as store:
        done = prune(store.conn, kept, NOW)
    assert done.minutes > 0 and count(db, "SELECT count(*) FROM agg_minute") == minutes - done.minutes
    first_hour = count(db, "SELECT min(bucket) FROM agg_hour")  # its minutes stay: the `all` charts start there
    old = f"bucket < {NOW - kept.minute_days * DAY} AND bucket >= {first_hour + 3600}"
    assert count(db, f"SELECT count(*) FROM agg_minute WHERE {old}") == 0
    after = views(db)
    if done.hours:  # the `all` window's charts cover the hours kept; its figures come from the totals
        for buckets in (60, 800):
            width, _ = after.pop(f"all/{buckets}")
            assert NOW - first_hour - 3600 <= width * buckets <= NOW - first_hour  # from within the first hour
            before.pop(f"all/{buckets}")
    assert after == before


def test_a_late_event_of_a_forgotten_task_counts_it_neither_seen_nor_ended_twice(db, logs):
    old = NOW - 400 * DAY
    (logs / "a.jsonl").write_text(ev(old, "task_start", "gone") + ev(old + 60, "task_end", "gone", outcome="success"))
    ingest([logs], db)
    with Store(db) as store:
        assert prune(store.conn, Retention(), NOW).tasks == 1
    seen = "SELECT sum(tasks_seen), sum(ended), sum(successes) FROM agg_total"
    assert count(db, "SELECT count(*) FROM tasks") == 0
    with (logs / "a.jsonl").open("a") as f:  # its end logged again, late, and a new task of today
        f.write(ev(old + 90, "task_end", "gone", outcome="failure") + ev(NOW - 60, "task_start", "new"))
    ingest([logs], db)
    conn = sqlite3.connect(db)
    assert conn.execute(seen).fetchone() == (2, 1, 1)  # "gone" once, as first counted; "new" seen
    assert [t for (t,) in conn.execute("SELECT task FROM tasks")] == ["new"]


def test_nothing_forgotten_moves_no_horizon_and_writes_nothing(db, logs):
    (logs / "a.jsonl").write_text(history(3))
    ingest([logs], db)
    conn = sqlite3.connect(db)
    changes = conn.total_changes
    with Store(db) as store:
        done = prune(store.conn, Retention(), NOW)
    assert done.rows() == 0
    assert conn.execute("SELECT count(*) FROM retention_horizons").fetchone() == (0,)
    assert conn.total_changes == changes


def test_requests_and_prompts_are_swept_a_bounded_number_of_keys_a_step(db, monkeypatch):
    monkeypatch.setattr(retention, "SWEEP_ROWS", 10)
    with Store(db) as store:
        store.conn.executemany(
            "INSERT INTO llm_requests (request_id, agent, task, ts) VALUES (?, 'a', 't', ?)",
            [(f"r{i:03}", NOW - (40 if i % 2 else 1) * DAY) for i in range(45)],
        )
        sweeps = Sweeps()
        first = prune_step(store.conn, Retention(), NOW, sweeps)
        assert first.requests == 5 and sweeps.requests == ("r009",)  # ten keys read, the old half gone
        assert prune(store.conn, Retention(), NOW).requests == 17
    assert count(db, "SELECT count(*) FROM llm_requests") == 23


def test_a_new_database_gives_pruned_pages_back(db, logs):
    (logs / "a.jsonl").write_text(history(200, every=600))
    ingest([logs], db)
    assert count(db, "PRAGMA auto_vacuum") == 2  # INCREMENTAL
    with Store(db) as store:
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = db.stat().st_size
        done = prune(store.conn, Retention(), NOW)
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert done.pages > 10 and count(db, "PRAGMA freelist_count") == 0  # every freed page given back
    assert db.stat().st_size <= size - done.pages * 4096


def test_the_following_session_prunes_in_small_steps_and_one_pass_does_not(db, logs, monkeypatch):
    (logs / "a.jsonl").write_text(history(100))
    kept = Retention(minute_days=61)
    one = IngestSession(db, [logs], clock=lambda: NOW, retention=kept)
    with one:
        one.run_once()
    minutes = count(db, "SELECT count(*) FROM agg_minute")
    assert count(db, f"SELECT count(*) FROM agg_minute WHERE bucket < {NOW - 61 * DAY}") > 0
    monkeypatch.setattr("agentmon.session.PRUNE_SECONDS", 0.0)
    monkeypatch.setattr(retention, "STEP_ROWS", 50)
    following = IngestSession(db, [logs], follow=True, clock=lambda: NOW, retention=kept)
    with following:
        following.prune_step()
        assert 0 < minutes - count(db, "SELECT count(*) FROM agg_minute") <= 50 + 60  # whole buckets
        for _ in range(100):
            following.prune_step()
    first_hour = count(db, "SELECT min(bucket) FROM agg_hour")
    assert count(db, f"SELECT count(*) FROM agg_minute WHERE bucket < {NOW - 61 * DAY}") == count(
        db, f"SELECT count(*) FROM agg_minute WHERE bucket < {first_hour + 3600}"
    )  # the first hour's alone


def write_config(tmp_path, monkeypatch, text: str):
    path = tmp_path / "agentmon.toml"
    path.write_text(text)
    monkeypatch.setenv("AGENTMON_CONFIG", str(path))
    return path


def test_retention_settings(tmp_path, monkeypatch):
    write_config(tmp_path, monkeypatch, "[retention]\nminute_days = 90\ntask_days = false\n")
    assert load().retention == Retention(minute_days=90, task_days=None)
    write_config(tmp_path, monkeypatch, "[retention]\nminute_days = 30\n")
    with pytest.raises(AgentmonError, match=r"agentmon.toml:2: `retention.minute_days` must be at least 61 days"):
        load()
    write_config(tmp_path, monkeypatch, "[retention]\nminutes = 90\n")
    with pytest.raises(AgentmonError, match=r"unknown setting `retention.minutes` \(known: retention.minute_days"):
        load()
    write_config(tmp_path, monkeypatch, "[retention]\nhour_days = true\n")
    with pytest.raises(AgentmonError, match=r"`retention.hour_days` must be a number of days, or false: forever"):
        load()


def agentmon(*args: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "agentmon.cli", *map(str, args)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_prune_vacuum_gives_an_older_database_incremental_vacuum(db, logs, tmp_path, monkeypatch):
    write_config(tmp_path, monkeypatch, "[retention]\nminute_days = 61\n")
    now = time.time()
    (logs / "a.jsonl").write_text(history(90, now))
    ingest([logs], db)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA auto_vacuum = NONE")
    conn.execute("VACUUM")  # as an older agentmon made it
    conn.close()
    out = agentmon("prune", "--db", db).stderr
    assert "forgot " in out and " minute and 0 hour buckets" in out
    assert "`agentmon prune --vacuum` rewrites it once" in out
    assert count(db, "PRAGMA auto_vacuum") == 0
    out = agentmon("prune", "--vacuum", "--db", db).stderr
    assert "forgot 0 minute" in out and "--vacuum" not in out
    assert count(db, "PRAGMA auto_vacuum") == 2


def test_prune_while_another_process_ingests_says_that_one_forgets_by_itself(db):
    with Store(db):
        proc = subprocess.run(
            [sys.executable, "-m", "agentmon.cli", "prune", "--db", str(db)], capture_output=True, text=True
        )
    assert proc.returncode != 0
    assert "that process forgets what is past [retention] by itself, a step a minute" in proc.stderr


def test_opentelemetry_traces_agents_go_with_the_requests(db, monkeypatch):
    """Which agent's invocation a span falls in (otel_agent_spans) and the traces let go as a service's task
    (otel_traces) grow with every trace: they are forgotten after request_days, swept a bounded number a step."""
    monkeypatch.setattr(retention, "SWEEP_ROWS", 10)
    with Store(db) as store:
        store.conn.executemany(
            "INSERT INTO otel_agent_spans (trace_id, agent, start_ts, end_ts) VALUES (?, 'a', ?, ?)",
            [(f"t{i:03}", NOW - 41 * DAY, NOW - (40 if i % 2 else 1) * DAY) for i in range(25)],
        )
        store.conn.executemany(
            "INSERT INTO otel_traces (trace_id, agent, ts) VALUES (?, 'svc', ?)",
            [(f"u{i:03}", NOW - (40 if i % 3 else 1) * DAY) for i in range(12)],
        )
        sweeps = Sweeps()
        first = prune_step(store.conn, Retention(), NOW, sweeps)
        assert first.traces == 5 + 6 and sweeps.spans == ("t009", "a")  # ten keys read a table, the old gone
        assert prune(store.conn, Retention(), NOW).traces == 7 + 2
        assert prune(store.conn, Retention(request_days=None), NOW).traces == 0  # false keeps them
    assert count(db, "SELECT count(*) FROM otel_agent_spans") == 13
    assert count(db, "SELECT count(*) FROM otel_traces") == 4
