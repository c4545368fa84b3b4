"""The monitor's figures for `agentmon bench`: first paint, append-to-screen latency, idle CPU."""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from agentmon.tui.app import AgentmonApp


def first_paint(db: Path, now: float) -> float:
    """Seconds from a fresh interpreter's start to the first frame with the agents on it."""
    code = (
        "import time; t0 = time.perf_counter()\n"
        "import asyncio, sys\n"
        "from agentmon.tui.app import AgentmonApp\n"
        "async def main():\n"
        f"    app = AgentmonApp({str(db)!r}, window='24h', clock=lambda: {now!r})\n"
        "    async with app.run_test(size=(80, 24)) as pilot:\n"
        "        while not app.panels:\n"
        "            await pilot.pause(0.005)\n"
        "        await pilot.pause()\n"
        "        print(time.perf_counter() - t0)\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return float(out.split()[-1])


async def _append_latency(workdir: Path, samples: int) -> list[float]:
    logs = workdir / "tui-live"
    logs.mkdir(exist_ok=True)
    log = logs / "live.jsonl"
    log.write_bytes(b"")
    app = AgentmonApp(workdir / "tui-live.db", [logs], window="1h")
    latencies = []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(1.0)
        for i in range(samples):
            line = json.dumps(
                {
                    "ts": time.time(),
                    "agent": "latency-probe",
                    "event": "task_end",
                    "task": f"t{i}",
                    "outcome": "success",
                }
            )
            start = time.perf_counter()
            with open(log, "a") as f:
                f.write(line + "\n")
            while True:
                panel = app.panels.get("latency-probe")
                if panel is not None and panel.view.metrics.tasks == i + 1:
                    break
                await pilot.pause(0.005)
            latencies.append(time.perf_counter() - start)
            await pilot.pause(0.2)
    return latencies


async def _idle_cpu(db: Path, now: float, seconds: float) -> float:
    app = AgentmonApp(db, window="24h", clock=lambda: now)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(1.0)
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        await asyncio.sleep(seconds)
        after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - start
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu / wall


def run(big_db: Path, now: float, workdir: Path, say) -> None:
    """`now` is the data's own present, so the 24 h window on screen is full."""
    say(
        f"tui     first paint, 24h window of the 1M-event database: {first_paint(big_db, now):.2f} s "
        "from start (target <= 1.5)"
    )
    latencies = asyncio.run(_append_latency(workdir, 15))
    say(
        f"tui     line appended -> on screen, median of {len(latencies)}: "
        f"{statistics.median(latencies) * 1e3:.0f} ms (target <= 1000)"
    )
    say(
        f"tui     idle CPU, headless, 10 s with no new events: {asyncio.run(_idle_cpu(big_db, now, 10)) * 100:.1f}% "
        "of one core (target < 3%)"
    )
