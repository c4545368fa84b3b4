"""Append-to-commit latency: from a line written to a followed file to a reader seeing it committed."""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path


def follow_latency(workdir: Path, samples: int = 20) -> float:
    """Median seconds from a line appended to a followed file to its commit being readable."""
    from agentmon.ingest.ingester import Ingester
    from agentmon.ingest.watch import follow
    from agentmon.store.writer import Store

    logs = workdir / "follow"
    logs.mkdir()
    log = logs / "live.jsonl"
    log.write_bytes(b"")
    db = workdir / "follow.db"
    store = Store(db)
    ingester = Ingester(store, [logs], keep_open=True)
    stop = threading.Event()
    worker = threading.Thread(target=follow, args=(ingester, stop), daemon=True)
    worker.start()
    time.sleep(0.5)
    latency = append_to_commit(log, db, samples)
    stop.set()
    worker.join(timeout=5)
    ingester.close()
    store.close()
    return latency


def append_to_commit(log: Path, db: Path, samples: int) -> float:
    """Median seconds from a line appended to `log` to a reader of `db` seeing it committed."""
    from agentmon.store.writer import connect

    reader = connect(db, readonly=True)
    lines = lambda: reader.execute("SELECT lines FROM ingest_totals").fetchone()[0]
    latencies = []
    with open(log, "ab", buffering=0) as f:
        for i in range(samples):
            before = lines()
            start = time.perf_counter()
            f.write(b'{"event":"tool_call","ts":%d,"agent":"a","task":"t%d","tool":"x","ok":true}\n' % (time.time(), i))
            while lines() == before:
                time.sleep(0.002)
            latencies.append(time.perf_counter() - start)
            time.sleep(0.05 + (i % 5) * 0.05)  # not in step with any polling
    reader.close()
    return statistics.median(latencies)
