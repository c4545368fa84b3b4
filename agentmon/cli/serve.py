"""The services other processes talk to: `serve` (OTLP/HTTP), and `remote-files` (for an agentmon over ssh)."""

from __future__ import annotations

from pathlib import Path

import click

from agentmon import config
from agentmon.cli.group import main
from agentmon.cli.options import _db, _remote, db_option, remote_options
from agentmon.cli.reading import _alerts, _stop_on_signals
from agentmon.errors import AgentmonError


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


@main.command("remote-files", hidden=True)
@click.option("--check", is_flag=True, help="Exit 0: this agentmon can serve files to a remote agentmon.")
def remote_files(check) -> None:
    """Serve this host's log files over stdin/stdout to an agentmon reading them through ssh."""
    if check:
        return
    from agentmon.remote.server import serve as serve_files

    serve_files()
