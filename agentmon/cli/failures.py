"""Every error a command meets, as one line on stderr and exit code 1; written the same with or without click."""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from agentmon.errors import AgentmonError
from agentmon.text import literal


def say(message: str) -> None:
    """`click.echo(message, err=True)`, without loading click for plain ASCII: all click would change is
    non-ASCII text on a misconfigured stream, and escape sequences when stderr is not a terminal."""
    if message.isascii() and "\x1b" not in message and sys.stderr is not None:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    else:
        import click

        click.echo(message, err=True)


@contextmanager
def as_one_line(db_in_use: Callable[[], Path | None]) -> Iterator[None]:
    """AgentmonError, OS and SQLite errors as one line (naming the database the command uses) and exit 1."""
    try:
        yield
    except BrokenPipeError:  # `agentmon status | head`: the reader left, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except (AgentmonError, OSError) as e:
        say(f"agentmon: {literal(str(e))}")
        sys.exit(1)
    except sqlite3.Error as e:  # a database that is not one, is damaged, or cannot be written
        db = db_in_use()
        where = f" in {db}" if db is not None else ""
        say(f"agentmon: database error{literal(where)}: {literal(str(e))}")
        sys.exit(1)
