"""Enter: one agent over time, its models, its latest failures, escalations and rejections, its evals."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Static

from agentmon.report.calibration import calibration_words
from agentmon.report.fleet import MIN_SAMPLES, AgentDetail, agent_detail
from agentmon.report.metrics import orchestration_text, spend_text
from agentmon.report.tasks import TaskRow
from agentmon.text import NAME_LIMIT, literal
from agentmon.tui.agent_tasks import label_task, latest_tasks, tasks_text
from agentmon.tui.charts import NO_DATA, line_chart
from agentmon.tui.monitor_screen import MonitorScreen
from agentmon.tui.render import badge, clock, pct, plain, plain_name, plural, usd


class AgentScreen(MonitorScreen):
    BINDINGS = [
        ("escape,backspace", "app.pop_screen", "Back"),
        ("w", "app.cycle_window", "Window"),
        Binding("j", "select_task(1)", "Next task", show=False),
        Binding("k", "select_task(-1)", "Previous task", show=False),
        Binding("s", "label('success')", "Success"),
        Binding("f", "label('failure')", "Failure"),
    ]

    def __init__(self, agent: str):
        super().__init__()
        self.agent = agent
        self.detail: AgentDetail | None = None
        self.tasks: list[TaskRow] = []  # the latest tasks; `selected` indexes them
        self.selected = 0
        self.prompts: dict[str, str | None] = {}  # read once from the transcripts, by task

    def compose(self) -> ComposeResult:
        yield Static(id="agent-title")
        with VerticalScroll(id="agent-body"):
            with Horizontal(classes="charts"):
                yield Static(id="outcome-chart", classes="chart")
                yield Static(id="signal-chart", classes="chart")
            yield Static(id="cost-chart", classes="chart")
            yield Static(id="models", classes="section")
            yield Static(id="hosts", classes="section")
            yield Static(id="why", classes="section")
            yield Static(id="tasks", classes="section")
            yield Static(id="latest", classes="section")
            yield Static(id="evals", classes="section")
        yield Footer(show_command_palette=False, compact=True)  # at 80 columns: every key, none cut

    def on_mount(self) -> None:
        self.load()

    def reload_on_fleet(self) -> None:
        self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        app = self.monitor
        detail = app.read(
            lambda conn: agent_detail(conn, self.agent, app.window, app.clock(), limits_for=app.limits_for)
        )
        tasks = app.read(lambda conn: latest_tasks(conn, self.agent, app.window, app.clock(), self.prompts))
        app.call_from_thread(self.show_tasks, tasks)
        app.call_from_thread(self.show, detail)

    def _parts_gone(self) -> bool:
        """A read that lands after the screen (or the app) began to close: its parts are gone."""
        return not self.query("#tasks")

    def on_resize(self) -> None:
        if self.detail is not None:
            self.show(self.detail)

    def show(self, detail: AgentDetail | None) -> None:
        if self._parts_gone():
            return
        title = self.query_one("#agent-title", Static)
        if detail is None:
            title.update(Text.assemble(plain_name(self.agent), " · nothing in this database · esc back"))
            return
        self.detail = detail
        m = detail.view.metrics
        title.update(
            Text.assemble(
                (" ", ""),
                (plain_name(m.agent).plain, "bold"),
                "  ",
                badge(m.verdict),
                f"  {self.monitor.window}  ·  esc back",
            )
        )
        half = max(30, (self.size.width - 2) // 2)
        now, width = self.monitor.clock(), detail.bucket_seconds
        color = not self.monitor.no_color
        s = detail.view.series
        # Counts too thin to draw a point of (each a rate over MIN_SAMPLES or more) are not "no data": say which.
        few = f"too few a point to draw ({MIN_SAMPLES} needed)" if detail.counted else NO_DATA
        tasks_empty = few if m.tasks else NO_DATA
        inferred = m.task_success_rate_source == "inferred"
        self.query_one("#outcome-chart", Static).update(
            line_chart(
                {"success": s["task_success_rate"], "autonomy": s["autonomy_rate"]},
                half,
                12,
                now,
                width,
                f"success{' (inferred)' if inferred else ''} and autonomy, %",
                color=color,
                empty=tasks_empty,
            )
        )
        self.query_one("#signal-chart", Static).update(
            line_chart(
                {
                    "escalations": s["escalation_rate"],
                    "tool errors": s["tool_error_rate"],
                    "rejections": s["confirmation_rejection_rate"],
                },
                half,
                12,
                now,
                width,
                "leading signals, %",
                color=color,
                empty=few if m.tasks or m.tool_calls else NO_DATA,
            )
        )
        self.query_one("#cost-chart", Static).update(
            line_chart(
                {"$ per successful task": s["cost_per_successful_task"]},
                min(2 * half, 100),
                9,
                now,
                width,
                f"cost per successful task, ${' (success inferred)' if inferred else ''}",
                percent=False,
                color=color,
                empty=tasks_empty,
            )
        )
        self.query_one("#models", Static).update(self._models(detail))
        hosts = self.query_one("#hosts", Static)
        hosts.display = bool(detail.hosts)
        hosts.update(self._hosts(detail))
        why = Text(f"why {m.verdict.upper()}\n", style="bold")
        for reason in m.reasons:
            why.append_text(Text("  · ") + plain(reason) + Text("\n"))
        if m.calibration is not None:  # how far the inferred outcomes can be trusted, under the reasons
            why.append(f"  {calibration_words(m.calibration)}\n", style="dim")
        unlabeled = f" ({m.unlabeled_tasks} without an outcome)" if m.unlabeled_tasks else ""
        cost = spend_text(m.cost_usd, m.cost_status, m.unpriced_llm_calls, lambda x: f"${x:.4f}")
        why.append(
            f"  cost {cost} over {plural(m.tasks, 'ended task', exact=True)}{unlabeled}\n"
            f"  tokens in {m.input_tokens:,} · out {m.output_tokens:,}"
            + (f" (reasoning {m.reasoning_tokens:,})" if m.reasoning_tokens else "")  # a part of out
            + f" · cache read {m.cache_read_tokens:,} · cache write {m.cache_write_tokens:,}\n"
            f"  {plural(m.permission_denials, 'permission denial', exact=True)} of "
            f"{plural(m.tool_calls, 'tool call', exact=True)}\n"
            f"  {plural(m.api_errors, 'failed API request', exact=True)} of {m.llm_requests + m.api_errors:,}"
            f" ({plural(m.api_retries, 'retried attempt', exact=True)} apart)",
            style="dim",
        )
        if (orchestration := orchestration_text(m.orchestration, usd, sep="\n  ")) is not None:  # 80 columns
            why.append(f"\n  {orchestration}", style="dim")
        self.query_one("#why", Static).update(why)
        self.query_one("#tasks", Static).update(self._tasks())
        self.query_one("#latest", Static).update(self._latest(detail))
        self.query_one("#evals", Static).update(self._evals(detail))

    def _models(self, detail: AgentDetail) -> Text:
        """Which model is cheapest per *successful* task."""
        models = detail.view.metrics.models
        width = max([len(literal(mm.model, NAME_LIMIT)) for mm in models] + [5])
        labeled = detail.view.metrics.cost_per_successful_task_basis == "labeled"
        out = Text(
            "by model (ended tasks in the window" + ("; $/success over labeled tasks" if labeled else "") + ")\n",
            style="bold",
        )
        out.append(f"  {'model':<{width}}  {'tasks':>6}  {'success':>7}  {'cost':>9}  {'$/success':>9}\n", style="bold")
        for mm in models:
            out.append("  ")
            out.append_text(plain_name(mm.model, width=width))
            out.append(
                f"  {mm.tasks:>6}  {pct(mm.task_success_rate):>7}  "
                f"{spend_text(mm.cost_usd, mm.cost_status, mm.unpriced_llm_calls, usd):>9}  "
                f"{_per_success(mm.cost_per_successful_task, mm.successes, mm.unpriced_llm_calls):>9}\n"
            )
        if not models:
            out.append("  no ended tasks in this window\n", style="dim")
        return out

    def _hosts(self, detail: AgentDetail) -> Text:
        """The same agent on each host it ran on: is one host the odd one out?"""
        names = [host or "this machine" for host, _ in detail.hosts]
        width = max([len(literal(n, NAME_LIMIT)) for n in names] + [4])
        out = Text("by host (hour buckets)\n", style="bold")
        out.append(
            f"  {'host':<{width}}  {'tasks':>6}  {'success':>7}  {'autonomy':>8}  {'tool err':>8}  {'$/success':>9}\n",
            style="bold",
        )
        for name, (_, m) in zip(names, detail.hosts):
            out.append("  ")
            out.append_text(plain_name(name, width=width))
            out.append(
                f"  {m.tasks:>6}  {pct(m.task_success_rate):>7}  {pct(m.autonomy_rate):>8}  "
                f"{pct(m.tool_error_rate):>8}  "
                f"{_per_success(m.cost_per_successful_task, m.successes, m.unpriced_llm_calls):>9}\n"
            )
        return out

    # --- the latest tasks, and labelling the selected one ---------------------------------

    def show_tasks(self, tasks: list[TaskRow]) -> None:
        """Keep the selection on the same task when the list moves under it."""
        if self._parts_gone():
            return
        chosen = self.tasks[self.selected].task if self.selected < len(self.tasks) else None
        self.tasks = tasks
        names = [t.task for t in tasks]
        self.selected = names.index(chosen) if chosen in names else min(self.selected, max(len(tasks) - 1, 0))
        self.query_one("#tasks", Static).update(self._tasks())

    def _tasks(self) -> Text:
        return tasks_text(self.tasks, self.selected)

    def action_select_task(self, step: int) -> None:
        if self.tasks:
            self.selected = max(0, min(len(self.tasks) - 1, self.selected + step))
            self.query_one("#tasks", Static).update(self._tasks())

    def action_label(self, outcome: str) -> None:
        if not self.tasks:
            self.notify("no task to label in this window", severity="warning")
            return
        self.write_label(self.tasks[self.selected], outcome)

    @work(thread=True, group="label")
    def write_label(self, task: TaskRow, outcome: str) -> None:
        app = self.monitor
        message, ok = app.read(lambda conn: label_task(conn, app.db_path, task, outcome))
        app.call_from_thread(lambda: self.notify(message, severity="information" if ok else "error"))

    def _latest(self, detail: AgentDetail) -> Text:
        out = Text()
        for heading, rows, style in (
            ("latest failures", detail.failures, "red"),
            ("latest escalations", detail.escalations, "yellow"),
            ("latest rejected confirmations", detail.rejections, "magenta"),
        ):
            out.append(f"{heading}\n", style="bold")
            if not rows:
                out.append("  none\n", style="dim")
            for row in rows:
                ts, task, *rest = row
                what = " ".join(str(x) for x in rest if x) or "(no reason given)"
                out.append(f"  {clock(ts) if ts else '':<12} ")
                out.append_text(plain_name(task))
                out.append("  ")
                out.append_text(plain(what, style))
                out.append("\n")
        return out

    def _evals(self, detail: AgentDetail) -> Text:
        out = Text("eval runs (latest first)\n", style="bold")
        if not detail.eval_runs:
            out.append("  none\n", style="dim")
        for suite, run, newest, cases, passed, critical_failed, version in detail.eval_runs:
            line = Text("  ")
            line.append_text(plain(f"{suite} {run or '(no run)'}"))
            share = pct(passed / cases if cases else None).strip()
            line.append(f"  {clock(newest)}  {passed}/{cases} passed ({share})")
            if critical_failed:
                line.append(f"  {critical_failed} critical failed", style="bold red")
            if version:
                line.append_text(Text("  version ") + plain(version))
            out.append_text(line + Text("\n"))
        return out


def _per_success(value: float | None, successes: int, unpriced: int) -> str:
    """Cost per successful task; "unpriced" when its tasks' calls had no price, never $0."""
    return spend_text(value, "unpriced" if value is None and successes and unpriced else "priced", unpriced, usd)
