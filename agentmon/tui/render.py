"""Numbers, arrows, sparklines and badges as Rich Text. Log text is always literal."""

from __future__ import annotations

import time

from rich.text import Text

from agentmon.text import NAME_LIMIT, literal

SPARKS = "▁▂▃▄▅▆▇█"
VERDICT = {"go": ("GO ✓", "bold green"), "hold": ("HOLD ?", "bold yellow"), "no-go": ("NO-GO ✗", "bold red")}
# For each metric: does "up" mean better (True), worse (False)?
UP_IS_GOOD = {
    "task_success_rate": True,
    "autonomy_rate": True,
    "eval_pass_rate": True,
    "cost_per_successful_task": False,
    "escalation_rate": False,
    "tool_error_rate": False,
    "confirmation_rejection_rate": False,
    "permission_denial_rate": False,
    "api_error_rate": False,
}


def plain(text: str | None, style: str = "") -> Text:
    """Text from a log: markup stays literal, control characters become visible escapes."""
    return Text(literal(text or ""), style=style)


def plain_name(text: str | None, style: str = "", width: int = 0) -> Text:
    """An agent, task, model or host name from a log, cut to NAME_LIMIT characters, padded to `width`."""
    return Text(literal(text or "", NAME_LIMIT).ljust(width), style=style)


def pct(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "  -  "
    return f"{x * 100:{3 + digits}.{digits}f}%"


def usd(x: float | None) -> str:
    if x is None:
        return "  -   "
    return f"${x:.3f}" if x < 10 else f"${x:,.0f}"


def count(n: int) -> str:
    return str(n) if n < 1000 else f"{n / 1000:.1f}k" if n < 100_000 else f"{n // 1000}k"


def plural(n: int, word: str, exact: bool = False) -> str:
    """ "1 agent", "2 agents", "1.2k files" (exact: "1,234 files")."""
    return f"{f'{n:,}' if exact else count(n)} {word}{'s' * (n != 1)}"


def trend(metric: str, now: float | None, before: float | None) -> tuple[str, str]:
    """An arrow against the previous window, and its style: green when better, red when worse."""
    if now is None or before is None:
        return " ", ""
    if metric == "cost_per_successful_task":
        moved = abs(now - before) > 0.05 * max(abs(before), 1e-12)
    else:
        moved = abs(now - before) >= 0.01  # a percentage point
    if not moved:
        return "─", "dim"
    up = now > before
    good = up == UP_IS_GOOD[metric]
    return ("▲" if up else "▼"), ("green" if good else "red")


def sparkline(values: list[float | None], width: int) -> Text:
    """The last `width` values; a gap where a bucket counted too little to judge (report.fleet.MIN_SAMPLES).
    Scaled to the values' range."""
    values = values[-width:]
    known = [v for v in values if v is not None]
    if not known:
        return Text("·" * len(values), style="dim")
    lo, hi = min(known), max(known)
    chars = []
    for v in values:
        if v is None:
            chars.append(" ")
        elif hi == lo:
            chars.append(SPARKS[3])
        else:
            chars.append(SPARKS[round((v - lo) / (hi - lo) * (len(SPARKS) - 1))])
    return Text("".join(chars), style="cyan")


def badge(verdict: str) -> Text:
    word, style = VERDICT[verdict]
    return Text(f" {word} ", style=style)


def age(ts: float | None, now: float | None = None) -> str:
    if ts is None:
        return "never"
    seconds = max(0, (time.time() if now is None else now) - ts)
    if seconds < 60:
        return f"{seconds:.0f}s ago"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m ago"
    if seconds < 86400:
        return f"{seconds / 3600:.0f}h ago"
    return f"{seconds / 86400:.0f}d ago"


def clock(ts: float) -> str:
    return time.strftime("%m-%d %H:%M", time.localtime(ts))
