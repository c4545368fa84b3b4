"""Alerts: a verdict change reaches a webhook on loopback and a command, from the ingesting session, without
holding ingest up; failed deliveries are retried with backoff (a webhook down for a minute, on a controlled
clock), flapping is debounced, and a restart remembers what was alerted."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from waiting import wait_for

from agentmon import config
from agentmon.alerts import health as alert_health
from agentmon.alerts.delivery import QUEUE_LIMIT, Courier, Deliveries, Webhook
from agentmon.alerts.judge import Judgement
from agentmon.alerts.message import Alert
from agentmon.alerts.settings import AlertSettings
from agentmon.alerts.watcher import AlertWatcher, state_path
from agentmon.cli import main
from agentmon.errors import AgentmonError
from agentmon.report.verdict import Limits
from agentmon.session import IngestSession

HOSTILE = 'pay"\n<!channel> $(touch pwned) `id` ; rm -rf x \u202e'
ONE_TASK_IS_ENOUGH = Limits(min_tasks=1)


class Hook:
    """A webhook on loopback that records what is POSTed and answers `status(n)` to the n-th request."""

    def __init__(self, status=lambda n: 200, hang: threading.Event | None = None) -> None:
        self.bodies: list[dict] = []
        self.requests = 0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.requests += 1
                if hang is not None:
                    hang.wait()
                code = status(hook.requests)
                if code == 200:
                    hook.bodies.append(json.loads(body))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def task_lines(agent: str, task: str, outcome: str, ts: float) -> str:
    a = json.dumps(agent)
    return (
        f'{{"ts":{ts},"agent":{a},"event":"task_start","task":"{task}"}}\n'
        f'{{"ts":{ts + 1},"agent":{a},"event":"task_end","task":"{task}","outcome":"{outcome}"}}\n'
    )


def alert(agent: str = "a", old: str | None = "go", new: str = "no-go") -> Alert:
    return Alert("verdict", agent, old, new, ("success 0.0% below the 85.0% limit",), 1_780_000_000, "24h")


# --- end to end: the ingesting session --------------------------------------------------------------


def test_a_verdict_change_reaches_the_webhook_and_the_command_within_5_s(tmp_path, db, hook):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "events.jsonl"
    now = time.time()
    log.write_text(task_lines(HOSTILE, "t0", "success", now - 60))
    out = tmp_path / "command-got.jsonl"
    writer = (
        f"import os,sys; f = open({str(out)!r}, 'ab'); f.write(sys.stdin.buffer.read() + b'\\n'); "
        "f.write(os.environ['AGENTMON_ALERT_AGENT'].encode() + b'\\n')"
    )
    settings = AlertSettings(webhook=hook.url, command=(sys.executable, "-c", writer))
    session = IngestSession(
        db, [logs], follow=True, alerts=settings, limits_for=lambda agent: ONE_TASK_IS_ENOUGH, clock=time.time
    )
    with session:
        worker = threading.Thread(target=session.follow, daemon=True)
        worker.start()
        try:
            assert wait_for(lambda: state_path(db).exists())  # the baseline, after the first pass: go
            assert json.loads(state_path(db).read_text())["agents"][HOSTILE]["verdict"] == "go"
            assert hook.bodies == []
            changed = time.monotonic()
            with log.open("a") as f:
                f.write("".join(task_lines(HOSTILE, f"t{i}", "failure", now - 30) for i in range(1, 6)))
            assert wait_for(lambda: hook.bodies)
            took = time.monotonic() - changed
            assert wait_for(lambda: out.exists() and out.read_bytes().count(b"\n") >= 2)
        finally:
            session.stop()
            worker.join()
    assert took < 5, f"the alert took {took:.1f} s"
    (body,) = hook.bodies
    assert (body["kind"], body["agent"], body["from"], body["to"], body["window"]) == (
        "verdict",
        HOSTILE,
        "go",
        "no-go",
        "24h",
    )
    assert body["reasons"] and body["reasons"][0].startswith("success 16.7%")
    assert time.strptime(body["at"], "%Y-%m-%dT%H:%M:%SZ")
    assert "GO → NO-GO" in body["text"] and "&lt;!channel&gt;" in body["text"] and "<!channel>" not in body["text"]
    assert "\n<" not in body["text"] and "\\x0a" in body["text"]  # the name's newline shown, not acted on
    stdin, env_agent = out.read_bytes().split(b"\n")[:2]
    assert json.loads(stdin) == body
    assert env_agent.decode() == HOSTILE.split("\n")[0]  # the first line of the variable, as written
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_the_session_delivers_agentmon_toml_alerts_and_ingest_goes_on_while_the_webhook_hangs(
    tmp_path, db, monkeypatch
):
    hang = threading.Event()
    h = Hook(hang=hang)
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "events.jsonl"
    now = time.time()
    log.write_text(task_lines("a", "t0", "success", now - 60))
    toml = tmp_path / "agentmon.toml"
    toml.write_text(f'[defaults]\nmin_tasks = 1\n[alerts]\nwebhook = "{h.url}"\ncheck_seconds = 0.1\n')
    monkeypatch.setenv("AGENTMON_CONFIG", str(toml))
    cfg = config.load()
    session = IngestSession(db, [logs], follow=True, alerts=cfg.alerts, limits_for=cfg.limits_for)  # as `watch`
    with session:
        worker = threading.Thread(target=session.follow, daemon=True)
        worker.start()
        try:
            assert wait_for(lambda: state_path(db).exists())
            with log.open("a") as f:
                f.write("".join(task_lines("a", f"t{i}", "failure", now - 30) for i in range(1, 6)))
            assert wait_for(lambda: h.requests == 1)  # the webhook holds the request…
            with log.open("a") as f:
                f.write(task_lines("b", "t9", "success", now - 10))
            assert wait_for(lambda: sum(s.events for s in session.stats()) >= 14)  # …and ingest goes on
        finally:
            hang.set()
            session.stop()
            worker.join()
    assert wait_for(lambda: h.bodies) and h.bodies[0]["to"] == "no-go"
    h.close()


# --- deliveries ---------------------------------------------------------------------------------------


class FakeTime:
    """A monotonic clock that a wait moves on at once: a minute of backoff costs no time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False


def test_a_webhook_down_for_a_minute_gets_the_alert_when_it_is_back():
    clock = FakeTime()
    h = Hook(status=lambda n: 500 if clock.now < 60 else 200)
    stopping = threading.Event()
    courier = Courier(Webhook(h.url, 5), AlertSettings(webhook=h.url), stopping, clock, clock.wait)
    courier.thread.start()
    courier.put(alert())
    try:
        assert wait_for(lambda: courier.sent == 1)
    finally:
        stopping.set()
        courier.wake()
        h.close()
    assert [b["to"] for b in h.bodies] == ["no-go"]
    assert clock.waits == [1, 2, 4, 8, 16, 32]  # doubling from retry_seconds: 63 s of backoff
    assert (courier.attempts, courier.dropped, courier.last_error) == (7, 0, "webhook answered HTTP 500")


def test_backoff_is_capped_and_a_delivery_is_dropped_after_give_up_seconds():
    clock = FakeTime()
    h = Hook(status=lambda n: 503)
    stopping = threading.Event()
    settings = AlertSettings(webhook=h.url, retry_max_seconds=10, give_up_seconds=45)
    courier = Courier(Webhook(h.url, 5), settings, stopping, clock, clock.wait)
    courier.thread.start()
    courier.put(alert())
    try:
        assert wait_for(lambda: courier.dropped == 1)
    finally:
        stopping.set()
        courier.wake()
        h.close()
    assert clock.waits == [1, 2, 4, 8, 10, 10, 10]  # 45 s: the next would end past give_up_seconds
    assert courier.sent == 0 and courier.pending() == 0


def test_a_failing_webhook_recovers_in_real_time_with_a_short_backoff_and_keeps_the_order():
    h = Hook(status=lambda n: 500 if n <= 3 else 200)
    stopping = threading.Event()
    deliveries = Deliveries(AlertSettings(webhook=h.url, retry_seconds=0.01, retry_max_seconds=0.05), stopping)
    deliveries.start()
    deliveries.put(alert("first"))
    deliveries.put(alert("second"))
    try:
        assert wait_for(lambda: len(h.bodies) == 2)
    finally:
        stopping.set()
        deliveries.close()
        h.close()
    assert [b["agent"] for b in h.bodies] == ["first", "second"]
    assert h.requests == 5


def test_a_4xx_is_not_retried_and_a_missing_command_is_reported():
    h = Hook(status=lambda n: 404)
    stopping = threading.Event()
    settings = AlertSettings(webhook=h.url, command=("/nonexistent/agentmon-alert-command",))
    deliveries = Deliveries(settings, stopping)
    deliveries.start()
    deliveries.put(alert())
    try:
        assert wait_for(lambda: all(c.dropped == 1 for c in deliveries.couriers))
    finally:
        stopping.set()
        deliveries.close()
        h.close()
    webhook, command = deliveries.couriers
    assert (h.requests, webhook.attempts, webhook.last_error) == (1, 1, "webhook answered HTTP 404")
    assert command.last_error == "command not found: /nonexistent/agentmon-alert-command"


def test_putting_never_waits_for_a_hung_webhook_and_the_queue_keeps_the_newest():
    hang = threading.Event()
    h = Hook(hang=hang)
    stopping = threading.Event()
    courier = Courier(Webhook(h.url, 30), AlertSettings(webhook=h.url), stopping)
    courier.thread.start()
    courier.put(alert("held"))
    assert wait_for(lambda: h.requests == 1)
    for i in range(QUEUE_LIMIT + 5):
        courier.put(alert(f"a{i}"))  # returns at once, the webhook still holding the first request
    assert courier.dropped == 5 and courier.pending() == QUEUE_LIMIT
    stopping.set()
    hang.set()
    courier.wake()
    h.close()


# --- what is alerted: baseline, debounce, flapping, restarts, drift ------------------------------------


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def watcher(db: Path, ticks: Ticks, **settings) -> AlertWatcher:
    s = AlertSettings(webhook="http://127.0.0.1:9/", **settings)
    return AlertWatcher(db, s, threading.Event(), lambda a: Limits(), clock=lambda: 1_780_000_000, monotonic=ticks)


def j(verdict: str, *drifting: str) -> Judgement:
    return Judgement(verdict, (f"{verdict} because",), {d: f"{d} drifting up: …" for d in drifting})


def changes(w: AlertWatcher, ticks: Ticks, at: float, fleet: dict[str, Judgement]) -> list[tuple]:
    ticks.now = at
    return [(a.kind, a.agent, a.old, a.new, a.signals) for a in w._changes(fleet, at)]


def test_the_first_judgement_is_the_baseline_then_changes_and_new_no_go_agents_alert(db):
    t = Ticks()
    w = watcher(db, t)
    assert changes(w, t, 0, {"a": j("go"), "b": j("no-go")}) == []  # alerts just turned on
    assert changes(w, t, 2, {"a": j("hold"), "b": j("no-go"), "c": j("hold"), "d": j("no-go")}) == [
        ("verdict", "a", "go", "hold", ()),
        ("verdict", "d", None, "no-go", ()),
    ]


def test_a_verdict_must_settle_and_a_flapping_agent_is_rate_limited(db):
    t = Ticks()
    w = watcher(db, t, settle_seconds=10, min_gap_seconds=300)
    changes(w, t, 0, {"a": j("go")})
    assert changes(w, t, 2, {"a": j("hold")}) == []
    assert changes(w, t, 8, {"a": j("go")}) == []  # back before it settled: nothing
    assert changes(w, t, 10, {"a": j("hold")}) == []
    assert changes(w, t, 20, {"a": j("hold")}) == [("verdict", "a", "go", "hold", ())]
    assert changes(w, t, 40, {"a": j("go")}) == []  # flapping: it waits for the gap…
    assert changes(w, t, 60, {"a": j("hold")}) == []
    assert changes(w, t, 200, {"a": j("hold")}) == []
    assert changes(w, t, 330, {"a": j("hold")}) == []  # …and came back to what was alerted: nothing
    assert changes(w, t, 340, {"a": j("no-go")}) == []
    assert changes(w, t, 350, {"a": j("no-go")}) == [("verdict", "a", "hold", "no-go", ())]


def test_a_restart_neither_realerts_nor_misses_a_change_made_while_it_was_down(db):
    t = Ticks()
    w = watcher(db, t)
    changes(w, t, 0, {"a": j("go"), "b": j("hold")})
    assert changes(w, t, 2, {"a": j("no-go"), "b": j("hold")}) == [("verdict", "a", "go", "no-go", ())]
    again = watcher(db, t)  # the process restarted: same database, same state file
    assert changes(again, t, 3, {"a": j("no-go"), "b": j("go")}) == [("verdict", "b", "hold", "go", ())]
    state_path(db).write_text("{not json")
    damaged = watcher(db, t)
    assert changes(damaged, t, 4, {"a": j("go"), "b": j("go")}) == []  # a new baseline


def test_drift_alerts_once_per_signal_that_starts_drifting_when_asked(db):
    t = Ticks()
    quiet = watcher(db, t)
    changes(quiet, t, 0, {"a": j("go")})
    assert changes(quiet, t, 1, {"a": j("go", "tool errors")}) == []  # on_drift off
    state_path(db).unlink()
    w = watcher(db, t, on_drift=True, min_gap_seconds=0)
    changes(w, t, 0, {"a": j("go")})
    assert changes(w, t, 1, {"a": j("hold", "escalations")}) == [
        ("verdict", "a", "go", "hold", ()),
        ("drift", "a", None, "hold", ("escalations",)),
    ]
    assert changes(w, t, 2, {"a": j("hold", "escalations", "tool errors")}) == [
        ("drift", "a", None, "hold", ("tool errors",))
    ]
    assert changes(w, t, 3, {"a": j("hold", "tool errors")}) == []
    assert changes(w, t, 4, {"a": j("hold", "escalations", "tool errors")}) == [
        ("drift", "a", None, "hold", ("escalations",))
    ]


# --- agentmon.toml -----------------------------------------------------------------------------------


def test_the_alerts_section_is_read_and_checked(tmp_path, monkeypatch):
    toml = tmp_path / "agentmon.toml"
    monkeypatch.setenv("AGENTMON_CONFIG", str(toml))
    toml.write_text(
        '[alerts]\nwebhook = "https://hooks.example/x"\ncommand = "notify \'agent alert\'"\nwindow = "1h"\n'
    )
    a = config.load().alerts
    assert a is not None and a.enabled
    assert (a.webhook, a.command, a.window, a.on_drift, a.check_seconds) == (
        "https://hooks.example/x",
        ("notify", "agent alert"),
        "1h",
        False,
        2.0,
    )
    for text, says in (
        ('[alerts]\nwebhok = "x"', "unknown setting `alerts.webhok`"),
        ('[alerts]\nwebhook = "ftp://x"', "`alerts.webhook` must be an http:// or https:// URL"),
        ('[alerts]\nwebhook = "https://hooks.example:443x/T0/secret"', "`alerts.webhook` must be an http:// or https"),
        ("[alerts]\ncommand = 3", "`alerts.command` must be a string or a list of strings"),
        ("[alerts]\ncommand = []", "`alerts.command` is empty"),
        ('[alerts]\nwindow = "2h"', "`alerts.window` must be one of 1h, 24h, 7d, 30d, all"),
        ("[alerts]\nretry_seconds = 0", "`alerts.retry_seconds` must be above 0"),
        ("[alerts]\nmin_gap_seconds = -1", "`alerts.min_gap_seconds` must be 0 or more"),
        ('[alerts]\non_drift = "yes"', "`alerts.on_drift` must be a bool"),
    ):
        toml.write_text(text + "\n")
        with pytest.raises(AgentmonError) as e:
            config.load()
        assert says in str(e.value), text
    toml.write_text("[alerts]\n")
    assert config.load().alerts == AlertSettings() and not AlertSettings().enabled


def test_ingest_follow_delivers_the_alerts_of_agentmon_toml(tmp_path, db, hook):
    """The command a team runs as a service: `agentmon ingest --follow`, configured by agentmon.toml alone."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "events.jsonl"
    now = time.time()
    log.write_text(task_lines("refund-agent", "t0", "success", now - 60))
    toml = tmp_path / "agentmon.toml"
    toml.write_text(f'[defaults]\nmin_tasks = 1\n[alerts]\nwebhook = "{hook.url}"\ncheck_seconds = 0.2\n')
    cmd = [
        sys.executable,
        "-m",
        "agentmon.cli",
        "--config",
        str(toml),
        "ingest",
        "--follow",
        "--db",
        str(db),
        str(logs),
    ]
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: state_path(db).exists() and "refund-agent" in state_path(db).read_text())
        with log.open("a") as f:
            f.write("".join(task_lines("refund-agent", f"t{i}", "failure", now - 30) for i in range(1, 6)))
        assert wait_for(lambda: hook.bodies)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert [(b["agent"], b["from"], b["to"]) for b in hook.bodies] == [("refund-agent", "go", "no-go")]


# --- when alerts do not get through -------------------------------------------------------------------


def cli(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_a_failing_webhook_is_shown_by_status_and_said_on_stderr_until_it_delivers_again(tmp_path, db):
    """The pager silent must not look like a quiet fleet: the delivering process writes each target's health
    beside the database; `status` (text and JSON) shows it from there, and the service's stderr says when it
    starts failing and when it recovers."""
    up = threading.Event()
    h = Hook(status=lambda n: 200 if up.is_set() else 503)
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "events.jsonl"
    now = time.time()
    log.write_text(task_lines("refund-agent", "t0", "success", now - 60))
    settings = AlertSettings(webhook=h.url, check_seconds=0.05, retry_seconds=0.05, retry_max_seconds=0.1)
    said: list[str] = []
    session = IngestSession(
        db, [logs], follow=True, alerts=settings, limits_for=lambda agent: ONE_TASK_IS_ENOUGH, say=said.append
    )
    with session:
        worker = threading.Thread(target=session.follow, daemon=True)
        worker.start()
        try:
            assert wait_for(lambda: state_path(db).exists())
            with log.open("a") as f:
                f.write("".join(task_lines("refund-agent", f"t{i}", "failure", now - 30) for i in range(1, 6)))
            failing = lambda: [t for t in (alert_health.read(state_path(db)) or alert_health.AlertsHealth()).targets]
            assert wait_for(lambda: any(t.failing_since is not None for t in failing()))
            out = cli("status", "--db", str(db))
            assert "alerts to the webhook failing for" in out.output and "(1 waiting)" in out.output
            assert "webhook answered HTTP 503" in out.output and h.url not in out.output  # the URL may be a secret
            doc = json.loads(cli("status", "--db", str(db), "--json").output)["alerts"]
            (target,) = doc["targets"]
            assert (target["target"], target["sent"], target["waiting"]) == ("webhook", 0, 1)
            assert target["failing_since"] is not None and target["last_error"] == "webhook answered HTTP 503"
            assert said == ["alerts to the webhook failing, retrying: webhook answered HTTP 503"]
            up.set()
            assert wait_for(lambda: h.bodies and not any(t.failing_since for t in failing()))
            assert "alerts to the" not in cli("status", "--db", str(db)).output
            assert said[-1] == "alerts to the webhook delivered again"
        finally:
            up.set()
            session.stop()
            worker.join()
    h.close()


def test_health_words_for_each_kind_of_trouble():
    t = alert_health.TargetHealth
    now = 1_780_000_000.0
    fine = alert_health.AlertsHealth((t("webhook", 3, 0, 0, None, "webhook: timed out"),))
    assert alert_health.problems(fine, now) == [] and alert_health.problems(None, now) == []
    down = alert_health.AlertsHealth(
        (t("command", 0, 2, 1, now - 4000, "command exited 1: \x1b[31mno\x1b[0m"),), judge_error="disk I/O error"
    )
    assert alert_health.problems(down, now) == [
        "alerts to the command failing for 1h06m (2 waiting, 1 given up): command exited 1: \\x1b[31mno\\x1b[0m",
        "alerts: cannot judge the fleet: disk I/O error",
    ]
    gave_up = alert_health.AlertsHealth((t("webhook", 0, 0, 1, now - 30, "webhook answered HTTP 404"),))
    assert alert_health.problems(gave_up, now) == [
        "alerts to the webhook failing for 30s (1 given up): webhook answered HTTP 404"
    ]


def test_the_demo_sends_no_alerts_unless_asked(tmp_path, monkeypatch):
    """A simulated NO-GO must not page anyone: `agentmon demo` ignores [alerts]; `--alerts` opts in."""
    from agentmon.tui.demo import DemoApp

    toml = tmp_path / "agentmon.toml"
    toml.write_text('[alerts]\nwebhook = "http://127.0.0.1:9/hook"\n')
    monkeypatch.setenv("AGENTMON_CONFIG", str(toml))
    app = DemoApp(tmp_path / "demo")
    assert app.ingest is not None and app.ingest.alert_settings is None
    toml.write_text("[defaults]\nmin_tasks = 1\n")
    out = cli("demo", "--alerts", "--dir", str(tmp_path / "demo2"))
    assert out.exit_code == 2 and "--alerts: agentmon.toml has no [alerts] webhook or command" in out.output
