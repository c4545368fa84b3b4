"""The OTLP/HTTP receiver under hostile or careless clients: it answers, stays small, and stores what it can."""

from __future__ import annotations

import http.client
import json
import select
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import agents
from waiting import DEADLINE, count, port_open, wait_for

from agentmon.ingest.receiver import MAX_BODY

pytest.importorskip("opentelemetry.sdk.trace", reason="opentelemetry-sdk is not installed (pip install '.[test]')")
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

ANSWER_SECONDS = 10.0  # an answer that is due at once; only reached when none comes
T0 = 1_780_000_000 * 10**9


def raw_post(server, headers: dict[str, str], body: bytes = b"", path: str = "/v1/traces") -> http.client.HTTPResponse:
    """A POST with exactly these headers (none added), `body` sent after them; the answer, its body in `.text`."""
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=ANSWER_SECONDS)
    conn.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders(body or None)
    response = conn.getresponse()
    response.text = response.read()  # type: ignore[attr-defined]
    return response


def span_json(span_id: str, name: str, attrs: dict[str, dict]) -> dict:
    return {
        "traceId": span_id * 4,
        "spanId": span_id,
        "name": name,
        "startTimeUnixNano": str(T0),
        "endTimeUnixNano": str(T0 + 10**9),
        "attributes": [{"key": k, "value": v} for k, v in attrs.items()],
    }


def traces_json(*spans: dict) -> bytes:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]}).encode()


def task_span(i: int, agent: str = "good-agent") -> dict:
    return span_json(f"{i:016x}", "invoke_agent x", {"gen_ai.agent.name": {"stringValue": agent}})


# --- the size of a body ---------------------------------------------------------------------------------


@pytest.mark.parametrize("length", ["-1", "abc", "1e3", "+5", "10, 20"])
def test_a_content_length_that_is_not_one_size_is_400_before_the_body_is_read(receiver, length):
    response = raw_post(receiver, {"Content-Type": "application/json", "Content-Length": length}, b"{}" * 1000)
    assert response.status == 400
    assert json.loads(response.text) == {"message": f"Content-Length must be one non-negative number: {length!r}"}
    assert response.getheader("Connection") == "close"  # the body that followed is not read as a request


def test_a_body_without_a_length_is_411_unless_chunked(receiver, db):
    response = raw_post(receiver, {"Content-Type": "application/json"})
    assert response.status == 411
    assert json.loads(response.text) == {"message": "Content-Length is required (or Transfer-Encoding: chunked)"}
    body = traces_json(task_span(1))
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:])) + b"0\r\n\r\n"
    response = raw_post(receiver, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}, chunked)
    assert response.status == 200
    assert agents(db)["good-agent"]["tasks"] == 1


def test_a_body_over_the_limit_is_413_unread(receiver):
    response = raw_post(receiver, {"Content-Type": "application/json", "Content-Length": str(MAX_BODY + 1)})
    assert response.status == 413
    assert json.loads(response.text) == {"message": f"body over {MAX_BODY} bytes"}
    assert response.getheader("Connection") == "close"


def test_a_chunked_body_over_the_limit_is_413_while_it_streams(receiver):
    # What the kernel buffers unread is not what the receiver read: left to grow, a loopback receive buffer
    # reaches tcp_rmem's maximum (32 MiB on some machines), and the bound below would measure the kernel.
    receiver.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)  # accepted sockets inherit it
    with socket.create_connection(("127.0.0.1", receiver.server_port), timeout=ANSWER_SECONDS) as sock:
        sock.sendall(
            b"POST /v1/traces HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"%x\r\n%s\r\n" % (1 << 20, b" " * (1 << 20))
        sent = 0
        try:
            while not select.select([sock], [], [], 0)[0] and sent < 2 * MAX_BODY:
                sock.sendall(chunk)
                sent += 1 << 20
        except OSError:  # it stopped reading and closed: the answer is waiting
            pass
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert sent <= MAX_BODY + (8 << 20)  # answered once over the limit, not at the end


def test_json_nested_too_deep_is_400(receiver):
    body = b'{"resourceSpans": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    response = raw_post(receiver, {"Content-Type": "application/json", "Content-Length": str(len(body))}, body)
    assert response.status == 400
    assert json.loads(response.text) == {"message": "not valid JSON: nested too deeply to read"}


# --- many clients at once ----------------------------------------------------------------------------------


def test_bodies_held_at_once_are_capped_and_the_next_is_503_unread(receiver):
    big = 20 << 20
    head = b"POST /v1/traces HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{" % big
    holding = [socket.create_connection(("127.0.0.1", receiver.server_port)) for _ in range(3)]
    try:
        for sock in holding:
            sock.sendall(head)  # bodies promised, one byte sent: each is being read, its size held
        assert wait_for(lambda: receiver.budget.held == 3 * big)
        response = raw_post(receiver, {"Content-Type": "application/json", "Content-Length": str(big)})
        assert response.status == 503
        assert json.loads(response.text) == {"message": "too many request bodies at once: retry"}
        assert response.getheader("Retry-After") == "1"
        assert response.getheader("Connection") == "close"
    finally:
        for sock in holding:
            sock.close()
    assert wait_for(lambda: receiver.budget.held == 0)


def test_a_burst_of_200_connections_is_answered_not_reset(receiver, db):
    start = threading.Barrier(200)
    statuses: list[int | str] = []

    def client(i: int) -> None:
        body = traces_json(task_span(i, "burst-agent"))
        start.wait()
        try:
            statuses.append(
                raw_post(receiver, {"Content-Type": "application/json", "Content-Length": str(len(body))}, body).status
            )
        except OSError as e:
            statuses.append(type(e).__name__)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 200
    assert agents(db)["burst-agent"]["tasks"] == 200


def test_an_idle_connection_is_closed(receiver):
    receiver.idle_seconds = 0.2
    with socket.create_connection(("127.0.0.1", receiver.server_port), timeout=ANSWER_SECONDS) as sock:
        assert sock.recv(1) == b""  # closed by the receiver, not timed out here


def test_a_body_that_trickles_is_cut_off_408(receiver):
    receiver.body_seconds = 0.5
    with socket.create_connection(("127.0.0.1", receiver.server_port), timeout=ANSWER_SECONDS) as sock:
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")

        def answered() -> bool:
            try:
                sock.sendall(b" ")  # a byte at a time, each well within the idle limit
            except OSError:
                return True
            return bool(select.select([sock], [], [], 0.05)[0])

        assert wait_for(answered, timeout=ANSWER_SECONDS, every=0)
        assert sock.recv(4096).startswith(b"HTTP/1.1 408 ")


# --- values out of range ----------------------------------------------------------------------------------


def sdk_spans(bad_tokens: int) -> list:
    """Three agent tasks and one LLM call whose input tokens are `bad_tokens`, made by the SDK."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("limits")
    for _ in range(3):
        with tracer.start_as_current_span("invoke_agent x") as task:
            task.set_attribute("gen_ai.operation.name", "invoke_agent")
            task.set_attribute("gen_ai.agent.name", "sdk-agent")
    with tracer.start_as_current_span("chat m") as chat:
        chat.set_attribute("gen_ai.operation.name", "chat")
        chat.set_attribute("gen_ai.agent.name", "sdk-agent")
        chat.set_attribute("gen_ai.usage.input_tokens", bad_tokens)
    return list(memory.get_finished_spans())


def test_spans_out_of_range_are_rejected_alone_as_a_partial_success(receiver, db):
    spans = sdk_spans(bad_tokens=10**15)
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{receiver.server_port}/v1/traces")
    assert exporter.export(spans) == SpanExportResult.SUCCESS  # answered 200: the SDK does not retry
    exporter.shutdown()
    assert agents(db)["sdk-agent"]["tasks"] == 3
    assert agents(db)["sdk-agent"]["input_tokens"] == 0

    body = encode_spans(spans).SerializeToString()  # what the exporter sent: its answer, read here
    conn = http.client.HTTPConnection("127.0.0.1", receiver.server_port, timeout=ANSWER_SECONDS)
    conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
    response = conn.getresponse()
    assert response.status == 200
    answer = trace_service_pb2.ExportTraceServiceResponse.FromString(response.read())
    assert answer.partial_success.rejected_spans == 1
    assert answer.partial_success.error_message.startswith("1 of 4 spans rejected: span ")
    assert "gen_ai.usage.input_tokens out of range" in answer.partial_success.error_message


def test_a_log_record_out_of_range_is_rejected_alone_in_json(receiver, db):
    def record(i: int, cost: dict) -> dict:
        return {
            "timeUnixNano": str(T0 + i),
            "eventName": "claude_code.api_request",
            "attributes": [
                {"key": "prompt.id", "value": {"stringValue": f"p{i}"}},
                {"key": "model", "value": {"stringValue": "claude-haiku-4-5"}},
                {"key": "cost_usd", "value": cost},
            ],
        }

    records = [record(1, {"doubleValue": 0.5}), record(2, {"doubleValue": "NaN"}), record(3, {"doubleValue": 0.25})]
    body = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]}).encode()
    for _ in range(2):  # the same answer again: never a 503 to retry forever
        conn = http.client.HTTPConnection("127.0.0.1", receiver.server_port, timeout=ANSWER_SECONDS)
        conn.request("POST", "/v1/logs", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 200
        partial = json.loads(response.read())["partialSuccess"]
        assert partial["rejectedLogRecords"] == "1"
        assert partial["errorMessage"].startswith("1 of 3 log records rejected: log record claude_code.api_request")
    stored = count(db, "SELECT count(*) FROM tasks WHERE agent = 'claude-code:otel' AND task IN ('p1', 'p3')")
    assert (stored, count(db, "SELECT sum(cost_nanos) FROM tasks")) == (2, 750_000_000)

    conn = http.client.HTTPConnection("127.0.0.1", receiver.server_port, timeout=ANSWER_SECONDS)
    request = json_format.Parse(body, logs_service_pb2.ExportLogsServiceRequest())
    conn.request("POST", "/v1/logs", request.SerializeToString(), {"Content-Type": "application/x-protobuf"})
    answer = logs_service_pb2.ExportLogsServiceResponse.FromString(conn.getresponse().read())
    assert answer.partial_success.rejected_log_records == 1


def test_a_value_the_store_cannot_hold_rejects_its_span_alone_not_503_forever(receiver, db):
    # A lone surrogate passes every parser bound and fails only when SQLite is handed the text.
    bad = span_json("00000000000000ff", "invoke_agent x", {"gen_ai.agent.name": {"stringValue": "bad\ud800agent"}})
    body = traces_json(task_span(1), bad, task_span(2), task_span(3))
    for _ in range(2):  # a retry gets the same answer, and the good spans count once
        conn = http.client.HTTPConnection("127.0.0.1", receiver.server_port, timeout=ANSWER_SECONDS)
        conn.request("POST", "/v1/traces", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 200
        partial = json.loads(response.read())["partialSuccess"]
        assert partial["rejectedSpans"] == "1"
        assert partial["errorMessage"].startswith("1 of 4 spans rejected: could not be stored: UnicodeEncodeError")
    assert agents(db)["good-agent"]["tasks"] == 3
    assert receiver.accepted == 6


# --- stopping ---------------------------------------------------------------------------------------------


def serve(db: Path) -> tuple[subprocess.Popen, int]:
    """`agentmon serve` in its own process, once it listens: the process and its port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "agentmon.cli", "serve", "--port", str(port), "--db", str(db)],
        stderr=subprocess.PIPE,
        cwd=db.parent,
    )
    assert wait_for(lambda: port_open(port) or server.poll() is not None) and server.poll() is None
    return server, port


@pytest.mark.slow
def test_serve_stops_cleanly_with_1000_connections_open(tmp_path):
    """SIGTERM while a thousand connections are open: idle, halfway through a body, and most with a whole
    request being decoded or waiting to commit. Daemon threads left running at exit crashed CPython (-11)."""
    head = b"POST /v1/traces HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    for attempt in range(20):
        server, port = serve(tmp_path / f"r{attempt}.db")
        connections = []
        try:
            for i in range(1000):
                sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
                if i % 10 == 1:
                    sock.sendall(head % 999 + b"{")
                elif i % 10:
                    body = traces_json(task_span(i, "stop-agent"))
                    sock.sendall(head % len(body) + body)
                connections.append(sock)
            server.send_signal(signal.SIGTERM)
            _, err = server.communicate(timeout=DEADLINE)
        finally:
            for sock in connections:
                sock.close()
            if server.poll() is None:
                server.kill()
                server.wait()
        assert server.returncode == 0, (attempt, server.returncode, err.decode()[-2000:])  # -11: a segfault
        assert "spans and log records accepted" in err.decode()
        assert not list(tmp_path.glob("core*"))
