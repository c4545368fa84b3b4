from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from agentmon.ingest.ingester import Ingester
from agentmon.report.metrics import snapshot
from agentmon.store.writer import Store, connect

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
REALDATA = ROOT.parent / "shared" / "realdata"  # optional: real logs, kept beside the clone, not in it


def needs_realdata(what: str, folder: str) -> pytest.MarkDecorator:
    """Skip, saying what is missing and where it would be, unless REALDATA/folder holds `what`."""
    where = os.path.relpath(REALDATA / folder, ROOT)
    return pytest.mark.skipif(
        not (REALDATA / folder).is_dir(), reason=f"real {what} not present: {where} (relative to the clone)"
    )


def ingest(paths, db: Path, track_follow_ups=lambda agent: False, **kwargs) -> Ingester:
    """One-shot ingest, the way `agentmon ingest` does it."""
    with Store(db, track_follow_ups=track_follow_ups) as store:
        ingester = Ingester(store, [Path(p) for p in paths], **kwargs)
        ingester.run_once()
        ingester.close()
    return ingester


def agents(db: Path, window: str = "all", now: float | None = None) -> dict[str, dict]:
    """The status --json agents, by name."""
    conn = connect(db, readonly=True)
    try:
        return {a["agent"]: a for a in snapshot(conn, window, now)["agents"]}
    finally:
        conn.close()


def cli(*args, code: int = 0) -> str:
    """`agentmon ARGS…` run in this process; its output, once its exit code is `code`."""
    from click.testing import CliRunner

    from agentmon.cli import main

    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.output


def tasks_by_id(db: Path) -> dict[str, dict]:
    """Every row of the tasks table, whole, by task id."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return {r["task"]: dict(r) for r in conn.execute("SELECT * FROM tasks")}
    finally:
        conn.close()


def totals(db: Path) -> dict:
    conn = sqlite3.connect(db)
    try:
        lines, quarantined = conn.execute("SELECT lines, quarantined FROM ingest_totals").fetchone()
        (tool_calls,) = conn.execute("SELECT coalesce(sum(tool_calls), 0) FROM agg_total").fetchone()
        return {"lines": lines, "quarantined": quarantined, "tool_calls": tool_calls}
    finally:
        conn.close()


def tool_line(i: int, task: str = "t", agent: str = "a", ok: bool = True) -> bytes:
    return b'{"ts":%d,"agent":"%s","event":"tool_call","task":"%s","tool":"x","ok":%s}\n' % (
        1_780_000_000 + i,
        agent.encode(),
        task.encode(),
        b"true" if ok else b"false",
    )


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """No test reads or writes the real ~/.claude, ~/.config or ~/.local/share."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(home / "claude"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))  # genai-prices' answers (agentmon.store.price_cache)
    monkeypatch.delenv("AGENTMON_DB", raising=False)
    monkeypatch.delenv("AGENTMON_CONFIG", raising=False)
    return home


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "agentmon.db"


@pytest.fixture
def logs(tmp_path) -> Path:
    d = tmp_path / "logs"
    d.mkdir()
    return d


@pytest.fixture
def receiver(db):
    """An OTLP/HTTP receiver on a free loopback port, storing into `db`; stopped and closed after the test."""
    import threading

    from agentmon.ingest.receiver import Receiver

    store = Store(db)
    server = Receiver(store, ("127.0.0.1", 0), token=None)
    # serve_forever looks for shutdown every poll_interval (0.5 s by default), and every test stops one
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    store.close()
