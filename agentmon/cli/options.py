"""The options and helpers the commands share: the database, the window or time range, ssh:// sources."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from agentmon import config

DB_IN_USE = "agentmon.db"  # the click context's meta key: the database the running command uses


class WindowChoice(click.Choice):
    """The names of agentmon.report.metrics.WINDOWS (those `keep` keeps), read when click first asks for
    them (parsing, --help): a command that reads no metrics, `agentmon ingest`, never loads the report."""

    def __init__(self, keep: Callable[[str], bool] = lambda name: True) -> None:
        self.keep = keep
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        from agentmon.report.metrics import WINDOWS

        return tuple(name for name in WINDOWS if self.keep(name))

    @choices.setter
    def choices(self, value: object) -> None:
        pass  # click.Choice sets it; the names come from the report


def _windows() -> dict[str, int | None]:
    from agentmon.report.metrics import WINDOWS

    return WINDOWS


db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Database file [default: $AGENTMON_DB, else agentmon.toml's db, else agentmon.db in the user data dir].",
)
window_option = click.option(
    "--window",
    type=WindowChoice(),
    default="all",
    show_default=True,
    help="Count what happened in this last stretch of time.",
)


def time_options(command):
    """--since and --until: a date (2026-11-01, UTC), an ISO time, or a duration back from now (3d, 12h)."""
    command = click.option(
        "--until",
        metavar="WHEN",
        help="Up to this time (a date: to the end of that UTC day).",
    )(command)
    return click.option(
        "--since",
        metavar="WHEN",
        help="From this time: 2026-11-01 (UTC), 2026-11-01T09:30, or 3d, 12h, 90m ago; in place of any --window.",
    )(command)


def _time_range(
    ctx: click.Context, since: str | None, until: str | None, window: str
) -> tuple[float | None, float | None]:
    """[start, end) in Unix seconds from --since/--until, else from --window; None is open."""
    import time as _time

    from agentmon.report.periods import parse_time

    now = _time.time()
    if since is None and until is None:
        seconds = _windows()[window]
        return (None if seconds is None else now - seconds), None
    if ctx.get_parameter_source("window") is click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("--window or --since/--until, not both")
    try:
        start = None if since is None else parse_time(since, now)
        end = None if until is None else parse_time(until, now, end_of_day=True)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    if start is not None and end is not None and end <= start:
        raise click.UsageError("--until must be after --since")
    return start, end


def remote_options(command):
    """The options of commands that read ssh:// sources (docs/remote.md)."""
    command = click.option(
        "--connect-timeout",
        type=float,
        default=10.0,
        show_default=True,
        metavar="SECONDS",
        help="How long ssh may take to reach a host before it counts as down.",
    )(command)
    command = click.option(
        "--host-prefix",
        is_flag=True,
        default=None,
        help="Name remote hosts' agents AGENT@HOST (when hosts reuse agent names).",
    )(command)
    return click.option(
        "--remote-agentmon",
        metavar="COMMAND",
        help='What runs agentmon on ssh:// hosts [default: "agentmon"]; "" always uses the POSIX sh server.',
    )(command)


def _remote(cfg, host_prefix, remote_agentmon, connect_timeout) -> dict:
    agentmon_cmd = cfg.remote_agentmon if remote_agentmon is None else (remote_agentmon or None)
    return {
        "host_prefix": cfg.host_prefix if host_prefix is None else host_prefix,
        "remote_agentmon": agentmon_cmd,
        "connect_timeout": connect_timeout,
    }


def _db(flag: Path | None, cfg: config.Config | None = None) -> Path:
    """The database a command uses, remembered for the messages of its errors (Group.invoke)."""
    path = config.db_path(flag, cfg if cfg is not None else config.load())
    click.get_current_context().meta[DB_IN_USE] = path
    return path
