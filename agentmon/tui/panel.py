"""One agent on the fleet screen: verdict, the core four with trends, sparklines, the first reason."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from agentmon.report.fleet import AgentView
from agentmon.tui.render import age, badge, count, pct, plain, plain_name, sparkline, trend, usd

WIDE = 110  # from this many columns each rate gets its own sparkline


class AgentPanel(Static, can_focus=True):
    """A bordered panel; Enter on it opens the agent screen."""

    def __init__(self, view: AgentView, now: float):
        super().__init__(classes="agent-panel")
        self.agent = view.metrics.agent
        self.update_view(view, now)

    def update_view(self, view: AgentView, now: float) -> None:
        self.view = view
        self.now = now
        m = view.metrics
        self.border_title = plain_name(m.agent)
        self.border_subtitle = badge(m.verdict)
        self.set_class(m.verdict == "no-go", "no-go")
        self.set_class(m.verdict == "hold", "hold")
        self.refresh(layout=True)

    def render(self) -> Text:
        width = self.content_region.width or 76
        return Text("\n").join(self.lines(width))

    def lines(self, width: int) -> list[Text]:
        v, m, prev = self.view, self.view.metrics, self.view.previous
        spark = 12 if width >= WIDE else 8 if width >= 78 else 7  # 80 columns less borders and a scrollbar

        def rate(label: str, metric: str, value, fmt=pct, with_spark=True) -> Text:
            arrow, style = trend(metric, value, getattr(prev, metric, None) if prev else None)
            out = Text.assemble((label, "bold"), " ", fmt(value), " ", (arrow, style))
            if with_spark:
                out.append(" ")
                out.append_text(sparkline(v.series[metric], spark))
            return out

        wide = width >= WIDE
        gap = Text("  " if wide else " ")
        line1 = gap.join(
            [
                rate("success ", "task_success_rate", m.task_success_rate),
                rate("autonomy", "autonomy_rate", m.autonomy_rate, with_spark=wide),
                rate("$/succ", "cost_per_successful_task", m.cost_per_successful_task, usd, with_spark=wide),
                Text(
                    f"n={count(m.tasks)}"
                    + "".join(
                        f" ({count(n)} {word})"
                        for n, word in ((m.unlabeled_tasks, "unlabeled"), (m.pending_tasks, "pending"))
                        if n
                    )
                ),
            ]
        )
        line2 = gap.join(
            [
                rate("escalate", "escalation_rate", m.escalation_rate),
                rate("tool-err", "tool_error_rate", m.tool_error_rate),
                rate("reject", "confirmation_rejection_rate", m.confirmation_rejection_rate, with_spark=wide),
                Text(f"eval {pct(m.eval_pass_rate, 0).strip()}"),
            ]
        )
        reason = plain(m.reasons[0] if m.reasons else "")
        if m.verdict != "go":
            reason.stylize("yellow" if m.verdict == "hold" else "red")
        tail = Text(f"  · open {count(v.open_tasks)} · last event {age(v.last_event_ts, self.now)}", style="dim")
        line3 = reason + tail
        for line in (line1, line2, line3):
            line.truncate(width, overflow="ellipsis")
            line.no_wrap = True
        return [line1, line2, line3]
