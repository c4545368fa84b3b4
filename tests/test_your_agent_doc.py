"""docs/your-agent.md, followed as written: its files saved, its commands run, in an empty directory."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES
from waiting import DEADLINE, port_open, wait_for

DOC = Path(__file__).resolve().parent.parent / "docs" / "your-agent.md"
MARKED = re.compile(r"<!-- (file: \S+|run) -->\n```\w*\n(.*?)```", re.DOTALL)
SDK_PROJECTS = FIXTURES / "claude-code-2.1.332" / "projects"


def marked() -> list[tuple[str, str]]:
    """The doc's blocks a reader saves (`file: NAME`) or runs (`run`), in order."""
    return [(what, body) for what, body in MARKED.findall(DOC.read_text(encoding="utf-8"))]


def doc_file(name: str) -> str:
    (body,) = [body for what, body in marked() if what == f"file: {name}"]
    return body


def shell_env() -> dict[str, str]:
    """This environment, with this Python's `python` and `agentmon` first on PATH (the reader's venv)."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def status(cwd: Path, *args: str) -> dict[str, dict]:
    out = subprocess.run(
        ["agentmon", "status", "--json", *args], cwd=cwd, env=shell_env(), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return {a["agent"]: a for a in json.loads(out.stdout)["agents"]}


def test_the_emitter_example_is_15_lines():
    code = [line for line in doc_file("agent.py").splitlines() if line.strip()]
    assert len(code) <= 15


def test_from_an_empty_directory_to_the_agent_in_status(tmp_path):
    here = tmp_path / "refund-agent"
    here.mkdir()
    steps = marked()
    assert [what for what, _ in steps] == ["file: agent.py", "run", "file: outcome.py", "file: otel_agent.py"]
    (here / "agent.py").write_text(doc_file("agent.py"))
    for what, body in steps:
        if what == "run":
            proc = subprocess.run(["bash", "-e", "-c", body], cwd=here, env=shell_env(), capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr
            assert "refund-agent" in proc.stdout  # `agentmon status` prints its row
    a = status(here)["refund-agent"]
    assert (a["tasks"], a["successes"], a["tool_errors"]) == (40, 32, 4)
    assert a["task_success_rate"] == 0.8 and a["cost_status"] == "priced"


def test_an_sdk_app_gives_its_tasks_their_outcome(tmp_path, monkeypatch):
    """The real Claude Code's print-mode transcripts (entrypoint sdk-cli): the doc's prompt_uuid finds the
    task id, and an emitter's task_end under the project's agent name gives the task its outcome."""
    monkeypatch.setenv("HOME", str(tmp_path))
    shutil.copytree(SDK_PROJECTS, tmp_path / ".claude" / "projects")
    scope: dict = {}
    exec(doc_file("outcome.py"), scope)
    task = scope["prompt_uuid"]("/tmp/cchome3", "f7aab238-ec7e-47a2-9e81-368f5f9fe8a2")
    assert task == "ba3f9a58-8edd-4b25-b016-ecc22cfcb48b"

    from agentmon.emit import Emitter

    Emitter(tmp_path / "outcomes" / "app.jsonl", agent="claude-code:/tmp/cchome3").end(task, "success")
    db = tmp_path / "agentmon.db"
    ingest = [sys.executable, "-m", "agentmon.cli", "ingest", "--db", str(db)]
    subprocess.run([*ingest, str(tmp_path / ".claude" / "projects"), str(tmp_path / "outcomes")], check=True)
    a = status(tmp_path, "--db", str(db))["claude-code:/tmp/cchome3"]
    assert (a["tasks"], a["successes"], a["unlabeled_tasks"]) == (2, 1, 1)


@pytest.mark.parametrize("with_token", [True, False])
def test_the_otel_example_reaches_agentmon_serve(tmp_path, with_token):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    token_file.chmod(0o600)
    (tmp_path / "otel_agent.py").write_text(doc_file("otel_agent.py"))
    db = tmp_path / "agentmon.db"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve = [sys.executable, "-m", "agentmon.cli", "serve", "--port", str(port), "--db", str(db)]
    server = subprocess.Popen([*serve, "--token-file", str(token_file)], stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: port_open(port) or server.poll() is not None) and server.poll() is None
        env = {**shell_env(), "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"}
        if with_token:
            env["OTEL_EXPORTER_OTLP_HEADERS"] = "Authorization=Bearer%20s3cret-token"
        subprocess.run([sys.executable, "otel_agent.py"], cwd=tmp_path, env=env, check=True, timeout=DEADLINE)
    finally:
        server.terminate()
        server.wait(DEADLINE)
    agents = status(tmp_path, "--db", str(db)) if db.exists() else {}
    if with_token:
        a = agents["triage-agent"]
        assert (a["tasks"], a["successes"], a["tool_calls"], a["output_tokens"]) == (10, 8, 10, 1200)
    else:  # refused with 401: nothing counted
        assert "triage-agent" not in agents
