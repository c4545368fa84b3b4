"""Inspect AI eval logs, `.json` and `.eval` (a zip), read without importing inspect_ai.

agent = the log's `eval.metadata.agent`, else the model; suite = the task's name; run = the run
id; case = the sample id (with `#<epoch>` after the first epoch); a sample passes when its first
score's value is `C`, `1`, `1.0` or true. Samples without a score (a cancelled run) are left out, and so is
every result of a log marked invalid.
"""

from __future__ import annotations

import struct
import sys
import zipfile
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from agentmon.errors import BadLine
from agentmon.events import TS_BOUNDS, EvalResult, ts_out_of_range
from agentmon.sources import DEEP

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

ZSTD_METHODS = (93, 20)  # zstd's zip method (APPNOTE 6.3.7), and 20, the id it had first
LOCAL_HEADER = 30  # bytes of a zip entry's local header before its name and extra field

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
    invalidated: bool = False
    samples: list[Sample] | None = None


class Header(msgspec.Struct):
    eval: Eval
    status: str = ""
    invalidated: bool = False


class Unfinished(BadLine):
    """The log does not read whole: it may still be being written (`running`: it is, the eval has not ended)."""

    def __init__(self, reason: str, running: bool = False):
        super().__init__(reason)
        self.running = running


def looks_like(path: Path, head: bytes) -> bool:
    """An Inspect log: a `.eval` zip, or a `.json` document with a top-level `eval` and `version`."""
    if path.suffix == ".eval":
        return head.startswith(b"PK")
    return path.suffix == ".json" and head.lstrip().startswith(b"{") and b'"eval"' in head and b'"version"' in head


def read(path: Path, agent: str | None = None, passing: tuple[str, ...] = PASSING) -> list[EvalResult]:
    """The log's results; `agent` names the agent when the log's metadata does not.
    Unfinished: the log does not read whole yet; BadLine: it reads whole and is not a log agentmon can read."""
    try:
        if path.suffix == ".eval":
            return _read_eval(path, agent, passing)
        try:
            log = msgspec.json.decode(path.read_bytes(), type=Log)
        except msgspec.ValidationError:  # a whole JSON document, not a log
            raise
        except msgspec.DecodeError as e:
            raise Unfinished(f"not a whole JSON document ({e})") from None
        return results(log.eval, log.samples or [], agent, passing) if _counts(log.status, log.invalidated) else []
    except msgspec.DecodeError as e:  # ValidationError too
        raise BadLine(f"not a readable Inspect AI log: {e}") from None
    except RecursionError:
        raise BadLine(DEEP) from None


def _read_eval(path: Path, agent: str | None, passing: tuple[str, ...]) -> list[EvalResult]:
    """A `.eval` zip, read as Inspect reads it: the header, then the sample summaries (`summaries.json`, which
    is small), else the journal's (an older or interrupted log), else the samples; the last entry of a name wins
    (Inspect appends a re-run sample under the same name)."""
    with open(path, "rb") as f:
        try:
            z = zipfile.ZipFile(f)
        except zipfile.BadZipFile as e:
            raise Unfinished(f"not a whole zip ({e})") from None
        with z:
            entries = {info.filename: info for info in z.infolist()}
            if "header.json" not in entries:
                raise Unfinished("the eval is still running (no header.json yet)", running=True)
            header = msgspec.json.decode(_entry(f, z, entries["header.json"]), type=Header)
            if not _counts(header.status, header.invalidated):
                return []
            if "summaries.json" in entries:
                samples = msgspec.json.decode(_entry(f, z, entries["summaries.json"]), type=list[Sample])
            else:
                journal = sorted(
                    (n for n in entries if n.startswith("_journal/summaries/") and n.endswith(".json")),
                    key=lambda n: int(n.rsplit("/", 1)[1].removesuffix(".json") or 0),
                )
                samples = [s for n in journal for s in msgspec.json.decode(_entry(f, z, entries[n]), type=list[Sample])]
                if not journal:
                    samples = [
                        msgspec.json.decode(_entry(f, z, info), type=Sample)
                        for name, info in entries.items()
                        if name.startswith("samples/") and name.endswith(".json")
                    ]
    latest = {(str(s.id), s.epoch): s for s in samples}  # a re-run's summary follows the one it replaces
    return results(header.eval, list(latest.values()), agent, passing)


def _entry(f: BinaryIO, z: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """An entry's bytes. zstd entries (inspect-ai writes them since 0.3.1xx) are read here, the container by the
    standard library: Python's zipfile reads zstd only from 3.14."""
    if info.compress_type not in ZSTD_METHODS:
        try:
            return z.read(info)
        except NotImplementedError:
            raise BadLine(
                f"{info.filename} is compressed with zip method {info.compress_type}, which agentmon cannot read"
            ) from None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
            raise BadLine(f"{info.filename} is damaged: {e}") from None
    f.seek(info.header_offset)
    local = f.read(LOCAL_HEADER)
    if len(local) < LOCAL_HEADER or not local.startswith(b"PK\x03\x04"):
        raise BadLine(f"{info.filename}: no local header where the zip's directory puts it")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    f.seek(info.header_offset + LOCAL_HEADER + name_len + extra_len)
    try:
        data = zstd.decompress(f.read(info.compress_size))
    except zstd.ZstdError as e:
        raise BadLine(f"{info.filename} is damaged: {e}") from None
    if len(data) != info.file_size or zlib.crc32(data) != info.CRC:
        raise BadLine(f"{info.filename} is damaged: its size or checksum is not the one the zip records")
    return data


def _counts(status: str, invalidated: bool) -> bool:
    """Whether a finished log's results count: not when it was marked invalid (`inspect log invalidate`).
    Unfinished: the eval is still running."""
    if status == "started":
        raise Unfinished("the eval is still running (status: started)", running=True)
    return not invalidated


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
