"""The verdict reacts to calibration (docs/success.md, the verdict): an inferred success rate counts only once the
rule agrees with people's labels on enough of the agent's labelled tasks; until then the verdict holds and says
what to do. An inferred rate with no label behind it never moves a verdict to go."""

from __future__ import annotations

import json
import random

import pytest
from conftest import cli, ingest
from test_claude_code_evidence import Transcript

from agentmon.report.verdict import Evidence, Limits, verdict

AGENT = "claude-code:/work/app"


def inferred(**changes) -> Evidence:
    """500 tasks comfortably inside every default limit, their success inferred, none labelled."""
    e = Evidence(
        labeled=0,
        inferred=500,
        inferred_successes=475,
        ended=500,
        autonomous=450,
        seen=500,
        escalated=15,
        tool_calls=2000,
        tool_errors=20,
        asked=200,
        rejections=6,
    )
    for k, v in changes.items():
        setattr(e, k, v)
    return e


@pytest.mark.parametrize(
    "evidence, limits, expected, reason",
    [
        (inferred(), Limits(), "hold", "inferred success not yet checked: label 20 tasks"),
        (
            inferred(labeled=8, successes=8, calibrated_decided=6, calibrated_agreeing=6),
            Limits(),
            "hold",
            "inferred success not yet checked: label 14 more tasks (agentmon tasks --unlabeled --disagreeing)",
        ),
        (
            inferred(labeled=20, successes=20, calibrated_decided=19, calibrated_agreeing=19),
            Limits(),
            "hold",
            "inferred success not yet checked: label 1 more task (agentmon",
        ),
        (
            inferred(labeled=50, successes=40, calibrated_decided=50, calibrated_agreeing=39),
            Limits(min_tasks=60),
            "hold",
            "inferred success disagrees with your labels: 78% agreement over 50 labelled tasks, 90% needed"
            " (agentmon calibrate)",
        ),
        (
            inferred(labeled=20, successes=19, calibrated_decided=20, calibrated_agreeing=19),
            Limits(),
            "go",
            "every limit met with 95% confidence over 520 tasks",
        ),
        (
            inferred(labeled=5, successes=5, calibrated_decided=5, calibrated_agreeing=5),
            Limits(calibration_min_labels=5, calibration_min_agreement=1.0),
            "go",
            "over 505 tasks",
        ),
        (  # calibrated, the inferred outcomes count: and say the agent fails
            inferred(inferred_successes=380, labeled=20, successes=19, calibrated_decided=20, calibrated_agreeing=19),
            Limits(),
            "no-go",
            "success 76.7%",
        ),
    ],
)
def test_the_verdict_counts_an_inferred_rate_only_once_calibrated(evidence, limits, expected, reason):
    got, reasons = verdict(evidence, limits)
    assert got == expected, reasons
    assert reason in reasons[0], reasons


def test_an_inferred_rate_on_an_agent_with_no_labels_never_moves_a_verdict_to_go():
    rng = random.Random(15)
    for _ in range(2000):
        n = rng.randint(1, 5000)
        e = inferred(
            inferred=n,
            inferred_successes=rng.randint(0, n),
            ended=n,
            autonomous=n,
            seen=n,
            escalated=0,
            tool_calls=n,
            tool_errors=0,
            asked=n,
            rejections=0,
        )
        limits = Limits(
            min_tasks=rng.randint(0, 40),
            calibration_min_labels=rng.randint(0, 30),  # 0 is refused by agentmon.toml; still no go
            calibration_min_agreement=rng.choice((0.0, 0.5, 0.9, 1.0)),
        )
        got, reasons = verdict(e, limits)
        assert got != "go", (e, limits, reasons)


def test_with_enough_labels_an_unchecked_rule_leaves_the_verdict_to_the_labels():
    """30 labelled tasks judge the agent as before, whatever the rule says of the others."""
    e = inferred(labeled=500, successes=475, inferred_successes=10, calibrated_decided=3, calibrated_agreeing=0)
    got, reasons = verdict(e, Limits())
    assert got == "go" and "over 500 tasks" in reasons[-1], reasons


def _status(cli, db) -> dict:
    (a,) = [a for a in json.loads(cli("status", "--json", "--db", db))["agents"] if a["agent"] == AGENT]
    return a


def test_status_shows_the_calibration_and_the_verdict_reacts_to_it(tmp_path, monkeypatch):
    config = tmp_path / "agentmon.toml"
    config.write_text("[defaults]\nmin_tasks = 5\ncalibration_min_labels = 4\ncalibration_min_agreement = 0.75\n")
    monkeypatch.setenv("AGENTMON_CONFIG", str(config))
    t = Transcript()
    for i in range(12):  # each thanked by the next: inferred successes, but the last (no next prompt)
        t.prompt(f"thanks, now task {i}" if i else "task 0", f"p{i}").say("Done.")
    db = tmp_path / "agentmon.db"
    projects = t.write(tmp_path)
    ingest([projects], db)
    before = _status(cli, db)
    assert before["verdict"] == "hold"
    assert before["reasons"] == [
        "inferred success not yet checked: label 4 tasks (agentmon tasks --unlabeled --disagreeing)"
    ]
    c = before["calibration"]
    assert (c["labeled"], c["decided"], c["agreement"], c["enough"]) == (0, 0, None, False)
    assert (c["min_labels"], c["min_agreement"]) == (4, 0.75)

    labels = tmp_path / "agentmon.labels.jsonl"
    for task, outcome in (("p0", "success"), ("p1", "failure")):
        cli("label", AGENT, task, outcome, "--db", db)
    ingest([projects, labels], db)
    half = _status(cli, db)
    assert half["reasons"] == [
        "inferred success not yet checked: label 2 more tasks (agentmon tasks --unlabeled --disagreeing)"
    ]
    for task in ("p2", "p3"):
        cli("label", AGENT, task, "failure", "--db", db)
    ingest([projects, labels], db)
    wrong = _status(cli, db)
    assert wrong["verdict"] == "hold"
    assert wrong["reasons"] == [
        "inferred success disagrees with your labels: 25% agreement over 4 labelled tasks, 75% needed"
        " (agentmon calibrate)"
    ]
    c = wrong["calibration"]
    assert c["matrix"]["failure"] == {"success": 3, "failure": 0, "unknown": 0}
    assert (c["decided"], c["agreeing"], c["enough"], c["failure_recall"]) == (4, 1, False, 0.0)
    assert c["failure_recall_ci"][1] > 0.3 and c["failure_precision"] is None

    for task in ("p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"):
        cli("label", AGENT, task, "success", "--db", db)
    ingest([projects, labels], db)
    right = _status(cli, db)
    c = right["calibration"]
    assert (c["decided"], c["agreeing"], c["enough"]) == (9, 9, True)
    assert right["verdict"] != "hold" or "inferred success" not in " ".join(right["reasons"]), right["reasons"]
    assert right["verdict"] == "go", right["reasons"]


def test_an_agent_whose_success_is_not_inferred_has_no_calibration(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from agentmon.cli import main

    config = tmp_path / "agentmon.toml"
    config.write_text('[agents."claude-code:*"]\nsuccess = "outcome"\n')
    monkeypatch.setenv("AGENTMON_CONFIG", str(config))
    t = Transcript()
    t.prompt("task 0", "p0").say("Done.")
    db = tmp_path / "agentmon.db"
    ingest([t.write(tmp_path)], db)
    out = CliRunner().invoke(main, ["status", "--json", "--db", str(db)]).output
    (a,) = [a for a in json.loads(out)["agents"] if a["agent"] == AGENT]
    assert a["calibration"] is None


def test_the_verdict_reads_the_labelled_tasks_alone_through_their_index(tmp_path):
    """The calibration the verdict needs costs what the labels number: no read of `tasks` scans it."""
    import re

    from agentmon.report.metrics import snapshot
    from agentmon.store.writer import connect

    t = Transcript()
    for i in range(3):
        t.prompt(f"thanks, now task {i}" if i else "task 0", f"p{i}").say("Done.")
    db = tmp_path / "agentmon.db"
    ingest([t.write(tmp_path)], db)
    conn = connect(db, readonly=True)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    snapshot(conn, "all")
    conn.set_trace_callback(None)
    reads = [s for s in statements if s.lstrip().startswith("SELECT") and re.search(r"\btasks\b", s)]
    assert reads
    for sql in reads:
        plan = " | ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, ("x",) * sql.count("?")))
        assert "tasks_labeled" in plan and "SCAN tasks" not in plan, (sql, plan)


@pytest.mark.parametrize(
    "decided, agreeing, enough, words",
    [
        (0, 0, False, "inferred vs your labels: none to compare yet; needs 20, not counted"),
        (5, 4, False, "inferred vs your labels: 4 of 5 agree (80%); needs 20, not counted yet"),
        (40, 30, False, "inferred vs your labels: 30 of 40 agree (75%); needs 90%, not counted"),
        (20, 19, True, "inferred vs your labels: 19 of 20 agree (95%): counted"),
    ],
)
def test_the_calibration_in_one_line_for_a_person(decided, agreeing, enough, words):
    from agentmon.report.calibration import calibration_words

    summary = {"decided": decided, "agreeing": agreeing, "min_labels": 20, "min_agreement": 0.9, "enough": enough}
    assert calibration_words(summary) == words


def test_disagreeing_lists_conflicting_evidence_then_undecided_tasks_first(tmp_path):
    t = Transcript()
    t.prompt("task a", "pa").say("Done.")
    t.prompt("next b", "pb").use("Edit", "e1", file_path="x")  # pa: moved on, success; pb: cut off, unknown
    t.prompt("next c", "pc").use("Bash", "c1", command="pytest -q").result("c1", "Exit code 1\n4 failed", is_error=True)
    t.say("Tests fail.")
    t.prompt("thanks, and d", "pd").say("Done.")  # pc: thanked, yet tests failed: conflicting, success
    t.prompt("next e", "pe").say("Done.")  # pd: moved on, success
    db = tmp_path / "agentmon.db"
    ingest([t.write(tmp_path)], db)
    plain = [r["task"] for r in json.loads(cli("tasks", "--unlabeled", "--json", "--db", db))]
    assert plain[:4] == ["pe", "pd", "pc", "pb"]  # newest first
    rows = json.loads(cli("tasks", "--unlabeled", "--disagreeing", "--json", "--db", db))
    assert [r["task"] for r in rows] == ["pc", "pe", "pb", "pd", "pa"]  # conflicting, undecided, the rest
    pc = rows[0]
    assert (pc["inferred"], pc["conflict"]) == (
        "success",
        "the next prompt thanked it; but: tests failed, a tool error was left unresolved",
    )
    assert rows[1]["conflict"] is None and rows[1]["inferred"] == "unknown"
    assert json.loads(cli("tasks", "--disagreeing", "--json", "--db", db))[0]["task"] == "pc"  # implies --unlabeled
    table = cli("tasks", "--disagreeing", "--db", db)
    assert "success: the next prompt thanked it (evidence conflicts)" in table
    said = " ".join(cli("tasks", "--help").split())  # as wrapped for the terminal
    assert (
        "first those whose evidence points both ways" in said and "then those the inferred rule leaves unknown" in said
    )


def test_golden_export_includes_inferred_failures_with_their_evidence(tmp_path):
    """The seed's loop closes: a task the rule says failed is a candidate case, marked inferred, with the
    evidence it rests on; a task it says succeeded, or a labelled one, is not."""
    from click.testing import CliRunner

    from agentmon.cli import main

    def export(*args) -> list[dict]:
        result = CliRunner().invoke(main, ["golden", "export", "--agent", AGENT, "--db", str(db), *args])
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]

    t = Transcript()
    t.prompt("task a", "pa").say("Done.")
    t.prompt("oops, that is wrong", "pb").say("Fixed.")  # pa: inferred failure (a correction)
    t.prompt("next c", "pc").use("Bash", "c1", command="pytest -q").result("c1", "Exit code 1\n2 failed", is_error=True)
    t.say("Two tests fail.")  # pb: moved on, success
    t.prompt("no, still wrong", "pd").say("Sorry.")  # pc: inferred failure (a correction), pd: no next prompt
    db = tmp_path / "agentmon.db"
    projects = t.write(tmp_path)
    ingest([projects], db)
    cases = export()
    assert [c["task"] for c in cases] == ["pa", "pc"]
    pa, pc = cases
    assert (pa["outcome"], pa["inferred"], pa["inferred_reason"]) == (
        "unknown",
        "failure",
        "failure: the next prompt was a correction",
    )
    assert pa["evidence"] == {"ending": "answered", "next_prompt": "correction"}
    assert pc["evidence"]["check_kind"] == "test" and pc["evidence"]["check_ok"] == 0
    assert export("--no-inferred") == []
    CliRunner().invoke(main, ["label", AGENT, "pa", "success", "--db", str(db)])
    ingest([projects, tmp_path / "agentmon.labels.jsonl"], db)
    assert [c["task"] for c in export()] == ["pc"]  # a label wins over the rule
