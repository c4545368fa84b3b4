"""The OTLP/HTTP receiver, driven by the real OpenTelemetry SDK and its OTLP/HTTP exporters."""

import gzip
import json
import threading
import urllib.error
import urllib.request

import pytest
from conftest import agents
from waiting import DEADLINE

from agentmon.ingest.receiver import Receiver
from agentmon.store.writer import Store

trace_sdk = pytest.importorskip(
    "opentelemetry.sdk.trace", reason="the OpenTelemetry SDK is not installed: pip install '.[test]'"
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: E402
from opentelemetry.trace import Status, StatusCode  # noqa: E402

POLL = 0.05  # how often serve_forever looks for shutdown (0.5 s by default, and a test stops one each)


def fake_agent(endpoint: str, tasks: int, fail_every: int = 4, headers=None) -> None:
    """A small agent instrumented with the GenAI conventions, exporting through the SDK."""
    provider = trace_sdk.TracerProvider(resource=Resource.create({"service.name": "support-svc"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", headers=headers)))
    tracer = provider.get_tracer("fake-agent")
    for i in range(tasks):
        with tracer.start_as_current_span("invoke_agent support-bot") as task:
            task.set_attribute("gen_ai.operation.name", "invoke_agent")
            task.set_attribute("gen_ai.agent.name", "support-bot")
            with tracer.start_as_current_span("chat claude-haiku-4-5") as chat:
                chat.set_attribute("gen_ai.operation.name", "chat")
                chat.set_attribute("gen_ai.request.model", "claude-haiku-4-5")
                chat.set_attribute("gen_ai.usage.input_tokens", 1200)  # includes the 1000 cache reads
                chat.set_attribute("gen_ai.usage.cache_read.input_tokens", 1000)
                chat.set_attribute("gen_ai.usage.output_tokens", 100)
            with tracer.start_as_current_span("execute_tool lookup_order") as tool:
                tool.set_attribute("gen_ai.operation.name", "execute_tool")
                tool.set_attribute("gen_ai.tool.name", "lookup_order")
                if i % 5 == 0:
                    tool.set_status(Status(StatusCode.ERROR, "timeout"))
            if i % 10 == 0:
                task.add_event("agentmon.escalation", {"reason": "asked for a human"})
            task.add_event(
                "gen_ai.evaluation.result",
                {
                    "gen_ai.evaluation.name": "groundedness",
                    "gen_ai.evaluation.score.label": "fail" if i % 8 == 0 else "pass",
                },
            )
            if i % fail_every == 0:
                task.set_status(Status(StatusCode.ERROR, "wrong answer"))
    provider.force_flush()
    provider.shutdown()


def test_an_sdk_instrumented_agent_shows_up_with_the_right_numbers(receiver, db):
    fake_agent(f"http://127.0.0.1:{receiver.server_port}", tasks=40)
    a = agents(db)["support-bot"]
    assert (a["tasks"], a["successes"]) == (40, 30)  # every 4th task's span ended in ERROR
    assert (a["tool_calls"], a["tool_errors"]) == (40, 8)
    assert a["escalation_rate"] == pytest.approx(4 / 40)
    assert (a["input_tokens"], a["cache_read_tokens"], a["output_tokens"]) == (40 * 200, 40 * 1000, 40 * 100)
    assert a["cost_usd"] > 0 and a["unpriced_llm_calls"] == 0
    assert [m["model"] for m in a["models"]] == ["claude-haiku-4-5"]  # from the first llm call
    assert a["eval_pass_rate"] == pytest.approx(35 / 40)  # gen_ai.evaluation.result events, 5 failed


def test_a_retried_export_counts_once(receiver, db):
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    request = trace_service_pb2.ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x02" * 8, "invoke_agent a"
    span.start_time_unix_nano, span.end_time_unix_nano = 1_700_000_000 * 10**9, 1_700_000_001 * 10**9
    kv = span.attributes.add()
    kv.key, kv.value.string_value = "gen_ai.agent.name", "retry-agent"
    body = request.SerializeToString()
    for _ in range(3):
        assert post(receiver, "/v1/traces", body, "application/x-protobuf").status == 200
    assert agents(db)["retry-agent"]["tasks"] == 1


def post(receiver, path, body, content_type, headers=None):
    req = urllib.request.Request(
        f"http://127.0.0.1:{receiver.server_port}{path}",
        data=body,
        method="POST",
        headers={"Content-Type": content_type, **(headers or {})},
    )
    try:
        return urllib.request.urlopen(req, timeout=DEADLINE)
    except urllib.error.HTTPError as e:
        return e


def test_json_and_gzip_bodies(receiver, db):
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "chat gpt-4o-mini",
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": "1700000001000000000",
                                "attributes": [
                                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                                    {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "100"}},
                                    {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "20"}},
                                ],
                            },
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b173",
                                "name": "invoke_agent json-agent",
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": "1700000002000000000",
                                "attributes": [
                                    {"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}},
                                    {"key": "gen_ai.agent.name", "value": {"stringValue": "json-agent"}},
                                ],
                            },
                        ]
                    }
                ],
            }
        ]
    }
    body = gzip.compress(json.dumps(doc).encode())
    resp = post(receiver, "/v1/traces", body, "application/json", {"Content-Encoding": "gzip"})
    assert resp.status == 200
    a = agents(db)["json-agent"]  # the chat span came first, its agent from the invoke_agent span after it
    assert (a["tasks"], a["input_tokens"], a["output_tokens"]) == (1, 100, 20)


def test_status_codes(receiver):
    assert post(receiver, "/v1/metrics", b"", "application/x-protobuf").status == 404
    assert post(receiver, "/v1/traces", b"x", "text/plain").status == 415
    assert post(receiver, "/v1/traces", b"\xff\x00garbage", "application/x-protobuf").status == 400
    assert post(receiver, "/v1/traces", b"[1]", "application/json").status == 400
    bad_gzip = post(receiver, "/v1/traces", b"not gzip", "application/json", {"Content-Encoding": "gzip"})
    assert bad_gzip.status == 400


def test_bearer_token(db):
    store = Store(db)
    server = Receiver(store, ("127.0.0.1", 0), token="s3cret")
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": POLL}, daemon=True).start()
    try:
        assert post(server, "/v1/traces", b"", "application/x-protobuf").status == 401
        fake_agent(f"http://127.0.0.1:{server.server_port}", tasks=4, headers={"Authorization": "Bearer s3cret"})
        assert agents(db)["support-bot"]["tasks"] == 4
    finally:
        server.shutdown()
        server.server_close()
        store.close()


def test_claude_code_log_events(receiver, db):
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

    request = logs_service_pb2.ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    kv = rl.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "claude-code"
    records = rl.scope_logs.add().log_records

    def record(name, t, **attrs):
        r = records.add()
        r.time_unix_nano = (1_700_000_000 + t) * 10**9
        for k, v in {"event.name": name, "prompt.id": "prompt-1", "session.id": "s", **attrs}.items():
            a = r.attributes.add()
            a.key, a.value.string_value = k, str(v)

    record("claude_code.user_prompt", 0, prompt_length=12)
    record(
        "claude_code.api_request",
        1,
        model="claude-sonnet-4-5",
        input_tokens=10,
        output_tokens=300,
        cache_read_tokens=5000,
        cache_creation_tokens=100,
        cost_usd=0.0123,
    )
    record("claude_code.tool_decision", 2, tool_name="Bash", decision="reject", source="user_reject")
    record("claude_code.tool_decision", 3, tool_name="Read", decision="accept", source="config")
    record("claude_code.tool_result", 4, tool_name="Read", success="true")
    record("claude_code.tool_result", 5, tool_name="Edit", success="false", error="no match")
    record("claude_code.api_error", 5, status_code="529", model="claude-sonnet-4-5")
    assert post(receiver, "/v1/logs", request.SerializeToString(), "application/x-protobuf").status == 200
    import sqlite3

    row = (
        sqlite3.connect(db)
        .execute(
            "SELECT confirmations, rejections, input_tokens, output_tokens, end_ts FROM tasks WHERE task = 's:prompt-1'"
        )
        .fetchone()
    )
    assert row == (1, 1, 10, 300, None)  # a user reject is a rejected confirmation; a config decision no step
    with receiver.commit_lock:  # what the receiver does every 30 s, here 30 minutes after the last event
        receiver.store.close_idle_tasks("claude-code:", 1800, 1_700_000_005 + 1801)
    a = agents(db)["claude-code:otel"]
    assert (a["tasks"], a["unlabeled_tasks"], a["tool_calls"], a["tool_errors"]) == (1, 1, 3, 1)  # + the rejected
    assert a["cost_usd"] == pytest.approx(0.0123)
    assert a["confirmation_rejection_rate"] == pytest.approx(1 / 3)  # Claude Code: rejections over tool calls
    assert a["api_errors"] == 1


def test_collector_file_exporter_output_is_tailed_like_any_log(db, logs):
    """The Collector's file exporter writes one OTLP JSON export request per line."""
    from conftest import ingest

    span = lambda sid, name, attrs: {
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "spanId": sid,
        "name": name,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000003000000000",
        "attributes": [{"key": k, "value": v} for k, v in attrs.items()],
    }
    lines = [
        {
            "resourceSpans": [
                {
                    "scopeSpans": [
                        {
                            "spans": [
                                span(
                                    "00f067aa0ba902b1",
                                    "execute_tool search",
                                    {
                                        "gen_ai.operation.name": {"stringValue": "execute_tool"},
                                        "gen_ai.tool.name": {"stringValue": "search"},
                                        "error.type": {"stringValue": "timeout"},
                                    },
                                )
                            ]
                        }
                    ]
                }
            ]
        },
        {
            "resourceSpans": [
                {
                    "scopeSpans": [
                        {
                            "spans": [
                                span(
                                    "00f067aa0ba902b2",
                                    "invoke_agent file-agent",
                                    {
                                        "gen_ai.operation.name": {"stringValue": "invoke_agent"},
                                        "gen_ai.agent.name": {"stringValue": "file-agent"},
                                        "agentmon.task.outcome": {"stringValue": "abandoned"},
                                    },
                                )
                            ]
                        }
                    ]
                }
            ]
        },
    ]
    path = logs / "otel-traces.json"  # a name the patterns do not know: given explicitly, found by content
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + "not json\n")
    ingest([path], db)
    ingest([path], db)
    a = agents(db)["file-agent"]
    assert (a["tasks"], a["successes"], a["tool_errors"]) == (1, 0, 1)
    import sqlite3

    assert sqlite3.connect(db).execute("SELECT outcome FROM tasks").fetchone() == ("abandoned",)
    assert sqlite3.connect(db).execute("SELECT count(*) FROM quarantine").fetchone() == (1,)


def test_claude_code_log_events_as_otlp_json(receiver, db):
    def record(name, t, **attrs):
        return {
            "timeUnixNano": str((1_700_000_000 + t) * 10**9),
            "attributes": [
                {"key": k, "value": {"stringValue": str(v)}}
                for k, v in {"event.name": name, "prompt.id": "p-json", **attrs}.items()
            ],
        }

    doc = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "claude-code"}}]},
                "scopeLogs": [
                    {
                        "logRecords": [
                            record("claude_code.user_prompt", 0),
                            record("claude_code.tool_result", 1, tool_name="Bash", success="false"),
                            record("claude_code.tool_decision", 2, source="user_permanent", decision="accept"),
                        ]
                    }
                ],
            }
        ]
    }
    body = json.dumps(doc).encode()
    for _ in range(2):  # a retry of the same body counts once
        assert post(receiver, "/v1/logs", body, "application/json").status == 200
    import sqlite3

    row = (
        sqlite3.connect(db)
        .execute("SELECT tool_calls, tool_errors, confirmations, rejections FROM tasks WHERE task = 'p-json'")
        .fetchone()
    )
    assert row == (1, 1, 1, 0)


def test_spans_are_remembered_two_days_then_forgotten_a_step_at_a_time(db):
    """`otel_seen` would grow with every span ever received: a span first seen, and timed, more than
    two days ago is forgotten (a retry comes within minutes); one that arrived late keeps its two
    days; a long-unpruned table is trimmed 5,000 keys a commit."""
    import sqlite3
    import time

    from agentmon.events import time_prefix
    from agentmon.sources.otlp import parse_json_line
    from agentmon.store.batch import Batch
    from agentmon.store.otel_traces import SEEN_KEEP_SECONDS

    now = time.time()
    old = now - SEEN_KEEP_SECONDS - 3600

    def span(span_id: str, at: float) -> bytes:
        return json.dumps(
            {
                "resourceSpans": [
                    {
                        "scopeSpans": [
                            {
                                "spans": [
                                    {
                                        "traceId": "0af7651916cd43dd8448eb211c80319c",
                                        "spanId": span_id,
                                        "name": "execute_tool search",
                                        "startTimeUnixNano": str(int(at * 1e9)),
                                        "endTimeUnixNano": str(int(at * 1e9) + 1000),
                                        "attributes": [
                                            {"key": "gen_ai.operation.name", "value": {"stringValue": "execute_tool"}}
                                        ],
                                    }
                                ]
                            }
                        ]
                    }
                ]
            }
        ).encode()

    with Store(db) as store:
        store.commit(Batch(otel=parse_json_line(span("00000000000000aa", old))))  # old, and seen long ago
        store.commit(Batch(otel=parse_json_line(span("00000000000000bb", old))))  # old, but seen just now
        store.commit(Batch(otel=parse_json_line(span("00000000000000cc", now))))
        conn = store.conn
        conn.execute("UPDATE otel_seen SET at = ? WHERE key LIKE '%aa'", (old,))
        conn.executemany(
            "INSERT INTO otel_seen VALUES (?, ?)",  # 12,000 more from a table never pruned
            [(f"s{time_prefix(old - i)}:backlog:{i}", old) for i in range(12_000)],
        )
    remembered = lambda: {k[-2:] for (k,) in sqlite3.connect(db).execute("SELECT key FROM otel_seen")}
    counts = []
    for i in range(4):
        with Store(db) as store:  # a new writer forgets at its first OpenTelemetry commit, then as needed
            store.commit(Batch(otel=parse_json_line(span(f"{i:016x}", now))))
        counts.append(sqlite3.connect(db).execute("SELECT count(*) FROM otel_seen").fetchone()[0])
    assert counts == [12_003 + 1 - 5_000, 7_004 + 1 - 5_000, 2 + 3, 2 + 4]  # bb, cc and the four new
    assert {"bb", "cc"} <= remembered() and "aa" not in remembered()


def test_a_trace_without_an_agent_span_becomes_a_task_of_its_service(receiver, db):
    """Instrumentation that makes `chat` and `execute_tool` spans but no `invoke_agent` span: after the
    idle timeout with no agent named, each trace is a task of its service, outcome unknown; a later span
    of the trace joins that task."""
    import time

    idle = 1800
    provider = trace_sdk.TracerProvider(resource=Resource.create({"service.name": "llm-app"}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{receiver.server_port}/v1/traces"))
    )
    tracer = provider.get_tracer("no-agent-span")
    for i in range(3):
        with tracer.start_as_current_span("handle request"):  # the app's own root span, no GenAI operation
            with tracer.start_as_current_span("chat claude-haiku-4-5") as chat:
                chat.set_attribute("gen_ai.operation.name", "chat")
                chat.set_attribute("gen_ai.request.model", "claude-haiku-4-5")
                chat.set_attribute("gen_ai.usage.input_tokens", 300)
                chat.set_attribute("gen_ai.usage.output_tokens", 40)
            with tracer.start_as_current_span("execute_tool search") as tool:
                tool.set_attribute("gen_ai.operation.name", "execute_tool")
                tool.set_attribute("gen_ai.tool.name", "search")
                if i == 0:
                    tool.set_status(Status(StatusCode.ERROR, "timeout"))
                trace_id = tool.get_span_context().trace_id
    provider.force_flush()
    provider.shutdown()
    assert "llm-app" not in agents(db)  # waiting for an invoke_agent span that may still come
    housekeeping = lambda at: receiver.store.close_idle_tasks("claude-code:", idle, at)
    with receiver.commit_lock:
        housekeeping(time.time() + idle - 30)
    assert "llm-app" not in agents(db)
    with receiver.commit_lock:
        housekeeping(time.time() + idle + 1)
    a = agents(db)["llm-app"]
    assert (a["tasks"], a["unlabeled_tasks"], a["tool_calls"], a["tool_errors"]) == (3, 3, 3, 1)
    assert (a["input_tokens"], a["output_tokens"]) == (900, 120) and a["cost_usd"] > 0
    late = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "llm-app"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": f"{trace_id:032x}",
                                "spanId": "00000000000000ff",
                                "name": "chat",
                                "startTimeUnixNano": str(time.time_ns()),
                                "endTimeUnixNano": str(time.time_ns()),
                                "attributes": [
                                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                                    {"key": "gen_ai.request.model", "value": {"stringValue": "claude-haiku-4-5"}},
                                    {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "5"}},
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    assert post(receiver, "/v1/traces", json.dumps(late).encode(), "application/json").status == 200
    a = agents(db)["llm-app"]
    assert (a["tasks"], a["output_tokens"]) == (3, 125)  # in the trace's task, at once
