"""`agentmon serve`: an OTLP/HTTP receiver for /v1/traces and /v1/logs.

Protobuf and JSON bodies, gzip, the status codes of the OTLP specification. A request is
answered 200 only once its events are committed; if the commit fails the answer is 503 with
Retry-After, so the client retries, and a retried span counts once (agentmon.store.otel_traces).
Ending idle tasks (Claude Code's events never say a task is over) is the session's housekeeping
(agentmon.session), as for every other source.
"""

from __future__ import annotations

import gzip
import hmac
import io
import json
import threading
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]  # protobuf ships no types
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from agentmon.events import Mapped
from agentmon.sources import otlp
from agentmon.store.batch import Batch
from agentmon.store.writer import Store

MAX_BODY = 32 << 20  # bytes, after decompression
PROTOBUF, JSON = "application/x-protobuf", "application/json"


class Route(NamedTuple):
    """One endpoint: its export request and response messages, how to read its items, how to map one."""

    request: Any  # generated protobuf message classes
    response: Any
    from_proto: Callable[[Any], Iterator[Any]]
    from_json: Callable[[dict], Iterator[Any]]
    mapper: Callable[[Any], Mapped]


ROUTES = {
    "/v1/traces": Route(
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
        otlp.spans_from_proto,
        otlp.spans_from_json,
        otlp.map_span,
    ),
    "/v1/logs": Route(
        logs_service_pb2.ExportLogsServiceRequest,
        logs_service_pb2.ExportLogsServiceResponse,
        otlp.records_from_proto,
        otlp.records_from_json,
        otlp.map_record,
    ),
}


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def decode(path: str, content_type: str, body: bytes) -> list[Mapped]:
    """The Mapped events of one export request."""
    request_cls, _, from_proto, from_json, mapper = ROUTES[path]
    if content_type == PROTOBUF:
        request = request_cls()
        try:
            request.ParseFromString(body)
        except DecodeError as e:
            raise BadRequest(400, f"not a valid {request_cls.__name__}: {e}") from None
        items = from_proto(request)
    else:
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise BadRequest(400, f"not valid JSON: {e}") from None
        if not isinstance(doc, dict):
            raise BadRequest(400, "the body must be a JSON object")
        items = from_json(doc)
    try:
        return [mapper(item) for item in items]
    except (TypeError, ValueError, AttributeError) as e:
        raise BadRequest(400, f"unreadable telemetry: {e}") from None


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, store: Store, address: tuple[str, int], token: str | None = None) -> None:
        super().__init__(address, Handler)
        self.store = store
        self.token = token
        self.commit_lock = threading.Lock()  # one writer: requests decode in parallel, commit in turn
        self.accepted = 0


class Handler(BaseHTTPRequestHandler):
    server: Receiver
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # quiet: the status line of the app says enough
        pass

    def do_POST(self) -> None:
        try:
            status, body, content_type = self._handle()
        except BadRequest as e:
            status, body, content_type = e.status, json.dumps({"message": str(e)}).encode(), JSON
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status == 503:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> tuple[int, bytes, str]:
        if self.path not in ROUTES:
            raise BadRequest(404, f"no such endpoint {self.path}: use /v1/traces or /v1/logs")
        if self.server.token is not None:
            given = self.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.server.token}".encode()):
                raise BadRequest(401, "a bearer token is required")
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type not in (PROTOBUF, JSON):
            raise BadRequest(415, f"unsupported content type {content_type!r}: use {PROTOBUF} or {JSON}")
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise BadRequest(413, f"body over {MAX_BODY} bytes")
        body = self.rfile.read(length)
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        if encoding == "gzip":
            try:
                body = _gunzip(body)
            except (OSError, EOFError, zlib.error) as e:
                raise BadRequest(400, f"bad gzip body: {e}") from None
        elif encoding not in ("", "identity"):
            raise BadRequest(415, f"unsupported content encoding {encoding!r}")
        mapped = decode(self.path, content_type, body)
        try:
            with self.server.commit_lock:
                self.server.store.commit(Batch(otel=mapped))
                self.server.accepted += len(mapped)
        except Exception as e:
            return 503, json.dumps({"message": f"not stored, retry: {e}"}).encode(), JSON
        response = ROUTES[self.path].response()  # empty partial_success: everything was accepted
        if content_type == PROTOBUF:
            return 200, response.SerializeToString(), PROTOBUF
        return 200, b"{}", JSON


def _gunzip(body: bytes) -> bytes:
    with gzip.GzipFile(fileobj=io.BytesIO(body)) as f:
        data = f.read(MAX_BODY + 1)
    if len(data) > MAX_BODY:
        raise BadRequest(413, f"body over {MAX_BODY} bytes once decompressed")
    return data
