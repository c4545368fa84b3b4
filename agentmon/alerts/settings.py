"""agentmon.toml's `[alerts]`: where alerts go, how often the fleet is judged, debouncing and retries."""

from __future__ import annotations

import shlex
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from agentmon.errors import AgentmonError

WINDOWS = ("1h", "24h", "7d", "30d", "all")  # as agentmon.report.metrics.WINDOWS, without loading the report
NUMBERS = (
    "check_seconds",
    "settle_seconds",
    "min_gap_seconds",
    "timeout_seconds",
    "retry_seconds",
    "retry_max_seconds",
    "give_up_seconds",
)
KNOWN_ALERTS: dict[str, type | tuple[type, ...]] = {
    "webhook": str,
    "command": (str, list),
    "window": str,
    "on_drift": bool,
    **{key: (int, float) for key in NUMBERS},
}


@dataclass(frozen=True)
class AlertSettings:
    webhook: str | None = None  # POST the JSON body here (http or https)
    command: tuple[str, ...] = ()  # run this (no shell), the JSON body on stdin
    window: str = "24h"  # the window verdicts are judged over, as `agentmon status`
    on_drift: bool = False  # also alert when a leading signal starts drifting
    check_seconds: float = 2.0  # the fleet is judged at most this often
    settle_seconds: float = 0.0  # a new verdict must hold this long before it is alerted
    min_gap_seconds: float = 300.0  # at most one alert per agent this often: a flapping agent waits
    timeout_seconds: float = 10.0  # a webhook request or a command
    retry_seconds: float = 1.0  # the first retry after a failed delivery, doubled each time…
    retry_max_seconds: float = 60.0  # …up to this
    give_up_seconds: float = 3600.0  # a delivery still failing this long after its alert is dropped

    @property
    def enabled(self) -> bool:
        return bool(self.webhook or self.command)


def parse(path: Path | str, table: dict, where=lambda key: None) -> AlertSettings:
    """The `[alerts]` table of `path`, checked (types are checked by the caller, as every section's).
    `where(key)`: `file:line` of a key, for the message."""
    at = lambda key: where(key) or str(path)
    webhook = table.get("webhook")
    if webhook is not None and not _http_url(webhook):
        raise AgentmonError(f"{at('webhook')}: `alerts.webhook` must be an http:// or https:// URL")
    command = table.get("command", [])
    if not isinstance(command, (str, list)):
        raise AgentmonError(f"{at('command')}: `alerts.command` must be a string or a list of strings")
    if isinstance(command, str):  # split into words as a POSIX shell would, but never run by one
        try:
            command = shlex.split(command)
        except ValueError as e:
            raise AgentmonError(f"{at('command')}: `alerts.command`: {e}") from None
    if not all(isinstance(word, str) for word in command):
        raise AgentmonError(f"{at('command')}: `alerts.command` must be a string or a list of strings")
    if "command" in table and not command:
        raise AgentmonError(f"{at('command')}: `alerts.command` is empty")
    window = table.get("window", "24h")
    if window not in WINDOWS:
        raise AgentmonError(f"{at('window')}: `alerts.window` must be one of {', '.join(WINDOWS)}")
    for key in NUMBERS:
        if key in table and table[key] < 0:
            raise AgentmonError(f"{at(key)}: `alerts.{key}` must be 0 or more, not {table[key]}")
    for key in ("check_seconds", "timeout_seconds", "retry_seconds"):
        if key in table and table[key] == 0:
            raise AgentmonError(f"{at(key)}: `alerts.{key}` must be above 0")
    return AlertSettings(
        webhook=webhook,
        command=tuple(command),
        window=window,
        on_drift=bool(table.get("on_drift", False)),
        **{key: float(table[key]) for key in NUMBERS if key in table},
    )


def _http_url(url: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (a port that is not a number raises)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
