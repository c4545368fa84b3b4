"""One agent on the fleet screen: verdict, the core four with trends, sparklines, the leading signals, what it
spent, the first reason."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from agentmon.report.fleet import AgentView
from agentmon.report.metrics import spend_text, tokens_text
from agentmon.tui.render import age, badge, count, pct, plain, plain_name, sparkline, trend, usd

WIDE = 110  # from this many columns each rate gets its own sparkline


def spark_cells(width: int) -> int:
    """Sparkline cells in a panel `width` columns inside: the app reads as many buckets, so they span the window."""
    return 12 if width >= WIDE else 8 if width >= 78 else 7  # 80 columns less borders and a scrollbar


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
        # Liveness on the border, where a long reason cannot push it off the panel at 80 columns.
        live = Text(f" open {count(view.open_tasks)} · last event {age(view.last_event_ts, now)} ", style="dim")
        self.border_subtitle = live + badge(m.verdict)
        self.set_class(m.verdict == "no-go", "no-go")
        self.set_class(m.verdict == "hold", "hold")
        self.refresh(layout=True)

    def render(self) -> Text:
        width = self.content_region.width or 76
        return Text("\n").join(self.lines(width))

    def lines(self, width: int) -> list[Text]:
        v, m, prev = self.view, self.view.metrics, self.view.previous
        spark = spark_cells(width)

        def rate(label: str, metric: str, value, fmt=pct, with_spark=True) -> Text:
            arrow, style = trend(metric, value, getattr(prev, metric, None) if prev else None)
            out = Text.assemble((label, "bold"), " ", fmt(value), " ", (arrow, style))
            if with_spark:
                out.append(" ")
                out.append_text(sparkline(v.series[metric], spark))
            return out

        def per_success(value: float | None) -> str:
            unknown = value is None and m.successes and m.unpriced_llm_calls
            return spend_text(value, "unpriced" if unknown else "priced", m.unpriced_llm_calls, usd)

        wide = width >= WIDE
        gap = Text("  " if wide else " ")
        line1 = gap.join(
            [
                # "inferred" in place of "success": the rate rests on inferred outcomes (docs/success.md)
                rate(
                    "inferred" if m.task_success_rate_source == "inferred" else "success ",
                    "task_success_rate",
                    m.task_success_rate,
                ),
                rate("autonomy", "autonomy_rate", m.autonomy_rate, with_spark=wide),
                # over the labelled tasks alone when some ended without an outcome (docs/events.md)
                rate(
                    "$/labeled" if m.cost_per_successful_task_basis == "labeled" else "$/succ",
                    "cost_per_successful_task",
                    m.cost_per_successful_task,
                    per_success,
                    with_spark=wide,
                ),
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
        line3 = gap.join(
            [
                rate("deny", "permission_denial_rate", m.permission_denial_rate, with_spark=False),
                rate("api-err", "api_error_rate", m.api_error_rate, with_spark=False)
                + Text(f" ({count(m.api_retries)} retried)" if m.api_retries else ""),
                Text(spend_text(m.cost_usd, m.cost_status, m.unpriced_llm_calls, usd).strip(), style="bold"),
                Text(
                    f"{tokens_text(m.input_tokens)} in {tokens_text(m.output_tokens)} out "
                    f"{tokens_text(m.cache_read_tokens)}+{tokens_text(m.cache_write_tokens)} cache r+w"
                ),
            ]
        )
        reason = plain(m.reasons[0] if m.reasons else "")
        if m.verdict != "go":
            reason.stylize("yellow" if m.verdict == "hold" else "red")
        line4 = reason
        for line in (line1, line2, line3, line4):
            line.truncate(width, overflow="ellipsis")
            line.no_wrap = True
        return [line1, line2, line3, line4]
