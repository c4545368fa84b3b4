"""The commands that open the live monitor: `watch`, and `demo` on a simulated fleet (Textual loads then)."""

from __future__ import annotations

from pathlib import Path

import click

from agentmon import config
from agentmon.cli.group import main
from agentmon.cli.options import WindowChoice, _db, _remote, db_option, remote_options


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
