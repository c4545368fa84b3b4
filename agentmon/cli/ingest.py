"""`agentmon ingest`: read the logs into the database, once or following them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agentmon import config
from agentmon.cli.group import main
from agentmon.cli.options import _db, _remote, db_option, remote_options
from agentmon.ingest.tail import DEFAULT_MAX_LINE
from agentmon.text import literal

if TYPE_CHECKING:
    from agentmon.session import IngestSession


@main.command()
@click.argument("paths", nargs=-1)
@db_option
@click.option("--follow", "-f", is_flag=True, help="Keep watching and ingest lines as they are written.")
@click.option(
    "--max-line-bytes", default=DEFAULT_MAX_LINE, show_default=True, help="Longer lines are quarantined and skipped."
)
@click.option("--wait", is_flag=True, help="Wait for another ingester of this database instead of refusing.")
@click.option("--eval-agent", help="The agent of eval logs that do not name one (Inspect AI: eval.metadata.agent).")
@remote_options
def ingest(paths, db, follow, max_line_bytes, wait, eval_agent, host_prefix, remote_agentmon, connect_timeout) -> None:
    """Read every complete new line of the logs under PATHS into the database.

    PATHS are local files and directories, or ssh://[USER@]HOST[:PORT]/PATH and HOST:/PATH on other
    hosts, read through your ssh (docs/remote.md). Without PATHS: the `sources.paths` of
    agentmon.toml, else the Claude Code projects directories. Formats are told apart by content.
    """
    from agentmon.session import IngestSession

    cfg = config.load()
    sources = config.source_paths(list(paths), cfg)
    if not sources:
        raise click.UsageError(
            "no PATHS given, no sources.paths in agentmon.toml and no Claude Code projects directory found"
        )
    db_file = _db(db, cfg)
    session = IngestSession(
        db_file,
        sources.local,
        follow=follow,
        remote=sources.remote,
        remote_options=_remote(cfg, host_prefix, remote_agentmon, connect_timeout),
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
    click.echo(f"{lines} lines, {events} events, {bad} quarantined, {files} files -> {db_file}", err=True)
    if bad:
        click.echo("agentmon: `agentmon quarantine` lists the quarantined lines and files, with the reasons", err=True)
    if not files:
        for hint in _unread_files(sources.local):
            click.echo(f"agentmon: {literal(hint)}", err=True)
    for s in all_stats:
        if s.last_error:
            click.echo(f"agentmon: warning: {literal(s.last_error)}", err=True)
        for w in s.waiting:
            click.echo(f"agentmon: not read yet, being written: {literal(w.path)} ({literal(w.reason)})", err=True)
    for message in session.unreachable:
        click.echo(f"agentmon: error: {literal(message)}", err=True)
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
        "say": lambda words: click.echo(f"agentmon: {literal(words)}", err=True),
    }


def _stop_on_signals(session: IngestSession) -> None:
    """SIGTERM and Ctrl-C end a session that follows: its sources stop in order, and the summary is printed."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: session.stop())
    signal.signal(signal.SIGINT, lambda *_: session.stop())
