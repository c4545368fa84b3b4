"""Where settings come from, merged in one place: flags, then environment, then agentmon.toml, then defaults.

agentmon.toml (the first found of `$AGENTMON_CONFIG`, ./agentmon.toml, then the user config dir):

    db = "~/agents/agentmon.db"        # the database, unless --db or $AGENTMON_DB say otherwise
    [sources]
    paths = ["/var/log/agents", "ssh://web-1/var/log/agents"]  # what `agentmon watch` and plain `agentmon` follow
    remote_agentmon = "agentmon"       # run on ssh:// hosts when there; "" always uses the POSIX sh server
    host_prefix = false                # name remote hosts' agents agent@host
    idle_minutes = 30                  # a Claude Code task with no event for this long has ended
    [defaults]                         # limits of every agent (docs/config.md lists them)
    task_success_rate = 0.85
    [agents."support-*"]               # then, in file order, the sections whose glob matches the agent
    success = "no_escalation"
"""

from __future__ import annotations

import fnmatch
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from agentmon.errors import AgentmonError
from agentmon.remote import Remote, parse_source

if TYPE_CHECKING:  # the report's modules and prices load when asked for: `agentmon ingest` needs none
    from agentmon.alerts.settings import AlertSettings
    from agentmon.report.verdict import Limits
    from agentmon.store.pricing import CustomPrice
    from agentmon.store.retention import Retention

KNOWN = {
    **{"db": str, "sources": dict, "defaults": dict, "agents": dict, "evals": dict, "prices": dict, "alerts": dict},
    "retention": dict,
    "evidence": dict,
}
KNOWN_PRICE = {"input": (int, float), "output": (int, float), "cache_read": (int, float), "cache_write": (int, float)}
KNOWN_EVALS = {"pass_values": list}
KNOWN_SOURCES = {"paths": list, "idle_minutes": (int, float), "poll": bool, "remote_agentmon": str, "host_prefix": bool}
RATES = (
    "task_success_rate",
    "autonomy_rate",
    "escalation_rate",
    "tool_error_rate",
    "confirmation_rejection_rate",
    "permission_denial_rate",
    "api_error_rate",
    "eval_pass_rate",
)
KNOWN_LIMITS = {
    **{r: (int, float) for r in RATES},
    "min_tasks": int,
    "min_samples": int,
    "cost_per_successful_task": (int, float),
    "infra_cost_per_task": (int, float),
    "success": str,
    "require_no_follow_up": bool,
    "calibration_min_agreement": (int, float),
    "calibration_min_labels": int,
}
SUCCESS_DEFINITIONS = ("outcome", "no_escalation", "no_human_step", "inferred")
# Agents whose logs carry no outcome: their success is "inferred" from the evidence unless a section says otherwise.
INFERRED_BY_DEFAULT = ("claude-code:",)
IDLE_TASK_SECONDS = 30 * 60  # a Claude Code task with no event for this long has ended (sources.idle_minutes)


@dataclass
class Config:
    file: Path | None = None
    db: Path | None = None
    paths: list[Path] = field(default_factory=list)
    remote: list[tuple[Remote, str]] = field(default_factory=list)  # ssh:// sources: (host, path there)
    remote_agentmon: str | None = "agentmon"
    host_prefix: bool = False
    idle_minutes: float = IDLE_TASK_SECONDS / 60
    poll: bool = False  # network and container mounts send no file events: poll them
    eval_pass_values: tuple[str, ...] | None = None  # an Inspect AI score passes with one of these
    limits: list[tuple[str, dict]] = field(default_factory=list)  # (agent glob, limits), "*" first
    prices: tuple[CustomPrice, ...] = ()  # [prices."glob"]: for models genai-prices does not know
    alerts: AlertSettings | None = None  # [alerts]: where verdict changes are sent (agentmon.alerts)
    retention: Retention | None = None  # [retention]: days each kind of row is kept; None: the defaults
    evidence: dict | None = None  # [evidence]: word lists and command patterns (agentmon.sources.claude_code_evidence)
    # limits_for's answers: `limits` is set once, by load()
    _limits_memo: dict[str, Limits] = field(default_factory=dict, init=False, repr=False, compare=False)

    def follows_up(self, agent: str) -> bool:
        """Whether the store keeps follow-ups for this agent (its success requires none)."""
        return self.limits_for(agent).require_no_follow_up

    def limits_for(self, agent: str) -> Limits:
        """The defaults, then every matching [agents."glob"] section in file order, the last word winning."""
        limits = self._limits_memo.get(agent)
        if limits is None:  # asked for every task of every batch by the store (follows_up): match once per agent
            limits = self._limits_memo[agent] = self._limits_for(agent)
        return limits

    def _limits_for(self, agent: str) -> Limits:
        from agentmon.report.metrics import DEFAULT_LIMITS
        from agentmon.report.verdict import Limits

        merged: dict = {}
        for glob, values in self.limits:
            if fnmatch.fnmatchcase(agent, glob):
                merged.update(values)
        if "success" not in merged and agent.startswith(INFERRED_BY_DEFAULT):
            merged["success"] = "inferred"
        return Limits(**merged) if merged else DEFAULT_LIMITS


def _user_dir(xdg: str, default: str, kind: str) -> Path:
    """platformdirs' user config or data dir (`kind`) of agentmon; on Linux worked out here as platformdirs
    does (XDG), since importing it costs every command a few ms (it loads tempfile)."""
    if sys.platform.startswith("linux"):
        return Path(os.environ.get(xdg, "").strip() or os.path.expanduser(default)) / "agentmon"
    import platformdirs

    return Path(getattr(platformdirs, kind)("agentmon"))


def _user_config_dir() -> Path:
    return _user_dir("XDG_CONFIG_HOME", "~/.config", "user_config_dir")


def config_file() -> Path | None:
    if os.environ.get("AGENTMON_CONFIG"):
        path = Path(os.environ["AGENTMON_CONFIG"]).expanduser()
        if not path.is_file():
            raise AgentmonError(f"$AGENTMON_CONFIG names {path}, which is not a file")
        return path
    for path in (Path("agentmon.toml"), _user_config_dir() / "agentmon.toml"):
        if path.is_file():
            return path
    return None


def load() -> Config:
    """The settings file, checked: a typo is an error that names it, not a silent default."""
    path = config_file()
    if path is None:
        return Config()
    import tomllib  # only with a file: a re-run of `agentmon ingest` with none skips its parser

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise AgentmonError(f"{path}: {e}") from None
    _check(path, data, KNOWN, "")
    sources = data.get("sources", {})
    _check(path, sources, KNOWN_SOURCES, "sources.")
    paths = sources.get("paths", [])
    if not all(isinstance(p, str) for p in paths):
        raise AgentmonError(f"{path}: sources.paths must be a list of strings")
    base = path.parent
    resolve = lambda p: (base / Path(p).expanduser()).resolve()
    idle = sources.get("idle_minutes", IDLE_TASK_SECONDS / 60)
    if idle <= 0:
        raise AgentmonError(f"{path}: sources.idle_minutes must be above 0")
    evals = data.get("evals", {})
    _check(path, evals, KNOWN_EVALS, "evals.")
    pass_values = evals.get("pass_values")
    if pass_values is not None and not all(isinstance(v, str) for v in pass_values):
        raise AgentmonError(f"{_where(path, 'pass_values')}: evals.pass_values must be a list of strings")
    limits = [("*", _limits(path, data.get("defaults", {}), "defaults."))]
    for glob, section in data.get("agents", {}).items():
        if not isinstance(section, dict):
            raise AgentmonError(f'{path}: agents.{glob} must be a table: [agents."{glob}"]')
        limits.append((glob, _limits(path, section, f'agents."{glob}".')))
    try:
        parsed = [(p, parse_source(p)) for p in paths]
    except AgentmonError as e:
        raise AgentmonError(f"{path}: sources.paths: {e}") from None
    return Config(
        path,
        resolve(data["db"]) if "db" in data else None,
        [resolve(p) for p, r in parsed if r is None],
        [r for _, r in parsed if r is not None],
        sources.get("remote_agentmon", "agentmon") or None,
        bool(sources.get("host_prefix", False)),
        float(idle),
        bool(sources.get("poll", False)),
        tuple(pass_values) if pass_values else None,
        limits,
        prices=_prices(path, data.get("prices", {})),
        alerts=_alerts(path, data["alerts"]) if "alerts" in data else None,
        retention=_retention(path, data["retention"]) if "retention" in data else None,
        evidence=_evidence(path, data["evidence"]) if "evidence" in data else None,
    )


def _retention(path: Path, table: dict) -> Retention:
    """Days per kind of row, or `false`: kept forever; never fewer days than the windows read (FLOORS)."""
    from dataclasses import fields

    from agentmon.store.retention import FLOORS, Retention

    names = [f.name for f in fields(Retention)]
    values: dict[str, float | None] = {}
    for name, value in table.items():
        if name not in names:
            known = ", ".join(f"retention.{n}" for n in names)
            raise AgentmonError(f"{_where(path, name)}: unknown setting `retention.{name}` (known: {known})")
        if value is False:
            values[name] = None
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AgentmonError(f"{_where(path, name)}: `retention.{name}` must be a number of days, or false: forever")
        floor = FLOORS.get(name, 1)
        if value < floor:
            raise AgentmonError(
                f"{_where(path, name)}: `retention.{name}` must be at least {floor} days (the windows read that far)"
            )
        values[name] = float(value)
    return Retention(**values)


def _evidence(path: Path, table: dict) -> dict:
    """`[evidence]`: lists of strings replacing the defaults' (docs/success.md), `checks` kind by kind; checked by
    compiling them, and put to use at once (the Claude Code parser reads them)."""
    import re

    from agentmon.sources import claude_code_evidence as evidence

    known = evidence.DEFAULT_WORDS
    for key, value in table.items():
        if key not in known:
            names = ", ".join(f"evidence.{k}" for k in known)
            raise AgentmonError(f"{_where(path, key)}: unknown setting `evidence.{key}` (known: {names})")
        if key == "checks":
            if not isinstance(value, dict) or not all(
                kind in evidence.CHECKS and isinstance(v, list) and all(isinstance(p, str) for p in v)
                for kind, v in value.items()
            ):
                kinds = ", ".join(evidence.CHECKS)
                raise AgentmonError(f"{path}: `evidence.checks` is a table of lists of patterns, by kind: {kinds}")
        elif not isinstance(value, list) or not all(isinstance(p, str) for p in value):
            raise AgentmonError(f"{_where(path, key)}: `evidence.{key}` must be a list of strings")
    try:
        evidence.use(table)
    except re.error as e:
        raise AgentmonError(f"{path}: [evidence]: a pattern is not a regular expression: {e}") from None
    return dict(table)


def _alerts(path: Path, table: dict) -> AlertSettings:
    from agentmon.alerts.settings import KNOWN_ALERTS, parse

    _check(path, {k: v for k, v in table.items() if k != "command"}, KNOWN_ALERTS, "alerts.")  # a string or a list
    return parse(path, table, lambda key: _where(path, key))


def _prices(path: Path, table: dict) -> tuple[CustomPrice, ...]:
    """`[prices."glob"]` sections, in file order: USD per million tokens, input and output required."""
    from agentmon.store.pricing import CustomPrice

    out = []
    for glob, section in table.items():
        prefix = f'prices."{glob}".'
        if not isinstance(section, dict):
            raise AgentmonError(f'{path}: prices.{glob} must be a table: [prices."{glob}"]')
        _check(path, section, KNOWN_PRICE, prefix)
        for key in ("input", "output"):
            if key not in section:
                raise AgentmonError(f"{path}: `{prefix}{key}` is required (USD per million tokens)")
        for key, value in section.items():
            if not 0 <= value <= 1e6:
                raise AgentmonError(f"{_where(path, key)}: `{prefix}{key}` is USD per million tokens, not {value}")
        out.append(CustomPrice(glob, **{k: float(v) for k, v in section.items()}))
    return tuple(out)


def _limits(path: Path, table: dict, prefix: str) -> dict:
    _check(path, table, KNOWN_LIMITS, prefix)
    for key in RATES:
        if key in table and not 0 <= table[key] <= 1:
            raise AgentmonError(f"{_where(path, key)}: `{prefix}{key}` is a share between 0 and 1, not {table[key]}")
    if "calibration_min_agreement" in table and not 0 <= table["calibration_min_agreement"] <= 1:
        value = table["calibration_min_agreement"]
        raise AgentmonError(
            f"{_where(path, 'calibration_min_agreement')}: `{prefix}calibration_min_agreement` is a share between 0"
            f" and 1, not {value}"
        )
    if table.get("calibration_min_labels", 1) < 1:  # an inferred rate never counts unchecked
        raise AgentmonError(
            f"{_where(path, 'calibration_min_labels')}: `{prefix}calibration_min_labels` must be at least 1"
        )
    if table.get("success", "outcome") not in SUCCESS_DEFINITIONS:
        raise AgentmonError(
            f"{_where(path, 'success')}: `{prefix}success` must be one of {', '.join(SUCCESS_DEFINITIONS)}"
        )
    return dict(table)


def _where(path: Path, key: str) -> str:
    """`file:line` of the first line that sets `key` (tomllib reports no positions for valid TOML)."""
    try:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip().startswith((f"{key} ", f"{key}=")):
                return f"{path}:{number}"
    except OSError:
        pass
    return str(path)


def _check(path: Path, table: dict, known: dict, prefix: str) -> None:
    for key, value in table.items():
        if key not in known:
            names = ", ".join(prefix + k for k in known)
            raise AgentmonError(f"{_where(path, key)}: unknown setting `{prefix}{key}` (known: {names})")
        if not isinstance(value, known[key]) or (isinstance(value, bool) and known[key] is not bool):
            kind = "number" if isinstance(known[key], tuple) else known[key].__name__
            raise AgentmonError(f"{_where(path, key)}: `{prefix}{key}` must be a {kind}")


def db_path(flag: str | Path | None, cfg: Config | None = None) -> Path:
    """`--db`, else `$AGENTMON_DB`, else agentmon.toml's `db`, else agentmon.db in the user data dir."""
    if flag:
        return Path(flag).expanduser()
    if os.environ.get("AGENTMON_DB"):
        return Path(os.environ["AGENTMON_DB"]).expanduser()
    if cfg is not None and cfg.db is not None:
        return cfg.db
    return _user_dir("XDG_DATA_HOME", "~/.local/share", "user_data_dir") / "agentmon.db"


@dataclass
class Sources:
    local: list[Path] = field(default_factory=list)
    remote: list[tuple[Remote, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.local or self.remote)


def source_paths(flags: list[str], cfg: Config) -> Sources:
    """What to follow: the paths given (local ones must exist), else the configured sources (the
    same), else the Claude Code projects directories that exist."""
    if flags:
        found = Sources()
        for flag in flags:
            remote = parse_source(str(flag))
            if remote is not None:
                found.remote.append(remote)
            elif not Path(flag).exists():
                raise AgentmonError(f"{flag}: no such file or directory")
            else:
                found.local.append(Path(flag))
        return found
    missing = [p for p in cfg.paths if not p.exists()]
    if missing:
        raise AgentmonError(f"{cfg.file}: source path {missing[0]} does not exist")
    if cfg.paths or cfg.remote:
        return Sources(cfg.paths, cfg.remote)
    return Sources(claude_code_projects())


def claude_code_projects() -> list[Path]:
    """`$CLAUDE_CONFIG_DIR/projects` (a comma-separated list of config dirs is allowed), else
    ~/.claude/projects and ~/.config/claude/projects: those that exist."""
    if os.environ.get("CLAUDE_CONFIG_DIR"):
        roots = [Path(p.strip()).expanduser() for p in os.environ["CLAUDE_CONFIG_DIR"].split(",") if p.strip()]
    else:
        roots = [Path("~/.claude").expanduser(), Path("~/.config/claude").expanduser()]
    return [root / "projects" for root in roots if (root / "projects").is_dir()]


def labels_path(db: Path) -> Path:
    """Where `agentmon label` appends its task_end events: beside the database, and always ingested."""
    return db.with_name(db.stem + ".labels.jsonl")
