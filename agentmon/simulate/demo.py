"""`agentmon demo`: a simulated fleet writing native logs live, one agent drifting.

The fleet first writes the last two hours of history, then keeps writing in real time.
`refund-agent` drifts, timed to be seen in the first minutes: its escalations and tool
errors started rising 40 minutes before launch, so the monitor opens with them drifting
against the hour before (hold); its success rate has been falling for the last 30 minutes,
so its last hour, just above the no-go line at launch, crosses the 85% limit with confidence
about two minutes in (no-go). No config, no network.
"""

from __future__ import annotations

import heapq
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Persona:
    agent: str
    model: str
    tasks_per_minute: float
    success: float
    escalation: float
    tool_error: float
    confirmation: float
    drifts: bool = False


FLEET = (
    # The busiest agent: its last hour of 2,000 tasks or so narrows the success rate's interval to about
    # ±1.6 points, so a fall is judged within minutes instead of a quarter of an hour.
    Persona("refund-agent", "claude-haiku-4-5", 35, 0.95, 0.03, 0.01, 0.05, drifts=True),
    Persona("support-bot", "claude-sonnet-4-5", 4, 0.95, 0.03, 0.01, 0.04),
    Persona("invoice-triage", "claude-haiku-4-5", 8, 0.97, 0.02, 0.01, 0.02),
    Persona("code-reviewer", "claude-opus-4-1", 1.5, 0.88, 0.06, 0.03, 0.08),
    Persona("sales-assistant", "gpt-4o-mini", 0.3, 0.80, 0.05, 0.05, 0.10),
)


@dataclass(frozen=True)
class Drift:
    """How far a drifting agent's rate moves, and when: `start` in seconds from launch (negative: before)."""

    start: float
    ramp: float  # it reaches `by` over this long, then stays there
    by: float

    def at(self, t: float) -> float:
        return self.by * min(1.0, max(0.0, (t - self.start) / self.ramp))


# The leading signals move first: rising since 40 minutes before launch, they already stand far above the
# hour before when the monitor opens. The success rate follows: falling for the 30 minutes before launch,
# its last hour sits just above the no-go line at launch and crosses it about two minutes later, as the
# good tasks of an hour ago leave the window (tests/test_demo_story.py pins the minutes).
ESCALATION = Drift(start=-40 * 60, ramp=30 * 60, by=0.08)
TOOL_ERROR = Drift(start=-40 * 60, ramp=30 * 60, by=0.05)
SUCCESS = Drift(start=-30 * 60, ramp=30 * 60, by=-0.53)
BAD_LINE_AFTER = 20  # seconds after launch: the monitor opens clean, then shows a quarantined line


class DemoFleet:
    """Writes the fleet's events into `directory`, one file per agent.

    Each agent draws from its own random stream, so what it does at a given time since launch is
    the same however often `write_due` is called: the tests replay the live minutes with a clock."""

    def __init__(
        self,
        directory: Path,
        now: float | None = None,
        seed: int = 42,
        history: float = 2 * 3600,
        clock: Callable[[], float] = time.time,
    ):
        self.directory = Path(directory)
        self.clock = clock
        self.launch = clock() if now is None else now
        self.rng = random.Random(seed)  # the evals
        self._bad_written = False
        self.rngs = {p.agent: random.Random(f"{seed}:{p.agent}") for p in FLEET}
        self.queue: list[tuple[float, int, str, bytes]] = []
        self._seq = 0
        self.history = history
        self._next_task: dict[str, float] = {}
        self._count: dict[str, int] = {}

    # --- what each agent does ---------------------------------------------------------

    def _plan_task(self, p: Persona, start: float) -> None:
        rng = self.rngs[p.agent]
        n = self._count[p.agent] = self._count.get(p.agent, 0) + 1
        task = f"{p.agent[:3]}-{n:06d}"
        escalation, tool_error, success = p.escalation, p.tool_error, p.success
        if p.drifts:
            t = start - self.launch
            escalation += ESCALATION.at(t)
            tool_error += TOOL_ERROR.at(t)
            success += SUCCESS.at(t)
        ts = start
        self._emit(p, ts, "task_start", task, key=f"cust-{rng.randrange(900)}", model=p.model)
        human = False
        for _ in range(rng.randint(1, 4)):
            ts += rng.uniform(1, 8)
            self._emit(
                p,
                ts,
                "llm_call",
                task,
                model=p.model,
                input_tokens=rng.randint(300, 6000),
                output_tokens=rng.randint(40, 900),
                cache_read_tokens=rng.choice((0, 0, 4096, 16384)),
            )
            ts += rng.uniform(0.2, 4)
            ok = rng.random() > tool_error
            self._emit(
                p,
                ts,
                "tool_call",
                task,
                tool=rng.choice(("lookup_order", "search", "refund", "email")),
                ok=ok,
                **({} if ok else {"error": rng.choice(("timeout", "HTTP 502", "schema mismatch"))}),
            )
        if rng.random() < escalation:
            human = True
            ts += rng.uniform(1, 5)
            self._emit(
                p,
                ts,
                "escalation",
                task,
                reason=rng.choice(("customer asked for a human", "amount over limit", "policy unclear")),
            )
        elif rng.random() < p.confirmation:
            human = True
            ts += rng.uniform(1, 5)
            # 4% rejected: at 15%, on the limit itself, every agent with 30 confirmations would hold on it
            self._emit(p, ts, "confirmation", task, action="issue refund", approved=rng.random() > 0.04)
        if rng.random() < 0.2:
            self._emit(p, ts, "cost", task, cost_usd=round(rng.uniform(0.0002, 0.002), 6), kind="vector-db")
        ok = rng.random() < success + (0.03 if not human else -0.05)
        ts += rng.uniform(1, 6)
        outcome = "success" if ok else rng.choice(("failure", "failure", "abandoned"))
        self._emit(
            p,
            ts,
            "task_end",
            task,
            outcome=outcome,
            **(
                {}
                if ok
                else {
                    "reason": rng.choice(
                        ("refund amount mismatch", "order not found", "gave up after retries", "wrong customer record")
                    )
                }
            ),
        )

    def _emit(self, p: Persona, ts: float, event: str, task: str, **fields) -> None:
        line = json.dumps({"ts": round(ts, 3), "agent": p.agent, "event": event, "task": task, **fields})
        self._seq += 1
        heapq.heappush(self.queue, (ts, self._seq, p.agent, line.encode() + b"\n"))

    def _plan_until(self, until: float) -> None:
        for p in FLEET:
            rng = self.rngs[p.agent]
            t = self._next_task.setdefault(p.agent, self.launch - self.history)
            while t <= until:
                self._plan_task(p, t)
                t += rng.expovariate(p.tasks_per_minute / 60)
            self._next_task[p.agent] = t

    # --- writing -----------------------------------------------------------------------

    def start(self) -> None:
        """Write the history up to now, and the eval results."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for p in FLEET:
            (self.directory / p.agent).mkdir(exist_ok=True)
        self._write_evals()
        self.write_due(self.launch)

    def write_due(self, now: float) -> int:
        """Append every event whose time has come; returns how many."""
        self._plan_until(now + 60)
        files: dict[str, list[bytes]] = {}
        while self.queue and self.queue[0][0] <= now:
            _, _, agent, line = heapq.heappop(self.queue)
            files.setdefault(agent, []).append(line)
        for agent, lines in files.items():
            with open(self.directory / agent / "events.jsonl", "ab") as f:
                f.write(b"".join(lines))
        if files and not self._bad_written and now >= self.launch + BAD_LINE_AFTER:
            # Once, a log line agentmon cannot read: the top line counts it, `x` shows where and why.
            self._bad_written = True
            with open(self.directory / "support-bot" / "events.jsonl", "ab") as f:
                f.write(b'{"ts": "yesterday", "agent": "support-bot", "event": "task_end"}\n')
        return sum(map(len, files.values()))

    def _write_evals(self) -> None:
        lines = []
        for i, p in enumerate(FLEET):
            # refund-agent's newer release passes fewer cases, but still over the 85% gate: its no-go is the drift's
            for run, when, rate in (("v1", self.launch - 2 * 86400, 0.9), ("v2", self.launch - 7200, 0.95)):
                if p.drifts and run == "v2":
                    rate = 0.875
                failing = set(self.rng.sample(range(5, 40), round(40 * (1 - rate))))
                for case in range(40):
                    critical = case < 5  # the demo's critical cases pass: a release with one failing is blocked
                    lines.append(
                        json.dumps(
                            {
                                "ts": when + case,
                                "agent": p.agent,
                                "event": "eval_result",
                                "suite": "golden",
                                "run": run,
                                "case": f"case-{case:02d}",
                                "passed": case not in failing,
                                "agent_version": f"1.{i}.{run[1]}",
                                "critical": critical,
                            }
                        )
                    )
        (self.directory / "evals.jsonl").write_text("\n".join(lines) + "\n")

    def run(self, stop: threading.Event, interval: float = 0.5) -> None:
        """Keep writing in real time (by `clock`) until `stop` is set."""
        while not stop.wait(interval):
            self.write_due(self.clock())
