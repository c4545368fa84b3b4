"""`agentmon ingest` with nothing new, run every few minutes on a machine's transcripts: it loads only what
a scan needs and writes nothing. And the benchmark's simulated transcripts, shaped like real ones."""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import msgspec

from agentmon.bench.run import claude_code as bench_claude_code
from agentmon.simulate.workload import claude_code_transcripts
from agentmon.store.writer import Store

# What a pass with nothing to parse, price, store or receive must not load: the migrations' library, the
# price data, the UI, protobuf, the report, what applies events, the events themselves (and msgspec), and
# every parser.
NOT_LOADED = (
    "sqlite_utils",
    "genai_prices",
    "textual",
    "google.protobuf",
    "agentmon.report.metrics",
    "agentmon.store.pricing",
    "agentmon.store.apply",
    "agentmon.store.schema",
    "msgspec",
    "agentmon.events",
    "agentmon.store.batch",
    "agentmon.sources.claude_code",
    "agentmon.sources.otlp",
    "agentmon.sources.native",
    "agentmon.sources.inspect_ai",
    "agentmon.ingest.receiver",
    "platformdirs",  # the config file's folder is worked out as it would (test below)
    "json",  # the commands that print JSON load it
    "signal",  # `ingest --follow` loads it, to stop on SIGTERM
)
RUN_CLI = (
    "import sys\n"
    "from agentmon.cli import main\n"
    "sys.argv = ['agentmon', 'ingest', sys.argv[1], '--db', sys.argv[2]]\n"
    "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
    "loaded = sorted(sys.modules)\n"
    "import json\n"
    "print(json.dumps(loaded))\n"
)


def ingest_cli(projects: Path, db: Path, env: dict[str, str]) -> list[str]:
    """`agentmon ingest` in a fresh interpreter; the modules it had loaded when done."""
    out = subprocess.run(
        [sys.executable, "-c", RUN_CLI, str(projects), str(db)], check=True, capture_output=True, text=True, env=env
    ).stdout
    return json.loads(out.splitlines()[-1])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_ingest_with_nothing_new_loads_no_heavy_module_and_writes_nothing(tmp_path):
    projects, db = tmp_path / "projects", tmp_path / "agentmon.db"
    claude_code_transcripts(projects, 400_000)
    env = dict(os.environ)  # tests/conftest.py's isolated home: no config, the price cache of this test
    first = ingest_cli(projects, db, env)
    assert "agentmon.store.apply" in first  # it did read and store: what follows is about having nothing to
    before = digest(db)
    loaded = ingest_cli(projects, db, env)
    assert [m for m in loaded if m.startswith(NOT_LOADED)] == []
    assert digest(db) == before  # no write at all: not the host's last sighting, not an empty idle sweep
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0


def test_a_pass_over_settled_transcripts_opens_none_of_them(tmp_path):
    """Transcripts last written a while ago, read to their end: the next pass finds each as it was read (size
    and modification time, committed with the offset) and holds no descriptor, so it never even asks the
    process's limit on them (the `resource` module)."""
    projects, db = tmp_path / "projects", tmp_path / "agentmon.db"
    claude_code_transcripts(projects, 400_000)
    for f in projects.rglob("*.jsonl"):
        os.utime(f, (1_780_000_000, 1_780_000_000))
    env = dict(os.environ)
    ingest_cli(projects, db, env)
    loaded = ingest_cli(projects, db, env)
    assert [m for m in loaded if m.startswith((*NOT_LOADED, "resource"))] == []


def test_the_ingester_names_claude_codes_agents_as_its_parser_does():
    from agentmon.ingest.ingester import CLAUDE_CODE_AGENTS
    from agentmon.sources.claude_code import AGENT_PREFIX

    assert CLAUDE_CODE_AGENTS == AGENT_PREFIX


def test_the_config_and_data_folders_are_platformdirs_ones(monkeypatch, tmp_path):
    import platformdirs

    from agentmon.config import _user_config_dir, db_path

    for xdg in (str(tmp_path), "", None):
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME"):
            if xdg is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, xdg)
        assert _user_config_dir() == Path(platformdirs.user_config_dir("agentmon"))
        assert db_path(None) == Path(platformdirs.user_data_dir("agentmon")) / "agentmon.db"


def test_idle_tasks_are_still_ended_when_there_are_some(tmp_path):
    """The check that lets a pass with nothing new skip the idle sweep says so only when nothing is idle."""
    projects, db = tmp_path / "projects", tmp_path / "agentmon.db"
    claude_code_transcripts(projects, 200_000)
    from agentmon.ingest.ingester import Ingester

    last = 1_790_000_000.0  # after every simulated line
    with Store(db) as store:
        ingester = Ingester(store, [projects], clock=lambda: last)
        ingester.scan()
        ingester.drain()
        prefix = "claude-code:"
        assert not store.nothing_idle(prefix, 1800, last)
        open_before = store.conn.execute("SELECT count(*) FROM tasks WHERE end_ts IS NULL").fetchone()[0]
        assert open_before > 0
        store.close_idle_tasks(prefix, 1800, last)
        assert store.conn.execute("SELECT count(*) FROM tasks WHERE end_ts IS NULL").fetchone()[0] == 0
        assert store.nothing_idle(prefix, 1800, last)


class _Result(msgspec.Struct):
    type: str = ""
    content: msgspec.Raw = msgspec.Raw(b"null")


class _Message(msgspec.Struct):
    content: str | list[_Result] = ""


class _Line(msgspec.Struct):
    type: str = ""
    isSidechain: bool = False
    agentId: str | None = None
    message: _Message | None = None
    toolUseResult: msgspec.Raw = msgspec.Raw(b"")


def test_the_simulated_transcripts_are_shaped_like_real_ones(tmp_path):
    """As the real transcripts are (Claude Code 1.0 to 2.1): every tool result twice, in the message and in
    `toolUseResult`; results mostly small with a long tail; sessions of very different lengths; subagents
    in their own files under <session>/subagents/, their lines sidechain lines with an agentId."""
    projects = tmp_path / "projects"
    lines = claude_code_transcripts(projects, 3_000_000)
    files = sorted(projects.rglob("*.jsonl"))
    subagents = [f for f in files if f.parent.name == "subagents"]
    sessions = [f for f in files if f.parent.name != "subagents"]
    assert subagents and all(f.parent.parent.name + ".jsonl" in {s.name for s in sessions} for f in subagents)
    decode = msgspec.json.Decoder(_Line).decode
    results, session_lines = [], []
    for f in files:
        raw = f.read_bytes().splitlines()
        if f in sessions:
            session_lines.append(len(raw))
        for line in raw:
            parsed = decode(line)
            if f in subagents:
                assert parsed.isSidechain and parsed.agentId
            content = parsed.message.content if parsed.message else ""
            for block in [] if isinstance(content, str) else content:
                if block.type == "tool_result":
                    results.append(len(block.content))
                    assert len(parsed.toolUseResult) > 0
    assert sum(len(f.read_bytes().splitlines()) for f in files) == lines
    assert statistics.median(results) < 1_000 < 10_000 < max(results)
    assert max(session_lines) > 5 * min(session_lines)


def test_the_benchmark_times_ccusage_20_beside_agentmon_and_states_the_targets(tmp_path, monkeypatch):
    fake = tmp_path / "ccusage"
    fake.write_text('#!/bin/sh\n[ "$1" = --version ] && echo 20.0.24 && exit 0\necho "{}"\n')
    fake.chmod(0o755)
    said: list[str] = []
    monkeypatch.setenv("CCUSAGE", str(fake))
    runs = bench_claude_code(tmp_path, said.append, size=300_000, rounds=2)
    assert [len(v) for v in runs.values()] == [2, 2, 2]
    assert "subagents'" in said[0] and "cold" in said[0] and "warm with nothing new" in said[0]
    assert "; agentmon installed" in said[0] or "; agentmon run from its source tree" in said[0]
    assert said[1].startswith("claude  ccusage 20.0.24 session --offline --json")
    assert "must <= 1.0x, goal 0.5x" in said[1] and "must < 25%, goal 10%" in said[1]
