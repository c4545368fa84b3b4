"""Tasks and their outcomes: `tasks` lists them, `label` gives one its outcome, `calibrate` checks the inferred one."""

from __future__ import annotations

import click

from agentmon.cli.group import main
from agentmon.cli.options import _db, _time_range, db_option, time_options
from agentmon.cli.tables import _pct, _table_lines, _usd
from agentmon.errors import AgentmonError
from agentmon.store.writer import connect
from agentmon.text import NAME_LIMIT, duration, literal


@main.command()
@click.argument("agent")
@click.argument("task")
@click.argument("outcome", type=click.Choice(["success", "failure", "abandoned"]))
@click.option("--reason", help="Why, in a few words (kept to 200 characters).")
@db_option
def label(agent, task, outcome, reason, db) -> None:
    """Give a task its outcome (Claude Code tasks end without one).

    Appends a native task_end event to the labels file beside the database, which every
    ingest reads: the label counts once, and the latest label of a task wins. The task keeps
    its own end time: labelling a task from last month changes last month's numbers.
    """
    from agentmon.labels import append_label

    db_file = _db(db)
    conn = connect(db_file, readonly=True)
    try:
        path = append_label(conn, db_file, agent, task, outcome, reason)
    except AgentmonError as e:
        raise AgentmonError(f"{e} in {db_file}") from None
    finally:
        conn.close()
    click.echo(
        f"labeled {literal(task, NAME_LIMIT)} of {literal(agent, NAME_LIMIT)} {outcome}: {literal(str(path))}"
        " (counted at the next ingest)",
        err=True,
    )


@main.command()
@click.option("--agent", help="Only this agent's tasks.")
@click.option("--unlabeled", is_flag=True, help="Only tasks with no outcome yet (to label with `agentmon label`).")
@click.option(
    "--disagreeing",
    is_flag=True,
    help="Unlabelled ended tasks whose label would tell most, first: those whose evidence conflicts, then those"
    " the inferred rule cannot decide, then the rest (implies --unlabeled).",
)
@time_options
@click.option("--limit", default=20, show_default=True, help="Show the newest this many.")
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON.")
@db_option
@click.pass_context
def tasks(ctx, agent, unlabeled, disagreeing, since, until, limit, as_json, db) -> None:
    """List the latest tasks, newest first: cost, signals, outcome and the prompt that began them.

    --since/--until bound the tasks' ends. A Claude Code task's prompt is read from its transcript
    when shown, never stored; tasks of other sources have none.

    --disagreeing lists the tasks to label for `agentmon calibrate` and the verdict (docs/success.md): of
    each agent's newest unlabelled ended tasks (ten per task shown, at least 500), first those whose evidence
    points both ways (a sign of success and one of failure: `conflict` in --json), then those the inferred
    rule leaves unknown, then the others, newest first within each.
    """
    from agentmon.report.tasks import add_prompts, list_tasks

    conn = connect(_db(db), readonly=True)
    start, end = _time_range(ctx, since, until, "all")
    rows = list_tasks(conn, agent, unlabeled, start, end, limit, disagreeing=disagreeing)
    add_prompts(conn, rows)
    if as_json:
        import json

        click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    _tasks_table(rows)


@main.command()
@click.option("--agent", help="Only this agent.")
@click.option("--limit", default=20, show_default=True, help="List at most this many disagreeing tasks per agent.")
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON.")
@db_option
def calibrate(agent, limit, as_json, db) -> None:
    """How the inferred outcome agrees with your labels (docs/success.md): per agent, the confusion matrix of
    labelled tasks, the precision and recall of "failure" with 95% Wilson intervals, and the tasks where they
    disagree (the rule's reason beside each)."""
    from agentmon.report.calibration import calibration

    conn = connect(_db(db), readonly=True)
    found = calibration(conn, agent, limit)
    if as_json:
        import json

        click.echo(json.dumps([c.as_dict() for c in found], indent=2))
        return
    if not found:
        click.echo(
            "no labelled task with evidence yet: label some with `agentmon tasks --unlabeled` and `agentmon label`"
        )
        return
    for c in found:
        click.echo(f"{literal(c.agent, NAME_LIMIT)}: {c.labeled} labelled tasks with evidence")
        click.echo(f"  {'':<18}{'inferred success':>18}{'failure':>9}{'unknown':>9}")
        for label in ("success", "failure"):
            row = c.matrix[label]
            click.echo(f"  {'labelled ' + label:<18}{row['success']:>18}{row['failure']:>9}{row['unknown']:>9}")
        precision = _share(c.failure_precision, c.failure_precision_ci)
        recall = _share(c.failure_recall, c.failure_recall_ci)
        click.echo(
            f"  agreement {c.agreeing}/{c.decided} decided ({_pct(c.agreement)}); "
            f"failure precision {precision}, recall {recall}"
        )
        for d in c.disagreeing:
            click.echo(f"  {literal(d.task, NAME_LIMIT)}  labelled {d.label}, {literal(d.reason)}")


def _share(value: float | None, ci: tuple[float, float] | None) -> str:
    if value is None or ci is None:
        return "-"
    return f"{_pct(value)} (95% CI {ci[0] * 100:.1f}–{ci[1] * 100:.1f}%)"


SIGNAL_HEADS = {
    "tool_calls": "CALLS",
    "tool_errors": "ERR",
    "permission_denials": "DENY",
    "rejections": "REJ",
    "interventions": "INT",
    "escalations": "ESC",
    "api_errors": "API",
}


def _subagents_cell(r) -> str:
    """How many subagents worked for a task and their share of its cost (of its tokens when it has no price)."""
    if not r.subagents:
        return "-"
    share = r.subagent_cost_share if r.subagent_cost_share is not None else r.subagent_token_share
    return f"{r.subagents}" + (f" {share * 100:.0f}%" if share is not None else "")


def _tasks_table(rows: list) -> None:
    """`agentmon tasks` for a person: names and prompts shown literally, the signals as one column."""
    import time as _time

    if not rows:
        click.echo("no tasks")
        return
    signals = list(rows[0].signals)
    table = [
        (
            "TASK",
            "AGENT",
            "SESSION",
            "PROJECT",
            "START (UTC)",
            "TIME",
            "COST",
            "/".join(SIGNAL_HEADS[s] for s in signals),
            "SUBAGENTS",
            "OUTCOME",
            "PROMPT",
        )
    ]
    for r in rows:
        if r.unpriced_llm_calls and not r.cost_usd:
            cost = "unpriced"
        else:
            cost = _usd(r.cost_usd) + ("+" if r.unpriced_llm_calls else "")  # +: some calls had no price
        outcome = "open" if r.outcome is None else r.outcome + (" (label)" if r.labeled_at is not None else "")
        if r.inferred_reason:  # ended unknown: the rule's word over its evidence (docs/success.md)
            outcome = r.inferred_reason + (" (evidence conflicts)" if r.conflict else "")
        table.append(
            (
                literal(r.task, NAME_LIMIT),
                literal(r.agent, NAME_LIMIT),
                literal(r.session[:8]) if r.session else "-",
                literal(r.project, NAME_LIMIT) if r.project else "-",
                _time.strftime("%Y-%m-%d %H:%M", _time.gmtime(r.start)),
                duration(r.duration_s),
                cost,
                "/".join(str(r.signals[s]) for s in signals),
                _subagents_cell(r),
                outcome,
                literal(r.prompt) if r.prompt is not None else "",
            )
        )
    for line in _table_lines(table):
        click.echo(line)
