"""agentmon.emit: a team's own agent writing native events, from many processes and threads at once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import agents, totals

from agentmon import emit
from agentmon.emit import EmitError, Emitter
from agentmon.ingest.tail import DEFAULT_MAX_LINE

PROCESSES, THREADS, TASKS = 8, 4, 25
# One process's share: THREADS threads, each TASKS tasks of five events, one of them a 64 KiB line (far
# beyond the 4 KiB PIPE_BUF that bounds atomic writes to a pipe) so that interleaving would show.
WRITER = textwrap.dedent(
    """
    import sys, threading
    from agentmon.emit import Emitter

    path, proc = sys.argv[1], int(sys.argv[2])
    emitter = Emitter(path, agent="busy-agent")

    def work(thread):
        for n in range({tasks}):
            with emitter.task(f"p{{proc}}-t{{thread}}-{{n}}", model="claude-haiku-4-5") as task:
                task.llm_call("claude-haiku-4-5", input_tokens=100, output_tokens=10)
                task.tool_call("lookup", ok=n % 5 != 0, error=None if n % 5 else "timeout")
                task.escalation("x" * (65536 if n % 2 else 10))
                task.end("success")

    threads = [threading.Thread(target=work, args=(t,)) for t in range({threads})]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    """
).format(tasks=TASKS, threads=THREADS)


def cli(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "agentmon.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def test_many_processes_appending_at_once_are_counted_exactly_once(logs, db, tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    path = logs / "busy.jsonl"
    procs = [subprocess.Popen([sys.executable, str(script), str(path), str(p)]) for p in range(PROCESSES)]
    assert [p.wait() for p in procs] == [0] * PROCESSES

    tasks = PROCESSES * THREADS * TASKS
    lines = path.read_bytes().split(b"\n")
    assert lines.pop() == b""  # every line whole, the last one ended
    assert len(lines) == tasks * 5
    assert all(json.loads(line)["agent"] == "busy-agent" for line in lines)

    cli("ingest", logs, "--db", db)
    cli("ingest", logs, "--db", db)  # a second read adds nothing
    assert totals(db) == {"lines": tasks * 5, "quarantined": 0, "tool_calls": tasks}
    a = agents(db)["busy-agent"]
    assert (a["tasks"], a["successes"], a["llm_requests"], a["tool_errors"]) == (tasks, tasks, tasks, tasks // 5)
    assert a["escalation_rate"] == 1.0


def test_the_line_cap_is_the_ingesters(logs, db, monkeypatch):
    assert emit.MAX_LINE_BYTES == DEFAULT_MAX_LINE
    monkeypatch.setattr(emit, "_now", lambda: 1_780_000_000.5)
    path = logs / "a.jsonl"
    cap = 300
    e = Emitter(path, agent="a", max_line_bytes=cap)
    task = e.task("t")
    base = len(path.read_bytes())
    e.write("escalation", "t", reason="")
    empty = len(path.read_bytes()) - base - 1  # the line with an empty reason, without its newline
    e.write("escalation", "t", reason="r" * (cap - empty))  # exactly at the cap: written
    size = path.stat().st_size
    with pytest.raises(EmitError, match="over agentmon's 300-byte cap"):
        task.escalation("r" * (cap - empty + 1))
    assert path.stat().st_size == size  # nothing of it written
    task.end("success")
    cli("ingest", logs, "--db", db, "--max-line-bytes", cap)
    assert totals(db)["quarantined"] == 0
    assert agents(db)["a"]["escalation_rate"] == 1.0


def test_leaving_the_block_ends_the_task(logs, db):
    e = Emitter(logs / "a.jsonl", agent="a")
    with e.task("quiet"):
        pass
    with pytest.raises(KeyError), e.task("raises"):
        raise KeyError("a customer's words, never written")
    with e.task("done") as t:
        t.end("success")
    ends = [json.loads(line) for line in (logs / "a.jsonl").read_text().splitlines()]
    ends = [(x["task"], x["outcome"], x.get("reason")) for x in ends if x["event"] == "task_end"]
    assert ends == [("quiet", "unknown", None), ("raises", "failure", "KeyError"), ("done", "success", None)]
    assert "customer" not in (logs / "a.jsonl").read_text()


def test_what_agentmon_would_quarantine_is_refused(logs):
    with pytest.raises(EmitError, match=r"only files named \*.jsonl"):
        Emitter(logs / "a.txt", agent="a")
    e = Emitter(logs / "a.jsonl", agent="a")
    t = e.task("t")
    with pytest.raises(EmitError, match="outcome 'done'"):
        t.end("done")  # type: ignore[arg-type]
    with pytest.raises(EmitError, match="input_tokens"):
        t.llm_call("m", input_tokens=-1, output_tokens=0)
    with pytest.raises(EmitError, match="cost_usd"):
        t.cost(float("nan"))
    with pytest.raises(EmitError, match="agent: a non-blank string"):
        Emitter(logs / "b.jsonl", agent=" ")


def test_importing_it_loads_nothing_else_of_agentmon():
    code = "import sys, agentmon.emit; print(sorted(m for m in sys.modules if m.startswith('agentmon')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['agentmon', 'agentmon.emit']"
    code = "import sys, agentmon.emit; print(sorted({'msgspec', 'click', 'sqlite3'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"
