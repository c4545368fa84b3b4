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
    """Claude Code-like transcripts under `projects/`, about `total_bytes` in all, shaped like real ones
    (Claude Code 1.0 to 2.1): sessions of a few to 60 prompts; streamed assistant messages, one line per
    content block with the usage repeated, parallel tool uses in one request; every tool result twice
    (the message's `tool_result` and the line's `toolUseResult`), sizes long-tailed (median ~250 B, a
    few tens of kB), source text with newlines, quotes and a UTF-8 arrow per line as Read returns it;
    `file-history-snapshot` and `system` lines; Task calls whose subagent writes its own file under
    `<session>/subagents/agent-<id>.jsonl`. Returns the number of lines written."""
    import json
    import uuid

    rng = random.Random(seed)
    projects = Path(projects)
    written = lines = session_no = 0
    # Source text as a Read result shows it: numbered lines, indentation, quotes (escaped in JSON).
    code = "".join(
        f'{n:6d}\u2192{"    " * (n % 3)}value_{n} = compute("key_{n}", items[{n}])  # step {n}\n'
        for n in range(1, 1200)
    )
    prose = 'The function reads the file, checks each line and returns the "total"; see step 3.\n' * 40

    def sized(median: float, cap: int) -> int:
        """Long-tailed, as real tool results and inputs are: most small, a few large."""
        return min(cap, int(rng.lognormvariate(0, 1.6) * median) + 1)

    def text(n: int, source: str = code) -> str:
        at = rng.randrange(len(source) - n) if n < len(source) else 0
        return source[at : at + n]

    def write(path: Path, out: list[str]) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = ("\n".join(out) + "\n").encode()
        path.write_bytes(data)
        return len(data)

    def conversation(out: list[str], base: dict, prompts: int, sid: str, project: Path, ts: float) -> tuple[int, float]:
        """Lines of a session (or a subagent's) into `out`; the bytes of the subagents' files it wrote."""
        nonlocal lines
        extra = 0
        parent: str | None = None

        def line(**fields: object) -> None:
            nonlocal ts, parent
            ts += rng.uniform(0.5, 20)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"
            uid = str(uuid.UUID(int=rng.getrandbits(128)))
            out.append(
                json.dumps(
                    {"parentUuid": parent, **base, **fields, "uuid": uid, "timestamp": stamp},
                    separators=(",", ":"),
                    ensure_ascii=False,  # as Claude Code writes: UTF-8, not \\u escapes
                )
            )
            parent = uid

        for _ in range(prompts):
            if "agentId" not in base:
                snapshot = {"messageId": str(uuid.UUID(int=rng.getrandbits(128))), "trackedFileBackups": {}}
                out.append(
                    json.dumps(
                        {
                            "type": "file-history-snapshot",
                            "messageId": snapshot["messageId"],
                            "snapshot": snapshot,
                            "isSnapshotUpdate": False,
                        },
                        separators=(",", ":"),
                    )
                )
            line(type="user", message={"role": "user", "content": text(rng.randint(20, 600), prose)})
            for _ in range(rng.randint(1, 12)):
                req = f"req_{rng.getrandbits(64):016x}"
                msg = f"msg_{rng.getrandbits(64):016x}"
                model = rng.choice(MODELS)
                usage = {
                    "input_tokens": rng.randint(3, 50),
                    "cache_creation_input_tokens": (created := rng.randint(0, 5000)),
                    "cache_read_input_tokens": rng.randint(1000, 150000),
                    "cache_creation": {"ephemeral_5m_input_tokens": created, "ephemeral_1h_input_tokens": 0},
                    "output_tokens": rng.randint(1, 30),
                    "service_tier": "standard",
                }
                calls = [
                    (
                        "Task" if rng.random() < 0.02 and "agentId" not in base else rng.choice(TOOLS_CC),
                        f"toolu_{rng.getrandbits(96):024x}",
                    )
                    for _ in range(1 if rng.random() < 0.8 else rng.randint(2, 4))
                ]
                blocks: list[dict] = []
                if rng.random() < 0.5:
                    blocks.append(
                        {
                            "type": "thinking",
                            "thinking": text(rng.randint(100, 3000), prose),
                            "signature": "Eu" + "A" * 300,
                        }
                    )
                if rng.random() < 0.6:
                    blocks.append({"type": "text", "text": text(rng.randint(40, 800), prose)})
                for name, tool_id in calls:
                    blocks.append(
                        {
                            "type": "tool_use",
                            "id": tool_id,
                            "name": name,
                            "input": _tool_input(name, text(sized(120, 12_000))),
                        }
                    )
                for i, block in enumerate(blocks):  # one line per content block, as Claude Code streams
                    last = i == len(blocks) - 1
                    if last:
                        usage = {**usage, "output_tokens": rng.randint(50, 1500)}
                    line(
                        type="assistant",
                        requestId=req,
                        message={
                            "model": model,
                            "id": msg,
                            "type": "message",
                            "role": "assistant",
                            "content": [block],
                            "stop_reason": "tool_use" if last else None,
                            "stop_sequence": None,
                            "usage": usage,
                        },
                    )
                for name, tool_id in calls:
                    error = rng.random() < 0.05
                    if name == "Task":
                        agent = f"{rng.getrandbits(28):07x}"
                        sub: list[str] = []
                        sub_base = {**base, "isSidechain": True, "agentId": agent}
                        # The subagent works while its Task call runs: its lines fall between the call and its result.
                        sub_bytes, ts = conversation(sub, sub_base, rng.randint(1, 2), sid, project, ts)
                        extra += sub_bytes
                        extra += write(project / sid / "subagents" / f"agent-{agent}.jsonl", sub)
                        lines += len(sub)
                        body = text(rng.randint(300, 3000), prose)
                        result: object = {  # as Claude Code writes it: the subagent's id links its file
                            "status": "completed",
                            "agentId": agent,
                            "content": [{"type": "text", "text": body}],
                            "totalDurationMs": 41234,
                            "totalTokens": 23456,
                            "totalToolUseCount": 9,
                            "usage": usage,
                        }
                    else:
                        body = text(sized(250, 40_000))
                        result = (
                            {"stdout": body, "stderr": "", "interrupted": False, "isImage": False}
                            if name == "Bash"
                            else {
                                "type": "text",
                                "file": {
                                    "filePath": "/work/src/app.py",
                                    "content": body,
                                    "numLines": body.count("\n"),
                                    "startLine": 1,
                                    "totalLines": 1200,
                                },
                            }
                        )
                    line(
                        type="user",
                        message={
                            "role": "user",
                            "content": [
                                {
                                    "tool_use_id": tool_id,
                                    "type": "tool_result",
                                    "content": body,
                                    **({"is_error": True} if error else {}),
                                }
                            ],
                        },
                        toolUseResult=("Error: " + body[:200]) if error else result,
                    )
            if rng.random() < 0.1:
                line(type="system", subtype="stop_hook_summary", content="", level="info", hookCount=1)
        return extra, ts

    while written < total_bytes:
        session_no += 1
        project = projects / f"-work-project{session_no % 12}"
        sid = str(uuid.UUID(int=rng.getrandbits(128)))
        base = {
            "isSidechain": False,
            "userType": "external",
            "cwd": f"/work/project{session_no % 12}",
            "sessionId": sid,
            "version": "2.0.76",
            "gitBranch": "main",
        }
        out: list[str] = []
        prompts = min(60, int(rng.lognormvariate(2.0, 0.9)) + 1)
        written += conversation(out, base, prompts, sid, project, 1_780_000_000.0 + rng.uniform(0, 30 * 86400))[0]
        written += write(project / f"{sid}.jsonl", out)
        lines += len(out)
    return lines


TOOLS_CC = ("Read", "Read", "Bash", "Bash", "Edit", "Grep", "Glob", "Write")


def _tool_input(name: str, body: str) -> dict:
    """A tool call's input: a path and a command are short; an Edit or Write carries the text it writes."""
    if name == "Bash":
        return {"command": body[:200], "description": "Run the tests"}
    if name in ("Edit", "Write"):
        return {"file_path": "/work/src/app.py", "old_string": body[: len(body) // 2], "new_string": body}
    if name == "Task":
        return {"description": "Explore the code", "prompt": body, "subagent_type": "Explore"}
    return {"file_path": "/work/src/app.py", "pattern": "value_"}


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
