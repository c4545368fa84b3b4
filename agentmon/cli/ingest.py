"""`agentmon ingest`: read the logs into the database, once or following them."""

from __future__ import annotations

import click

from agentmon import config
from agentmon.cli.group import main
from agentmon.cli.options import _db, _remote, db_option, remote_options
from agentmon.cli.reading import NO_SOURCES, read_logs
from agentmon.ingest.tail import DEFAULT_MAX_LINE


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
    cfg = config.load()
    sources = config.source_paths(list(paths), cfg)
    if not sources:
        raise click.UsageError(NO_SOURCES)
    read_logs(
        cfg,
        sources,
        _db(db, cfg),
        follow=follow,
        max_line_bytes=max_line_bytes,
        wait=wait,
        eval_agent=eval_agent,
        remote_options=_remote(cfg, host_prefix, remote_agentmon, connect_timeout),
    )
