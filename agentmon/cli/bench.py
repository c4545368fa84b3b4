"""`agentmon bench`: throughput, peak memory, read cost and a year's size, measured here."""

from __future__ import annotations

from pathlib import Path

import click

from agentmon.cli.group import main


@main.command()
@click.option("--events", default=300_000, show_default=True, help="Events in the ingest run.")
@click.option("--large", default=1_000_000, show_default=True, help="Stored events for the big status read.")
@click.option(
    "--dir",
    "workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the logs and databases [default: a temporary directory].",
)
@click.option(
    "--year-events",
    default=0,
    show_default=True,
    help="Events a day in a simulated year (1000000: the stated bound, about 30 minutes here; 0: no year).",
)
@click.option("--year-days", default=400, show_default=True, help="Days simulated: past a year, retention holds.")
def bench(events, large, workdir, year_events: int, year_days: int) -> None:
    """Measure ingest throughput, peak memory, the cost of a status read and a year's database size."""
    from agentmon.bench.run import run

    run(events, large, workdir, year=(year_events, year_days))
