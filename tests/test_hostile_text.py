"""Names and other text from logs cannot forge output: control, bidi and zero-width characters are shown
escaped wherever a person reads them (status, quarantine, gate, export to a terminal, the monitor), and long
names are cut for display, never in the data."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import subprocess
import sys
import termios
from pathlib import Path

from rich.text import Text
from tui_helpers import FROZEN, make_app, text_of

from agentmon.text import NAME_LIMIT, literal
from agentmon.tui.panel import AgentPanel

FORGED = "refund-agent  GO       500    99.0%"
NEWLINE_NAME = "evil\n" + FORGED
BIDI_NAME = "\u202egnp.exe\u2066x\u2069"
HIDDEN_NAME = "re\u200bfund\ufeff-agent\x7f\x85\u2060"
LONG_NAME = "L" * 10_000
# What must never reach a terminal from a log: C0 (newline, CR, tab, ESC...), DEL, C1, bidi, zero width.
RAW = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))] + [
    *map(chr, range(0x202A, 0x202F)),
    *map(chr, range(0x2066, 0x206A)),
    *map(chr, range(0x200B, 0x2010)),
    "\u2060",
    "\ufeff",
]


def cli(*args, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "agentmon.cli", *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode:
        raise AssertionError(proc.stderr)
    return proc


def no_raw(text: str, allowed: str = "\n") -> None:
    """Nothing in RAW but the output's own line breaks."""
    assert [c for c in RAW if c in text and c not in allowed] == []


def task_end(agent: str, task: str = "t", ts: float = FROZEN - 60, reason: str = "") -> str:
    event = {"ts": ts, "agent": agent, "event": "task_end", "task": task, "outcome": "failure"}
    return json.dumps({**event, "reason": reason} if reason else event)


def hostile_db(tmp_path: Path, lines: list[str], name: str = "h.jsonl") -> Path:
    logs, db = tmp_path / "logs", tmp_path / "h.db"
    logs.mkdir(exist_ok=True)
    (logs / name).write_text("\n".join(lines) + "\n")
    cli("ingest", logs, "--db", db)
    return db


def test_every_unsafe_character_is_escaped_and_nothing_else():
    assert literal("".join(RAW)).isprintable()
    assert literal("a\nb\x1b[2J\u202ec") == "a\\x0ab\\x1b[2J\\u202ec"
    assert literal("résumé 日本 [bold]") == "résumé 日本 [bold]"
    assert literal(LONG_NAME, NAME_LIMIT) == "L" * (NAME_LIMIT - 1) + "…"
    assert literal("\x1b" * 100, 10) == "\\x1b\\x1b…"  # never half an escape


def test_a_newline_in_an_agent_name_cannot_forge_a_status_row(tmp_path):
    db = hostile_db(tmp_path, [task_end("support-bot"), task_end(NEWLINE_NAME)])
    out = cli("status", "--db", db).stdout
    rows = out.splitlines()
    assert len(rows) == 4  # the summary, the header and two agents
    assert not any(row.startswith("refund-agent") for row in rows)
    assert "evil\\x0arefund-agent  GO" in out
    assert json.loads(cli("status", "--json", "--db", db).stdout)["agents"][0]["agent"] in (NEWLINE_NAME, "support-bot")


def test_bidi_zero_width_and_huge_names_are_escaped_and_cut_in_the_table(tmp_path):
    db = hostile_db(tmp_path, [task_end(BIDI_NAME), task_end(HIDDEN_NAME), task_end(LONG_NAME)])
    out = cli("status", "--db", db).stdout
    no_raw(out)
    assert "\\u202egnp.exe\\u2066x\\u2069" in out and "re\\u200bfund\\ufeff-agent\\x7f\\x85\\u2060" in out
    assert "L" * (NAME_LIMIT - 1) + "…" in out and "L" * NAME_LIMIT not in out
    assert max(len(row) for row in out.splitlines()) < 300
    names = {a["agent"] for a in json.loads(cli("status", "--json", "--db", db).stdout)["agents"]}
    assert names == {BIDI_NAME, HIDDEN_NAME, LONG_NAME}  # the data keeps every name whole


def test_quarantine_listing_escapes_the_file_name_and_the_line(tmp_path):
    first = task_end("a")
    db = hostile_db(tmp_path, [first, "not json \x1b]0;pwned\x07\u202e"], name="x\nforged.jsonl:1: fine.jsonl")
    out = cli("quarantine", "--db", db).stdout
    no_raw(out)
    assert f"x\\x0aforged.jsonl:1: fine.jsonl (byte {len(first) + 1}): not JSON" in out
    assert "not json \\x1b]0;pwned\\x07\\u202e" in out
    assert out.count("\n") == 3  # the line, its excerpt, the count


def test_gate_report_escapes_names_suites_runs_and_cases(tmp_path):
    def result(case: str, passed: bool, run: str) -> str:
        return json.dumps(
            {
                "ts": FROZEN,
                "agent": NEWLINE_NAME,
                "event": "eval_result",
                "suite": "golden\u202e",
                "case": case,
                "passed": passed,
                "run": run,
                "agent_version": "v1\rPASS",
                "critical": True,
            }
        )

    db = hostile_db(tmp_path, [result("c\nPASS: 1 of 1 agent(s) pass", False, "r\x1b[1A")])
    proc = cli("gate", "--suite", "golden\u202e", "--db", db, check=False)
    assert proc.returncode == 1
    no_raw(proc.stdout)
    assert "PASS: 1 of 1" not in proc.stdout.splitlines()[-1]
    assert proc.stdout.splitlines()[-1] == "FAIL: 0 of 1 agent(s) pass"
    assert "evil\\x0arefund-agent" in proc.stdout and "golden\\u202e" in proc.stdout
    assert "run r\\x1b[1A (version v1\\x0dPASS)" in proc.stdout
    assert "critical failures: c\\x0aPASS: 1 of 1 agent(s) pass" in proc.stdout


def on_a_terminal(*args: object) -> str:
    """What a command writes to stdout when stdout is a terminal (a pty)."""
    leader, follower = pty.openpty()
    mode = termios.tcgetattr(follower)
    mode[1] &= ~termios.OPOST  # the bytes as written: no newline translation
    termios.tcsetattr(follower, termios.TCSANOW, mode)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "agentmon.cli", *map(str, args)], stdout=follower, stderr=subprocess.PIPE
        )
        assert proc.returncode == 0, proc.stderr
        os.close(follower)
        follower = -1
        out = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the writer is gone and everything was read
                break
            if not chunk:
                break
            out += chunk
        return out.decode()
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)


def test_export_to_a_terminal_escapes_but_a_file_or_pipe_keeps_the_exact_name(tmp_path):
    names = ["=cmd\x1b]0;x\x07", NEWLINE_NAME, BIDI_NAME]
    db = hostile_db(tmp_path, [task_end(n) for n in names])
    shown = on_a_terminal("export", "--csv", "-", "--db", db)
    no_raw(shown.replace("\r\n", "\n"))  # CSV's own line ends
    cells = [r[0] for r in csv.reader(io.StringIO(shown))][1:]
    assert sorted(cells) == sorted(["'=cmd\\x1b]0;x\\x07", "evil\\x0a" + FORGED, "\\u202egnp.exe\\u2066x\\u2069"])
    piped = [r[0] for r in csv.reader(io.StringIO(cli("export", "--csv", "-", "--db", db).stdout))][1:]
    assert sorted(piped) == sorted(["'" + names[0], *names[1:]])  # formula-safe, otherwise exact
    out = tmp_path / "snap.csv"
    cli("export", "--csv", out, "--db", db)
    with out.open(newline="", encoding="utf-8") as f:
        assert sorted(r["agent"] for r in csv.DictReader(f)) == sorted(piped)


async def test_the_monitor_shows_names_escaped_and_cut(tmp_path):
    from test_tui import settle

    db = hostile_db(
        tmp_path, [task_end(BIDI_NAME, ts=FROZEN - 120), task_end(LONG_NAME, task="t\n" + FORGED, reason="r\u200b\r")]
    )
    app = make_app(db, window="1h")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        titles = {p.agent: Text.from_markup(p.border_title).plain for p in app.query(AgentPanel)}
        assert titles[BIDI_NAME] == "\\u202egnp.exe\\u2066x\\u2069"
        assert titles[LONG_NAME] == "L" * (NAME_LIMIT - 1) + "…"
        app.set_focus(next(p for p in app.query(AgentPanel) if p.agent == LONG_NAME))
        await pilot.press("enter")
        await settle(pilot, app)
        title = text_of(app.screen.query_one("#agent-title"))
        assert "L" * (NAME_LIMIT - 1) + "…" in title and "L" * NAME_LIMIT not in title
        latest = text_of(app.screen.query_one("#latest"))
        no_raw(latest)
        assert "t\\x0a" + FORGED in latest and "r\\u200b\\x0d" in latest
