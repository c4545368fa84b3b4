"""`agentmon status`: each agent's metrics and verdict, as a table, a block per agent, rows `--by` period, or JSON."""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Sequence

import click

from agentmon import config
from agentmon.cli.group import main
from agentmon.cli.options import _db, _time_range, db_option, time_options, window_option
from agentmon.cli.tables import _pct, _table_lines, _usd
from agentmon.store.writer import connect
from agentmon.text import NAME_LIMIT, literal


@main.command()
@db_option
@window_option
@click.option("--json", "as_json", is_flag=True, help="Print the machine-readable snapshot.")
@time_options
@click.option(
    "--by",
    type=click.Choice(["day", "week", "month", "session"]),
    help="A row per UTC day, week or month, or per Claude Code session: tasks, success, cost, tokens.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["hold", "no-go"]),
    help="Exit 3 when an agent's verdict is this or worse (for cron and CI).",
)
@click.pass_context
def status(ctx, db, window, as_json, since, until, by, fail_on) -> None:
    """Show each agent's outcome metrics and verdict.

    Exit 0, or with --fail-on, 3 when an agent's verdict is at or past that level."""
    if fail_on and by:
        raise click.UsageError("--fail-on judges agents' verdicts: it does not go with --by")
    cfg = config.load()
    db_file = _db(db, cfg)
    conn = connect(db_file, readonly=True)
    start, end = _time_range(ctx, since, until, window)
    if by is not None:
        _periods(conn, by, start, end, cfg.limits_for, as_json)
        return
    if since is None and until is None:
        from agentmon.report.metrics import snapshot

        doc = snapshot(conn, window, limits_for=cfg.limits_for)
    else:
        from agentmon.report.periods import range_snapshot

        doc = range_snapshot(conn, start, end, limits_for=cfg.limits_for)
    from agentmon.alerts import health as alert_health

    alerts = alert_health.read(alert_health.state_path(db_file))
    doc["alerts"] = None if alerts is None else alerts.to_json()
    if fail_on:
        ctx.call_on_close(lambda: _fail_on(doc["agents"], fail_on))
    if as_json:
        import json

        click.echo(json.dumps(doc, indent=2))
        return
    ing = doc["ingest"]
    click.echo(
        f"window {doc['window']} · {ing['files']} files · {ing['lines']} lines · {ing['quarantined']} quarantined"
    )
    from agentmon.report.hosts import describe
    from agentmon.report.metrics import spend_text, tokens_text

    for problem in alert_health.problems(alerts):
        click.echo(problem)
    for h in doc["remote_sources"]:
        click.echo(f"host {literal(h['source'])}  {literal(describe(h))}")
    for w in ing["waiting_documents"]:
        where = f"{w['host']}:" if w["host"] else ""
        click.echo(f"not read yet, being written: {literal(where + w['path'])} ({literal(w['reason'])})")
    rows = [
        (
            "AGENT",
            "VERDICT",
            "TASKS",
            "SUCCESS",
            "AUTONOMY",
            "$/SUCCESS",
            "ESCAL",
            "TOOL-ERR",
            "REJECT",
            "DENY",
            "API-ERR",
            "EVAL",
            "SPEND",
            "TOKENS IN/OUT/CACHE-R/CACHE-W",
            "REASON",
        )
    ]
    for a in doc["agents"]:
        tasks = str(a["tasks"]) + "".join(
            f" ({a[k]} {word})" for k, word in (("unlabeled_tasks", "unlabeled"), ("pending_tasks", "pending")) if a[k]
        )
        rows.append(
            (
                literal(a["agent"], NAME_LIMIT),
                a["verdict"].upper(),
                tasks,
                _pct(a["task_success_rate"]) + (" inferred" if a["task_success_rate_source"] == "inferred" else ""),
                _pct(a["autonomy_rate"]),
                _per_success(a),
                _pct(a["escalation_rate"]),
                _pct(a["tool_error_rate"]),
                _pct(a["confirmation_rejection_rate"]),
                _pct(a["permission_denial_rate"]),
                _pct(a["api_error_rate"]) + (f" ({a['api_retries']} retried)" if a["api_retries"] else ""),
                _pct(a["eval_pass_rate"]),
                spend_text(a["cost_usd"], a["cost_status"], a["unpriced_llm_calls"], _usd),
                "/".join(
                    tokens_text(a[k])
                    for k in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
                ),
                literal(a["reasons"][0] if a["reasons"] else ""),
            )
        )
    _table_or_blocks(rows)
    if not doc["agents"]:
        click.echo("no agents yet: ingest some logs with `agentmon ingest PATH`")


VERDICT_LEVEL = {"go": 0, "hold": 1, "no-go": 2}


def _fail_on(agents: list[dict], level: str) -> None:
    """Exit 3 when an agent's verdict is at or past `level`: the table (or JSON) is out first."""
    failing = [a["agent"] for a in agents if VERDICT_LEVEL[a["verdict"]] >= VERDICT_LEVEL[level]]
    if failing:
        names = ", ".join(literal(a, NAME_LIMIT) for a in failing[:5]) + (" …" if len(failing) > 5 else "")
        click.echo(f"agentmon: {len(failing)} agent{'s' * (len(failing) != 1)} at {level} or worse: {names}", err=True)
        sys.exit(3)


def _table_or_blocks(rows: Sequence[tuple[str, ...]]) -> None:
    """The table, when it fits the terminal (or the output is not one: scripts get the table, or --json);
    else a block per agent: its name, verdict and reason, then each column as `name value`, packed."""
    lines = _table_lines(rows)
    columns = _terminal_columns()
    if columns is None or max(len(line) for line in lines) <= columns:
        for line in lines:
            click.echo(line)
        return
    header, *agents = rows
    for r in agents:
        for line in _name_and_reason(r[0], r[1], r[-1], columns):
            click.echo(line)
        line = " "
        for name, value in zip(header[2:-1], r[2:-1]):
            item = f"  {name.lower()} {value}"
            if len(line) + len(item) > columns and line.strip():
                click.echo(line)
                line = " "
            line += item
        click.echo(line)


def _name_and_reason(name: str, verdict: str, reason: str, columns: int) -> list[str]:
    """`name  VERDICT  reason`, the reason going on under it, indented, cut between words (never inside
    `--an-option`); a name too long for the line leaves the reason a line of its own."""
    import textwrap

    head = f"{name}  {verdict}"
    if len(head) + 12 > columns:  # no room beside it
        return [
            head,
            *textwrap.wrap(reason, columns, initial_indent="   ", subsequent_indent="   ", break_on_hyphens=False),
        ]
    wrapped = textwrap.wrap(
        reason, columns, initial_indent=f"{head}  ", subsequent_indent="   ", break_on_hyphens=False
    )
    return wrapped or [head]


def _terminal_columns() -> int | None:
    """The terminal's width ($COLUMNS first, as `ls` reads it); None when the output is not a terminal."""
    try:
        if not sys.stdout.isatty():
            return None
        said = os.environ.get("COLUMNS", "")
        return int(said) if said.isdigit() else os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError):
        return None


def _per_success(a: dict) -> str:
    """$/SUCCESS: "unpriced" when its tasks' calls had no price; "(labeled)" when over labelled tasks alone."""
    from agentmon.report.metrics import spend_text

    value = a["cost_per_successful_task"]
    unknown = value is None and a["successes"] and a["unpriced_llm_calls"]
    text = spend_text(value, "unpriced" if unknown else "priced", a["unpriced_llm_calls"], _usd)
    basis = a["cost_per_successful_task_basis"]
    return text + f" ({basis})" if basis in ("labeled", "inferred") and a["successes"] else text


def _periods(
    conn: sqlite3.Connection, by: str, start: float | None, end: float | None, limits_for, as_json: bool
) -> None:
    """`status --by`: a row per day, week, month or session, oldest first, and their total."""
    from agentmon.report.periods import period_rows, total_row

    rows = period_rows(conn, by, start, end, limits_for)
    if as_json:
        import json

        click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    if not rows:
        click.echo("no tasks ended in that time")
        return
    head = ("SESSION", "PROJECT") if by == "session" else (by.upper(),)
    table = [(*head, "TASKS", "SUCCESS", "UNLABELED", "COST", "INPUT", "OUTPUT", "CACHE-READ", "CACHE-WRITE", "TOKENS")]
    for r in [*rows, total_row(rows)]:
        names = (literal(r.period, NAME_LIMIT), literal(r.project or "", NAME_LIMIT))[: len(head)]
        table.append(
            (
                *names,
                str(r.tasks),
                _pct(r.task_success_rate),
                str(r.unlabeled_tasks),
                _usd(r.cost_usd),
                *(f"{n:,}" for n in (r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens)),
                f"{r.total_tokens:,}",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:  # names to the left, numbers to the right
        cells = (c.ljust(w) if i < len(head) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        click.echo("  ".join(cells).rstrip())
