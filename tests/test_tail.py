"""Tailing exactly once: partial lines, rotation, truncation, deletion, long lines, two writers."""

import os
import random
import re
import shutil

import pytest
from conftest import ingest, tool_line, totals

from agentmon.errors import AgentmonError
from agentmon.ingest.ingester import Ingester
from agentmon.ingest.tail import FP_MIN_TO_MATCH
from agentmon.store.writer import Store


def write(path, *lines, mode="ab"):
    with open(path, mode) as f:
        for line in lines:
            f.write(line)


def lines(n, start=0, task="t"):
    return [tool_line(i, task) for i in range(start, start + n)]


def counted(db):
    t = totals(db)
    assert t["lines"] == t["tool_calls"] + t["quarantined"]
    return t["tool_calls"]


def test_a_line_is_taken_only_once_it_ends_in_newline(logs, db):
    f = logs / "app.jsonl"
    whole = tool_line(1)
    write(f, whole[:20])
    ingest([logs], db)
    assert counted(db) == 0
    write(f, whole[20:], tool_line(2)[:-1])
    ingest([logs], db)
    assert counted(db) == 1
    write(f, b"\n")
    ingest([logs], db)
    assert counted(db) == 2


def test_appends_across_runs_count_once(logs, db):
    f = logs / "app.jsonl"
    for round_ in range(5):
        write(f, *lines(7, round_ * 7))
        ingest([logs], db)
        ingest([logs], db)
    assert counted(db) == 35


@pytest.mark.parametrize("rotated_name", ["app.jsonl.1", "app-2026-03-02.jsonl", "old/app.jsonl"])
def test_rename_rotation_finishes_the_old_file(logs, db, rotated_name):
    f = logs / "app.jsonl"
    write(f, *lines(3))
    ingest([logs], db)
    write(f, *lines(2, 3))  # written just before rotation, not yet ingested
    (logs / "old").mkdir()
    os.rename(f, logs / rotated_name)
    write(f, *lines(4, 5))  # the new file at the old name
    ingest([logs], db)
    ingest([logs], db)
    assert counted(db) == 9


def test_copytruncate_reads_the_lost_tail_from_the_copy(logs, db):
    f = logs / "app.jsonl"
    write(f, *lines(30))  # over 1 KiB so the fingerprint is full-length
    ingest([logs], db)
    write(f, *lines(2, 30))
    shutil.copyfile(f, logs / "app.jsonl.1")
    os.truncate(f, 0)
    write(f, *lines(3, 32))
    ingest([logs], db)
    ingest([logs], db)
    assert counted(db) == 35


def test_truncation_in_place_starts_again_at_zero(logs, db):
    f = logs / "app.jsonl"
    write(f, *lines(5))
    ingest([logs], db)
    os.truncate(f, 0)
    write(f, *lines(2, 100))
    ingest([logs], db)
    assert counted(db) == 7


def test_truncated_then_regrown_past_the_offset(logs, db):
    f = logs / "app.jsonl"
    write(f, *lines(3))
    ingest([logs], db)
    write(f, *lines(8, 50), mode="wb")  # bigger than before: caught by the fingerprint
    ingest([logs], db)
    assert counted(db) == 11


def test_rewritten_after_the_fingerprint_is_caught_by_the_marker(logs, db):
    f = logs / "app.jsonl"
    first = lines(20)  # about 2 KiB: the fingerprint covers only the first 1 KiB
    write(f, *first)
    ingest([logs], db)
    write(f, *first[:15], *lines(10, 200, task="other"), mode="wb")  # same head, new tail, longer
    ingest([logs], db)
    assert counted(db) == 20 + 25


def test_deleted_file_is_finished_in_follow_mode(logs, db):
    f = logs / "app.jsonl"
    write(f, *lines(3))
    with Store(db) as store:
        ing = Ingester(store, [logs], keep_open=True)
        ing.run_once()
        write(f, *lines(2, 3), b'{"partial')
        os.unlink(f)
        ing.run_once()
        ing.close()
    assert counted(db) == 5
    assert totals(db)["quarantined"] == 1  # the incomplete last line, kept as evidence


def test_runs_over_other_directories_leave_our_files_alone(tmp_path, db):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    write(a / "x.jsonl", *lines(4))
    write(b / "y.jsonl", *lines(3, 10, task="y"))
    ingest([a], db)
    ingest([b], db)  # must not retire a's files as gone
    ingest([a], db)
    ingest([tmp_path], db)
    ingest([a / "x.jsonl"], db)
    assert counted(db) == 7


def test_unreadable_files_are_reported_not_fatal(logs, db):
    write(logs / "ok.jsonl", *lines(2))
    locked = logs / "locked.jsonl"
    write(locked, *lines(2, 5))
    locked.chmod(0)
    if os.access(locked, os.R_OK):
        pytest.skip("this user reads even a file without permissions (root does): run as another user to test it")
    ing = ingest([logs], db)
    assert counted(db) == 2 and "cannot read" in ing.stats.last_error


def test_moved_out_of_the_watched_paths_is_finished_in_follow_mode(tmp_path, logs, db):
    f = logs / "app.jsonl"
    write(f, *lines(3))
    with Store(db) as store:
        ing = Ingester(store, [logs], keep_open=True)
        ing.run_once()
        write(f, *lines(2, 3))
        os.rename(f, tmp_path / "elsewhere.jsonl")
        ing.run_once()
        ing.close()
    assert counted(db) == 5


def test_new_files_and_directories_are_found(logs, db):
    write(logs / "a.jsonl", *lines(2))
    ingest([logs], db)
    (logs / "deep" / "er").mkdir(parents=True)
    write(logs / "deep" / "er" / "b.ndjson", *lines(3, 10, task="b"))
    write(logs / "deep" / "c.log", *lines(4, 20, task="c"))
    write(logs / "deep" / "ignored.txt", *lines(5, 30))
    ingest([logs], db)
    assert counted(db) == 9


def test_long_lines_are_capped_quarantined_and_skipped(logs, db):
    f = logs / "app.jsonl"
    long_head = b'{"ts":1,"agent":"a","event":"tool_call","task":"t","tool":"' + b"x" * 300
    write(f, tool_line(1), long_head)  # the long line is still being written
    ingest([logs], db, max_line=200)
    write(f, b"y" * 300 + b'","ok":true}\n', tool_line(2))
    ingest([logs], db, max_line=200)
    write(f, b"z" * 250 + b"\n", tool_line(3))  # a complete line over the cap
    ingest([logs], db, max_line=200)
    t = totals(db)
    assert (t["tool_calls"], t["quarantined"]) == (3, 2)
    import sqlite3

    reasons = [r for (r,) in sqlite3.connect(db).execute("SELECT reason FROM quarantine")]
    assert reasons == ["line longer than 200 bytes; skipped to its end"] * 2


def test_invalid_utf8_is_quarantined_not_fatal(logs, db):
    write(logs / "app.jsonl", tool_line(1), b"\xff\xfe\xfd\n", b'{"agent":"\xc3\x28"}\n', tool_line(2))
    ingest([logs], db)
    t = totals(db)
    assert (t["tool_calls"], t["quarantined"]) == (2, 2)


def test_a_second_ingester_is_refused_with_a_clear_message(logs, db):
    with Store(db), pytest.raises(AgentmonError, match=r"being written by pid \d+; only one ingester"):
        Store(db)
    Store(db).close()  # released on close


def test_two_writers_that_bypass_the_lock_never_double_count(logs, db):
    write(logs / "app.jsonl", *lines(50))
    a = Store(db)
    a.lock.release()  # pretend the lock is not there (e.g. a filesystem without flock)
    b = Store(db)
    ing_a, ing_b = Ingester(a, [logs], batch_lines=10), Ingester(b, [logs], batch_lines=10)
    ing_a.scan()
    ing_b.scan()
    ing_a.drain()
    ing_b.drain()  # its offsets are stale: the compare-and-set refuses its batches
    write(logs / "app.jsonl", *lines(5, 50))
    ing_b.run_once()
    ing_a.run_once()
    a.close()
    b.close()
    assert counted(db) == 55


def test_model_based_random_file_operations(tmp_path):
    """Random appends, partial writes, rotations, copytruncates and deletions against a model."""
    for seed in range(40):
        rng = random.Random(seed)
        logs = tmp_path / f"logs{seed}"
        logs.mkdir()
        db = tmp_path / f"db{seed}.sqlite"
        store = Store(db)
        ing = Ingester(store, [logs], keep_open=True, batch_lines=rng.choice([1, 5, 1000]))
        written = 0
        pending = {}  # path -> bytes of a line written in part
        names = [logs / f"f{i}.jsonl" for i in range(3)]
        # Rotation, truncation and deletion lose nothing only for files seen before with some
        # content: copytruncate of a file that was empty when last seen is lossy by nature.
        tracked = set()
        for step in range(60):
            f = rng.choice(names)
            op = rng.random()
            known = f in tracked
            if op < 0.45:
                n = rng.randint(1, 30)
                head = pending.pop(f, b"")
                if head:
                    write(f, head)
                    written += 1
                write(f, *lines(n, written))
                written += n
                if rng.random() < 0.3:
                    line = tool_line(10_000 + step)
                    cut = rng.randint(1, len(line) - 1)
                    write(f, line[:cut])
                    pending[f] = line[cut:]
            elif op < 0.6 and known:
                tracked.discard(f)
                rotated = f.with_name(f.name + f".{step}")
                os.rename(f, rotated)
                if f in pending:
                    write(rotated, pending.pop(f))
                    written += 1
            elif op < 0.7 and known and f not in pending:
                tracked.discard(f)
                shutil.copyfile(f, f.with_name(f.name + f".c{step}"))
                os.truncate(f, 0)
            elif op < 0.75 and known and f not in pending:
                tracked.discard(f)
                os.unlink(f)  # the open descriptor lets follow mode finish it
            else:
                ing.run_once()
                tracked = {f for f in names if f.exists() and f.stat().st_size >= FP_MIN_TO_MATCH}
        for f, rest in pending.items():
            write(f, rest)
            written += 1
        ing.run_once()
        ing.run_once()
        ing.close()
        store.close()
        assert counted(db) == written, f"seed {seed}"


def test_a_full_disk_is_one_clear_error_and_loses_nothing(tmp_path):
    """SQLite rolls a transaction back itself when the disk fills: the error names the database, no
    offset moves without its rows, and the next run, with room, reads exactly what was left."""
    logs, db = tmp_path / "logs", tmp_path / "agentmon.db"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(b"".join(tool_line(i, task=f"t{i}") for i in range(100)))
    ingest([logs], db)
    with open(logs / "a.jsonl", "ab") as f:  # 20,000 more tasks: many more pages than are left
        f.write(b"".join(tool_line(i, task=f"t{i}") for i in range(100, 20_100)))
    with Store(db) as store:
        (pages,) = store.conn.execute("PRAGMA page_count").fetchone()
        store.conn.execute(f"PRAGMA max_page_count = {pages + 5}")  # the disk is full
        with pytest.raises(AgentmonError, match=f"^cannot write {re.escape(str(db))}: "):  # then SQLite's words
            Ingester(store, [logs]).run_once()
    assert totals(db) == {"lines": 100, "quarantined": 0, "tool_calls": 100}
    ingest([logs], db)
    assert totals(db) == {"lines": 20_100, "quarantined": 0, "tool_calls": 20_100}


def test_the_files_a_scan_finds_are_recorded_all_or_none(logs, db):
    """A first look records every new file in one transaction: a failure part way leaves neither a record
    nor a tracked file, and the next scan takes them all."""
    for i in range(5):
        write(logs / f"app{i}.jsonl", *lines(2, task=f"t{i}"))
    with Store(db) as store:
        ingester = Ingester(store, [logs])
        add_file, calls = store.add_file, []

        def failing(*args, **kwargs):
            calls.append(args)
            if len(calls) == 3:
                raise AgentmonError("disk full (simulated)")
            return add_file(*args, **kwargs)

        store.add_file = failing  # type: ignore[method-assign]
        with pytest.raises(AgentmonError):
            ingester.scan()
        assert store.files() == [] and ingester.tracked == {}
        store.add_file = add_file  # type: ignore[method-assign]
        ingester.run_once()
        assert len(store.files()) == 5
    assert counted(db) == 10


def test_a_settled_file_read_to_its_end_is_not_opened_by_the_next_run(logs, db, monkeypatch):
    """Its size and modification time are committed with its offset: a run that finds them so reads nothing
    of it without opening it. A file written moments ago is opened and checked, as before."""
    import time

    from agentmon.ingest.files import LocalFiles

    settled, fresh = logs / "settled.jsonl", logs / "fresh.jsonl"
    write(settled, *lines(3, task="a"))
    write(fresh, *lines(2, task="b"))
    old = time.time() - 60
    os.utime(settled, (old, old))
    ingest([logs], db)
    opened: list[str] = []
    real_open = LocalFiles.open
    monkeypatch.setattr(LocalFiles, "open", lambda self, path: opened.append(path) or real_open(self, path))
    ingest([logs], db)
    assert opened == [str(fresh)]
    assert counted(db) == 5
    write(settled, *lines(1, start=3, task="a"))  # appended: its time moves on, and it is read again
    ingest([logs], db)
    assert counted(db) == 6


def test_a_settled_file_rewritten_to_the_same_size_is_read_as_new_content(logs, db):
    f = logs / "app.jsonl"
    write(f, *lines(3, task="a"))
    os.utime(f, (1_700_000_000, 1_700_000_000))
    ingest([logs], db)
    assert counted(db) == 3
    write(f, *lines(3, task="b"), mode="r+b")  # the same length, other content, a new modification time
    ingest([logs], db)
    assert counted(db) == 6
