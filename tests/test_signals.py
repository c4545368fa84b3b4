"""Permission denials and API errors as leading signals, and tasks that failed on the API (docs/events.md)."""

import json
import random
import subprocess
import sys

import pytest
from conftest import agents, ingest, tasks_by_id

from agentmon import config
from agentmon.report.verdict import Evidence, Limits, drift, verdict

T0 = 1_780_000_000  # a whole hour, so the windows below are easy to reason about


def line(ts: float, event: str, task: str = "t", agent: str = "a", **fields) -> bytes:
    return json.dumps({"ts": ts, "agent": agent, "event": event, "task": task, **fields}).encode() + b"\n"


def write(path, *lines: bytes) -> None:
    path.write_bytes(b"".join(lines))


def status(db, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "agentmon.cli", "status", "--db", str(db), *args], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_permission_denials_count_by_their_own_time_and_per_task(db, logs):
    write(
        logs / "a.jsonl",
        line(T0, "task_start"),
        *(line(T0 + i, "tool_call", tool="Bash", ok=True) for i in range(1, 4)),
        line(T0 + 4, "tool_call", tool="Write", ok=True),
        line(T0 + 5, "permission_denial", tool="Write"),  # the Write above, refused by the agent's rules
        # the task ends two hours later: its denial still counts at its own time
        line(T0 + 7200, "task_end", outcome="success"),
    )
    ingest([logs], db)
    a = agents(db)["a"]
    assert (a["permission_denials"], a["tool_calls"], a["permission_denial_rate"]) == (1, 4, 0.25)
    # its own signal: neither a tool error nor a rejected confirmation
    assert (a["tool_errors"], a["confirmation_rejection_rate"]) == (0, None)
    assert tasks_by_id(db)["t"]["permission_denials"] == 1
    # the hour of the denial, and the hour of the task's end, which holds no denial
    early = agents(db, "1h", now=T0 + 1800)["a"]
    assert (early["permission_denials"], early["permission_denial_rate"]) == (1, 0.25)
    late = agents(db, "1h", now=T0 + 7300)["a"]
    assert (late["tasks"], late["permission_denials"], late["permission_denial_rate"]) == (1, 0, None)


def test_failed_requests_and_retries_are_counted_apart(db, logs):
    write(
        logs / "a.jsonl",
        line(T0, "task_start"),
        line(T0 + 1, "api_error", status="529", retry=True),
        line(T0 + 2, "api_error", status="529", retry=True),
        # the same streamed request logged twice: one request
        line(T0 + 3, "llm_call", model="claude-haiku-4-5", input_tokens=10, output_tokens=1, request_id="r1"),
        line(T0 + 3, "llm_call", model="claude-haiku-4-5", input_tokens=10, output_tokens=9, request_id="r1"),
        line(T0 + 4, "llm_call", model="claude-haiku-4-5", input_tokens=10, output_tokens=5),
        line(T0 + 5, "llm_call", model="claude-haiku-4-5", input_tokens=10, output_tokens=5),
        line(T0 + 6, "api_error", status="500"),  # the client gave up: a failed request
        line(T0 + 7, "task_end", outcome="success"),
    )
    ingest([logs], db)
    a = agents(db)["a"]
    assert (a["llm_requests"], a["api_errors"], a["api_retries"]) == (3, 1, 2)
    assert a["api_error_rate"] == 0.25  # failed requests / (requests + failed requests)
    assert tasks_by_id(db)["t"]["api_errors"] == 1
    out = status(db)
    assert "API-ERR" in out and "25.0% (2 retried)" in out


def test_requests_count_by_their_own_time(db, logs):
    write(
        logs / "a.jsonl",
        line(T0, "task_start"),
        line(T0 + 10, "llm_call", model="m", input_tokens=1, output_tokens=1, request_id="q1"),
        line(T0 + 20, "llm_call", model="m", input_tokens=1, output_tokens=1),
        line(T0 + 30, "api_error"),
    )  # the task has not ended: the API error rate moves all the same
    ingest([logs], db)
    a = agents(db, "1h", now=T0 + 60)["a"]
    assert (a["tasks"], a["llm_requests"], a["api_errors"], a["api_error_rate"]) == (0, 2, 1, pytest.approx(1 / 3))


API_FAILED_TASK = [
    line(T0, "task_start", task="dead"),
    line(T0 + 1, "api_error", task="dead", status="529", retry=True),
    line(T0 + 2, "api_error", task="dead", status="529"),
    line(T0 + 1800, "task_end", task="dead", outcome="unknown", reason="no event for 30 minutes"),
]


def test_a_task_whose_every_request_failed_is_a_failure_and_not_autonomous(db, logs):
    write(
        logs / "a.jsonl",
        *API_FAILED_TASK,
        # only a retried attempt failed: no failed request, the outcome stays unknown
        line(T0, "task_start", task="retried"),
        line(T0 + 1, "api_error", task="retried", retry=True),
        line(T0 + 900, "task_end", task="retried", outcome="unknown"),
        # a successful call besides the failed request: unknown, as the logs said
        line(T0, "task_start", task="some-ok"),
        line(T0 + 1, "api_error", task="some-ok"),
        line(T0 + 2, "llm_call", task="some-ok", model="m", input_tokens=1, output_tokens=1),
        line(T0 + 900, "task_end", task="some-ok", outcome="unknown"),
    )
    ingest([logs], db)
    rows = tasks_by_id(db)
    assert (rows["dead"]["outcome"], rows["dead"]["reason"]) == ("failure", "failed on the API")
    assert rows["retried"]["outcome"] == rows["some-ok"]["outcome"] == "unknown"
    a = agents(db)["a"]
    assert (a["tasks"], a["unlabeled_tasks"], a["successes"]) == (3, 2, 0)
    assert a["task_success_rate"] == 0.0  # the one task with a known outcome failed
    assert a["autonomy_rate"] == pytest.approx(2 / 3)  # the dead task did nothing, autonomously or not


def test_a_persons_label_wins_over_failed_on_the_api(db, logs):
    label = line(T0 + 1800, "task_end", task="dead", outcome="success", labeled_at=T0 + 99999)
    write(logs / "a.jsonl", *API_FAILED_TASK, label)
    ingest([logs], db)
    assert tasks_by_id(db)["dead"]["outcome"] == "success"
    a = agents(db)["a"]
    assert (a["successes"], a["unlabeled_tasks"], a["autonomy_rate"]) == (1, 0, 1.0)


@pytest.mark.parametrize("seed", range(8))
def test_failed_on_the_api_depends_on_no_order(tmp_path, seed):
    """A late successful call undoes it, a late failed request makes it, whatever order lines arrive in."""
    lines = [
        *API_FAILED_TASK,
        line(T0 + 5, "llm_call", task="dead", model="m", input_tokens=1, output_tokens=1),  # not dead after all
        line(T0, "task_start", task="late-error"),
        line(T0 + 600, "task_end", task="late-error", outcome="unknown", reason="idle"),
        line(T0 + 700, "api_error", task="late-error"),
        line(T0 + 1, "api_error", task="labeled", status="529"),
        line(T0 + 900, "task_end", task="labeled", outcome="unknown", reason="idle"),
        line(T0 + 900, "task_end", task="labeled", outcome="abandoned", labeled_at=T0 + 5000),
    ]
    expected = {
        "dead": ("unknown", "no event for 30 minutes"),
        "late-error": ("failure", "failed on the API"),
        "labeled": ("abandoned", None),
    }
    rng = random.Random(seed)
    rng.shuffle(lines)
    logs = tmp_path / "logs"
    logs.mkdir()
    db = tmp_path / "agentmon.db"
    for i, chunk in enumerate((lines[:4], lines[4:])):  # two rounds: a task's state is reloaded between them
        write(logs / f"part{i}.jsonl", *chunk)
        ingest([logs], db, batch_lines=rng.choice([1, 3, 100]))
    rows = tasks_by_id(db)
    assert {t: (r["outcome"], r["reason"]) for t, r in rows.items()} == expected
    a = agents(db)["a"]
    assert (a["tasks"], a["unlabeled_tasks"], a["autonomy_rate"]) == (3, 1, pytest.approx(2 / 3))


def test_the_verdict_weighs_denials_and_api_errors_against_their_limits():
    base = dict(labeled=100, successes=95, ended=100, autonomous=90, seen=100, escalated=2)
    go, _ = verdict(Evidence(**base, tool_calls=1000, tool_errors=5, api_attempts=1000))
    assert go == "go"
    v, reasons = verdict(Evidence(**base, tool_calls=1000, tool_errors=5, permission_denials=120))
    assert v == "no-go" and reasons[0].startswith("permission-denial rate 12.0% (95% CI")
    assert "above the 5.0% limit" in reasons[0]
    v, reasons = verdict(Evidence(**base, tool_calls=1000, api_errors=60, api_attempts=1000))
    assert v == "no-go" and reasons[0].startswith("API error rate 6.0% (95% CI") and "2.0% limit" in reasons[0]
    # per-agent limits, as agentmon.toml sets them
    v, _ = verdict(Evidence(**base, tool_calls=1000, api_errors=60, api_attempts=1000), Limits(api_error_rate=0.1))
    assert v == "go"


def test_denials_and_api_errors_drift_like_the_other_leading_signals():
    recent = Evidence(tool_calls=200, permission_denials=30, api_errors=25, api_attempts=200)
    baseline = Evidence(tool_calls=5000, permission_denials=50, api_errors=40, api_attempts=5000)
    reasons = drift(recent, baseline, "in the last hour", "in the week before")
    assert [r.split(" drifting")[0] for r in reasons] == ["permission denials", "API errors"]
    # a source that logs denials without their tool calls still gives a rate of at most 100%
    assert drift(Evidence(permission_denials=40), baseline, "now", "before")[0].startswith(
        "permission denials drifting up: 100.0%"
    )


def test_the_new_limits_are_set_in_agentmon_toml(tmp_path, monkeypatch):
    path = tmp_path / "agentmon.toml"
    monkeypatch.setenv("AGENTMON_CONFIG", str(path))
    path.write_text('[defaults]\npermission_denial_rate = 0.2\n[agents."ci-*"]\napi_error_rate = 0.1\n')
    limits = config.load().limits_for("ci-bot")
    assert (limits.permission_denial_rate, limits.api_error_rate) == (0.2, 0.1)
    assert (Limits().permission_denial_rate, Limits().api_error_rate) == (0.05, 0.02)
    path.write_text("[defaults]\napi_error_rate = 2\n")
    with pytest.raises(Exception, match="is a share between 0 and 1"):
        config.load()
