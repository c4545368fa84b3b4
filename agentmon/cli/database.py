"""The database's keeping: `backup` it while written, `prune` what is past retention, list the `quarantine`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click

from agentmon import config
from agentmon.cli.group import main
from agentmon.cli.options import _db, db_option
from agentmon.errors import AgentmonError
from agentmon.store.writer import connect
from agentmon.text import literal


@main.command()
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@db_option
def backup(target: Path, db: Path | None) -> None:
    """Copy the database to TARGET while it is being written (SQLite's online backup), labels included."""
    from agentmon.backup import backup as copy

    db_file = _db(db, config.load())
    try:
        tasks = copy(db_file, target)
    except (sqlite3.Error, OSError, ValueError) as e:
        raise AgentmonError(f"backup of {db_file} to {target} failed: {e}") from None
    click.echo(f"agentmon: copied {db_file} to {target} ({tasks:,} tasks)", err=True)


@main.command()
@db_option
@click.option("--limit", default=50, show_default=True, help="Show the latest this many.")
def quarantine(db, limit) -> None:
    """List the quarantined lines: file, byte offset, reason and the line's start."""
    conn = connect(_db(db), readonly=True)
    (total,) = conn.execute("SELECT count(*) FROM quarantine").fetchone()
    rows = conn.execute(
        "SELECT path, offset, reason, excerpt FROM quarantine ORDER BY id DESC LIMIT ?", (limit,)
    ).fetchall()
    for path, offset, reason, excerpt in reversed(rows):
        where = f"byte {offset:,}" if excerpt else "the whole file"  # an eval log is quarantined whole
        click.echo(
            f"{literal(path)} ({where}): {literal(reason)}" + (f"\n    {literal(excerpt[:120])}" if excerpt else "")
        )
    shown = f", latest {len(rows)} shown" if total > len(rows) else ""
    click.echo(f"{total} quarantined line{'s' * (total != 1)}{shown}")


@main.command()
@db_option
@click.option(
    "--vacuum", is_flag=True, help="Rewrite the file once (full VACUUM) so it shrinks now and after every prune."
)
def prune(db: Path | None, vacuum: bool) -> None:
    """Forget now what is past agentmon.toml's [retention] (the ingesting process does it in small steps)."""
    import time

    from agentmon.store.retention import Retention, full_vacuum
    from agentmon.store.retention import prune as forget
    from agentmon.store.writer import Store

    cfg = config.load()
    db_file = _db(db, cfg)
    if not db_file.exists():
        raise AgentmonError(f"no database at {db_file}: run `agentmon ingest PATH` first")
    before = db_file.stat().st_size
    try:
        store = Store(db_file)
    except AgentmonError as e:  # another process ingests: it forgets by itself
        raise AgentmonError(f"{e}; that process forgets what is past [retention] by itself, a step a minute") from None
    with store:
        done = forget(store.conn, cfg.retention or Retention(), time.time())
        if vacuum:
            full_vacuum(store.conn)
        (mode,) = store.conn.execute("PRAGMA auto_vacuum").fetchone()
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    after = db_file.stat().st_size
    click.echo(
        f"agentmon: forgot {done.minutes:,} minute and {done.hours:,} hour buckets, {done.tasks:,} tasks,"
        f" {done.prompts:,} prompts, {done.requests:,} requests, {done.traces:,} OpenTelemetry trace agents,"
        f" {done.quarantine:,} quarantined lines;"
        f" {db_file}: {before / 1e6:,.1f} MB -> {after / 1e6:,.1f} MB",
        err=True,
    )
    if mode != 2:  # not INCREMENTAL: freed pages are reused, never given back
        click.echo(
            "agentmon: this database was made before incremental vacuum: its file will not shrink;"
            " `agentmon prune --vacuum` rewrites it once (needs its size free on disk)",
            err=True,
        )
