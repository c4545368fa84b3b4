"""kill -9 of `agentmon serve` while an SDK exporter retries: nothing lost, nothing doubled."""

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from conftest import agents
from waiting import count, port_open, wait_for

pytest.importorskip("opentelemetry.sdk.trace", reason="the OpenTelemetry SDK is not installed: pip install '.[test]'")
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

pytestmark = pytest.mark.slow  # a receiver killed 8 times while 2,000 spans are exported: about 10 s
KILLS = 8
TASKS = 1000
STORED_SPANS = "SELECT count(*) FROM otel_seen"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spans(tasks: int):
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("crash")
    for _i in range(tasks):
        with tracer.start_as_current_span("invoke_agent crash-agent") as task:
            task.set_attribute("gen_ai.operation.name", "invoke_agent")
            task.set_attribute("gen_ai.agent.name", "crash-agent")
            with tracer.start_as_current_span("execute_tool t") as tool:
                tool.set_attribute("gen_ai.operation.name", "execute_tool")
                tool.set_attribute("gen_ai.tool.name", "t")
    return memory.get_finished_spans()


def test_sigkill_of_the_receiver_loses_and_doubles_nothing(tmp_path):
    db, port = tmp_path / "otlp.db", free_port()
    cmd = [sys.executable, "-m", "agentmon.cli", "serve", "--port", str(port), "--db", str(db)]
    all_spans = spans(TASKS)
    done = threading.Event()

    def client():
        exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", timeout=2)
        for i in range(0, len(all_spans), 10):
            batch = all_spans[i : i + 10]
            time.sleep(0.02)
            while True:  # the client retries until the receiver says the batch is stored
                try:
                    if exporter.export(batch) == SpanExportResult.SUCCESS:
                        break
                except Exception:
                    pass
                time.sleep(0.05)
        done.set()

    server = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    assert wait_for(lambda: port_open(port)), "the receiver did not open its port within a minute"
    worker = threading.Thread(target=client)
    worker.start()
    rng = random.Random(4)
    kills_while_sending = 0
    try:
        for _ in range(KILLS):
            # Once this receiver has stored spans of its own, at a random moment of its work.
            before = count(db, STORED_SPANS)
            assert wait_for(lambda b=before: done.is_set() or count(db, STORED_SPANS) > b), "nothing stored"
            if done.is_set():
                break
            time.sleep(rng.uniform(0, 0.3))
            os.kill(server.pid, signal.SIGKILL)
            kills_while_sending += not done.is_set()
            server.wait()
            server = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
        worker.join(timeout=120)  # a deadline for the whole export, reached only if it hangs
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)
    assert done.is_set()
    a = agents(db)["crash-agent"]
    assert (a["tasks"], a["tool_calls"]) == (TASKS, TASKS)
    assert kills_while_sending >= 3  # the exporter (and its own retries) met a dead receiver more than once
