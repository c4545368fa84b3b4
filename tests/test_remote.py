"""ssh:// sources against a real OpenSSH server on loopback: both remote ends (agentmon's file server
and the POSIX sh one), exactly once across killed ssh processes, remote rotation and truncation,
and hosts that refuse the key or do not answer."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import FIXTURES, agents
from waiting import DEADLINE, wait_for, wait_in_app

from agentmon.errors import AgentmonError
from agentmon.remote import Remote, parse_source
from agentmon.remote.follow import RemoteFollower
from agentmon.remote.loopback import LoopbackSSHD, unavailable
from agentmon.store.writer import Store

AGENTMON = [sys.executable, "-m", "agentmon.cli"]
MODES = {"agentmon": f"{sys.executable} -m agentmon.cli", "sh": ""}  # --remote-agentmon for each remote end

NO_SSHD = f"the ssh:// tests run a real OpenSSH server on loopback: {unavailable()}"


def needs_sshd(test):
    """A test against a real sshd: skipped, saying what to install, where there is none; slow where there is."""
    return pytest.mark.slow(pytest.mark.skipif(unavailable() is not None, reason=NO_SSHD)(test))


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if unavailable():
        pytest.skip(NO_SSHD)
    with LoopbackSSHD(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture
def ssh_env(sshd, monkeypatch):
    monkeypatch.setenv("AGENTMON_SSH_COMMAND", sshd.ssh_command)
    return {**os.environ, "AGENTMON_SSH_COMMAND": sshd.ssh_command}


def run(*args, env, timeout=DEADLINE, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*AGENTMON, *args], env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"agentmon {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def native_line(i: int, agent: str = "remote-agent") -> bytes:
    """Task i: start, an LLM call, and an end (success unless i % 7 == 0)."""
    ts = 1_790_000_000 + i
    return b"".join(
        json.dumps(d, separators=(",", ":")).encode() + b"\n"
        for d in (
            {"event": "task_start", "ts": ts, "agent": agent, "task": f"t{i}"},
            {
                "event": "llm_call",
                "ts": ts + 1,
                "agent": agent,
                "task": f"t{i}",
                "model": "claude-haiku-4-5",
                "input_tokens": 100 + i % 50,
                "output_tokens": 20,
            },
            {
                "event": "task_end",
                "ts": ts + 2,
                "agent": agent,
                "task": f"t{i}",
                "outcome": "failure" if i % 7 == 0 else "success",
            },
        )
    )


def committed(db: Path) -> dict:
    """What the database holds now, read as another process would."""
    if not db.exists():
        return {"lines": 0}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        lines = conn.execute("SELECT coalesce(sum(lines), 0) FROM files").fetchone()[0]
        seen, ended, ok, calls, tokens = conn.execute(
            "SELECT coalesce(sum(tasks_seen), 0), coalesce(sum(ended), 0), coalesce(sum(successes), 0),"
            " coalesce(sum(llm_calls), 0), coalesce(sum(input_tokens), 0) FROM agg_total"
        ).fetchone()
        return {"lines": lines, "tasks": seen, "ended": ended, "successes": ok, "llm_calls": calls, "input": tokens}
    except sqlite3.OperationalError:
        return {"lines": 0}
    finally:
        conn.close()


def expected(n: int) -> dict:
    return {
        "lines": 3 * n,
        "tasks": n,
        "ended": n,
        "successes": sum(1 for i in range(n) if i % 7),
        "llm_calls": n,
        "input": sum(100 + i % 50 for i in range(n)),
    }


# --- naming sources ---------------------------------------------------------------------------------


def test_ssh_and_scp_forms_name_a_host_and_an_absolute_path(tmp_path):
    assert parse_source("ssh://alice@web-1:2222/var/log/agents/") == (Remote("web-1", "alice", 2222), "/var/log/agents")
    assert parse_source("ssh://web-1/var/log") == (Remote("web-1"), "/var/log")
    assert parse_source("bob@db.example.com:/srv/logs") == (Remote("db.example.com", "bob"), "/srv/logs")
    assert parse_source("web-1:/var/log") == (Remote("web-1"), "/var/log")
    assert Remote("web-1", "alice", 2222).prefix == "ssh://alice@web-1:2222"
    assert Remote("web-1", "alice", 2222).label == "web-1:2222"
    assert parse_source(str(tmp_path)) is None
    assert parse_source("relative/path") is None
    weird = tmp_path / "host:"
    weird.mkdir()
    (weird / "x").mkdir()
    assert parse_source(str(weird / "x")) is None  # an existing local path stays local
    for bad in ("ssh:///var/log", "ssh://web-1", "ssh://web-1:http/x"):
        with pytest.raises(AgentmonError):
            parse_source(bad)


# --- against a real sshd -----------------------------------------------------------------------------


@needs_sshd
@pytest.mark.parametrize("mode", MODES)
def test_a_remote_directory_reads_as_the_same_directory_read_locally(sshd, ssh_env, tmp_path, mode):
    logs = tmp_path / "agents"
    shutil.copytree(FIXTURES / "native", logs)
    (logs / "host-a" / "with space.jsonl").write_bytes(native_line(1, "spaced") + b"garbage\n")
    here = run("ingest", str(logs), "--db", str(tmp_path / "local.db"), env=ssh_env)
    there = run(
        "ingest", sshd.url(logs), "--db", str(tmp_path / "remote.db"), "--remote-agentmon", MODES[mode], env=ssh_env
    )
    assert there.stderr.split(" -> ")[0] == here.stderr.split(" -> ")[0]  # lines, events, quarantined, files
    local, remote = agents(tmp_path / "local.db"), agents(tmp_path / "remote.db")
    assert remote == local and "spaced" in remote
    status = json.loads(run("status", "--db", str(tmp_path / "remote.db"), "--json", env=ssh_env).stdout)
    (source,) = status["remote_sources"]
    assert source["source"] == "ssh://agentmon-test" and source["mode"] == mode
    quarantined = run("quarantine", "--db", str(tmp_path / "remote.db"), env=ssh_env).stdout
    assert f"ssh://agentmon-test{logs}/host-a/with space.jsonl" in quarantined
    # Again: nothing new, nothing counted twice.
    run("ingest", sshd.url(logs), "--db", str(tmp_path / "remote.db"), env=ssh_env)
    assert agents(tmp_path / "remote.db") == local


@needs_sshd
@pytest.mark.parametrize("mode", MODES)
def test_killing_ssh_mid_batch_loses_and_doubles_nothing(sshd, ssh_env, tmp_path, mode):
    """A follower reads a growing remote file while its ssh process is SIGKILLed 20 times, and the
    follower itself a few more: the final counts are exact."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "agent.jsonl"
    backlog = 10_000  # 3.3 MB to be in flight when the first kills land
    log.write_bytes(b"".join(native_line(i) for i in range(backlog)))
    written = [backlog]  # tasks written whole, so far
    stop = threading.Event()

    def writer():  # appends until the kills are over, in pieces that split lines, as a live agent does
        rng = random.Random(1)
        with open(log, "ab") as f:
            while not stop.is_set():
                data = native_line(written[0])
                while data:
                    step = rng.randint(1, 200)
                    f.write(data[:step])
                    f.flush()
                    data = data[step:]
                    time.sleep(0.0005)
                written[0] += 1

    db = tmp_path / "k.db"
    cmd = [*AGENTMON, "ingest", "--follow", sshd.url(logs), "--db", str(db), "--remote-agentmon", MODES[mode]]
    follower = subprocess.Popen(cmd, env=ssh_env, stderr=subprocess.DEVNULL)
    thread = threading.Thread(target=writer)
    thread.start()
    rng = random.Random(7)
    ssh_kills = follower_kills = 0
    try:
        while ssh_kills < 20:
            # Once the follower has committed something since the last kill, kill it mid-stream.
            before = committed(db)["lines"]
            wait_for(lambda before=before: committed(db)["lines"] > before)
            time.sleep(rng.uniform(0, 0.3))
            pids = subprocess.run(
                ["pgrep", "-f", f"ssh -F {sshd.config}"], capture_output=True, text=True
            ).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            ssh_kills += bool(pids)
            if ssh_kills % 7 == 6 and follower_kills < 3:  # now and then the whole ingester dies too
                follower.kill()
                follower.wait()
                follower_kills += 1
                follower = subprocess.Popen(cmd, env=ssh_env, stderr=subprocess.DEVNULL)
        stop.set()
        thread.join()
        n = written[0]
        assert wait_for(lambda n=n: committed(db) == expected(n)), (committed(db), expected(n))
    finally:
        stop.set()
        thread.join()
        follower.terminate()
        follower.wait(timeout=DEADLINE)
    assert ssh_kills >= 20 and n > backlog + 500
    assert committed(db) == expected(n)


@needs_sshd
@pytest.mark.parametrize("mode", MODES)
def test_rotation_and_truncation_on_the_remote(sshd, ssh_env, tmp_path, mode):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.jsonl"
    db = tmp_path / "r.db"
    stop = threading.Event()
    with Store(db) as store:
        follower = RemoteFollower(
            store, Remote("agentmon-test"), [sshd.url(logs)], remote_agentmon=MODES[mode], poll=0.05
        )
        thread = threading.Thread(target=follower.run, args=(stop,))
        thread.start()
        try:
            n = 0

            def append(k: int) -> None:
                nonlocal n
                with open(log, "ab") as f:
                    f.write(b"".join(native_line(i) for i in range(n, n + k)))
                n += k

            append(50)
            assert wait_for(lambda: committed(db) == expected(n)), committed(db)
            append(20)  # then rotated by rename before the follower may have read them
            log.rename(logs / "app.jsonl.1")
            append(30)  # into a new app.jsonl
            assert wait_for(lambda: committed(db) == expected(n)), committed(db)
            append(10)  # copytruncate: the copy keeps what the follower may not have read yet
            shutil.copy(log, logs / "app.jsonl.2")
            with open(log, "r+b") as f:
                f.truncate(0)
            append(40)
            assert wait_for(lambda: committed(db) == expected(n)), committed(db)
            with open(log, "wb") as f:  # truncated in place and rewritten: read again from its start
                f.write(b"".join(native_line(i) for i in range(n, n + 5)))
            n += 5
            assert wait_for(lambda: committed(db) == expected(n)), committed(db)
        finally:
            stop.set()
            thread.join(timeout=DEADLINE)
    assert committed(db) == expected(n)


@needs_sshd
def test_a_host_that_refuses_the_key_is_reported_as_such(tmp_path, monkeypatch):
    with LoopbackSSHD(tmp_path / "locked", authorize=False) as locked:
        env = {**os.environ, "AGENTMON_SSH_COMMAND": locked.ssh_command}
        proc = run("ingest", locked.url(tmp_path), "--db", str(tmp_path / "x.db"), env=env, check=False)
    assert proc.returncode == 1
    assert "refused our key" in proc.stderr and "never asks for a password" in proc.stderr
    status = run("status", "--db", str(tmp_path / "x.db"), env=env).stdout
    assert "host ssh://agentmon-test  DOWN: the host refused our key" in status


@needs_sshd
def test_a_host_that_does_not_answer_is_reported_and_stalls_nobody(sshd, ssh_env, tmp_path):
    """A listener that accepts and never speaks (a hung host), beside a working host: the working one's
    lines arrive at once while the hung one times out and is retried."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    config = Path(sshd.config).read_text() + f"Host hung\n  HostName 127.0.0.1\n  Port {silent.getsockname()[1]}\n"
    (tmp_path / "ssh_config").write_text(config)
    env = {**ssh_env, "AGENTMON_SSH_COMMAND": f"ssh -F {tmp_path / 'ssh_config'}"}
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(native_line(0))
    try:
        started = time.monotonic()
        proc = run(
            "ingest",
            "ssh://hung/var/log",
            sshd.url(logs),
            "--db",
            str(tmp_path / "x.db"),
            "--connect-timeout",
            "1",
            env=env,
            check=False,
        )
        assert proc.returncode == 1 and time.monotonic() - started < 20
        assert "hung: unreachable" in proc.stderr or "hung: no answer" in proc.stderr, proc.stderr
        assert committed(tmp_path / "x.db") == expected(1)  # the working host was read all the same

        db = tmp_path / "f.db"
        follower = subprocess.Popen(
            [
                *AGENTMON,
                "ingest",
                "--follow",
                "ssh://hung/var/log",
                sshd.url(logs),
                "--db",
                str(db),
                "--connect-timeout",
                "1",
            ],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert wait_for(lambda: committed(db) == expected(1))
            with open(logs / "a.jsonl", "ab") as f:
                f.write(native_line(1))
            written = time.monotonic()
            assert wait_for(lambda: committed(db) == expected(2))
            assert time.monotonic() - written < 2.0  # while the hung host keeps timing out
            doc = json.loads(run("status", "--db", str(db), "--json", env=env).stdout)
            state = {h["source"]: h for h in doc["remote_sources"]}
            assert state["ssh://agentmon-test"]["connected"]
            assert wait_for(
                lambda: json.loads(run("status", "--db", str(db), "--json", env=env).stdout)["remote_sources"][1][
                    "last_error"
                ]
            )
        finally:
            follower.terminate()
            follower.wait(timeout=DEADLINE)
    finally:
        silent.close()


@needs_sshd
@pytest.mark.parametrize("mode", MODES)
def test_a_pass_asks_the_host_only_what_it_does_not_know(sshd, ssh_env, tmp_path, mode, monkeypatch):
    """Each question is a round trip, and links can be slow: a pass over 50 files with nothing new
    is one listing, and one appended file adds two reads (its first bytes and the bytes before its
    offset, to check it is the same content, then the new lines with those bytes again)."""
    from agentmon.remote.client import RemoteFiles

    logs = tmp_path / "logs"
    logs.mkdir()
    for i in range(50):
        (logs / f"f{i}.jsonl").write_bytes(native_line(i))
    asked = []
    ask = RemoteFiles._ask
    monkeypatch.setattr(
        RemoteFiles, "_ask", lambda self, request: asked.append(request.split()[0]) or ask(self, request)
    )
    with Store(tmp_path / "p.db") as store:
        follower = RemoteFollower(store, Remote("agentmon-test"), [sshd.url(logs)], remote_agentmon=MODES[mode] or None)
        follower._connect()
        try:
            asked.clear()
            follower._pass()
            assert asked.count(b"LIST") == 1 and b"STAT" not in asked and b"FSTAT" not in asked
            assert len(asked) == 1 + 50 * 3  # each new file: open, its first bytes, its lines
            asked.clear()
            follower._pass()
            assert asked == [b"LIST"]
            with open(logs / "f7.jsonl", "ab") as f:
                f.write(native_line(50))
            asked.clear()
            follower._pass()
            assert asked == [b"LIST", b"READ", b"READ"]
        finally:
            follower.fs.disconnect()
    assert committed(tmp_path / "p.db")["tasks"] == 51


@needs_sshd
@pytest.mark.parametrize("mode", MODES)
def test_one_machine_under_three_names_counts_its_files_once(sshd, ssh_env, tmp_path, mode):
    """The same directory as a local path, as ssh://agentmon-test and as ssh://localhost:PORT: the
    hosts' hellos carry this machine's boot id, so each file is read once (agentmon.ingest.boot)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(native_line(0) + native_line(1))
    db = tmp_path / "p.db"
    proc = run(
        "ingest",
        str(logs),
        sshd.url(logs),
        sshd.url(logs, alias=False),
        "--db",
        str(db),
        "--remote-agentmon",
        MODES[mode],
        env=ssh_env,
    )
    assert proc.stderr.count("already read: one file on one machine, under two host names, counts once") == 2
    assert committed(db) == {"lines": 6, "tasks": 2, "ended": 2, "successes": 1, "llm_calls": 2, "input": 201}


@needs_sshd
def test_host_prefix_names_agents_by_host_and_tasks_remember_their_host(sshd, ssh_env, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"  # two directories: one directory is one host's files
    for logs in (one, two):
        logs.mkdir()
        (logs / "a.jsonl").write_bytes(native_line(0, "billing") + native_line(1, "billing"))
    db = tmp_path / "p.db"
    run("ingest", sshd.url(one), "--db", str(db), "--host-prefix", env=ssh_env)
    run("ingest", sshd.url(two, alias=False), "--db", str(db), "--host-prefix", env=ssh_env)
    assert set(agents(db)) == {"billing@agentmon-test", f"billing@localhost:{sshd.port}"}
    conn = sqlite3.connect(db)
    assert sorted(conn.execute("SELECT host, count(*) FROM tasks GROUP BY host").fetchall()) == [
        ("agentmon-test", 2),
        (f"localhost:{sshd.port}", 2),
    ]
    assert sorted(conn.execute("SELECT agent, host, tasks_seen FROM agg_host_total").fetchall()) == [
        ("billing@agentmon-test", "agentmon-test", 2),
        (f"billing@localhost:{sshd.port}", f"localhost:{sshd.port}", 2),
    ]


@needs_sshd
async def test_the_monitor_shows_agents_of_two_hosts_and_says_which_host_is_down(sshd, ssh_env, tmp_path):
    from tui_helpers import make_app, text_of

    from agentmon.tui.agent_screen import AgentScreen
    from agentmon.tui.hosts_screen import HostsScreen

    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / "a.jsonl").write_bytes(native_line(0, "billing") + native_line(1, "billing"))
    (two / "b.jsonl").write_bytes(native_line(2, "billing") + native_line(3, "search"))
    remote = [
        (Remote("agentmon-test"), str(one)),
        (Remote("localhost", port=sshd.port), str(two)),
        (Remote("127.0.0.1", port=1), "/var/log"),
    ]  # nothing listens on port 1
    app = make_app(
        tmp_path / "tui.db", window="all", refresh_interval=0.1, remote=remote, remote_options={"connect_timeout": 2}
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_in_app(
            pilot,
            lambda: (
                {"billing", "search"} <= set(app.panels)
                and app.panels["billing"].view.metrics.tasks == 3
                and "hosts 2/3 up, 127.0.0.1:1 down" in text_of(app.query_one("#status"))
            ),
        )
        status = text_of(app.query_one("#status"))
        assert app.panels["billing"].view.metrics.tasks == 3  # from both hosts, in one panel
        assert "hosts 2/3 up, 127.0.0.1:1 down (h)" in status
        await pilot.press("h")
        assert isinstance(app.screen, HostsScreen)
        shown = text_of(app.screen.query_one("#hosts-body"))
        assert "ssh://agentmon-test" in shown and "connected (" in shown
        assert "ssh://127.0.0.1:1" in shown and "DOWN: unreachable" in shown
        await pilot.press("escape")
        app.set_focus(app.panels["billing"])
        await pilot.press("enter")
        assert isinstance(app.screen, AgentScreen)
        await wait_in_app(pilot, lambda: app.screen.detail is not None)
        by_host = text_of(app.screen.query_one("#hosts"))
        assert "agentmon-test" in by_host and f"localhost:{sshd.port}" in by_host


@needs_sshd
def test_restarting_sshd_loses_and_doubles_nothing(tmp_path):
    """The server goes away (its sessions killed, as in a reboot) while the host goes on writing; when it is
    back, the follower reconnects by itself and catches up exactly."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "a.jsonl"
    log.write_bytes(b"".join(native_line(i) for i in range(100)))
    server = LoopbackSSHD(tmp_path / "sshd").start()
    env = {**os.environ, "AGENTMON_SSH_COMMAND": server.ssh_command}
    db = tmp_path / "s.db"
    follower = subprocess.Popen(
        [*AGENTMON, "ingest", "--follow", server.url(logs), "--db", str(db)], env=env, stderr=subprocess.DEVNULL
    )
    try:
        assert wait_for(lambda: committed(db) == expected(100)), committed(db)
        for rounds in range(2):
            server.stop()
            subprocess.run(["pkill", "-9", "-f", f"ssh -F {server.config}"])  # the sessions die with the host
            with open(log, "ab") as f:
                f.write(b"".join(native_line(i) for i in range(100 + 50 * rounds, 150 + 50 * rounds)))
            assert wait_for(
                lambda: json.loads(run("status", "--db", str(db), "--json", env=env).stdout)["remote_sources"][0][
                    "last_error"
                ]
            )
            server.start()
            n = 150 + 50 * rounds
            assert wait_for(lambda n=n: committed(db) == expected(n)), committed(db)
    finally:
        follower.terminate()
        follower.wait(timeout=DEADLINE)
        server.stop()
    assert committed(db) == expected(200)
