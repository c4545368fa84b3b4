"""genai-prices' answers for models whose price never changes, kept between runs.

Loading genai-prices' data takes ~130 ms, a tenth of a cold ingest of 100 MB of transcripts and
most of a short one (a cron `agentmon ingest`). For a model with one fixed price (most of them),
its per-token rates in each tier are all agentmon needs; they are written here the first time and
read back by later runs, which then never import genai-prices. The file is named after the
installed genai-prices version, so an upgrade starts a new one. Models whose price depends on the
date or the time of day, and any run without this file, go to genai-prices itself.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

UNKNOWN, CONDITIONAL = "unknown", "conditional"  # genai-prices has no price / a time-dependent one


def default_path() -> Path | None:
    version = installed_version()
    if version is None:
        return None
    import platformdirs

    return Path(platformdirs.user_cache_dir("agentmon")) / f"genai-prices-{version}.json"


def installed_version() -> str | None:
    """genai-prices' version, read from its dist-info directory's name: importlib.metadata would
    take 13 ms to import, a tenth of a run with nothing new to read."""
    spec = importlib.util.find_spec("genai_prices")  # found, not imported (that takes ~90 ms)
    if spec is None:
        return None
    prefix, suffix = "genai_prices-", ".dist-info"
    if spec.origin:
        with os.scandir(Path(spec.origin).parent.parent) as entries:
            for entry in entries:
                if entry.name.startswith(prefix) and entry.name.endswith(suffix):
                    return entry.name[len(prefix) : -len(suffix)]
    from importlib import metadata  # installed some other way

    try:
        return metadata.version("genai-prices")
    except metadata.PackageNotFoundError:
        return None


class PriceCache:
    """model -> UNKNOWN, CONDITIONAL, or [thresholds, rates of each tier regime]."""

    def __init__(self, path: Path | None):
        self.path = path
        self.models: dict[str, object] = {}
        self.dirty = False
        if path is not None:
            try:
                loaded = json.loads(path.read_text())
                if isinstance(loaded, dict):
                    self.models = loaded
            except (OSError, ValueError):
                pass  # none yet, or unreadable: genai-prices answers, and this file is written anew

    def put(self, model: str, entry: object) -> None:
        self.models[model] = entry
        self.dirty = True

    def save(self) -> None:
        """Write it if it learned something; a cache that cannot be written is only slower next time."""
        if not self.dirty or self.path is None:
            return
        import tempfile  # only when there is something to write: its load (random, shutil) costs every run ~5 ms

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".prices-")
            with os.fdopen(fd, "w") as f:
                json.dump(self.models, f)
            os.replace(tmp, self.path)
            self.dirty = False
        except OSError:
            pass
