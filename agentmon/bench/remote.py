"""The ssh:// figures of `agentmon bench`: throughput and append-to-commit latency over a loopback
OpenSSH server, through each remote end (agentmon's file server and the POSIX sh one)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from agentmon.bench.latency import append_to_commit
from agentmon.remote import Remote
from agentmon.remote.follow import RemoteFollower
from agentmon.remote.loopback import ALIAS, LoopbackSSHD, unavailable
from agentmon.store.writer import Store

MODES = {"agentmon": f"{sys.executable} -m agentmon.cli", "sh": ""}


def run(log: Path, events: int, workdir: Path, say) -> None:
    """`log` holds `events` native events; it is read through ssh as if it were on another host."""
    why = unavailable()
    if why:
        say(f"remote  skipped: {why}")
        return
    with LoopbackSSHD(workdir / "sshd") as sshd:
        env = {**os.environ, "AGENTMON_SSH_COMMAND": sshd.ssh_command}
        os.environ["AGENTMON_SSH_COMMAND"] = sshd.ssh_command
        size_mb = log.stat().st_size / 1e6
        for mode, remote_agentmon in MODES.items():
            db = workdir / f"remote-{mode}.db"
            start = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "agentmon.cli",
                    "ingest",
                    sshd.url(log),
                    "--db",
                    str(db),
                    "--remote-agentmon",
                    remote_agentmon,
                ],
                env=env,
                check=True,
                capture_output=True,
            )
            seconds = time.perf_counter() - start
            latency = _latency(sshd, workdir / f"latency-{mode}", remote_agentmon)
            crowded = _latency(sshd, workdir / f"latency-{mode}-500", remote_agentmon, others=500)
            say(
                f"remote  {events:,} events ({size_mb:.0f} MB) over loopback ssh, {mode} remote end: {seconds:.2f} s = "
                f"{events / seconds:,.0f} events/s (target >= 50,000); append-to-commit median of 20 "
                f"{latency * 1e3:.0f} ms, {crowded * 1e3:.0f} ms with 500 other files there (target <= 1000)"
            )


def _latency(sshd: LoopbackSSHD, workdir: Path, remote_agentmon: str, samples: int = 20, others: int = 0) -> float:
    logs = workdir / "logs"
    logs.mkdir(parents=True)
    for i in range(others):  # files that do not change: a pass must not ask the host about each
        (logs / f"other-{i}.jsonl").write_bytes(
            b'{"event":"tool_call","ts":1780000000,"agent":"a","task":"t","tool":"x","ok":true}\n'
        )
    log = logs / "live.jsonl"
    log.write_bytes(b"")
    db = workdir / "latency.db"
    stop = threading.Event()
    with Store(db) as store:
        follower = RemoteFollower(store, Remote(ALIAS), [sshd.url(logs)], remote_agentmon=remote_agentmon or None)
        worker = threading.Thread(target=follower.run, args=(stop,), daemon=True)
        worker.start()
        deadline = time.monotonic() + 120
        while _lines(db) < others and time.monotonic() < deadline:  # the first pass reads them all
            time.sleep(0.1)
        time.sleep(1.0)
        latency = append_to_commit(log, db, samples)
        stop.set()
        worker.join(timeout=10)
    return latency


def _lines(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT lines FROM ingest_totals").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()
