"""ssh:// sources: logs on other hosts, read through the system's ssh client (docs/remote.md).

`ssh://[user@]host[:port]/path` or scp's `[user@]host:/path`. The remote end only lists and
reads files (agentmon/remote/server.py, or server.sh where agentmon is not installed); the
tailing, parsing and exactly-once commits stay here, in the one pipeline every source uses.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from agentmon.errors import AgentmonError

SCP_FORM = re.compile(r"^(?:(?P<user>[^@/:\s]+)@)?(?P<host>[A-Za-z0-9][A-Za-z0-9._-]*):(?P<path>/.*)$")


@dataclass(frozen=True)
class Remote:
    """A host as the user named it; ssh resolves the name (aliases of ~/.ssh/config work)."""

    host: str
    user: str | None = None
    port: int | None = None

    @property
    def label(self) -> str:
        """The host as agentmon shows and stores it: its name, and the port when one was given."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def prefix(self) -> str:
        """How this host's files are named locally: ssh://[user@]host[:port] then the remote path."""
        return "ssh://" + (f"{self.user}@" if self.user else "") + self.label


def parse_source(text: str) -> tuple[Remote, str] | None:
    """(host, absolute remote path) for an ssh:// or scp-style source; None for a local path."""
    if text.startswith("ssh://"):
        parts = urlsplit(text)
        if not parts.hostname:
            raise AgentmonError(f"{text}: no host in this ssh:// source")
        try:
            port = parts.port
        except ValueError:
            raise AgentmonError(f"{text}: the port is not a number") from None
        path = parts.path
        if not path.startswith("/") or path == "/":
            raise AgentmonError(f"{text}: give the absolute path of a directory or file on the host")
        return Remote(parts.hostname, parts.username, port), os.path.normpath(path)
    m = SCP_FORM.match(text)
    if m and not os.path.exists(text):  # a local file named like host:/x stays local
        return Remote(m["host"], m["user"]), os.path.normpath(m["path"])
    return None
