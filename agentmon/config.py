"""Where settings come from, merged in one place: flags, then environment, then defaults."""

from __future__ import annotations

import os
from pathlib import Path


def db_path(flag: str | Path | None) -> Path:
    """`--db`, else `$AGENTMON_DB`, else agentmon.db in the user data dir."""
    if flag:
        return Path(flag).expanduser()
    if os.environ.get("AGENTMON_DB"):
        return Path(os.environ["AGENTMON_DB"]).expanduser()
    import platformdirs
    return Path(platformdirs.user_data_dir("agentmon")) / "agentmon.db"
