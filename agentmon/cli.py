"""The command line: thin commands over the library."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agentmon import __version__, config
from agentmon.errors import AgentmonError
from agentmon.ingest.tail import DEFAULT_MAX_LINE
from agentmon.store.writer import connect
from agentmon.text import NAME_LIMIT, duration, literal

if TYPE_CHECKING:
    from agentmon.report.gate import GateResult
    from agentmon.session import IngestSession


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


class Group(click.Group):
    """Turns AgentmonError, OS and SQLite errors into one line on stderr and exit code 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # `agentmon status | head`: the reader left, which is fine
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except (AgentmonError, OSError) as e:
            click.echo(f"agentmon: {literal(str(e))}", err=True)
            sys.exit(1)
        except sqlite3.Error as e:  # a database that is not one, is damaged, or cannot be written
            where = f" in {ctx.meta[DB_IN_USE]}" if DB_IN_USE in ctx.meta else ""
            click.echo(f"agentmon: database error{literal(where)}: {literal(str(e))}", err=True)
            sys.exit(1)


@click.group(cls=Group, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__)
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False),
    help="agentmon.toml to use [default: $AGENTMON_CONFIG, ./agentmon.toml, the user config dir].",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Database file, for the monitor or the command that follows [default: as `agentmon watch --db`].",
)
@click.option(
    "--window",
    type=WindowChoice(),
    help="With no command: the window the monitor starts in (see `agentmon watch`).",
)
@click.pass_context
def main(ctx: click.Context, config: str | None, db: Path | None, window: str | None) -> None:
    """agentmon: are your AI agents in production actually working?

    With no command, opens the live monitor on the database (see `agentmon watch`).
    """
    if config:
        os.environ["AGENTMON_CONFIG"] = config  # config.load() reads it; flags stay the only global state
    if db is not None:
        os.environ["AGENTMON_DB"] = str(db)  # the command's own --db still wins (config.db_path)
    if ctx.invoked_subcommand is None:
        ctx.invoke(watch, **({"window": window} if window else {}))
    elif window:
        raise click.UsageError(f"--window goes after the command: agentmon {ctx.invoked_subcommand} --window {window}")


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


@main.command()
@click.argument("paths", nargs=-1)
@db_option
@click.option(
    "--window",
    type=WindowChoice(),
    default="24h",
    show_default=True,
    help="The window the screen starts in (w cycles it).",
)
@click.option("--otlp", is_flag=True, help="Also receive OTLP/HTTP on 127.0.0.1 (see `agentmon serve`).")
@click.option("--otlp-port", default=4318, show_default=True)
@remote_options
def watch(paths, db, window, otlp, otlp_port, host_prefix, remote_agentmon, connect_timeout) -> None:
    """Open the live monitor, following the logs under PATHS into the database.

    PATHS may be on other hosts: ssh://[USER@]HOST[:PORT]/PATH or HOST:/PATH (docs/remote.md).
    Without PATHS it follows the `sources.paths` of agentmon.toml; with none, it only
    reads the database, which another process (`agentmon ingest --follow`) may be
    writing. It also only reads when another process already ingests.
    """
    from agentmon.tui.app import AgentmonApp

    cfg = config.load()
    sources = config.source_paths(list(paths), cfg)
    AgentmonApp(
        _db(db, cfg),
        sources.local,
        window=window,
        otlp_port=otlp_port if otlp else None,
        idle_task_seconds=cfg.idle_minutes * 60,
        limits_for=cfg.limits_for,
        prices=cfg.prices,
        poll=cfg.poll,
        remote=sources.remote,
        remote_options=_remote(cfg, host_prefix, remote_agentmon, connect_timeout),
        alerts=cfg.alerts,
    ).run()


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


@main.command()
@click.option(
    "--dir",
    "workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the simulated logs and database here [default: a temporary directory].",
)
@click.option(
    "--alerts",
    "send_alerts",
    is_flag=True,
    help="Deliver the simulated fleet's verdict changes to agentmon.toml's [alerts], to try them.",
)
def demo(workdir, send_alerts) -> None:
    """Open the live monitor on a simulated fleet: no config, no network.

    It never sends alerts unless asked (--alerts): a simulated NO-GO must not page anyone."""
    import tempfile

    from agentmon.tui.demo import DemoApp

    alerts = config.load().alerts if send_alerts else None
    if send_alerts and (alerts is None or not alerts.enabled):
        raise click.UsageError("--alerts: agentmon.toml has no [alerts] webhook or command")
    with tempfile.TemporaryDirectory(prefix="agentmon-demo-") as tmp:
        DemoApp(workdir or Path(tmp), alerts=alerts).run()


@main.command()
@click.argument("paths", nargs=-1)
@db_option
@click.option("--follow", "-f", is_flag=True, help="Keep watching and ingest lines as they are written.")
@click.option(
    "--max-line-bytes", default=DEFAULT_MAX_LINE, show_default=True, help="Longer lines are quarantined and skipped."
)
@click.option("--wait", is_flag=True, help="Wait for another ingester of this database instead of refusing.")
@click.option("--eval-agent", help="The agent of eval logs that do not name one (Inspect AI: eval.metadata.agent).")
@remote_options
def ingest(paths, db, follow, max_line_bytes, wait, eval_agent, host_prefix, remote_agentmon, connect_timeout) -> None:
    """Read every complete new line of the logs under PATHS into the database.

    PATHS are local files and directories, or ssh://[USER@]HOST[:PORT]/PATH and HOST:/PATH on other
    hosts, read through your ssh (docs/remote.md). Without PATHS: the `sources.paths` of
    agentmon.toml, else the Claude Code projects directories. Formats are told apart by content.
    """
    from agentmon.session import IngestSession

    cfg = config.load()
    sources = config.source_paths(list(paths), cfg)
    if not sources:
        raise click.UsageError(
            "no PATHS given, no sources.paths in agentmon.toml and no Claude Code projects directory found"
        )
    db_file = _db(db, cfg)
    session = IngestSession(
        db_file,
        sources.local,
        follow=follow,
        remote=sources.remote,
        remote_options=_remote(cfg, host_prefix, remote_agentmon, connect_timeout),
        wait_for_lock=wait,
        track_follow_ups=cfg.follows_up,
        prices=cfg.prices,
        idle_task_seconds=cfg.idle_minutes * 60,
        poll=cfg.poll,
        max_line=max_line_bytes,
        eval_agent=eval_agent,
        eval_pass_values=cfg.eval_pass_values,
        **_alerts(cfg),
    )
    if follow:
        _stop_on_signals(session)
    with session:
        if follow:
            session.follow()
        else:
            from agentmon.ingest.progress import Progress

            with Progress(session.stats):
                session.run_once()
    all_stats = session.stats()
    lines, events, bad, files = (
        sum(getattr(s, k) for s in all_stats) for k in ("lines", "events", "quarantined", "files")
    )
    click.echo(f"{lines} lines, {events} events, {bad} quarantined, {files} files -> {db_file}", err=True)
    if bad:
        click.echo("agentmon: `agentmon quarantine` lists the quarantined lines and files, with the reasons", err=True)
    if not files:
        for hint in _unread_files(sources.local):
            click.echo(f"agentmon: {literal(hint)}", err=True)
    for s in all_stats:
        if s.last_error:
            click.echo(f"agentmon: warning: {literal(s.last_error)}", err=True)
        for w in s.waiting:
            click.echo(f"agentmon: not read yet, being written: {literal(w.path)} ({literal(w.reason)})", err=True)
    for message in session.unreachable:
        click.echo(f"agentmon: error: {literal(message)}", err=True)
    if session.unreachable:
        raise SystemExit(1)


VERDICT_LEVEL = {"go": 0, "hold": 1, "no-go": 2}


def _fail_on(agents: list[dict], level: str) -> None:
    """Exit 3 when an agent's verdict is at or past `level`: the table (or JSON) is out first."""
    failing = [a["agent"] for a in agents if VERDICT_LEVEL[a["verdict"]] >= VERDICT_LEVEL[level]]
    if failing:
        names = ", ".join(literal(a, NAME_LIMIT) for a in failing[:5]) + (" …" if len(failing) > 5 else "")
        click.echo(f"agentmon: {len(failing)} agent{'s' * (len(failing) != 1)} at {level} or worse: {names}", err=True)
        sys.exit(3)


def _unread_files(paths: list[Path], look_at: int = 1000) -> list[str]:
    """Why a directory gave no log files: the files in it that agentmon does not read by their names."""
    hints = []
    for root in paths:
        if not root.is_dir():
            continue
        others = []
        for i, path in enumerate(p for p in root.rglob("*") if p.is_file()):
            if i >= look_at:
                break
            others.append(path)
        if others:
            example = os.path.relpath(others[0], root)
            count = f"{len(others):,}{'+' if len(others) >= look_at else ''} other file{'s' * (len(others) != 1)}"
            hints.append(
                f"no log files under {root}: a directory is read for *.jsonl, *.ndjson and *.log files (and their "
                f"rotated copies), and *.json and *.eval eval logs; {count} there, such as {example}: rename it, or "
                "give the file itself (a file named on the command line is read whatever its name)"
            )
    return hints


def _alerts(cfg: config.Config) -> dict:
    """A service's alerts: agentmon.toml's `[alerts]`, its limits, and its delivery problems on stderr."""
    return {
        "alerts": cfg.alerts,
        "limits_for": cfg.limits_for,
        "say": lambda words: click.echo(f"agentmon: {literal(words)}", err=True),
    }


def _stop_on_signals(session: IngestSession) -> None:
    """SIGTERM and Ctrl-C end a session that follows: its sources stop in order, and the summary is printed."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: session.stop())
    signal.signal(signal.SIGINT, lambda *_: session.stop())


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
        click.echo(f"{r[0]}  {r[1]}  {r[-1]}".rstrip())
        line = " "
        for name, value in zip(header[2:-1], r[2:-1]):
            item = f"  {name.lower()} {value}"
            if len(line) + len(item) > columns and line.strip():
                click.echo(line)
                line = " "
            line += item
        click.echo(line)


def _table_lines(rows: Sequence[tuple[str, ...]]) -> list[str]:
    """Columns padded to their widest cell, two spaces apart; the last one (free text) unpadded."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1]).rstrip() for r in rows]


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


@main.command()
@click.argument("paths", nargs=-1)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=4318, show_default=True, help="Port (OTLP/HTTP's usual one).")
@click.option("--token", envvar="AGENTMON_TOKEN", help="Bearer token clients must send [env: AGENTMON_TOKEN].")
@click.option("--no-token", is_flag=True, help="Listen beyond loopback without a token (a trusted network only).")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the bearer token from this file (only its owner may read it), in place of --token.",
)
@db_option
@remote_options
def serve(paths, host, port, token, no_token, token_file, db, host_prefix, remote_agentmon, connect_timeout) -> None:
    """Receive OpenTelemetry over OTLP/HTTP (/v1/traces, /v1/logs) into the database.

    PATHS, if given, are followed too, as by `agentmon ingest --follow`: one process writes a database.
    """
    import ipaddress

    from agentmon.session import IngestSession

    if token_file is not None:
        if no_token:
            raise click.UsageError("--token-file and --no-token contradict each other")
        token = _read_token(token_file)
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback and not token and not no_token:
        raise click.UsageError(f"{host} is not loopback: give --token (or $AGENTMON_TOKEN), or --no-token")
    cfg = config.load()
    db_file = _db(db, cfg)
    sources = config.source_paths(list(paths), cfg) if paths else None
    session = IngestSession(
        db_file,
        sources.local if sources else (),
        follow=True,
        files=sources is not None,
        remote=sources.remote if sources else (),
        remote_options=_remote(cfg, host_prefix, remote_agentmon, connect_timeout),
        poll=cfg.poll,
        otlp=(host, port),
        token=token,
        track_follow_ups=cfg.follows_up,
        prices=cfg.prices,
        idle_task_seconds=cfg.idle_minutes * 60,
        **_alerts(cfg),
    )
    _stop_on_signals(session)
    with session:
        receiver = session.receiver
        assert receiver is not None  # or start() raised
        click.echo(f"agentmon: receiving OTLP/HTTP on http://{host}:{receiver.server_port} -> {db_file}", err=True)
        session.follow()
    click.echo(f"agentmon: {receiver.accepted} spans and log records accepted", err=True)


def _read_token(path: Path) -> str:
    """The token in `path`, refused if anyone but its owner can read or change the file."""
    try:
        mode = path.stat().st_mode
        if mode & 0o077:
            raise AgentmonError(f"{path}: others can read or change it (mode {mode & 0o777:o}): chmod 600 it")
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise AgentmonError(f"{path}: cannot read the token: {e}") from None
    if not token or any(c.isspace() for c in token):
        raise AgentmonError(f"{path}: a token is one word on the file's first line")
    return token


@main.command()
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@db_option
def backup(target: Path, db: Path | None) -> None:
    """Copy the database to TARGET while it is being written (SQLite's online backup), labels included."""
    from agentmon.backup import backup as copy

    db_file = _db(db, config.load())
    try:
        tasks = copy(db_file, target)
    except (sqlite3.Error, OSError, ValueError) as e:
        raise AgentmonError(f"backup of {db_file} to {target} failed: {e}") from None
    click.echo(f"agentmon: copied {db_file} to {target} ({tasks:,} tasks)", err=True)


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


@main.command("remote-files", hidden=True)
@click.option("--check", is_flag=True, help="Exit 0: this agentmon can serve files to a remote agentmon.")
def remote_files(check) -> None:
    """Serve this host's log files over stdin/stdout to an agentmon reading them through ssh."""
    if check:
        return
    from agentmon.remote.server import serve as serve_files

    serve_files()


@main.command()
@db_option
@click.option("--limit", default=50, show_default=True, help="Show the latest this many.")
def quarantine(db, limit) -> None:
    """List the quarantined lines: file, byte offset, reason and the line's start."""
    conn = connect(_db(db), readonly=True)
    (total,) = conn.execute("SELECT count(*) FROM quarantine").fetchone()
    rows = conn.execute(
        "SELECT path, offset, reason, excerpt FROM quarantine ORDER BY id DESC LIMIT ?", (limit,)
    ).fetchall()
    for path, offset, reason, excerpt in reversed(rows):
        where = f"byte {offset:,}" if excerpt else "the whole file"  # an eval log is quarantined whole
        click.echo(
            f"{literal(path)} ({where}): {literal(reason)}" + (f"\n    {literal(excerpt[:120])}" if excerpt else "")
        )
    shown = f", latest {len(rows)} shown" if total > len(rows) else ""
    click.echo(f"{total} quarantined line{'s' * (total != 1)}{shown}")


@main.command()
@db_option
@click.option(
    "--vacuum", is_flag=True, help="Rewrite the file once (full VACUUM) so it shrinks now and after every prune."
)
def prune(db: Path | None, vacuum: bool) -> None:
    """Forget now what is past agentmon.toml's [retention] (the ingesting process does it in small steps)."""
    import time

    from agentmon.store.retention import Retention, full_vacuum
    from agentmon.store.retention import prune as forget
    from agentmon.store.writer import Store

    cfg = config.load()
    db_file = _db(db, cfg)
    if not db_file.exists():
        raise AgentmonError(f"no database at {db_file}: run `agentmon ingest PATH` first")
    before = db_file.stat().st_size
    try:
        store = Store(db_file)
    except AgentmonError as e:  # another process ingests: it forgets by itself
        raise AgentmonError(f"{e}; that process forgets what is past [retention] by itself, a step a minute") from None
    with store:
        done = forget(store.conn, cfg.retention or Retention(), time.time())
        if vacuum:
            full_vacuum(store.conn)
        (mode,) = store.conn.execute("PRAGMA auto_vacuum").fetchone()
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    after = db_file.stat().st_size
    click.echo(
        f"agentmon: forgot {done.minutes:,} minute and {done.hours:,} hour buckets, {done.tasks:,} tasks,"
        f" {done.prompts:,} prompts, {done.requests:,} requests, {done.traces:,} OpenTelemetry trace agents,"
        f" {done.quarantine:,} quarantined lines;"
        f" {db_file}: {before / 1e6:,.1f} MB -> {after / 1e6:,.1f} MB",
        err=True,
    )
    if mode != 2:  # not INCREMENTAL: freed pages are reused, never given back
        click.echo(
            "agentmon: this database was made before incremental vacuum: its file will not shrink;"
            " `agentmon prune --vacuum` rewrites it once (needs its size free on disk)",
            err=True,
        )


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


def _db(flag: Path | None, cfg: config.Config | None = None) -> Path:
    """The database a command uses, remembered for the messages of its errors (Group.invoke)."""
    path = config.db_path(flag, cfg if cfg is not None else config.load())
    click.get_current_context().meta[DB_IN_USE] = path
    return path


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"


def _usd(x) -> str:
    return "-" if x is None else f"${x:.4f}"


if __name__ == "__main__":
    main()
