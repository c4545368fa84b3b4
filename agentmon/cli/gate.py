"""`agentmon gate`: a release gated on its eval results."""

from __future__ import annotations

import dataclasses
import sys
from typing import TYPE_CHECKING

import click

from agentmon.cli.group import main
from agentmon.cli.options import _db, db_option
from agentmon.store.writer import connect
from agentmon.text import NAME_LIMIT, literal

if TYPE_CHECKING:
    from agentmon.report.gate import GateResult


@main.command()
@click.option("--suite", required=True, help="The eval suite to gate on.")
@click.option("--agent", help="Only this agent [default: every agent that ran the suite].")
@click.option(
    "--min-pass-rate",
    type=click.FloatRange(0, 1),
    default=0.85,
    show_default=True,
    help="The latest run's pass rate must reach this.",
)
@click.option("--no-regressions", is_flag=True, help="Fail when a case that passed in the previous run fails now.")
@click.option("--json", "as_json", is_flag=True)
@db_option
def gate(suite, agent, min_pass_rate, no_regressions, as_json, db) -> None:
    """Gate a release on its eval results: exit 0 pass, 1 fail, 2 no data.

    A failing critical case always fails the gate. Ingest the eval logs first
    (`agentmon ingest evals/`).
    """
    from agentmon.report.gate import gate as run_gate
    from agentmon.report.gate import report

    conn = connect(_db(db), readonly=True)
    results = run_gate(conn, suite, agent, min_pass_rate, no_regressions)
    if not results:
        click.echo(
            f"agentmon: no eval results for suite {suite!r}" + (f" of agent {agent!r}" if agent else ""), err=True
        )
        sys.exit(2)
    if as_json:
        import json

        failed = any(g.result == "fail" for g in results)
        click.echo(
            json.dumps(
                {"suite": suite, "result": "fail" if failed else "pass", "agents": [g.as_dict() for g in results]},
                indent=2,
            )
        )
    else:
        click.echo(report([_gate_shown(g) for g in results]))
    sys.exit(1 if any(g.result == "fail" for g in results) else 0)


def _gate_shown(g: GateResult) -> GateResult:
    """The result with its names from logs made safe to print (the report joins them into lines)."""

    def name(text: str | None) -> str | None:
        return None if text is None else literal(text, NAME_LIMIT)

    return dataclasses.replace(
        g,
        agent=literal(g.agent, NAME_LIMIT),
        suite=literal(g.suite, NAME_LIMIT),
        run=literal(g.run, NAME_LIMIT),
        previous_run=name(g.previous_run),
        agent_version=name(g.agent_version),
        regressions=[literal(c, NAME_LIMIT) for c in g.regressions],
        critical_failures=[literal(c, NAME_LIMIT) for c in g.critical_failures],
        reasons=[literal(r) for r in g.reasons],
    )
