"""Metrics and tasks out to files: `export` (CSV), `golden export` (failures as candidate eval cases)."""

from __future__ import annotations

import sys

import click

from agentmon import config
from agentmon.cli.group import main
from agentmon.cli.options import WindowChoice, _db, _time_range, _windows, db_option, time_options, window_option
from agentmon.errors import AgentmonError
from agentmon.store.writer import connect


@main.command()
@db_option
@window_option
@click.option(
    "--csv",
    "out",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="File to write, or - for stdout.",
)
@click.option(
    "--by",
    type=click.Choice(["agent", "model", "hour", "day", "week", "month", "session"]),
    default="agent",
    show_default=True,
)
@time_options
@click.pass_context
def export(ctx, db, window, out, by, since, until) -> None:
    """Write a CSV snapshot of the metrics."""
    from agentmon.report.export import rows, write_csv

    conn = connect(_db(db), readonly=True)
    limits_for = config.load().limits_for
    if since is None and until is None and by in ("agent", "model", "hour"):
        header, body = rows(conn, by, window, limits_for=limits_for)
    else:
        from agentmon.report.periods import export_rows

        start, end = _time_range(ctx, since, until, window)
        header, body = export_rows(conn, by, start, end, limits_for)
    if out == "-":
        write_csv(sys.stdout, header, body, for_terminal=sys.stdout.isatty())
    else:
        with open(out, "w", newline="", encoding="utf-8") as f:
            write_csv(f, header, body)
        click.echo(f"wrote {len(body)} rows to {out}", err=True)


@main.group()
def golden() -> None:
    """Close the loop: production failures as candidate golden eval cases."""


@golden.command("export")
@click.option("--agent", required=True)
@click.option("--since", type=WindowChoice(lambda w: w != "all"), help="Only tasks active this recently.")
@click.option("--out", type=click.Path(dir_okay=False, allow_dash=True), default="-", show_default=True)
@click.option(
    "--inferred/--no-inferred",
    default=True,
    show_default=True,
    help="Also the unlabelled tasks whose evidence the inferred rule says failed, marked inferred, with the"
    " evidence (docs/success.md).",
)
@db_option
def golden_export(agent, since, out, inferred, db) -> None:
    """Write the agent's failed, abandoned, escalated and rejected tasks as JSON lines for review, and those
    whose failure is inferred from their evidence (`inferred`: "failure", with `inferred_reason` and
    `evidence`; --no-inferred leaves them out)."""
    import time as _time

    from agentmon.report.golden import candidates, write

    db_file = _db(db)
    conn = connect(db_file, readonly=True)
    if conn.execute("SELECT 1 FROM agents WHERE agent = ?", (agent,)).fetchone() is None:
        known = [a for (a,) in conn.execute("SELECT agent FROM agents ORDER BY agent LIMIT 8")]
        raise AgentmonError(
            f"no agent {agent!r} in {db_file}" + (f" (agents: {', '.join(map(repr, known))})" if known else "")
        )
    seconds = _windows()[since] if since else None  # --since offers no "all"
    start = None if seconds is None else _time.time() - seconds
    if out == "-":
        n = write(sys.stdout, candidates(conn, agent, start, inferred))
    else:
        with open(out, "w", encoding="utf-8") as f:
            n = write(f, candidates(conn, agent, start, inferred))
    click.echo(f"{n} candidate cases of {agent}" + ("" if out == "-" else f" -> {out}"), err=True)
