"""Inspect AI logs as inspect-ai writes them today (fixtures/inspect, made by its generate.py with a real
inspect-ai run on the mock model): `.eval` zips with zstd entries, deflate and stored ones, `.json`; read as
soon as they read whole, quarantined alone when they cannot be read."""

import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import FIXTURES

from agentmon.ingest.ingester import Ingester
from agentmon.sources import inspect_ai
from agentmon.store.writer import Store

INSPECT = FIXTURES / "inspect"
SUITE = "refund-golden"
BY_VERSION = {"1.1.0": 10, "1.2.0": 7, "1.3.0": 9}  # generate.py's runs: cases passed of 10 (run 2 regresses)
OLD = 1_700_000_000  # a modification time long past: the file is not being written


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agentmon.cli", *map(str, args)], capture_output=True, text=True)


def figures(logs: list[Path]) -> dict[str, int]:
    """Cases passed per agent version, as agentmon reads the logs."""
    out = {}
    for log in logs:
        results = inspect_ai.read(log)
        assert {r.suite for r in results} == {SUITE} and {r.agent for r in results} == {"refund-agent"}
        assert len(results) == 10
        out[results[0].agent_version] = sum(r.passed for r in results)
    return out


def stored_figures(db: Path) -> dict[str, int]:
    rows = sqlite3.connect(db).execute(
        "SELECT agent_version, sum(passed) FROM eval_results WHERE suite = ? GROUP BY run", (SUITE,)
    )
    return dict(rows.fetchall())


def repack(src: Path, dst: Path, method: int) -> Path:
    """The same log with its entries compressed by `method` (deflate, stored), as older inspect-ai wrote them."""
    with open(src, "rb") as f, zipfile.ZipFile(f) as z, zipfile.ZipFile(dst, "w", compression=method) as out:
        for info in z.infolist():
            out.writestr(info.filename, inspect_ai._entry(f, z, info))
    return dst


def set_method(path: Path, name: str, method: int) -> None:
    """Record in the zip's directory that entry `name` is compressed with `method`."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")  # a central directory entry: method at +10, name length at +28, name at +46
    while at != -1:
        if data[at + 46 : at + 46 + int.from_bytes(data[at + 28 : at + 30], "little")] == name.encode():
            data[at + 10 : at + 12] = method.to_bytes(2, "little")
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(data)


def test_the_committed_eval_logs_are_zstd_as_inspect_writes_them_now():
    for log in INSPECT.glob("*.eval"):
        with zipfile.ZipFile(log) as z:
            assert {i.compress_type for i in z.infolist()} == {93}  # zstd: the standard zipfile cannot read these


@pytest.mark.parametrize("pattern", ["*.eval", "*.json"])
def test_both_formats_give_each_runs_figures(pattern):
    assert figures(sorted(INSPECT.glob(pattern))) == BY_VERSION


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_deflate_and_stored_entries_read_the_same(tmp_path, method):
    logs = [repack(log, tmp_path / log.name, method) for log in sorted(INSPECT.glob("*.eval"))]
    assert figures(logs) == BY_VERSION


def test_a_fresh_log_beside_a_broken_one_gates_at_once(tmp_path, db):
    """The CI flow: `inspect eval … && agentmon ingest logs/ && agentmon gate …`, no sleep between."""
    logs = tmp_path / "logs"
    logs.mkdir()
    evals = sorted(INSPECT.glob("*.eval"))
    for log in evals[:2]:  # runs 1 and 2, just written (their mtimes are now)
        shutil.copy(log, logs / log.name)
    shutil.copy(sorted(INSPECT.glob("*.json"))[0], logs / "run1.json")
    cut = logs / "cut-short.eval"
    cut.write_bytes(evals[2].read_bytes()[:9000])  # a run killed mid-write: no zip directory
    os.utime(cut, (OLD, OLD))
    set_method(repack(evals[2], logs / "odd.eval", zipfile.ZIP_STORED), "header.json", 95)  # a method none reads
    out = run("ingest", "--db", db, logs)
    assert out.returncode == 0, out.stderr
    assert "30 events, 2 quarantined, 5 files" in out.stderr and "`agentmon quarantine`" in out.stderr
    gate = run("gate", "--suite", SUITE, "--db", db)
    assert gate.returncode == 1 and "pass rate 70.0% (7/10)" in gate.stdout, gate.stdout
    assert run("gate", "--suite", SUITE, "--min-pass-rate", "0.7", "--db", db).returncode == 0
    listed = run("quarantine", "--db", db).stdout
    assert f"{cut} (the whole file): cut short: not a whole zip" in listed
    assert "compressed with zip method 95, which agentmon cannot read" in listed
    assert stored_figures(db) == {"1.1.0": 10, "1.2.0": 7}  # the runs read, the broken logs left out


def without(src: Path, dst: Path, *names: str) -> Path:
    """The log as it was before Inspect wrote `names` (header.json and summaries.json come last, at the end)."""
    with open(src, "rb") as f, zipfile.ZipFile(f) as z, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as out:
        for info in z.infolist():
            if info.filename not in names:
                out.writestr(info.filename, inspect_ai._entry(f, z, info))
    return dst


def test_a_log_being_written_waits_and_is_listed_until_it_reads_whole(tmp_path, db):
    logs = tmp_path / "logs"
    logs.mkdir()
    whole = sorted(INSPECT.glob("*.json"))[0].read_bytes()
    growing = logs / "growing.json"
    growing.write_bytes(whole[: len(whole) // 2])  # half written, just now
    running = without(sorted(INSPECT.glob("*.eval"))[0], logs / "running.eval", "header.json", "summaries.json")
    os.utime(running, (OLD, OLD))  # an eval that has not ended waits however old it is: it is no broken file
    out = run("ingest", "--db", db, logs)
    assert "0 events, 0 quarantined" in out.stderr
    assert f"not read yet, being written: {growing} (not a whole JSON document" in out.stderr
    assert f"not read yet, being written: {running} (the eval is still running (no header.json yet))" in out.stderr
    status = run("status", "--db", db).stdout
    assert f"not read yet, being written: {growing}" in status and f"not read yet, being written: {running}" in status
    waiting = json.loads(run("status", "--json", "--db", db).stdout)["ingest"]["waiting_documents"]
    assert [w["path"] for w in waiting] == [str(growing), str(running)]
    assert run("gate", "--suite", SUITE, "--db", db).returncode == 2  # no data yet, and status says why

    growing.write_bytes(whole)  # Inspect finishes writing: read at once, however new
    out = run("ingest", "--db", db, logs)
    assert "10 events, 0 quarantined" in out.stderr and "growing.json" not in out.stderr
    assert json.loads(run("status", "--json", "--db", db).stdout)["ingest"]["waiting_documents"][0]["path"] == str(
        running
    )
    assert run("gate", "--suite", SUITE, "--db", db).returncode == 0


def test_a_log_cut_short_long_ago_is_quarantined_not_waited_for(tmp_path, db):
    logs = tmp_path / "logs"
    logs.mkdir()
    whole = sorted(INSPECT.glob("*.json"))[0].read_bytes()
    (logs / "cut.json").write_bytes(whole[:5000])
    os.utime(logs / "cut.json", (OLD, OLD))
    out = run("ingest", "--db", db, logs)
    assert "1 quarantined" in out.stderr and "not read yet" not in out.stderr
    assert "cut short: not a whole JSON document" in run("quarantine", "--db", db).stdout


def test_an_eval_still_running_is_read_again_when_it_ends(tmp_path, db):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = sorted(INSPECT.glob("*.eval"))[1]
    without(log, logs / "r.eval", "header.json", "summaries.json")
    with Store(db) as store:
        ingester = Ingester(store, [logs])
        ingester.run_once()
        assert [w.reason for w in ingester.stats.waiting] == ["the eval is still running (no header.json yet)"]
        shutil.copy(log, logs / "r.eval")  # Inspect writes the header at the end
        ingester.run_once()
        assert ingester.stats.waiting == [] and ingester.stats.quarantined == 0
    assert stored_figures(db) == {"1.2.0": 7}


def test_an_invalidated_log_counts_nothing_and_a_rerun_sample_counts_once(tmp_path):
    data = json.loads(sorted(INSPECT.glob("*.json"))[0].read_text())
    data["invalidated"] = True
    (tmp_path / "invalid.json").write_text(json.dumps(data))
    assert inspect_ai.read(tmp_path / "invalid.json") == []
    log = sorted(INSPECT.glob("*.eval"))[1]  # run 2: refund-03 fails
    with open(log, "rb") as f, zipfile.ZipFile(f) as z:
        summaries = json.loads(inspect_ai._entry(f, z, z.getinfo("summaries.json")))
    rerun = next(s for s in summaries if s["id"] == "refund-03")
    summaries.append({**rerun, "scores": {"match": {"value": "C"}}})  # requeued and passed: appended after
    rewritten = tmp_path / "rerun.eval"
    without(log, rewritten, "summaries.json")
    with zipfile.ZipFile(rewritten, "a") as z:
        z.writestr("summaries.json", json.dumps(summaries))
    results = inspect_ai.read(rewritten)
    assert len(results) == 10 and sum(r.passed for r in results) == 8


@pytest.mark.skipif(
    importlib.util.find_spec("inspect_ai") is None, reason="inspect_ai not installed: the committed logs are read alone"
)
def test_inspect_ai_today_writes_logs_with_the_same_figures(tmp_path, db):
    """Regenerate the fixtures with the installed inspect-ai, then the CI flow on them at once."""
    made = subprocess.run(
        [sys.executable, INSPECT / "generate.py", tmp_path / "logs"], capture_output=True, text=True, timeout=300
    )
    assert made.returncode == 0, made.stderr
    for pattern in ("*.eval", "*.json"):
        assert figures(sorted((tmp_path / "logs").rglob(pattern))) == BY_VERSION
    assert run("ingest", "--db", db, tmp_path / "logs" / "eval").returncode == 0
    gate = run("gate", "--suite", SUITE, "--no-regressions", "--db", db)  # run 3 (9/10) against run 2 (7/10)
    assert gate.returncode == 0 and "pass rate 90.0% (9/10)" in gate.stdout, gate.stdout


def test_a_log_that_stops_growing_unfinished_is_quarantined_once_settled(tmp_path, db):
    """Follow mode rescans every few seconds: a log that never reads whole waits out the settle time, then goes
    to quarantine, once; the clock is the ingester's, so no test waits for it."""
    logs = tmp_path / "logs"
    logs.mkdir()
    stuck = logs / "stuck.json"
    stuck.write_bytes(sorted(INSPECT.glob("*.json"))[0].read_bytes()[:4000])
    os.utime(stuck, (OLD, OLD))
    now = [OLD + 0.5]
    with Store(db) as store:
        ingester = Ingester(store, [logs], clock=lambda: now[0])
        ingester.run_once()
        assert [w.path for w in ingester.stats.waiting] == [str(stuck)] and ingester.stats.quarantined == 0
        now[0] = OLD + 5  # past the settle time, nothing written
        ingester.run_once()
        ingester.run_once()
        assert ingester.stats.waiting == [] and ingester.stats.quarantined == 1
