"""Every task of the real transcripts in ../shared/realdata/claude-code, read by hand (docs/success.md, "The real
transcripts"): what a careful reader decides, the evidence agentmon keeps, and the outcome its rule infers.

The reader's column is a person's reading of the whole transcript, written before the rule was run on it; where
the transcript cannot tell, it says unknown. The rule must never contradict a decided reading here."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import ingest, needs_realdata
from test_claude_code_realdata import laid_out

from agentmon.store.inferred import infer
from agentmon.store.taskstate import TaskState

EVIDENCE = ("ending", "next_prompt", "check_kind", "check_ok", "todos_done", "todos_total", "committed")
# task id: (transcript, the reader's outcome, why, the evidence (EVIDENCE, then unresolved_errors), the rule's)
BY_HAND = {
    "e2ab9812-8be7-4e9e-8194-d9b7b9d6da14": (
        "A07",
        "failure",
        "/init: the Write of CLAUDE.md was refused (permission not granted), yet the answer says it was created",
        ("answered", None, None, None, 1, 1, 0, 1),
        "failure",
    ),
    "5877060c-0a35-4f68-90a6-fdaa3727859a": (
        "A08",
        "success",
        "CLAUDE.md updated with MultiEdit after a failed Edit; every todo done; a summary of the changes",
        ("answered", None, None, None, 4, 4, 0, 0),
        "success",
    ),
    "62e0bdc0-a1e4-4d5c-8509-3b9d0d57cc67": (
        "A09",
        "success",
        "the TODO app was built and runs in dev; a subagent's `npm run build` failed four times, yet the user "
        "answered 'Thanks!' and moved on",
        ("answered", "thanks", "build", 0, 5, 5, 0, 0),
        "success",
    ),
    "2e38973c-cb21-4d4d-be4f-b93dd59145bd": (
        "A09",
        "success",
        "'Thanks! Please update CLAUDE.md…': the file was written and the answer says so",
        ("answered", None, None, None, None, None, 0, None),
        "unknown",
    ),
    "0bdd2740-b6f7-4e7b-b1c9-f159cc83b104": (
        "A13",
        "success",
        "'can you run a command ls -la': run and summarised; next 'ok can you create…'",
        ("answered", "thanks", None, None, None, None, 0, None),
        "success",
    ),
    "e8404307-5b6c-44e3-b48e-9a18baedd204": (
        "A13",
        "success",
        "hello_world.py created; the next prompt reads it back",
        ("answered", "new", None, None, None, None, 0, None),
        "success",
    ),
    "4ff8f9dd-bfe1-4e7c-bb26-72641ef6d43c": (
        "A13",
        "success",
        "read back with the Read tool, as asked",
        ("answered", "new", None, None, None, None, 0, None),
        "success",
    ),
    "cbda0832-b189-4477-9bd4-f4214020bc81": (
        "A13",
        "success",
        "'run `cat nonexistent.txt`': it failed with exit code 1, which is what was asked to see",
        ("answered", "new", None, None, None, None, 0, 1),
        "unknown",
    ),
    "0eb6476b-5bf2-4941-be36-65b7d7834a11": (
        "A13",
        "success",
        "several tools in one turn; `python` missing, rerun with `python3`, which worked; then /compact",
        ("answered", None, None, None, None, None, 0, 0),
        "unknown",
    ),
    "e6781268-0d8b-4756-a547-6b89a7d7193e": (
        "A16",
        "unknown",
        "prompt and answer redacted: nothing to read",
        ("answered", None, None, None, None, None, 0, None),
        "unknown",
    ),
}


def tasks(tmp_path, subagents_first: bool) -> dict[str, TaskState]:
    db = tmp_path / "agentmon.db"
    for name in ("A07", "A08", "A09", "A13+A14", "A16"):
        _, subagents = laid_out(name, tmp_path / "tree")
        if subagents_first and subagents:
            ingest(subagents, db)
    ingest([tmp_path / "tree" / "projects"], db)
    conn = sqlite3.connect(db)
    return {row[1]: TaskState(*row) for row in conn.execute("SELECT * FROM tasks")}


@needs_realdata("Claude Code transcripts", "claude-code")
@pytest.mark.parametrize("subagents_first", [False, True], ids=["session-first", "subagents-first"])
def test_every_real_task_has_the_evidence_read_by_hand(tmp_path, subagents_first):
    found = tasks(tmp_path, subagents_first)
    assert set(found) == set(BY_HAND)
    for task, (_, _, _, evidence, rule) in BY_HAND.items():
        t = found[task]
        assert (*(getattr(t, f) for f in EVIDENCE), t.unresolved_errors) == evidence, task
        assert infer(t)[0] == rule, task


@needs_realdata("Claude Code transcripts", "claude-code")
def test_the_rule_agrees_with_the_reader_where_it_decides(tmp_path):
    found = tasks(tmp_path, False)
    pairs = [(reader, infer(found[task])[0]) for task, (_, reader, *_rest) in BY_HAND.items()]
    decided = [(reader, rule) for reader, rule in pairs if rule != "unknown"]
    assert all(reader == rule for reader, rule in decided)  # never contradicts a reading
    assert (len(pairs), len(decided), sum(r == "unknown" for r, _ in pairs)) == (10, 6, 1)


@needs_realdata("Claude Code transcripts", "claude-code")
def test_the_real_tasks_whose_evidence_conflicts(tmp_path):
    """`agentmon tasks --disagreeing` puts these first: each holds a sign of success and one of failure."""
    from agentmon.store.inferred import conflict

    found = tasks(tmp_path, False)
    conflicting = {BY_HAND[task][0]: conflict(t) for task, t in found.items() if conflict(t) is not None}
    assert conflicting == {
        "A07": "its todo list was completed; but: a tool error was left unresolved",
        "A09": "the next prompt thanked it, its todo list was completed; but: the build failed",
        "A13": "the user moved on; but: a tool error was left unresolved",
    }
