"""A simulated fleet writing native events: for the benchmark, the tests and the demo."""

from __future__ import annotations

import random
from collections.abc import Iterator

import msgspec

from agentmon.events import (
    Confirmation, Cost, Escalation, HumanIntervention, LlmCall, TaskEnd, TaskStart, ToolCall,
)

MODELS = ("claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-1")
TOOLS = ("search", "lookup_order", "refund", "send_email", "read_file")
_encode = msgspec.json.Encoder().encode


def fleet_events(n_events: int, agents: int = 20, seed: int = 7, start: float = 1_780_000_000.0,
                 span: float = 7 * 86400, prefix: str = "t") -> Iterator[bytes]:
    """About `n_events` JSON lines: tasks of about ten events each, spread over `span` seconds."""
    rng = random.Random(seed)
    names = [f"agent-{i:02d}" for i in range(agents)]
    emitted = 0
    i = -1
    while emitted < n_events:
        i += 1
        agent = names[i % agents]
        task = f"{prefix}-{i:07d}"
        ts = start + span * emitted / n_events
        model = MODELS[(i // agents + i) % 3] if rng.random() < 0.9 else "in-house-model-x"
        events = [TaskStart(ts=ts, agent=agent, task=task, key=f"cust-{rng.randrange(5000)}", model=model)]
        for _ in range(rng.randint(2, 4)):
            ts += rng.uniform(0.5, 20)
            events.append(LlmCall(ts=ts, agent=agent, task=task, model=model,
                                  input_tokens=rng.randint(200, 4000), output_tokens=rng.randint(20, 800),
                                  cache_read_tokens=rng.choice((0, 0, 2048, 8192))))
            ts += rng.uniform(0.1, 5)
            events.append(ToolCall(ts=ts, agent=agent, task=task, tool=rng.choice(TOOLS),
                                   ok=rng.random() > 0.05, error=None))
        r = rng.random()
        if r < 0.06:
            events.append(Escalation(ts=ts + 1, agent=agent, task=task, reason="customer asked for a human"))
        elif r < 0.12:
            events.append(Confirmation(ts=ts + 1, agent=agent, task=task, action="issue refund",
                                       approved=rng.random() > 0.2))
        elif r < 0.13:
            events.append(HumanIntervention(ts=ts + 1, agent=agent, task=task, kind="manual fix"))
        if rng.random() < 0.3:
            events.append(Cost(ts=ts + 1, agent=agent, task=task, cost_usd=0.0004, kind="vector-db"))
        outcome = "success" if rng.random() < 0.88 else rng.choice(("failure", "abandoned"))
        events.append(TaskEnd(ts=ts + 2, agent=agent, task=task, outcome=outcome,
                              reason=None if outcome == "success" else "refund amount mismatch"))
        for ev in events[:n_events - emitted]:
            yield _encode(ev)
        emitted += len(events)
