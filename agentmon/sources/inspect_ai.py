"""Inspect AI eval logs, `.json` and `.eval` (a zip), read without importing inspect_ai.

agent = the log's `eval.metadata.agent`, else the model; suite = the task's name; run = the run
id; case = the sample id (with `#<epoch>` after the first epoch); a sample passes when its first
score's value is `C`, `1`, `1.0` or true. Samples without a score (a cancelled run) are left out.
"""

from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from agentmon.errors import BadLine
from agentmon.events import TS_BOUNDS, EvalResult, ts_out_of_range
from agentmon.sources import DEEP

PASSING = ("C", "1", "1.0", "true", "True", "correct")  # agentmon.toml's [evals] pass_values replaces it


class Score(msgspec.Struct):
    value: Any = None


class Sample(msgspec.Struct):
    id: int | str
    epoch: int = 1
    scores: dict[str, Score] | None = None
    metadata: dict[str, Any] | None = None


class Eval(msgspec.Struct):
    task: str
    run_id: str
    created: datetime
    model: str = "unknown-model"
    metadata: dict[str, Any] | None = None


class Log(msgspec.Struct):
    eval: Eval
    status: str = ""
    samples: list[Sample] | None = None


class Header(msgspec.Struct):
    eval: Eval
    status: str = ""


def looks_like(path: Path, head: bytes) -> bool:
    """An Inspect log: a `.eval` zip, or a `.json` document with a top-level `eval` and `version`."""
    if path.suffix == ".eval":
        return head.startswith(b"PK")
    return path.suffix == ".json" and head.lstrip().startswith(b"{") and b'"eval"' in head and b'"version"' in head


def read(path: Path, agent: str | None = None, passing: tuple[str, ...] = PASSING) -> list[EvalResult]:
    """The log's results; `agent` names the agent when the log's metadata does not."""
    try:
        if path.suffix == ".eval":
            with zipfile.ZipFile(path) as z:
                header = msgspec.json.decode(z.read("header.json"), type=Header)
                samples = [
                    msgspec.json.decode(z.read(name), type=Sample)
                    for name in z.namelist()
                    if name.startswith("samples/") and name.endswith(".json")
                ]
            return results(header.eval, samples, agent, passing)
        log = msgspec.json.decode(path.read_bytes(), type=Log)
        return results(log.eval, log.samples or [], agent, passing)
    except (msgspec.DecodeError, msgspec.ValidationError, zipfile.BadZipFile, KeyError) as e:
        raise BadLine(f"not a readable Inspect AI log: {e}") from None
    except RecursionError:
        raise BadLine(DEEP) from None


def results(
    ev: Eval, samples: list[Sample], agent: str | None = None, passing: tuple[str, ...] = PASSING
) -> list[EvalResult]:
    if ts_out_of_range(ev.created.timestamp()):
        raise BadLine(f"out of range at $.eval.created: {ev.created.isoformat()} is not in {TS_BOUNDS} Unix seconds")
    meta = ev.metadata or {}
    agent = str(meta.get("agent") or agent or ev.model)
    if agent.isspace() or ev.task.isspace():
        raise BadLine("a blank agent or task name (eval.metadata.agent, eval.model, eval.task)")
    version = meta.get("agent_version")
    out = []
    for s in samples:
        if not s.scores:
            continue
        first = next(iter(s.scores.values())).value
        case = str(s.id) if s.epoch <= 1 else f"{s.id}#{s.epoch}"
        out.append(
            EvalResult(
                ts=ev.created,
                agent=agent,
                suite=ev.task,
                case=case,
                run=ev.run_id,
                passed=str(first) in passing or first is True,
                agent_version=str(version) if version else None,
                critical=bool((s.metadata or {}).get("critical")),
            )
        )
    return out
