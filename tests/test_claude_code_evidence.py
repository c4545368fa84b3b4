"""Each evidence field of a Claude Code task (docs/success.md), on transcripts written for it: what the parser
derives, what the store keeps (derived values only), and the outcome the rule infers from it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import agents, cli, ingest, tasks_by_id

from agentmon.events import PermissionDenial, TaskEvidence, ToolCall
from agentmon.sources import claude_code_evidence
from agentmon.sources.claude_code_evidence import EvidenceTracker, check_kind, commands, commits, relation
from agentmon.store.inferred import infer
from agentmon.store.taskstate import TaskState, fold_all

SESSION = "5e550000-0000-4000-8000-0000000000ev"
BASE = 1_772_445_600  # 2026-03-02T10:00:00Z


class Transcript:
    """Lines in Claude Code's shape, a second apart, one session of the main conversation."""

    def __init__(self) -> None:
        self.lines: list[dict] = []
        self.n = 0

    def _line(self, kind: str, message: dict, **extra) -> None:
        self.n += 1
        ts = BASE + self.n
        stamp = f"2026-03-02T{10 + (ts - BASE) // 3600:02d}:{(ts - BASE) // 60 % 60:02d}:{(ts - BASE) % 60:02d}.000Z"
        self.lines.append(
            {
                "sessionId": SESSION,
                "cwd": "/work/app",
                "type": kind,
                "timestamp": stamp,
                "isSidechain": False,
                "uuid": extra.pop("uuid", f"l{self.n}"),
                "message": message,
                **extra,
            }
        )

    def prompt(self, text: str, uuid: str) -> Transcript:
        self._line("user", {"role": "user", "content": text}, uuid=uuid)
        return self

    def say(self, text: str, **extra) -> Transcript:
        self._line("assistant", self._assistant([{"type": "text", "text": text}]), **extra)
        return self

    def use(self, name: str, call: str, **tool_input) -> Transcript:
        self._line("assistant", self._assistant([{"type": "tool_use", "id": call, "name": name, "input": tool_input}]))
        return self

    def result(self, call: str, text: str, is_error: bool = False) -> Transcript:
        block = {"type": "tool_result", "tool_use_id": call, "content": [{"type": "text", "text": text}]}
        if is_error:
            block["is_error"] = True
        self._line("user", {"role": "user", "content": [block]})
        return self

    def _assistant(self, content: list) -> dict:
        usage = {"input_tokens": 10, "output_tokens": 20}
        return {"model": "claude-sonnet-4-5-20250929", "id": f"msg_{self.n}", "content": content, "usage": usage}

    def write(self, root: Path) -> Path:
        path = root / "projects" / "-work-app" / f"{SESSION}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(line) + "\n" for line in self.lines))
        return root / "projects"


def stored(t: Transcript, tmp_path: Path) -> dict[str, dict]:
    db = tmp_path / "agentmon.db"
    ingest([t.write(tmp_path)], db)
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    return {r["task"]: dict(r) for r in conn.execute("SELECT * FROM tasks")}


def inferred(row: dict) -> tuple[str, str]:
    return infer(TaskState(**row))


# --- how the task ended ---------------------------------------------------------------------------------------


def test_how_the_last_turn_ended(tmp_path):
    t = Transcript()
    t.prompt("list the files", "p1").use("Bash", "c1", command="ls").result("c1", "a b").say("Two files: a and b.")
    t.prompt("add a test", "p3").use("Edit", "c2", file_path="x")  # no word after the call
    t.prompt("delete the cache", "p4").use("Bash", "c3", command="rm -rf .cache")
    t.result("c3", "The user doesn't want to proceed with this tool use. The tool use was rejected", is_error=True)
    t.prompt("run the linter", "p5").use("Bash", "c4", command="make lint")
    t.result("c4", "[Request interrupted by user for tool use]", is_error=True)
    t.prompt("summarise", "p6").say("API Error: 529 Overloaded", isApiErrorMessage=True)
    t.prompt("which one is bigger", "p2").say("Which size do you mean, on disk or in lines?")  # an answer goes on
    rows = stored(t, tmp_path)
    endings = {task: rows[task]["ending"] for task in ("p1", "p2", "p3", "p4", "p5", "p6")}
    assert endings == {
        "p1": "answered",
        "p2": "asked",
        "p3": "cut_off",
        "p4": "rejected",
        "p5": "interrupted",
        "p6": "api_failed",
    }


# --- how the next prompt relates to it ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "relates"),
    [
        ("now add a login page", "new"),
        ("fix the build", "new"),
        ("Thanks! Please update CLAUDE.md", "thanks"),
        ("ok can you create a hello_world.py file", "thanks"),
        ("perfect", "thanks"),
        ("oops, please fix the name", "correction"),
        ("its not an instance of claude code", "correction"),
        ("fix these issues or disable the scan", "correction"),
        ("No, use yarn", "correction"),
        ("thanks, but it still fails", "correction"),
        ("It’s not working", "correction"),
        ("Nothing changed here, carry on", "new"),
    ],
)
def test_the_next_prompt_is_read_for_a_correction_or_thanks(text, relates):
    assert relation(text, None)[0] == relates


def test_the_next_prompt_relates_to_the_task_before_and_no_text_is_stored(tmp_path):
    t = Transcript()
    t.prompt("login to git", "p1").say("Done.")
    t.prompt("  login to git ", "p2").say("Done, again.")  # the same prompt: a repeat, by hash
    t.prompt("oops, please fix the name", "p3").say("Fixed.")
    t.prompt("Thanks! Please update CLAUDE.md", "p4").say("Updated.")
    t.prompt("now deploy it", "p5").say("Deployed.")
    rows = stored(t, tmp_path)
    assert [rows[p]["next_prompt"] for p in ("p1", "p2", "p3", "p4", "p5")] == [
        "repeat",
        "correction",
        "thanks",
        "new",
        None,  # none yet
    ]
    assert rows["p1"]["prompt_hash"] == rows["p2"]["prompt_hash"] != rows["p3"]["prompt_hash"]
    text = (tmp_path / "agentmon.db").read_bytes()
    assert b"login to git" not in text and b"deploy" not in text and b"oops" not in text


def test_an_answer_to_the_assistants_question_is_no_next_prompt(tmp_path):
    t = Transcript()
    t.prompt("rename the module", "p1").say("To `core` or to `engine`?")
    t.prompt("engine", "a1").say("Renamed to engine.")
    rows = stored(t, tmp_path)
    assert set(rows) == {"p1"}
    assert (rows["p1"]["next_prompt"], rows["p1"]["ending"]) == ("answer", "answered")


# --- the last check run -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        ("pytest -q", "test"),
        ("python3 -m pytest tests/", "test"),
        ("cd web && npm run build && npm test", "test"),  # the last check of the chain
        ("make test", "test"),
        ("make", "build"),
        ("FOO=1 uv run pytest -x", "test"),
        ("timeout 60 cargo test 2>&1 | tail -5", "test"),
        ("npx tsc --noEmit", "typecheck"),
        ("mypy agentmon", "typecheck"),
        ("ruff check . && ruff format --check .", "lint"),
        ("(cd web && pnpm lint)", "lint"),
        ("go vet ./...", "lint"),
        ("cargo clippy", "lint"),
        ("go build ./...", "build"),
        ("ls -la", None),
        ("echo pytest", None),
        ("cat tests/test_x.py", None),
        ("cd app\npytest -x", "test"),
        ("source .venv/bin/activate;pytest", "test"),
        ("pytest>out.txt 2>&1", "test"),  # a redirection with no blank before it
        ("make>build.log", "build"),
        ("cd app &&\tpytest -q", "test"),  # a tab, escaped in the input's JSON
        ("CI=1 pytest-3 -q", "test"),  # Debian's pytest-3: the pattern's word ends at the dash
    ],
)
def test_checks_are_recognised_by_command(command, kind):
    assert check_kind(commands(command)) == kind
    # and through a tool use's input, which most commands leave at a glance at its bytes
    tracker = EvidenceTracker(lambda block: "answered")
    tracker.tool_use("c1", "Bash", json.dumps({"command": command}).encode(), 1.0, "t", "a", True)
    noted = tracker.flush()
    assert (noted[0].check if noted else None) == kind


@pytest.mark.parametrize(
    ("command", "commit"),
    [
        ("git commit -m 'x'", True),
        ("git add -A && git commit -am x", True),
        ("git -C sub commit -m x", True),
        ("git commit --dry-run", False),
        ("git log --grep commit", False),
    ],
)
def test_commits_are_recognised_by_command(command, commit):
    assert commits(commands(command)) is commit


def test_the_last_check_and_whether_it_passed(tmp_path):
    t = Transcript()
    t.prompt("make the tests pass", "p1")
    t.use("Bash", "c1", command="pytest -q").result("c1", "Exit code 1\n4 failed, 31 passed", is_error=True)
    t.use("Bash", "c2", command="pytest -q").result("c2", "35 passed")
    t.say("All tests pass.")
    t.prompt("and the build?", "p2")
    t.use("Bash", "c3", command="npm run build").result("c3", "ok")
    t.use("Bash", "c4", command="npm test").result("c4", "Exit code 2\nFAIL src/app.test.ts")  # no is_error
    t.say("One test fails.")
    t.prompt("run it in the background", "p3")
    t.use("Bash", "c5", command="pytest", run_in_background=True)
    t.result("c5", "Command running in background with ID: 1")
    t.say("Started.")
    rows = stored(t, tmp_path)
    assert (rows["p1"]["check_kind"], rows["p1"]["check_ok"]) == ("test", 1)
    assert (rows["p2"]["check_kind"], rows["p2"]["check_ok"]) == ("test", 0)
    assert (rows["p3"]["check_kind"], rows["p3"]["check_ok"]) == ("test", None)  # no verdict yet


# --- the todo list, a commit, errors left unresolved -----------------------------------------------------------


def test_the_todo_lists_completion_at_the_end(tmp_path):
    t = Transcript()
    t.prompt("three things", "p1")
    todos = [{"content": c, "status": "pending", "activeForm": c} for c in "abc"]
    t.use("TodoWrite", "c1", todos=todos).result("c1", "Todos have been modified successfully.")
    done = [{**todo, "status": "completed"} for todo in todos[:2]] + todos[2:]
    t.use("TodoWrite", "c2", todos=done).result("c2", "Todos have been modified successfully.").say("Two of three.")
    t.prompt("with the Task tools", "p2")  # Claude Code 2.1.142 and later
    for i in "123":
        t.use("TaskCreate", f"k{i}", subject=i, description=i).result(f"k{i}", f"Task #{i} created successfully")
    t.use("TaskUpdate", "u1", taskId="1", status="completed").result("u1", "Updated task #1 status")
    t.use("TaskUpdate", "u2", taskId="2", status="completed").result("u2", "Updated task #2 status")
    t.use("TaskUpdate", "u3", taskId="3", status="deleted").result("u3", "Updated task #3 deleted")
    t.say("Done.")
    rows = stored(t, tmp_path)
    assert (rows["p1"]["todos_done"], rows["p1"]["todos_total"]) == (2, 3)
    assert (rows["p2"]["todos_done"], rows["p2"]["todos_total"]) == (2, 2)


def test_a_commit_that_succeeded(tmp_path):
    t = Transcript()
    t.prompt("commit it", "p1").use("Bash", "c1", command="git commit -m x")
    t.result("c1", "[main 1a2b3c] x").say("Done.")
    t.prompt("commit that too", "p2").use("Bash", "c2", command="git commit -m y")
    t.result("c2", "Exit code 1\nnothing to commit", is_error=True).say("Nothing to commit.")
    rows = stored(t, tmp_path)
    assert (rows["p1"]["committed"], rows["p2"]["committed"]) == (1, 0)


def test_tool_errors_left_unresolved(tmp_path):
    t = Transcript()
    t.prompt("edit x", "p1").use("Edit", "c1", file_path="x")
    t.result("c1", "<tool_use_error>File has not been read yet.</tool_use_error>", is_error=True)
    t.use("Write", "c2", file_path="x").result("c2", "File created successfully")  # the same family: resolved
    t.use("Bash", "c3", command="python x.py").result("c3", "Exit code 127\npython: not found", is_error=True)
    t.say("Written; python is missing.")
    t.prompt("write y", "p2").use("Write", "c4", file_path="y")
    t.result("c4", "Claude requested permissions to write to y, but you haven't granted it yet.", is_error=True)
    t.say("I've created y.")
    rows = stored(t, tmp_path)
    assert (rows["p1"]["unresolved_errors"], rows["p2"]["unresolved_errors"]) == (1, 1)
    assert inferred(rows["p2"]) == ("failure", "failure: a tool error was left unresolved at the end")


# --- the store keeps the latest observation, whatever the order ------------------------------------------------


def test_evidence_read_across_a_restart_is_what_one_pass_reads(tmp_path):
    """The store folds unresolved errors from the tool calls themselves: a parser that starts again between two
    lines (agentmon restarted, or killed) leaves the same task rows as one pass."""
    t = Transcript()
    t.prompt("edit x", "p1").use("Edit", "c1", file_path="x")
    t.result("c1", "<tool_use_error>File has not been read yet.</tool_use_error>", is_error=True)
    t.use("Bash", "c2", command="python x.py").result("c2", "Exit code 127\npython: not found", is_error=True)
    t.use("Write", "c3", file_path="x").result("c3", "File created successfully").say("Written; python is missing.")
    t.prompt("now y", "p2").use("Bash", "c4", command="ls").result("c4", "y").say("Done.")
    whole = tmp_path / "whole"
    whole.mkdir()
    ingest([t.write(whole)], whole / "agentmon.db", clock=lambda: BASE + 60)
    conn = sqlite3.connect(whole / "agentmon.db")
    conn.row_factory = sqlite3.Row
    clean = {r["task"]: dict(r) for r in conn.execute("SELECT * FROM tasks")}
    lines = t.lines
    parts = tmp_path / "parts"
    for cut in (5, len(lines)):  # the first pass stops after the failed Bash call's result
        t.lines = lines[:cut]
        t.write(parts)
        ingest([parts / "projects"], parts / "agentmon.db", clock=lambda: BASE + 60)  # nothing idle yet
    conn = sqlite3.connect(parts / "agentmon.db")
    conn.row_factory = sqlite3.Row
    again = {r["task"]: dict(r) for r in conn.execute("SELECT * FROM tasks")}
    assert again == clean
    assert (clean["p1"]["unresolved_errors"], clean["p2"]["unresolved_errors"]) == (1, None)  # Bash's, not Edit's


def test_a_restart_between_a_call_and_its_result_or_between_two_prompts_loses_no_evidence(tmp_path):
    """What the evidence waits for is stored with the line that taught it (a check's or a commit's call, a
    session's latest prompt): `agentmon ingest` run by cron, or a restart, between any two lines reads as one pass."""
    t = Transcript()
    t.prompt("run the tests", "p1").use("Bash", "c1", command="cd app && pytest -q")
    t.result("c1", "Exit code 1\n3 failed, 31 passed", is_error=True).say("3 tests fail.")
    t.prompt("run the tests", "p2").use("Bash", "c2", command="git commit -am 'fix'")
    t.result("c2", "[main 1a2b3c4] fix").use("Bash", "c3", command="npm run build").result("c3", "built in 2s")
    t.say("Committed and built.")
    whole = tmp_path / "whole"
    whole.mkdir()
    ingest([t.write(whole)], whole / "agentmon.db", clock=lambda: BASE + 60)
    clean = tasks_by_id(whole / "agentmon.db")
    assert (clean["p1"]["check_kind"], clean["p1"]["check_ok"], clean["p1"]["next_prompt"]) == ("test", 0, "repeat")
    assert (clean["p2"]["check_kind"], clean["p2"]["check_ok"], clean["p2"]["committed"]) == ("build", 1, 1)
    lines = t.lines
    for cut in range(1, len(lines)):  # one restart, after each line in turn
        parts = tmp_path / f"cut{cut}"
        for end in (cut, len(lines)):
            t.lines = lines[:end]
            t.write(parts)
            ingest([parts / "projects"], parts / "agentmon.db", clock=lambda: BASE + 60)
        assert tasks_by_id(parts / "agentmon.db") == clean, cut
    t.lines = lines


def test_the_fold_is_order_free():
    events = [
        TaskEvidence(ts=1.0, agent="a", task="t", ending="cut_off"),
        TaskEvidence(ts=2.0, agent="a", task="t", ending="answered"),
        TaskEvidence(ts=3.0, agent="a", task="t", check="test", check_at=3.0),
        TaskEvidence(ts=4.0, agent="a", task="t", check="test", check_at=3.0, check_ok=False),
        TaskEvidence(ts=1.5, agent="a", task="t", check="build", check_at=1.5, check_ok=True),
        TaskEvidence(ts=2.0, agent="a", task="t", todos_done=1, todos_total=3),
        TaskEvidence(ts=5.0, agent="a", task="t", todos_done=3, todos_total=3),
        ToolCall(ts=1.0, agent="a", task="t", tool="Bash", ok=True),  # a call (at its tool_use)
        ToolCall(ts=2.0, agent="a", task="t", tool="Bash", ok=False, call=False),  # its failure
        ToolCall(ts=3.0, agent="a", task="t", tool="Bash", ok=True),  # a later call: resolved
        ToolCall(ts=2.0, agent="a", task="t", tool="Edit", ok=True),
        PermissionDenial(ts=2.5, agent="a", task="t", tool="Write"),  # the Edit family: unresolved
        TaskEvidence(ts=6.0, agent="a", task="t", next_prompt="thanks"),
        TaskEvidence(ts=2.5, agent="a", task="t", committed=True),
    ]
    states = []
    for order in (events, events[::-1], events[1::2] + events[::2]):
        state = TaskState("a", "t")
        fold_all(state, [(e, float(e.ts), None) for e in order])
        states.append(state)
    assert states[0] == states[1] == states[2]
    s = states[0]
    assert (s.ending, s.check_kind, s.check_ok, s.todos_done, s.todos_total, s.unresolved_errors) == (
        "answered",
        "test",
        0,
        3,
        3,
        1,
    )
    assert (s.next_prompt, s.committed) == ("thanks", 1)


def test_tool_errors_folded_one_event_at_a_time_are_what_one_fold_gives():
    """Each fold starts from the families the folds before it stored: a failure stored earlier still counts when a
    later fold brings only calls, and one folded after a later call of its family is resolved."""
    events = [
        ToolCall(ts=1.0, agent="a", task="t", tool="Bash", ok=True),
        ToolCall(ts=2.0, agent="a", task="t", tool="Bash", ok=False, call=False),
        ToolCall(ts=3.0, agent="a", task="t", tool="Read", ok=True),
        ToolCall(ts=4.0, agent="a", task="t", tool="Edit", ok=True),
        PermissionDenial(ts=3.5, agent="a", task="t", tool="Write"),  # before the Edit family's latest call
        ToolCall(ts=5.0, agent="a", task="t", tool="Grep", ok=True),
    ]
    whole = TaskState("a", "t")
    fold_all(whole, [(e, float(e.ts), None) for e in events])
    for order in (events, events[::-1]):
        state = TaskState("a", "t")
        for e in order:
            fold_all(state, [(e, float(e.ts), None)])
        assert (state.tool_families, state.unresolved_errors) == (whole.tool_families, whole.unresolved_errors)
    assert whole.unresolved_errors == 1  # Bash's
    calls_only = TaskState("a", "t")
    fold_all(calls_only, [(e, float(e.ts), None) for e in events if type(e) is ToolCall and e.ok])
    assert calls_only.unresolved_errors is None  # no failure: none to resolve


# --- the rule ------------------------------------------------------------------------------------------------


def evidence(**fields) -> TaskState:
    return TaskState("a", "t", **fields)


@pytest.mark.parametrize(
    ("fields", "outcome", "reason"),
    [
        ({}, "unknown", ""),
        ({"ending": "api_failed", "next_prompt": "thanks"}, "failure", "failure: it ended failing on the API"),
        ({"ending": "answered", "next_prompt": "correction"}, "failure", "failure: the next prompt was a correction"),
        ({"ending": "answered", "next_prompt": "repeat"}, "failure", "failure: the next prompt repeated this one"),
        ({"ending": "rejected", "next_prompt": "new"}, "failure", "failure: the user rejected its last tool call"),
        ({"ending": "interrupted"}, "failure", "failure: the user interrupted it"),
        ({"ending": "answered", "next_prompt": "thanks", "check_kind": "build", "check_ok": 0}, "success", None),
        ({"ending": "answered", "next_prompt": "new", "check_kind": "test", "check_ok": 0}, "failure", None),
        ({"ending": "asked", "next_prompt": "new"}, "unknown", "unknown: it ended asking the user"),
        ({"ending": "cut_off"}, "unknown", "unknown: it stopped in the middle of a tool call"),
        ({"ending": "answered", "next_prompt": "new", "unresolved_errors": 1}, "unknown", None),
        ({"ending": "answered", "unresolved_errors": 2}, "failure", None),
        ({"ending": "answered", "next_prompt": "new", "todos_done": 2, "todos_total": 3}, "unknown", None),
        (
            {"ending": "answered", "next_prompt": "new", "check_kind": "test", "check_ok": 1},
            "success",
            "success: tests passed at the end and the user moved on",
        ),
        ({"ending": "answered", "next_prompt": "new", "committed": 1}, "success", None),
        ({"ending": "answered", "next_prompt": "new"}, "success", None),
        ({"ending": "answered", "todos_done": 4, "todos_total": 4}, "success", None),
        ({"ending": "answered"}, "unknown", "unknown: no next prompt yet"),
    ],
)
def test_the_rule(fields, outcome, reason):
    got = infer(evidence(**fields))
    assert got[0] == outcome
    if reason is not None:
        assert got[1] == reason


# --- what status says ---------------------------------------------------------------------------------------


def test_an_inferred_rate_is_marked_and_holds_the_verdict_until_checked(tmp_path):
    t = Transcript()
    for i in range(40):  # 40 tasks, each thanked by the next prompt: inferred successes
        t.prompt(f"thanks, now task {i}" if i else "task 0", f"p{i}").say("Done.")
    db = tmp_path / "agentmon.db"
    ingest([t.write(tmp_path)], db)
    a = agents(db)["claude-code:/work/app"]
    assert (a["task_success_rate"], a["task_success_rate_source"], a["inferred_tasks"]) == (1.0, "inferred", 39)
    assert a["verdict"] == "hold"
    assert a["reasons"] == [
        "inferred success not yet checked: label 20 tasks (agentmon tasks --unlabeled --disagreeing)"
    ]


def test_a_native_agents_outcome_stays_its_own(tmp_path):
    log = tmp_path / "events.jsonl"
    log.write_text(
        '{"ts":1,"agent":"n","event":"task_end","task":"t","outcome":"failure"}\n'
        '{"ts":2,"agent":"n","event":"task_evidence","task":"t","next_prompt":"thanks","ending":"answered"}\n'
    )
    db = tmp_path / "agentmon.db"
    ingest([log], db)
    a = agents(db)["n"]
    assert (a["task_success_rate"], a["task_success_rate_source"], a["inferred_tasks"]) == (0.0, "outcome", 0)


def test_word_lists_are_data_agentmon_toml_replaces(tmp_path, monkeypatch):
    from agentmon.config import load
    from agentmon.errors import AgentmonError

    config = tmp_path / "agentmon.toml"
    config.write_text('[evidence]\nthanks_starts = ["merci"]\nchecks.test = ["just test"]\n')
    monkeypatch.setenv("AGENTMON_CONFIG", str(config))
    try:
        load()
        assert relation("merci beaucoup", None)[0] == "thanks"
        assert relation("thanks!", None)[0] == "new"
        assert check_kind(commands("just test")) == "test"
        assert check_kind(commands("pytest")) is None
        assert check_kind(commands("make lint")) == "lint"  # the kinds not given keep their defaults
        config.write_text('[evidence]\nthank_you = ["merci"]\n')
        with pytest.raises(AgentmonError, match=r"unknown setting `evidence\.thank_you`"):
            load()
        config.write_text('[evidence]\nchecks.e2e = ["playwright"]\n')
        with pytest.raises(AgentmonError, match="by kind: test, typecheck, lint, build"):
            load()
    finally:
        claude_code_evidence.use({})


def test_phrases_sharing_a_first_word_each_count_anywhere_in_the_prompt():
    # The phrases are tried by their first word (a prompt without it skips them): each of several with the same
    # first word still counts, a replaced list included, and the first word alone is no phrase.
    try:
        claude_code_evidence.use({"correction_anywhere": ["fix it", "fix these", "is broken", "Doesn’t build"]})
        assert relation("please fix these now", None)[0] == "correction"
        assert relation("can you fix it?", None)[0] == "correction"
        assert relation("the page is broken again", None)[0] == "correction"
        assert relation("it doesn't build", None)[0] == "correction"
        assert relation("fix the build", None)[0] == "new"
        assert relation("this is fine", None)[0] == "new"
        assert relation("you forgot the tests", None)[0] == "new"  # a default phrase, no longer in the list
    finally:
        claude_code_evidence.use({})
    assert relation("you forgot the tests", None)[0] == "correction"


# --- calibration ------------------------------------------------------------------------------------------------


def test_calibrate_sets_the_rule_against_the_labels(tmp_path):
    t = Transcript()
    t.prompt("task a", "pa").say("Done.")
    t.prompt("oops, that is wrong", "pb").say("Fixed.")  # pa: inferred failure (a correction)
    t.prompt("thanks! next one", "pc").say("Done.")  # pb: inferred success (thanks)
    t.prompt("and another", "pd").say("Which one?")  # pc: inferred success (moved on); pd: asked, unknown
    db = tmp_path / "agentmon.db"
    projects = t.write(tmp_path)
    ingest([projects], db)
    agent = "claude-code:/work/app"
    for task, outcome in (("pa", "failure"), ("pb", "success"), ("pc", "failure"), ("pd", "success")):
        cli("label", agent, task, outcome, "--db", db)
    ingest([projects, tmp_path / "agentmon.labels.jsonl"], db)
    (c,) = json.loads(cli("calibrate", "--json", "--db", db))
    assert c["matrix"] == {
        "success": {"success": 1, "failure": 0, "unknown": 1},
        "failure": {"success": 1, "failure": 1, "unknown": 0},
    }
    assert (c["labeled"], c["decided"], c["agreeing"]) == (4, 3, 2)
    assert (c["failure_precision"], c["failure_recall"]) == (1.0, 0.5)
    assert c["failure_recall_ci"][0] < 0.5 < c["failure_recall_ci"][1]
    assert {(d["task"], d["label"], d["inferred"]) for d in c["disagreeing"]} == {
        ("pc", "failure", "success"),
        ("pd", "success", "unknown"),
    }
    text = cli("calibrate", "--db", db)
    assert "agreement 2/3 decided (66.7%)" in text and "pc  labelled failure, success: it answered" in text


def test_every_rate_that_rests_on_inferred_outcomes_says_so(tmp_path):
    import csv
    import io

    t = Transcript()
    for i in range(5):
        t.prompt(f"thanks, now task {i}" if i else "task 0", f"p{i}").say("Done.")
    db = tmp_path / "agentmon.db"
    ingest([t.write(tmp_path)], db)
    table = cli("status", "--db", db)
    assert "100.0% inferred" in table
    (agent,) = csv.DictReader(io.StringIO(cli("export", "--csv", "-", "--db", db)))
    assert (agent["task_success_rate"], agent["task_success_rate_source"]) == ("1.0", "inferred")
    hours = list(csv.DictReader(io.StringIO(cli("export", "--csv", "-", "--by", "hour", "--db", db))))
    assert {h["task_success_rate_source"] for h in hours} == {"inferred"}
    # a period's row counts labelled tasks, as its labeled_tasks says: never 4 successes over 0 labels
    (day, *_) = json.loads(cli("status", "--by", "day", "--json", "--db", db))
    assert (day["successes"], day["labeled_tasks"], day["task_success_rate"]) == (0, 0, None)


def test_a_prompt_read_again_after_a_failed_commit_is_no_repeat_of_itself():
    from agentmon.sources.claude_code import ClaudeCodeSource

    t = Transcript()
    t.prompt("list the files", "p1").say("a b")
    t.prompt("now count them", "p2").say("2")
    lines = [json.dumps(line).encode() for line in t.lines]
    source = ClaudeCodeSource(lambda session: [(float(BASE + 1), "p1")])  # p1 committed before
    source.begin_chunk("projects/-work-app/s.jsonl", 0)
    for raw in lines:
        source.parse(raw, "projects/-work-app/s.jsonl")
    source.reset()  # the batch from p2 on failed to commit: its lines are read again
    source.begin_chunk("projects/-work-app/s.jsonl", 0)
    for raw in lines[2:]:
        source.parse(raw, "projects/-work-app/s.jsonl")
    noted = {e.task: e for e in source.end_chunk()}
    assert noted["p1"].next_prompt == "new"


def test_a_result_read_again_after_a_failed_commit_still_decides_the_check(tmp_path):
    """The batch holding a check's result fails to commit (a full disk), and a service reads on in the same process:
    the result, read again from the committed offset, still decides the check, and the stored call no longer waits
    for its result (the parser reloads the session's facts after the failed commit, its fast path included)."""
    from agentmon.errors import AgentmonError
    from agentmon.ingest.ingester import Ingester
    from agentmon.store.writer import Store

    t = Transcript()
    t.prompt("run the tests", "p1").use("Bash", "c1", command="pytest -q")
    t.result("c1", "34 passed").say("All pass.")
    whole = tmp_path / "whole"
    whole.mkdir()
    ingest([t.write(whole)], whole / "agentmon.db", clock=lambda: BASE + 60)
    clean = tasks_by_id(whole / "agentmon.db")
    assert (clean["p1"]["check_kind"], clean["p1"]["check_ok"]) == ("test", 1)
    lines, db = t.lines, tmp_path / "agentmon.db"
    with Store(db) as store:
        ingester = Ingester(store, [tmp_path / "projects"], clock=lambda: BASE + 60)
        t.lines = lines[:2]  # the call, committed
        t.write(tmp_path)
        ingester.run_once()
        t.lines = lines  # its result: the first commit of it fails
        t.write(tmp_path)
        commit, failed = store.commit, []

        def full_once(batch):
            if not failed:
                failed.append(batch)
                raise AgentmonError("database or disk is full")
            return commit(batch)

        store.commit = full_once  # type: ignore[method-assign]
        with pytest.raises(AgentmonError):
            ingester.run_once()
        ingester.run_once()  # the next poll
        ingester.close()
    again = tasks_by_id(db)
    assert {k: v for k, v in again["p1"].items() if clean["p1"][k] != v} == {}
    assert again == clean
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT kind, key FROM claude_code_state WHERE key = 'c1'").fetchall() == []
    finally:
        conn.close()


def test_the_glance_at_a_commands_bytes_never_misses_a_check_or_a_commit():
    """A differential property: random commands of program names, words that wrap or follow them, and the signs and
    blanks that may join them; for each, the tool use's quick look at its input (as JSON, non-ASCII written as is,
    as Claude Code writes it, or escaped) must never say "nothing here" where the patterns find a check or a commit."""
    import random

    programs = sorted(p.decode() for p in claude_code_evidence.WORDS.programs or ())
    words = ["test", "run", "commit", "check", "build", "-q", "sudo", "npx", "python3 -m", "FOO=1", "cd app", "&&"]
    joins = [*" \t\n\r\f;&|()'\"`\\,:{}[]<>=!@#$%^*+~?./-_", "\u00a0", "\u2003", "\u2028", "\x0b", "\x1c", "é", "…"]
    rng = random.Random(20)
    missed = []
    for _ in range(20_000):
        command = ""
        for _ in range(rng.randint(1, 4)):
            command += rng.choice(programs) if rng.random() < 0.5 else rng.choice(words)
            command += "".join(rng.choice(joins) for _ in range(rng.randint(0, 2)))
        parts = commands(command)
        if check_kind(parts) is None and not commits(parts):
            continue
        for ascii_only in (False, True):
            tracker = EvidenceTracker(lambda block: "answered")
            raw = json.dumps({"command": command}, ensure_ascii=ascii_only).encode()
            tracker.tool_use("c1", "Bash", raw, 1.0, "t", "a", True)
            if "c1" not in tracker.watched:
                missed.append(command)
    assert missed[:10] == []
    for command in (
        "pytest.exe -q",
        "tsc.cmd --noEmit",
        "sudo\u00a0pytest",
        "make!",
    ):  # Windows' names; a no-break space
        tracker = EvidenceTracker(lambda block: "answered")
        tracker.tool_use("c1", "Bash", json.dumps({"command": command}).encode(), 1.0, "t", "a", True)
        assert "c1" in tracker.watched, command
