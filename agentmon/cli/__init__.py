"""The command line: thin commands over the library, a module per concern.

`group` is the `agentmon` group (global options); `options` the options and helpers the commands share,
`tables` their text tables, `failures` every error as one line; then the commands: `ingest` (what it does:
`reading`; `plain_ingest` runs the usual one without loading click), `serve` (and `remote-files`),
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
    """The `agentmon` command: a plain `agentmon ingest` without click (agentmon.cli.plain_ingest), else click."""
    import sys

    from agentmon.cli.plain_ingest import plain_ingest

    if not plain_ingest(sys.argv[1:]):
        from agentmon.cli.group import main

        main()
