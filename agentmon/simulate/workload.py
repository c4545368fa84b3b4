"""A simulated fleet writing native events: for the benchmark, the tests and the demo."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec

from agentmon.events import (
    Confirmation,
    Cost,
    Escalation,
    Event,
    HumanIntervention,
    LlmCall,
    Outcome,
    TaskEnd,
    TaskStart,
    ToolCall,
)

MODELS = ("claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-1")
TOOLS = ("search", "lookup_order", "refund", "send_email", "read_file")
_encode = msgspec.json.Encoder().encode


def fleet_events(
    n_events: int,
    agents: int = 20,
    seed: int = 7,
    start: float = 1_780_000_000.0,
    span: float = 7 * 86400,
    prefix: str = "t",
) -> Iterator[bytes]:
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
        events: list[Event] = [TaskStart(ts=ts, agent=agent, task=task, key=f"cust-{rng.randrange(5000)}", model=model)]
        for _ in range(rng.randint(2, 4)):
            ts += rng.uniform(0.5, 20)
            events.append(
                LlmCall(
                    ts=ts,
                    agent=agent,
                    task=task,
                    model=model,
                    input_tokens=rng.randint(200, 4000),
                    output_tokens=rng.randint(20, 800),
                    cache_read_tokens=rng.choice((0, 0, 2048, 8192)),
                )
            )
            ts += rng.uniform(0.1, 5)
            events.append(
                ToolCall(ts=ts, agent=agent, task=task, tool=rng.choice(TOOLS), ok=rng.random() > 0.05, error=None)
            )
        r = rng.random()
        if r < 0.06:
            events.append(Escalation(ts=ts + 1, agent=agent, task=task, reason="customer asked for a human"))
        elif r < 0.12:
            events.append(
                Confirmation(ts=ts + 1, agent=agent, task=task, action="issue refund", approved=rng.random() > 0.2)
            )
        elif r < 0.13:
            events.append(HumanIntervention(ts=ts + 1, agent=agent, task=task, kind="manual fix"))
        if rng.random() < 0.3:
            events.append(Cost(ts=ts + 1, agent=agent, task=task, cost_usd=0.0004, kind="vector-db"))
        outcome: Outcome = "success" if rng.random() < 0.88 else rng.choice(("failure", "abandoned"))
        events.append(
            TaskEnd(
                ts=ts + 2,
                agent=agent,
                task=task,
                outcome=outcome,
                reason=None if outcome == "success" else "refund amount mismatch",
            )
        )
        for ev in events[: n_events - emitted]:
            yield _encode(ev)
        emitted += len(events)


def claude_code_transcripts(projects: Path, total_bytes: int, seed: int = 3) -> int:
    """Claude Code-like transcripts under `projects/`, about `total_bytes` in all: sessions of
    prompts, streamed assistant messages (usage repeated per content block), tool uses and
    results with file-sized contents. Returns the number of lines written."""
    import json
    import uuid

    rng = random.Random(seed)
    projects = Path(projects)
    written = lines = session_no = 0
    filler = "x" * 4000
    while written < total_bytes:
        session_no += 1
        project = projects / f"-work-project{session_no % 12}"
        project.mkdir(parents=True, exist_ok=True)
        sid = str(uuid.UUID(int=rng.getrandbits(128)))
        ts = 1_780_000_000.0 + session_no * 3600
        out: list[str] = []

        def line(out=out, sid=sid, session_no=session_no, **fields):  # bound now: redefined each session
            nonlocal ts
            ts += rng.uniform(0.5, 20)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"
            out.append(
                json.dumps(
                    {
                        "sessionId": sid,
                        "cwd": f"/work/project{session_no % 12}",
                        "version": "2.0.76",
                        "uuid": str(uuid.UUID(int=rng.getrandbits(128))),
                        "timestamp": stamp,
                        **fields,
                    },
                    separators=(",", ":"),
                )
            )

        for prompt in range(rng.randint(2, 6)):
            line(type="user", isSidechain=False, message={"role": "user", "content": f"do step {prompt}"})
            for turn in range(rng.randint(2, 8)):
                msg, req = f"msg_{session_no}_{prompt}_{turn}", f"req_{session_no}_{prompt}_{turn}"
                usage = {
                    "input_tokens": rng.randint(3, 50),
                    "cache_creation_input_tokens": rng.randint(0, 5000),
                    "cache_read_input_tokens": rng.randint(1000, 90000),
                    "output_tokens": 2,
                }
                tool_id = f"toolu_{session_no}_{prompt}_{turn}"
                blocks = [
                    [{"type": "thinking", "thinking": filler[: rng.randint(200, 2000)]}],
                    [{"type": "text", "text": filler[: rng.randint(100, 800)]}],
                    [
                        {
                            "type": "tool_use",
                            "id": tool_id,
                            "name": rng.choice(["Read", "Bash", "Edit", "Grep"]),
                            "input": {"file_path": "/work/x.py"},
                        }
                    ],
                ]
                for i, content in enumerate(blocks):  # one line per content block, as Claude Code streams
                    if i == len(blocks) - 1:
                        usage = {**usage, "output_tokens": rng.randint(50, 900)}
                    line(
                        type="assistant",
                        isSidechain=False,
                        requestId=req,
                        message={
                            "model": rng.choice(MODELS),
                            "id": msg,
                            "type": "message",
                            "role": "assistant",
                            "content": content,
                            "usage": usage,
                        },
                    )
                error = rng.random() < 0.08
                line(
                    type="user",
                    isSidechain=False,
                    message={
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": tool_id,
                                "content": filler[: rng.randint(500, 4000)],
                                **({"is_error": True} if error else {}),
                            }
                        ],
                    },
                )
        data = "\n".join(out) + "\n"
        (project / f"{sid}.jsonl").write_text(data)
        written += len(data)
        lines += len(out)
    return lines


def inspect_eval_logs(folder: Path, samples: int, transcript_bytes: int, seed: int = 5) -> tuple[Path, Path]:
    """One Inspect AI run of `samples` scored samples, each with a transcript of about `transcript_bytes`,
    written as Inspect writes it today: a `.eval` zip with zstd entries (header, samples, summaries) and the
    same run as a `.json` log. For the benchmark: what agentmon reads is the scores, not the transcripts."""
    import json
    import sys

    if sys.version_info >= (3, 14):
        import zipfile
    else:
        from backports.zstd import zipfile  # the standard library's zipfile with zstd, as Python 3.14 has it

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "task": "bench-golden",
        "run_id": "bench-run",
        "created": "2026-06-01T10:00:00+00:00",
        "model": "anthropic/claude-sonnet-4-5",
        "metadata": {"agent": "bench-agent"},
    }
    header = {"version": 2, "status": "success", "eval": spec}
    words = [f"w{i}" for i in range(5000)]
    full, summaries = [], []
    for i in range(samples):
        scores = {"match": {"value": "C" if rng.random() < 0.9 else "I", "answer": "42"}}
        summary = {"id": f"case-{i:05d}", "epoch": 1, "input": "a question", "target": "42", "scores": scores}
        text = " ".join(rng.choices(words, k=transcript_bytes // 6))  # words compress as prose does, not as zeros
        full.append(
            {**summary, "messages": [{"role": "user", "content": "a question"}, {"role": "assistant", "content": text}]}
        )
        summaries.append(summary)
    eval_log = folder / "bench.eval"
    with zipfile.ZipFile(eval_log, "w", compression=zipfile.ZIP_ZSTANDARD) as z:
        for sample in full:
            z.writestr(f"samples/{sample['id']}_epoch_1.json", json.dumps(sample))
        z.writestr("summaries.json", json.dumps(summaries))
        z.writestr("header.json", json.dumps(header))
    json_log = folder / "bench.json"
    json_log.write_text(json.dumps({**header, "eval": {**spec, "run_id": "bench-run-json"}, "samples": full}))
    return eval_log, json_log
