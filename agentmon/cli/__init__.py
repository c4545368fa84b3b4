"""The command line: thin commands over the library, a module per concern.

`group` is the `agentmon` group (global options, errors as one line); `options` the options and helpers the
commands share, `tables` their text tables; then the commands: `ingest`, `serve` (and `remote-files`),
`monitor` (`watch`, `demo`), `status`, `tasks` (and `label`, `calibrate`), `export` (and `golden export`),
`gate`, `database` (`backup`, `prune`, `quarantine`), `bench`.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """`agentmon.cli.main`, the click group, loaded when first asked for."""
    if name == "main":
        from agentmon.cli.group import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run() -> None:
    """The `agentmon` command."""
    from agentmon.cli.group import main

    main()
