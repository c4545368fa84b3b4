"""What `agentmon ingest` does once its options are read: read the logs into the database, then say what was
read (and why nothing was). Free of click: agentmon.cli.plain_ingest runs it without loading click."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentmon import config
from agentmon.cli.failures import say
from agentmon.text import literal

if TYPE_CHECKING:
    from agentmon.session import IngestSession

NO_SOURCES = "no PATHS given, no sources.paths in agentmon.toml and no Claude Code projects directory found"


def read_logs(
    cfg: config.Config,
    sources: config.Sources,
    db_file: Path,
    *,
    follow: bool,
    max_line_bytes: int,
    wait: bool,
    eval_agent: str | None,
    remote_options: dict[str, Any],
) -> None:
    """Read the logs of `sources` into `db_file`, once or following them (`agentmon ingest`)."""
    from agentmon.session import IngestSession

    session = IngestSession(
        db_file,
        sources.local,
        follow=follow,
        remote=sources.remote,
        remote_options=remote_options,
        wait_for_lock=wait,
        track_follow_ups=cfg.follows_up,
        prices=cfg.prices,
        idle_task_seconds=cfg.idle_minutes * 60,
        poll=cfg.poll,
        max_line=max_line_bytes,
        eval_agent=eval_agent,
        eval_pass_values=cfg.eval_pass_values,
        **_alerts(cfg),
    )
    if follow:
        _stop_on_signals(session)
    with session:
        if follow:
            session.follow()
        else:
            from agentmon.ingest.progress import Progress

            with Progress(session.stats):
                session.run_once()
    all_stats = session.stats()
    lines, events, bad, files = (
        sum(getattr(s, k) for s in all_stats) for k in ("lines", "events", "quarantined", "files")
    )
    say(f"{lines} lines, {events} events, {bad} quarantined, {files} files -> {db_file}")
    if bad:
        say("agentmon: `agentmon quarantine` lists the quarantined lines and files, with the reasons")
    if not files:
        for hint in _unread_files(sources.local):
            say(f"agentmon: {literal(hint)}")
    for s in all_stats:
        if s.last_error:
            say(f"agentmon: warning: {literal(s.last_error)}")
        for w in s.waiting:
            say(f"agentmon: not read yet, being written: {literal(w.path)} ({literal(w.reason)})")
    for message in session.unreachable:
        say(f"agentmon: error: {literal(message)}")
    if session.unreachable:
        raise SystemExit(1)


def _unread_files(paths: list[Path], look_at: int = 1000) -> list[str]:
    """Why a directory gave no log files: the files in it that agentmon does not read by their names."""
    hints = []
    for root in paths:
        if not root.is_dir():
            continue
        others = []
        for i, path in enumerate(p for p in root.rglob("*") if p.is_file()):
            if i >= look_at:
                break
            others.append(path)
        if others:
            example = os.path.relpath(others[0], root)
            count = f"{len(others):,}{'+' if len(others) >= look_at else ''} other file{'s' * (len(others) != 1)}"
            hints.append(
                f"no log files under {root}: a directory is read for *.jsonl, *.ndjson and *.log files (and their "
                f"rotated copies), and *.json and *.eval eval logs; {count} there, such as {example}: rename it, or "
                "give the file itself (a file named on the command line is read whatever its name)"
            )
    return hints


def _alerts(cfg: config.Config) -> dict:
    """A service's alerts: agentmon.toml's `[alerts]`, its limits, and its delivery problems on stderr."""
    return {
        "alerts": cfg.alerts,
        "limits_for": cfg.limits_for,
        "say": lambda words: say(f"agentmon: {literal(words)}"),
    }


def _stop_on_signals(session: IngestSession) -> None:
    """SIGTERM and Ctrl-C end a session that follows: its sources stop in order, and the summary is printed."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: session.stop())
    signal.signal(signal.SIGINT, lambda *_: session.stop())
