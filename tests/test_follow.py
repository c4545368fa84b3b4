"""Follow mode: watchfiles wakes the ingester; lines, new files and new directories arrive quickly."""

import threading

from conftest import tool_line, totals
from waiting import DEADLINE, wait_for

from agentmon.ingest.ingester import Ingester
from agentmon.ingest.watch import follow
from agentmon.store.writer import Store


def test_follow_ingests_appends_new_files_and_directories_then_stops(logs, db):
    (logs / "a.jsonl").write_bytes(tool_line(0))
    store = Store(db)
    ingester = Ingester(store, [logs], keep_open=True)
    stop = threading.Event()
    passes = []
    worker = threading.Thread(
        target=follow,
        args=(ingester, stop),
        kwargs={"rescan": 0.5, "on_pass": lambda ing: passes.append(ing.stats.lines)},
    )
    worker.start()
    try:
        assert wait_for(lambda: totals(db)["lines"] == 1)  # what was there at start
        with open(logs / "a.jsonl", "ab") as f:
            f.write(tool_line(1))
        assert wait_for(lambda: totals(db)["lines"] == 2)
        (logs / "new" / "deeper").mkdir(parents=True)
        (logs / "new" / "deeper" / "b.ndjson").write_bytes(tool_line(2) + tool_line(3))
        assert wait_for(lambda: totals(db)["lines"] == 4)
    finally:
        stop.set()
        worker.join(timeout=DEADLINE)  # reached only if stopping hangs: asserted below
        ingester.close()
        store.close()
    assert not worker.is_alive()
    assert passes and passes[-1] == 4
