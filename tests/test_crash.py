"""kill -9 at random moments while a writer appends: nothing lost, nothing counted twice."""

import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import tool_line, totals
from waiting import committed_lines, wait_for

pytestmark = pytest.mark.slow  # 24 ingesters started and killed: about 20 s
KILLS = 24


def test_sigkill_during_follow_loses_and_duplicates_nothing(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    db = tmp_path / "crash.db"
    written = 0
    done = threading.Event()

    def writer():
        nonlocal written
        rng = random.Random(1)
        files = [logs / f"w{i}.jsonl" for i in range(3)]
        while not done.is_set():
            f = rng.choice(files)
            with open(f, "ab") as out:
                for _ in range(rng.randint(1, 200)):
                    line = tool_line(written, task=f"t{written % 97}", ok=written % 7 != 0)
                    cut = rng.randint(1, len(line) - 1)
                    out.write(line[:cut])  # lines arrive in pieces too
                    out.flush()
                    out.write(line[cut:])
                    written += 1
            time.sleep(rng.uniform(0, 0.01))

    cmd = [sys.executable, "-m", "agentmon.cli", "ingest", "--follow", "--wait", "--db", str(db), str(logs)]
    t = threading.Thread(target=writer)
    t.start()
    rng = random.Random(2)
    try:
        for _ in range(KILLS):
            before = committed_lines(db)
            proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
            # Once it is under way (it has committed lines of its own), at a random moment of its work.
            assert wait_for(lambda before=before: committed_lines(db) > before), "the ingester committed nothing"
            time.sleep(rng.uniform(0, 0.6))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    finally:
        done.set()
        t.join()
    subprocess.run([sys.executable, "-m", "agentmon.cli", "ingest", "--db", str(db), str(logs)], check=True)
    counts = totals(db)
    assert written > 1000
    assert counts["lines"] == written
    assert counts["tool_calls"] == written
    assert counts["quarantined"] == 0
    import sqlite3

    (errors,) = sqlite3.connect(db).execute("SELECT sum(tool_errors) FROM agg_total").fetchone()
    assert errors == len([i for i in range(written) if i % 7 == 0])
