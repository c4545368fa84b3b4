"""`agentmon demo`: a simulated fleet writing native logs live, one agent drifting.

The fleet first writes the last two hours of history, then keeps writing in real
time. `refund-agent` drifts: its escalations and tool errors start rising 8
minutes before launch and its success rate 10 minutes after them, so within
minutes of launch its verdict turns from go to hold on the leading signals, then
to no-go. No config, no network.
"""

from __future__ import annotations

import heapq
import json
import random
import threading
import time
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
    Persona("refund-agent", "claude-haiku-4-5", 6, 0.95, 0.03, 0.01, 0.05, drifts=True),
    Persona("support-bot", "claude-sonnet-4-5", 4, 0.95, 0.03, 0.01, 0.04),
    Persona("invoice-triage", "claude-haiku-4-5", 8, 0.97, 0.02, 0.01, 0.02),
    Persona("code-reviewer", "claude-opus-4-1", 1.5, 0.88, 0.06, 0.03, 0.08),
    Persona("sales-assistant", "gpt-4o-mini", 0.3, 0.80, 0.05, 0.05, 0.10),
)
SIGNALS_LEAD = 8 * 60  # the drift's leading signals start this long before launch
SUCCESS_LAG = 10 * 60  # and the success rate follows this much later
RAMP = 12 * 60  # each reaches its worst over this long


def ramp(seconds: float) -> float:
    return min(1.0, max(0.0, seconds / RAMP))


class DemoFleet:
    """Writes the fleet's events into `directory`, one file per agent."""

    def __init__(self, directory: Path, now: float | None = None, seed: int = 42, history: float = 2 * 3600):
        self.directory = Path(directory)
        self.launch = time.time() if now is None else now
        self.rng = random.Random(seed)
        self.queue: list[tuple[float, int, str, bytes]] = []
        self._seq = 0
        self.history = history
        self.drift_start = self.launch - SIGNALS_LEAD
        self._next_task: dict[str, float] = {}
        self._count = 0

    # --- what each agent does ---------------------------------------------------------

    def _plan_task(self, p: Persona, start: float) -> None:
        rng = self.rng
        self._count += 1
        task = f"{p.agent[:3]}-{self._count:06d}"
        escalation, tool_error, success = p.escalation, p.tool_error, p.success
        if p.drifts:
            escalation += 0.30 * ramp(start - self.drift_start)
            tool_error += 0.22 * ramp(start - self.drift_start)
            success -= 0.35 * ramp(start - self.drift_start - SUCCESS_LAG)
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
            self._emit(p, ts, "confirmation", task, action="issue refund", approved=rng.random() > 0.15)
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
            t = self._next_task.setdefault(p.agent, self.launch - self.history)
            while t <= until:
                self._plan_task(p, t)
                t += self.rng.expovariate(p.tasks_per_minute / 60)
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
        if files and self.rng.random() < 0.01:  # now and then a log line agentmon cannot read
            with open(self.directory / "support-bot" / "events.jsonl", "ab") as f:
                f.write(b'{"ts": "yesterday", "agent": "support-bot", "event": "task_end"}\n')
        return sum(map(len, files.values()))

    def _write_evals(self) -> None:
        lines = []
        for i, p in enumerate(FLEET):
            for run, when, rate in (("v1", self.launch - 2 * 86400, 0.9), ("v2", self.launch - 7200, 0.95)):
                if p.drifts and run == "v2":
                    rate = 0.86
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
                                "passed": critical or self.rng.random() < rate,
                                "agent_version": f"1.{i}.{run[1]}",
                                "critical": critical,
                            }
                        )
                    )
        (self.directory / "evals.jsonl").write_text("\n".join(lines) + "\n")

    def run(self, stop: threading.Event, interval: float = 0.5) -> None:
        """Keep writing in real time until `stop` is set."""
        while not stop.wait(interval):
            self.write_due(time.time())
