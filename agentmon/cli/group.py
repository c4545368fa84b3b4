"""The `agentmon` group: its global options, and every error turned into one line on stderr."""

from __future__ import annotations

import os
from pathlib import Path

import click

from agentmon import __version__
from agentmon.cli.failures import as_one_line
from agentmon.cli.options import DB_IN_USE, WindowChoice


class Group(click.Group):
    """Turns AgentmonError, OS and SQLite errors into one line on stderr and exit code 1."""

    def invoke(self, ctx):
        with as_one_line(lambda: ctx.meta.get(DB_IN_USE)):
            return super().invoke(ctx)


@click.group(cls=Group, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__)
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False),
    help="agentmon.toml to use [default: $AGENTMON_CONFIG, ./agentmon.toml, the user config dir].",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Database file, for the monitor or the command that follows [default: as `agentmon watch --db`].",
)
@click.option(
    "--window",
    type=WindowChoice(),
    help="With no command: the window the monitor starts in (see `agentmon watch`).",
)
@click.pass_context
def main(ctx: click.Context, config: str | None, db: Path | None, window: str | None) -> None:
    """agentmon: are your AI agents in production actually working?

    With no command, opens the live monitor on the database (see `agentmon watch`).
    """
    if config:
        os.environ["AGENTMON_CONFIG"] = config  # config.load() reads it; flags stay the only global state
    if db is not None:
        os.environ["AGENTMON_DB"] = str(db)  # the command's own --db still wins (config.db_path)
    if ctx.invoked_subcommand is None:
        from agentmon.cli.monitor import watch

        ctx.invoke(watch, **({"window": window} if window else {}))
    elif window:
        raise click.UsageError(f"--window goes after the command: agentmon {ctx.invoked_subcommand} --window {window}")


# Each module registers its commands on `main`.
from agentmon.cli import bench, database, export, gate, ingest, monitor, serve, status, tasks  # noqa: E402, F401
