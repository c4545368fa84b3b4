"""`agentmon ingest [PATHS] [--db FILE]` run without click (agentmon.cli.plain_ingest): it loads only what a
re-run needs, and says exactly what the click command says, with the same exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES
from test_startup import NOT_LOADED

from agentmon.cli.plain_ingest import _parse
from agentmon.simulate.workload import claude_code_transcripts

# Beyond what no pass with nothing new loads (tests/test_startup.py): click, the TOML parser when there is no
# agentmon.toml, the UI's charts, and every command module but the ingest's own.
NOT_LOADED_BY_THE_COMMAND = (
    *NOT_LOADED,
    "click",
    "tomllib",
    "plotext",
    *(
        f"agentmon.cli.{m}"
        for m in ("group", "options", "tables", "ingest", "serve", "monitor", "status", "tasks", "export", "gate")
    ),
    "agentmon.cli.database",
    "agentmon.cli.bench",
)


def loaded_by(args: list[str], cwd: Path) -> tuple[set[str], str]:
    """The modules `python -m agentmon.cli ARGS` imported (as -X importtime lists them), and its last line."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "agentmon.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = proc.stderr.splitlines()
    modules = {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}
    said = [line for line in lines if not line.startswith("import time:")]
    return modules, said[-1]


def test_a_re_run_of_the_command_loads_neither_click_nor_another_command(tmp_path):
    projects, db = tmp_path / "projects", tmp_path / "agentmon.db"
    claude_code_transcripts(projects, 400_000)
    first, _ = loaded_by(["ingest", str(projects), "--db", str(db)], tmp_path)
    assert "agentmon.cli.plain_ingest" in first and "agentmon.store.apply" in first  # it read and stored
    loaded, said = loaded_by(["ingest", str(projects), "--db", str(db)], tmp_path)
    assert said.startswith("0 lines, 0 events, 0 quarantined, ")
    assert sorted(m for m in loaded if m.startswith(NOT_LOADED_BY_THE_COMMAND)) == []


def test_any_other_command_line_is_left_to_click(tmp_path):
    assert _parse(["ingest", "a", "--db", "x.db", "b"]) == (["a", "b"], Path("x.db"))
    assert _parse(["ingest", "--db=x.db"]) == ([], Path("x.db"))
    assert _parse(["ingest"]) == ([], None)
    (tmp_path / "dir.db").mkdir()
    for args in (
        [],
        ["status"],
        ["--db", "x.db", "ingest"],  # a global option
        ["ingest", "--follow", "a"],
        ["ingest", "-f", "a"],
        ["ingest", "--help"],
        ["ingest", "--", "a"],
        ["ingest", "-"],
        ["ingest", "--db"],
        ["ingest", "--db", ""],
        ["ingest", "--db", "a.db", "--db", "b.db"],
        ["ingest", "--db", "--help"],
        ["ingest", "--db", str(tmp_path / "dir.db")],  # click.Path says it is a directory
        ["ingest", "--max-line-bytes", "10", "a"],
    ):
        assert _parse(args) is None, args


def _by_click(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    code = "from agentmon.cli.group import main; main(prog_name='python -m agentmon.cli')"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True)


def _by_the_command(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agentmon.cli", *args], cwd=cwd, capture_output=True, text=True)


@pytest.mark.parametrize(
    "case",
    ["first read and re-run", "no log files", "not a database", "no such path", "no sources", "db is a directory"],
)
def test_the_command_says_what_click_says(tmp_path, case):
    """Each case run both ways, in two directories set up alike: the same stdout, stderr and exit code."""
    runs = []
    for run in (_by_click, _by_the_command):
        cwd = tmp_path / run.__name__
        (cwd / "notes").mkdir(parents=True)
        (cwd / "notes" / "README.txt").write_text("not a log\n")
        (cwd / "junk.db").write_text("not a database at all\n")
        (cwd / "dir.db").mkdir()
        args = {
            "first read and re-run": ["ingest", str(FIXTURES / "native"), "--db", "agentmon.db"],
            "no log files": ["ingest", "notes", "--db", "agentmon.db"],
            "not a database": ["ingest", str(FIXTURES / "native"), "--db", "junk.db"],
            "no such path": ["ingest", "nowhere", "--db", "agentmon.db"],
            "no sources": ["ingest", "--db", "agentmon.db"],
            "db is a directory": ["ingest", "notes", "--db", "dir.db"],
        }[case]
        done = [run(args, cwd)]
        if case == "first read and re-run":
            done.append(run(args, cwd))
        runs.append([(p.returncode, p.stdout, p.stderr) for p in done])
    assert runs[0] == runs[1]
    said = runs[1][0][2]
    if case == "first read and re-run":
        assert "agentmon quarantine" in said and runs[1][1][2].startswith("0 lines, 0 events, 0 quarantined, ")
    if case == "not a database":
        assert runs[1][0][0] == 1 and said.startswith("agentmon: database error in junk.db: ")
    if case == "no log files":
        assert "agentmon: no log files under notes" in said
    if case == "no sources":
        assert runs[1][0][0] == 2 and "no PATHS given" in said
