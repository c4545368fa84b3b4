"""Rotation landing at every step of a scan, file identity that cannot be fooled, and no file that can
hang an ingest or exhaust its descriptors."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ingest, tool_line, totals

from agentmon.ingest.files import LocalFiles
from agentmon.ingest.ingester import Ingester
from agentmon.store.writer import Store


def write(path: Path, *lines: bytes, mode: str = "ab") -> None:
    with open(path, mode) as f:
        f.write(b"".join(lines))


def lines(n: int, start: int = 0) -> list[bytes]:
    return [tool_line(i, task=f"t{i}") for i in range(start, start + n)]


def tasks(db: Path) -> int:
    t = totals(db)
    assert t["lines"] == t["tool_calls"] + t["quarantined"]
    return t["tool_calls"]


class Racing(LocalFiles):
    """This machine's files, with a rotation landing once at a chosen step: after the listing, or just
    before the first stat, open or read of a file whose name ends with `name`, or just after such a read."""

    def __init__(self, step: str, name: str, rotate: Callable[[], None]):
        super().__init__()
        self.step, self.name, self.rotate = step, name, rotate
        self.fired = False
        self._names: dict[int, str] = {}

    def _at(self, step: str, path: str) -> None:
        if not self.fired and step == self.step and path.endswith(self.name):
            self.fired = True
            self.rotate()

    def walk(self, roots):
        found = super().walk(roots)
        self._at("listed", self.name)
        return found

    def stat(self, path: str):
        self._at("stat", path)
        return super().stat(path)

    def open(self, path: str) -> int:
        self._at("open", path)
        fd = super().open(path)
        self._names[fd] = path
        return fd

    def pread(self, fd: int, n: int, offset: int) -> bytes:
        path = self._names.get(fd, "")
        lines = n > 1024 or (offset > 0 and n > 64)  # a read of lines, not of a fingerprint or a marker
        if lines:
            self._at("read", path)
        data = super().pread(fd, n, offset)
        if lines:
            self._at("read-done", path)
        return data

    def close(self, fd: int) -> None:
        self._names.pop(fd, None)
        super().close(fd)


def ingest_on(fs: LocalFiles, logs: Path, db: Path, **kwargs) -> Ingester:
    with Store(db) as store:
        ing = Ingester(store, [logs], fs=fs, **kwargs)
        ing.run_once()
        ing.close()
    return ing


# --- a rotation at each step of a scan ---------------------------------------------------


def copytruncate(f: Path, copy: Path, *then: bytes) -> Callable[[], None]:
    def rotate() -> None:
        shutil.copyfile(f, copy)
        os.truncate(f, 0)
        write(f, *then)

    return rotate


def rename(f: Path, to: Path, *then: bytes) -> Callable[[], None]:
    def rotate() -> None:
        os.rename(f, to)
        write(f, *then)

    return rotate


STEPS = ["listed", "stat", "open", "read", "read-done"]


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("how", ["rename", "copytruncate"])
def test_a_rotation_at_any_step_of_a_scan_counts_each_line_once(logs, db, step, how):
    f = logs / "app.jsonl"
    write(f, *lines(30))
    ingest([logs], db)
    write(f, *lines(5, 30))  # not yet read when the rotation lands
    to = logs / "app.jsonl.1"
    rotate = (rename if how == "rename" else copytruncate)(f, to, *lines(3, 35))
    fs = Racing(step, "app.jsonl", rotate)
    ingest_on(fs, logs, db)
    assert fs.fired
    ingest([logs], db)
    ingest([logs], db)
    assert tasks(db) == 38


@pytest.mark.parametrize("step", ["listed", "stat", "read", "read-done"])  # a followed file stays open
@pytest.mark.parametrize("how", ["rename", "copytruncate"])
def test_a_rotation_while_following_counts_each_line_once(logs, db, step, how):
    f = logs / "app.jsonl"
    write(f, *lines(30))
    to = logs / "app.jsonl.1"
    rotate = (rename if how == "rename" else copytruncate)(f, to, *lines(3, 35))
    fs = Racing(step, "app.jsonl", rotate)
    fs.fired = True  # not in the first pass
    with Store(db) as store:
        ing = Ingester(store, [logs], fs=fs, keep_open=True)
        ing.run_once()
        write(f, *lines(5, 30))
        fs.fired = False
        for _ in range(3):
            ing.run_once()
        ing.close()
    assert fs.fired
    assert tasks(db) == 38


def test_a_rename_between_stat_and_open_of_a_new_file_reads_both(logs, db):
    """The record must not take its inode from the stat and its fingerprint from another file."""
    write(logs / "other.jsonl", *lines(2, 100))
    ingest([logs], db)
    f = logs / "app.jsonl"
    write(f, *lines(10))
    ingest_on(Racing("open", "app.jsonl", rename(f, logs / "app.jsonl.1", *lines(5, 10))), logs, db)
    ingest([logs], db)
    ingest([logs], db)
    assert tasks(db) == 17


@pytest.mark.parametrize("how", ["rename", "copytruncate"])
def test_two_rotations_while_down_lose_no_file(logs, db, how):
    f, one, two = logs / "app.jsonl", logs / "app.jsonl.1", logs / "app.jsonl.2"
    write(f, *lines(10))
    ingest([logs], db)
    write(f, *lines(10, 10))
    for start in (20, 30):
        if one.exists():
            os.rename(one, two)
        if how == "rename":
            os.rename(f, one)
        else:
            shutil.copyfile(f, one)
            os.truncate(f, 0)
        write(f, *lines(10, start))
    ingest([logs], db)
    ingest([logs], db)
    assert tasks(db) == 40


def test_a_file_first_seen_under_a_rotated_name_is_followed(logs, db):
    f, one, two = logs / "app.jsonl", logs / "app.jsonl.1", logs / "app.jsonl.2"
    write(f, *lines(10))
    ingest([logs], db)
    os.rename(f, one)
    write(f, *lines(10, 10))
    os.rename(one, two)
    os.rename(f, one)  # never seen as app.jsonl
    write(f, *lines(10, 20))
    ingest([logs], db)
    write(one, *lines(5, 30))  # a late write to the rotated file
    os.rename(two, logs / "app.jsonl.3")
    os.rename(one, two)
    ingest([logs], db)
    assert tasks(db) == 35


def test_archives_found_on_the_first_look_are_history_not_read(logs, db):
    write(logs / "app.jsonl.1", *lines(10))
    write(logs / "app.jsonl", *lines(3, 10))
    ingest([logs], db)
    assert tasks(db) == 3


# --- a database that cannot wedge ---------------------------------------------------


def test_two_records_of_one_inode_never_wedge_the_database(logs, db):
    """A record left pointing at an inode a copy now has (inode reuse while agentmon was down): moving
    the rotated record there retires the stale one instead of failing every later ingest."""
    f, copy, old = logs / "app.jsonl", logs / "app.jsonl.1", logs / "old.jsonl"
    write(f, *lines(30))
    write(old, *lines(4, 100))
    ingest([logs], db)
    write(f, *lines(5, 30))
    shutil.copyfile(f, copy)
    os.truncate(f, 0)
    write(f, *lines(3, 35))
    os.unlink(old)
    st = copy.stat()
    conn = sqlite3.connect(db)  # old.jsonl's record now names the copy's inode, as if it was reused
    with conn:
        conn.execute("UPDATE files SET ino = ? WHERE path = ?", (st.st_ino, str(old)))
    conn.close()
    ingest([logs], db)
    ingest([logs], db)
    assert tasks(db) == 42
    conn = sqlite3.connect(db)
    dups = conn.execute(
        "SELECT count(*) FROM files WHERE state = 'active' GROUP BY host, dev, ino HAVING count(*) > 1"
    ).fetchall()
    assert dups == []


# --- the lock is the database's, by any path ----------------------------------------


def test_two_paths_to_one_database_are_one_lock(tmp_path):
    from agentmon.errors import AgentmonError

    real, link = tmp_path / "agentmon.db", tmp_path / "link.db"
    link.symlink_to(real)
    with Store(real), pytest.raises(AgentmonError, match=r"being written by pid \d+"):
        Store(link)


# --- files that could hang or exhaust an ingest ---------------------------------------


@pytest.mark.parametrize("link", [False, True])
def test_a_fifo_named_like_a_log_is_skipped_not_waited_on(logs, db, link):
    write(logs / "app.jsonl", *lines(3))
    fifo = logs / ("pipe.fifo" if link else "pipe.jsonl")
    os.mkfifo(fifo)
    if link:
        (logs / "pipe.jsonl").symlink_to(fifo)
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from conftest import ingest
        ing = ingest([{str(logs)!r}], __import__("pathlib").Path({str(db)!r}))
        print(ing.stats.last_error)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pipe.jsonl" in out.stdout and "not a regular file" in out.stdout
    assert tasks(db) == 3


N_FILES = 2000


def _run_limited(code: str, limit: int) -> subprocess.CompletedProcess:
    prelude = f"import resource; resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, {limit}))\n"
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120)


def test_any_number_of_files_ingest_under_a_low_descriptor_limit(tmp_path):
    """2,000 files under `ulimit -n 256`, one-shot and following: every one read, no "Too many open files"."""
    logs, db = tmp_path / "logs", tmp_path / "agentmon.db"
    logs.mkdir()
    for i in range(N_FILES):
        write(logs / f"f{i}.jsonl", tool_line(i, task=f"t{i}"))
    one_shot = _run_limited(f"from agentmon.cli import main; main(['ingest', '--db', {str(db)!r}, {str(logs)!r}])", 256)
    assert one_shot.returncode == 0, one_shot.stderr
    assert "Too many open files" not in one_shot.stderr
    assert tasks(db) == N_FILES
    for i in range(N_FILES):
        write(logs / f"f{i}.jsonl", tool_line(1000 + i, task=f"u{i}"))
    follow = _run_limited(
        textwrap.dedent(
            f"""
            from pathlib import Path
            from agentmon.ingest.ingester import Ingester
            from agentmon.store.writer import Store
            with Store(Path({str(db)!r})) as store:
                ing = Ingester(store, [Path({str(logs)!r})], keep_open=True)
                ing.run_once()
                ing.run_once()
                print(ing.stats.last_error)
                ing.close()
            """
        ),
        256,
    )
    assert follow.returncode == 0, follow.stderr
    assert "Too many open files" not in follow.stdout
    assert tasks(db) == 2 * N_FILES


@pytest.mark.parametrize("keep_open", [False, True])
def test_a_rewrite_longer_than_the_offset_between_check_and_read_is_not_read_as_the_old_file(logs, db, keep_open):
    f = logs / "app.jsonl"
    write(f, *lines(30))
    fs = Racing("read", "app.jsonl", copytruncate(f, logs / "app.jsonl.1", *lines(40, 35)))
    fs.fired = True
    with Store(db) as store:
        ing = Ingester(store, [logs], fs=fs, keep_open=keep_open)
        ing.run_once()
        write(f, *lines(5, 30))
        fs.fired = False
        for _ in range(3):
            ing.run_once()
        ing.close()
    assert fs.fired
    assert tasks(db) == 75 and totals(db)["quarantined"] == 0


# --- a writer that rotates, ingests interleaved, and kill -9 ------------------------------

KILLS = 200
SEED = 12


class RotatingWriter:
    """Appends numbered tasks to a few logs, rotating each every 20-40 lines, by rename or copytruncate
    (archives shift up: app.jsonl.1 -> app.jsonl.2), sometimes twice in a row. `written`: the task ids."""

    def __init__(self, logs: Path, rng) -> None:
        self.rng = rng
        self.families = [logs / "app.jsonl", logs / "svc.log"]
        self.since = dict.fromkeys(self.families, 0)
        self.due = {f: rng.randint(20, 40) for f in self.families}
        self.written: list[str] = []

    def write(self, n: int) -> None:
        for _ in range(n):
            f = self.rng.choice(self.families)
            i = len(self.written)
            write(f, tool_line(i, task=f"t{i}"))
            self.written.append(f"t{i}")
            self.since[f] += 1
            if self.since[f] >= self.due[f]:
                for _ in range(2 if self.rng.random() < 0.2 else 1):
                    self.rotate(f)
                self.since[f], self.due[f] = 0, self.rng.randint(20, 40)

    def rotate(self, f: Path) -> None:
        if not f.exists():
            return
        n = 1
        while f.with_name(f"{f.name}.{n}").exists():
            n += 1
        for k in range(n - 1, 0, -1):
            os.rename(f.with_name(f"{f.name}.{k}"), f.with_name(f"{f.name}.{k + 1}"))
        if self.rng.random() < 0.5:
            os.rename(f, f.with_name(f"{f.name}.1"))
        else:
            shutil.copyfile(f, f.with_name(f"{f.name}.1"))
            os.truncate(f, 0)


def ingest_in_child(logs: Path, db: Path, *options: str) -> int:
    """`agentmon ingest` in a forked child (everything imported already: a kill every few tens of
    milliseconds is affordable), its pid."""
    from agentmon.cli import main

    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            main.main(["ingest", *options, "--wait", "--db", str(db), str(logs)], "agentmon", standalone_mode=False)
        finally:
            os._exit(0)
    return pid


@pytest.mark.slow
def test_rotations_kills_and_one_shot_ingests_count_every_task_once(tmp_path):
    """The model: every task id written is in the database once, whatever rotated when and whatever
    was killed when (SIGKILL at random moments of `ingest --follow`: starting, scanning, reading,
    committing, idle), with one-shot ingests in between."""
    import random
    import signal
    import time

    logs, db = tmp_path / "logs", tmp_path / "agentmon.db"
    logs.mkdir()
    rng = random.Random(SEED)
    writer = RotatingWriter(logs, rng)
    writer.write(10)
    ingest([logs], db)  # the first look: from here on, a rotated name is a rotation, not history
    kills = one_shots = 0
    for _ in range(KILLS):
        if rng.random() < 0.15:  # a one-shot ingest, the writer rotating under it
            pid = ingest_in_child(logs, db)
            while os.waitpid(pid, os.WNOHANG) == (0, 0):
                writer.write(rng.randint(1, 6))
                time.sleep(rng.uniform(0, 0.01))
            one_shots += 1
        pid = ingest_in_child(logs, db, "--follow")
        until = time.monotonic() + rng.uniform(0, 0.2)
        while time.monotonic() < until:
            writer.write(rng.randint(1, 6))
            time.sleep(rng.uniform(0, 0.01))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        kills += 1
    ingest([logs], db)
    ingest([logs], db)
    conn = sqlite3.connect(db)
    counted = dict(conn.execute("SELECT task, tool_calls FROM tasks"))
    conn.close()
    assert kills == KILLS and one_shots > 10 and len(writer.written) > 2000
    assert sorted(counted) == sorted(writer.written)
    assert set(counted.values()) == {1}
