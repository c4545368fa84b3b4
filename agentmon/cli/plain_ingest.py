"""`agentmon ingest [PATHS] [--db FILE]`, the command a machine runs every few minutes, run without loading
click (a fifth of a re-run with nothing new, before this). Any other shape of command line, and whatever click
would answer itself (a usage error, a bad --db, shell completion), is left to click: same words, same exit codes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from agentmon import config
from agentmon.cli.failures import as_one_line, say
from agentmon.cli.reading import read_logs


def plain_ingest(args: list[str]) -> bool:
    """Run `args` as the click command would, if they are a plain local ingest; False: click must run them."""
    parsed = _parse(args)
    if parsed is None or os.name == "nt" or _completing():
        return False
    paths, db = parsed
    db_file: Path | None = None
    with as_one_line(lambda: db_file):
        try:
            cfg = config.load()
            sources = config.source_paths(paths, cfg)
            if not sources or sources.remote:  # click's usage error; ssh:// sources take seconds anyway
                return False
            db_file = config.db_path(db, cfg)
            read_logs(
                cfg,
                sources,
                db_file,
                follow=False,
                max_line_bytes=_default_max_line(),
                wait=False,
                eval_agent=None,
                remote_options={},
            )
        except (EOFError, KeyboardInterrupt):  # as click ends a command interrupted
            say("")
            say("Aborted!")
            sys.exit(1)
    return True


def _parse(args: list[str]) -> tuple[list[str], Path | None] | None:
    """(PATHS, --db) of `ingest PATHS… [--db FILE]`, options anywhere; None for anything else."""
    if not args or args[0] != "ingest":
        return None
    paths: list[str] = []
    db: str | None = None
    rest = iter(args[1:])
    for arg in rest:
        if arg == "--db" or arg.startswith("--db="):
            value = next(rest, None) if arg == "--db" else arg[len("--db=") :]
            if db is not None or not value or value.startswith("-"):
                return None
            db = value
        elif arg.startswith("-"):
            return None  # another option, --help, --, or a path click reads as one
        else:
            paths.append(arg)
    if db is not None and os.path.exists(db) and (os.path.isdir(db) or not os.access(db, os.R_OK)):
        return None  # click.Path refuses it, with its usage error
    return paths, None if db is None else Path(db)


def _completing() -> bool:
    """Whether a shell asks click for completions (`_AGENTMON_COMPLETE` or the like)."""
    return any(name.startswith("_") and name.endswith("_COMPLETE") for name in os.environ)


def _default_max_line() -> int:
    from agentmon.ingest.tail import DEFAULT_MAX_LINE

    return DEFAULT_MAX_LINE
