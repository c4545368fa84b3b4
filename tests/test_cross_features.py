"""Where one feature's state meets another's machinery: subagents' shares and counts (taskstate), held events
re-attributed across runs (held_events), parser state kept across restarts (claude_code_state), retention, and
the commit process. Every table is compared with one run over everything, the subagent columns included."""

import json
import random
import sqlite3
import time
from pathlib import Path

import pytest
from conftest import ROOT, ingest, needs_realdata
from test_claude_code_order import ORDER, _sessions_first, every_line, real_files, reference, run, table

from agentmon.errors import AgentmonError
from agentmon.events import BEFORE_FIRST_PROMPT
from agentmon.ingest.ingester import Ingester
from agentmon.labels import append_label
from agentmon.report.tasks import list_tasks
from agentmon.store import held_events
from agentmon.store.retention import Retention, prune
from agentmon.store.writer import Store, connect

ORCHESTRATION = ROOT / "fixtures" / "claude-code" / "rules" / "orchestration" / "projects"
SUBAGENT_COLUMNS = "agent, task, subagents, subagent_tokens, subagent_cost_nanos, subagent_ids, parent_task"

Files = list[tuple[Path, list[bytes]]]


def files_of(projects: Path) -> Files:
    return [
        (p.relative_to(projects.parent), p.read_bytes().splitlines(keepends=True)) for p in _sessions_first(projects)
    ]


def subagent_table(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT {SUBAGENT_COLUMNS} FROM tasks ORDER BY agent, task").fetchall()
    finally:
        conn.close()


def both(tmp: Path, files: Files, steps: list[tuple[int, int]], whole: bool = True) -> tuple:
    """The runs' tables and subagent columns."""
    return run(tmp, files, steps, whole), subagent_table(tmp / "runs.db")


def one_run(tmp: Path, files: Files) -> tuple:
    return reference(tmp, files), subagent_table(tmp / "one" / "one.db")


def random_schedule(rng: random.Random, files: Files) -> list[tuple[int, int]]:
    """Each file cut at up to three random lines; the pieces of all files interleaved at random, each piece read
    by a run of its own."""
    per_file = []
    for i, (_, lines) in enumerate(files):
        cuts = sorted(rng.sample(range(1, len(lines)), k=min(len(lines) - 1, rng.randint(0, 3))))
        per_file.append([(i, n) for n in [*cuts, len(lines)]])
    steps = []
    while any(per_file):
        steps.append(rng.choice([q for q in per_file if q]).pop(0))
    return steps


# --- subagents per task (taskstate) read in pieces, across restarts (claude_code_state)


@pytest.mark.parametrize("projects", [ORDER, ORCHESTRATION], ids=["order", "orchestration"])
def test_random_splits_and_orders_keep_the_subagent_columns(tmp_path, projects):
    files = files_of(projects)
    ref = one_run(tmp_path, files)
    rng = random.Random(14)
    for k in range(12):
        steps = random_schedule(rng, files)
        assert both(tmp_path / str(k), files, steps) == ref, steps


def test_subagent_ids_are_the_same_text_whichever_subagent_is_read_first(tmp_path):
    """sa1's requests read before bg2's (one run reads bg2's first): the task names both the same way."""
    files = files_of(ORDER)
    index = {dest.name: i for i, (dest, _) in enumerate(files)}
    bg2, sa1 = index["agent-bg2.jsonl"], index["agent-sa1.jsonl"]
    steps = [(0, len(files[0][1])), (sa1, len(files[sa1][1])), (bg2, len(files[bg2][1]))]
    steps += [(i, len(lines)) for i, (_, lines) in enumerate(files) if i not in (0, bg2, sa1)]
    got = both(tmp_path, files, steps)
    assert got == one_run(tmp_path, files)
    assert [row[5] for row in got[1] if row[1] == "p1"] == ["bg2 sa1"]


def test_a_restart_inside_an_inline_sidechain_keeps_its_subagent(tmp_path):
    """Older Claude Code writes a subagent's lines inline, named by the first line of their chain only: a run
    that starts mid-chain finds it in the store, and p1 counts three subagents, not four."""
    files = files_of(ORCHESTRATION)
    ref = one_run(tmp_path, files)
    assert [row[2:6] for row in ref[1] if row[1] == "p1"] == [(3, 2650, 180_000_000, "f1 sa0 sb0")]
    for k, steps in enumerate(every_line(files)):
        assert both(tmp_path / str(k), files, steps) == ref, k


@needs_realdata("Claude Code transcripts", "claude-code")
@pytest.mark.parametrize("name", ["A08", "A09", "A13+A14"])
def test_real_transcripts_in_random_pieces_keep_the_subagent_columns(tmp_path, name):
    files = real_files(name)
    ref = one_run(tmp_path, files)
    rng = random.Random(name)
    for k in range(3):
        steps = random_schedule(rng, files)
        assert both(tmp_path / str(k), files, steps) == ref, steps


# --- retention between a held event and the line that places it


@pytest.mark.parametrize("projects", [ORDER, ORCHESTRATION], ids=["order", "orchestration"])
def test_a_prune_between_held_events_and_their_prompt_changes_nothing(tmp_path, projects):
    """The subagents read first, their lines held; a prune with the default retention (the fixtures are months
    old: their LLM requests go, but those of held lines, and their tasks stay); then the session: the same tables
    as one run."""
    files = files_of(projects)
    ref = one_run(tmp_path, files)
    subagents = [i for i, (dest, _) in enumerate(files) if dest.parent.name == "subagents"]
    first = [(i, len(files[i][1])) for i in subagents]
    rest = [(i, len(lines)) for i, (_, lines) in enumerate(files) if i not in subagents]
    run(tmp_path / "runs", files, first, whole=False)
    conn = connect(tmp_path / "runs" / "runs.db")
    assert conn.execute("SELECT count(*) FROM held_events").fetchone()[0] > 0
    held = conn.execute("SELECT count(DISTINCT request_id) FROM held_events").fetchone()[0]
    requests = conn.execute("SELECT count(*) FROM llm_requests").fetchone()[0]
    pruned = prune(conn, Retention(), time.time())
    conn.close()
    assert pruned.requests == requests - held and not pruned.tasks  # a held line's request stays
    assert both(tmp_path / "runs", files, rest, whole=False) == ref
    conn = connect(tmp_path / "runs" / "runs.db")
    prune(conn, Retention(), time.time())
    assert conn.execute("SELECT count(*) FROM llm_requests").fetchone() == (0,)  # placed: it goes in its time


def grown_subagent(files: Files) -> Files:
    """The orchestration fixture's subagent f1 with its request written again with more output, as Claude Code
    writes a streamed message: the request's usage grows after its first line."""
    out = []
    for dest, lines in files:
        if dest.name == "agent-f1.jsonl":
            again = lines[1].replace(b'"output_tokens": 60', b'"output_tokens": 460').replace(b'"f1a"', b'"f1b"')
            assert again != lines[1]
            lines = [*lines, again]
        out.append((dest, lines))
    return out


def test_a_prune_between_a_held_request_that_grew_and_its_launch_keeps_its_growth(tmp_path):
    """The subagent's request grows in a later run than its first line; the LLM requests are forgotten (30 days),
    its lines stay held (a year); the launch then moves the request whole, its growth with it."""
    files = grown_subagent(files_of(ORCHESTRATION))
    ref = one_run(tmp_path, files)
    f1 = next(i for i, (dest, _) in enumerate(files) if dest.name == "agent-f1.jsonl")
    run(tmp_path / "runs", files, [(f1, 2), (f1, 3)], whole=False)
    conn = connect(tmp_path / "runs" / "runs.db")
    assert prune(conn, Retention(), time.time()).requests == 0  # before: 1, and the growth was lost
    conn.close()
    assert both(tmp_path / "runs", files, [(0, len(files[0][1]))], whole=False) == ref


# --- a native child task (parent_task) whose parent is a provisional Claude Code task

APP, APP_SESSION = "claude-code:/work/app", "5e550000-0000-4000-8000-000000000011"
T0 = 1772445600  # the orchestration fixture's first prompt, 2026-03-02T10:00:00Z


def child_of_provisional() -> bytes:
    """A native task run for the session's provisional task, after the session's first prompt."""
    line = lambda ts, event, **fields: json.dumps(
        {"ts": T0 + ts, "agent": "helper", "event": event, "task": "h1", **fields}
    )
    return (
        line(30, "task_start", parent_task=APP_SESSION + BEFORE_FIRST_PROMPT, parent_agent=APP)
        + "\n"
        + line(31, "llm_call", model="m", input_tokens=700, output_tokens=70, cost_usd=0.07)
        + "\n"
    ).encode()


@pytest.mark.parametrize("order", ["child-and-subagent-first", "one-run"])
def test_a_child_of_a_provisional_task_stays_with_the_task_it_names(tmp_path, order):
    """Its roll-up names its parent, as a label does: when the session's prompts place the held lines, it
    stays where the child says, whichever is read first."""
    files = files_of(ORCHESTRATION)
    root, logs, db = tmp_path / "root", tmp_path / "logs", tmp_path / "c.db"
    logs.mkdir()
    (logs / "helper.jsonl").write_bytes(child_of_provisional())
    sessions_last = sorted(files, key=lambda f: f[0].parent.name != "subagents")
    for dest, lines in sessions_last if order != "one-run" else files:
        (root / dest).parent.mkdir(parents=True, exist_ok=True)
        (root / dest).write_bytes(b"".join(lines))
        if order != "one-run":
            ingest([root / "projects", logs], db)
    ingest([root / "projects", logs], db)
    tasks = {row[1]: row for row in subagent_table(db)}
    provisional = APP_SESSION + BEFORE_FIRST_PROMPT
    assert tasks[provisional][2:5] == (1, 770, 70_000_000)  # the child, and all it spent
    assert tasks["p1"][2:6] == (3, 2650, 180_000_000, "f1 sa0 sb0")  # as read by hand (test_subagents.py)


# --- the same through the commit process, and a batch that fails and is committed again


def run_committed(tmp: Path, files: Files, steps: list[tuple[int, int]], fail: int | None = None) -> tuple:
    """As `run`, each run committing in a second process, in batches of 3 lines; `fail`: the store's own failure
    (an I/O error) in the reattribution of the fail-th batch that places held lines, once: that run stops, the
    next reads on from the last commit."""
    root, db = tmp / "root", tmp / "runs.db"
    written = [0] * len(files)
    placing = [0]
    reattribute = held_events.reattribute

    def failing(applier, prompts, facts):
        reattribute(applier, prompts, facts)
        placing[0] += 1
        if placing[0] == fail:
            raise sqlite3.OperationalError("disk I/O error")

    for i, n in steps:
        dest, lines = files[i]
        path = root / dest
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as f:
            f.write(b"".join(lines[written[i] : n]))
        written[i] = max(written[i], n)
        for _ in range(2):  # again after a failure
            with Store(db) as store:
                ingester = Ingester(store, [root / "projects"], batch_lines=3)
                ingester.parallel_bytes = 0 if fail is None else ingester.parallel_bytes  # the failure: inline
                held_events.reattribute = failing
                try:
                    ingester.run_once()
                    ingester.close()
                except AgentmonError:
                    continue
                finally:
                    held_events.reattribute = reattribute
            break
    return table(db), subagent_table(db)


@pytest.mark.parametrize("projects", [ORDER, ORCHESTRATION], ids=["order", "orchestration"])
def test_random_splits_committed_by_a_commit_process_give_the_one_run_table(tmp_path, projects):
    files = files_of(projects)
    ref = one_run(tmp_path, files)
    rng = random.Random(1414)
    for k in range(4):
        steps = random_schedule(rng, files)
        assert run_committed(tmp_path / str(k), files, steps) == ref, steps


@pytest.mark.parametrize("fail", [1, 2, 3])
def test_a_failed_batch_that_placed_held_lines_is_stored_once(tmp_path, fail):
    """The batch's held lines moved, its facts and prompts stored, then the store failed: all of it is rolled
    back, and the run after stores it once (tasks, held events and parser state)."""
    files = files_of(ORDER)
    ref = one_run(tmp_path, files)
    steps = [(i, len(lines)) for i, (_, lines) in reversed(list(enumerate(files)))]  # the subagents first
    assert run_committed(tmp_path / "runs", files, steps, fail=fail) == ref
    conn = sqlite3.connect(tmp_path / "runs" / "runs.db")
    assert conn.execute("SELECT count(*) FROM held_events").fetchone() == (0,)


# --- a label given to a provisional task, then its held subagents' cost moves


def test_a_labelled_provisional_task_gives_its_subagents_share_to_the_task_that_launched_them(tmp_path):
    """bg2 and sa1 read first: their requests (tokens, cost, the subagent count) are in the provisional task,
    which a person labels; the session's launches then move them to p1. The provisional task keeps the label
    alone, p1 its two subagents, the aggregates (orchestrated ones included) as one run with the label."""
    files = files_of(ORDER)
    shop, session = "claude-code:/work/shop", "5e550000-0000-4000-8000-000000000020"
    provisional = session + BEFORE_FIRST_PROMPT
    root, db = tmp_path / "root", tmp_path / "runs.db"
    for dest, lines in files[1:]:
        (root / dest).parent.mkdir(parents=True, exist_ok=True)
        (root / dest).write_bytes(b"".join(lines))
    ingest([root / "projects"], db)
    assert {row[1]: row[2] for row in subagent_table(db)} == {provisional: 2}
    conn = connect(db)
    labels = append_label(conn, db, shop, provisional, "success", now=2e9)
    conn.close()
    (root / files[0][0]).write_bytes(b"".join(files[0][1]))
    ingest([root / "projects"], db, extra_files=[labels])
    one = tmp_path / "one"
    for dest, lines in files:
        (one / dest).parent.mkdir(parents=True, exist_ok=True)
        (one / dest).write_bytes(b"".join(lines))
    ingest([one / "projects"], one / "one.db", extra_files=[labels])
    assert (table(db), subagent_table(db)) == (table(one / "one.db"), subagent_table(one / "one.db"))
    tasks = {row[1]: row for row in subagent_table(db)}
    assert tasks[provisional][2:6] == (0, 0, 0, None) and tasks["p1"][2:6] == (2, 565, 1_215_000, "bg2 sa1")


# --- reads that must not walk history


def children_log(logs: Path, n: int) -> None:
    """n tasks of agent orch, each with a child task of agent helper (helper only ever runs as a subagent)."""
    logs.mkdir()
    lines = []
    for i in range(n):
        ts = 1_780_000_000 + i * 60
        lines += [
            {"ts": ts, "agent": "orch", "event": "task_start", "task": f"p{i}"},
            {"ts": ts + 1, "agent": "helper", "event": "task_start", "task": f"c{i}", "parent_task": f"p{i}"}
            | {"parent_agent": "orch"},
            {"ts": ts + 2, "agent": "helper", "event": "task_end", "task": f"c{i}", "outcome": "success"},
            {"ts": ts + 3, "agent": "orch", "event": "task_end", "task": f"p{i}", "outcome": "success"},
        ]
    (logs / "a.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_listing_tasks_does_not_walk_the_child_tasks_of_a_subagent(tmp_path):
    """`agentmon tasks` and the agent screen list no child task: for an agent that only ever ran as a subagent
    they read nothing of its tasks, however many (SQLite's steps counted, for 200 and 2000 children)."""
    steps = []
    for n in (200, 2000):
        children_log(tmp_path / str(n), n)
        ingest([tmp_path / str(n)], tmp_path / f"{n}.db")
        conn = connect(tmp_path / f"{n}.db", readonly=True)
        steps.append(0)
        conn.set_progress_handler(lambda: steps.__setitem__(-1, steps[-1] + 1) or 0, 100)
        assert list_tasks(conn, "helper") == [] and len(list_tasks(conn)) == 20
        conn.close()
    assert steps[1] <= steps[0] + 2, steps  # before: 10 times as many


def orchestrated(db: Path) -> tuple:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT sum(ended), sum(orchestrated), sum(orchestrated_unlabeled), sum(orchestrated_cost_nanos),"
            " sum(subagent_cost_nanos), sum(subagent_tokens) FROM agg_total"
        ).fetchone()
    finally:
        conn.close()


def test_an_idle_ended_provisional_task_gives_back_its_orchestrated_count_when_its_lines_move(tmp_path):
    """f1 read first: its request is a provisional task's, which the idle timeout ends (the fixture is months
    old), an orchestrated task of one subagent. The session then moves it to p1: the provisional task and its
    count go, p1 (ended by the next prompt) is the one orchestrated task, as in one run."""
    files = files_of(ORCHESTRATION)
    f1 = next(i for i, (dest, _) in enumerate(files) if dest.name == "agent-f1.jsonl")
    run(tmp_path / "runs", files, [(f1, len(files[f1][1]))], whole=False)
    db = tmp_path / "runs" / "runs.db"
    assert orchestrated(db) == (1, 1, 1, 60_000_000, 60_000_000, 660)
    got = both(tmp_path / "runs", files, [(0, len(files[0][1]))], whole=False)
    assert got == one_run(tmp_path, files)
    assert orchestrated(db) == orchestrated(tmp_path / "one" / "one.db")
    assert orchestrated(db)[1:3] == (1, 1)


def test_a_claude_code_task_made_a_child_rolls_up_the_held_lines_it_receives(tmp_path):
    """A native task_start makes p1 a child of orch's task "root": what p1 has rolls up into root, the subagent
    f1's request too when the launch moves it there after the fact, as in one run."""
    files = files_of(ORCHESTRATION)
    root, logs, db = tmp_path / "root", tmp_path / "logs", tmp_path / "c.db"
    logs.mkdir()
    lines = [
        {"ts": T0 - 60, "agent": "orch", "event": "task_start", "task": "root"},
        {"ts": T0, "agent": APP, "event": "task_start", "task": "p1", "parent_task": "root", "parent_agent": "orch"},
    ]
    (logs / "orch.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    for dest, lines_ in sorted(files, key=lambda f: f[0].parent.name != "subagents"):  # f1 first: held
        (root / dest).parent.mkdir(parents=True, exist_ok=True)
        (root / dest).write_bytes(b"".join(lines_))
        ingest([root / "projects", logs], db)
    one = tmp_path / "one"
    for dest, lines_ in files:
        (one / dest).parent.mkdir(parents=True, exist_ok=True)
        (one / dest).write_bytes(b"".join(lines_))
    ingest([one / "projects", logs], one / "one.db")
    assert (table(db), subagent_table(db)) == (table(one / "one.db"), subagent_table(one / "one.db"))
    tasks = {row[1]: row for row in subagent_table(db)}
    assert tasks["root"][2:5] == (4, 2950, 200_000_000)  # p1 (all it spent) and its three subagents
