"""`agentmon serve`: an OTLP/HTTP receiver for /v1/traces and /v1/logs.

Protobuf and JSON bodies, gzip, the status codes of the OTLP specification. A request is
answered 200 only once its events are committed; if the store cannot commit (a full disk, the
lock) the answer is 503 with Retry-After, so the client retries, and a retried span counts once
(agentmon.store.otel_traces). A span or record that cannot be stored for what it holds is
rejected alone and reported as the OTLP partial success; the rest of its request is stored.
Ending idle tasks (Claude Code's events never say a task is over) is the session's housekeeping
(agentmon.session), as for every other source.

No client can push it over: a body's size is known and bounded before it is read, the bodies in
memory at once are bounded, a slow or idle client is cut off, and closing it ends every
connection's thread before the store closes (docs/otel.md, "Limits").
"""

from __future__ import annotations

import gzip
import hmac
import io
import json
import socket
import sqlite3
import string
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

from google.protobuf import json_format  # type: ignore[import-untyped]  # protobuf ships no types
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from agentmon.errors import AgentmonError
from agentmon.events import Mapped
from agentmon.sources import otlp
from agentmon.store.batch import Batch
from agentmon.store.writer import Store

MAX_BODY = 32 << 20  # bytes, after decompression
BODY_BUDGET = 2 * MAX_BODY  # bytes of bodies held at once, as received and decompressed, by every request
LISTEN_BACKLOG = 1024  # connections the kernel holds before they are accepted: a fleet's burst, not a reset
IDLE_SECONDS = 30.0  # a connection that sends nothing for this long is closed
BODY_SECONDS = 120.0  # a body must arrive whole within this, however it trickles (32 MiB at 2 Mbit/s)
READ_AT_ONCE = 1 << 20
CHUNK_LINE = 1024  # bytes of a chunk-size line, or of a trailer line, of a chunked body
MAX_TRAILERS = 100
REASON_CHARS = 200
PROTOBUF, JSON = "application/x-protobuf", "application/json"
HEX = frozenset(string.hexdigits.encode())


class Route(NamedTuple):
    """One endpoint: its export request and response messages, how to read its items, how to map one,
    what its response calls a rejected item, and what the items are in words."""

    request: Any  # generated protobuf message classes
    response: Any
    from_proto: Callable[[Any], Iterator[Any]]
    from_json: Callable[[dict], Iterator[Any]]
    mapper: Callable[[Any], Mapped]
    rejected_field: str
    items: str


ROUTES = {
    "/v1/traces": Route(
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
        otlp.spans_from_proto,
        otlp.spans_from_json,
        otlp.map_span,
        "rejected_spans",
        "spans",
    ),
    "/v1/logs": Route(
        logs_service_pb2.ExportLogsServiceRequest,
        logs_service_pb2.ExportLogsServiceResponse,
        otlp.records_from_proto,
        otlp.records_from_json,
        otlp.map_record,
        "rejected_log_records",
        "log records",
    ),
}


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class ClientGone(Exception):
    """The connection ended, or went quiet, before the request was whole: there is no one to answer."""


def decode(path: str, content_type: str, body: bytes) -> tuple[list[Mapped], list[str]]:
    """The Mapped events of one export request, and the reasons its items out of range were rejected."""
    route = ROUTES[path]
    if content_type == PROTOBUF:
        request = route.request()
        try:
            request.ParseFromString(body)
        except DecodeError as e:  # also a message nested deeper than protobuf's limit (100)
            raise BadRequest(400, f"not a valid {route.request.__name__}: {e}") from None
        items = route.from_proto(request)
    else:
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise BadRequest(400, f"not valid JSON: {e}") from None
        except RecursionError:  # the decoder's own depth check: free; a scan first cost 10% of decoding
            raise BadRequest(400, "not valid JSON: nested too deeply to read") from None
        if not isinstance(doc, dict):
            raise BadRequest(400, "the body must be a JSON object")
        items = route.from_json(doc)
    try:
        return otlp.map_each(items, route.mapper)
    except RecursionError:  # attribute values nested deep enough to exhaust the stack while read
        raise BadRequest(400, "unreadable telemetry: nested too deeply to read") from None
    except (TypeError, ValueError, AttributeError, OverflowError) as e:
        raise BadRequest(400, f"unreadable telemetry: {e}") from None


def store_unavailable(error: Exception) -> bool:
    """The store's own trouble (a full disk, an I/O error, the lock, a damaged file): worth a retry. Any
    other error committing is caused by what a span holds, and would come back on every retry."""
    return isinstance(error, (AgentmonError, sqlite3.OperationalError, OSError, MemoryError)) or (
        type(error) is sqlite3.DatabaseError
    )


class BodyBudget:
    """Bytes of request bodies held at once. A request that would go over it is answered 503 at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if self.held + n > self.limit:
                return False
            self.held += n
            return True

    def give_back(self, n: int) -> None:
        with self._lock:
            self.held -= n


class Receiver(ThreadingHTTPServer):
    # Each connection's thread is joined on close (socketserver's block_on_close), its socket shut first:
    # daemon threads still running while the interpreter ends crashed it with a thousand connections open.
    daemon_threads = False
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self,
        store: Store,
        address: tuple[str, int],
        token: str | None = None,
        *,
        idle_seconds: float = IDLE_SECONDS,
        body_seconds: float = BODY_SECONDS,
        body_budget: int = BODY_BUDGET,
    ) -> None:
        super().__init__(address, Handler)
        self.store = store
        self.token = token
        self.idle_seconds = idle_seconds
        self.body_seconds = body_seconds
        self.budget = BodyBudget(body_budget)
        self.commit_lock = threading.Lock()  # one writer: requests decode in parallel, commit in turn
        self.accepted = 0
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:  # out of the set before it is closed: server_close never shuts a reused fd
            self._connections.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        """Stop listening, end every connection (a blocked read returns at once) and wait for its thread:
        a request being committed finishes first."""
        with self._connections_lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        super().server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client that went away is no news
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    server: Receiver
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.idle_seconds)  # an idle connection ends

    def log_message(self, format, *args) -> None:  # quiet: the status line of the app says enough
        pass

    def do_POST(self) -> None:
        self._held = 0  # bytes of the budget this request holds
        self._body_read = False
        try:
            status, body, content_type = self._handle()
        except BadRequest as e:
            status, body, content_type = e.status, json.dumps({"message": str(e)}).encode(), JSON
            self.connection.settimeout(self.server.idle_seconds)  # not what was left of the body's time
        except ClientGone:
            self.close_connection = True
            return
        finally:
            self.server.budget.give_back(self._held)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status == 503:
            self.send_header("Retry-After", "1")
        if not self._body_read:  # what is left of it would be read as the next request
            self.send_header("Connection", "close")
            self.close_connection = True
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
        body = self._read_body()
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        if encoding == "gzip":
            try:
                body = self._gunzip(body)
            except (OSError, EOFError, zlib.error) as e:
                raise BadRequest(400, f"bad gzip body: {e}") from None
        elif encoding not in ("", "identity"):
            raise BadRequest(415, f"unsupported content encoding {encoding!r}")
        mapped, rejected = decode(self.path, content_type, body)
        del body  # what is kept from here on is the events
        with self.server.commit_lock:
            try:
                unstored = self._store(mapped)
            except Exception as e:  # the store's own trouble (store_unavailable): the client retries
                return 503, json.dumps({"message": f"not stored, retry: {e}"}).encode(), JSON
            self.server.accepted += len(mapped) - len(unstored)
        return 200, self._response(content_type, rejected + unstored, len(mapped) + len(rejected)), content_type

    # --- the body ------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        """The whole body, its size known and bounded before it is held (or, chunked, as it arrives)."""
        deadline = time.monotonic() + self.server.body_seconds
        transfer = [v.strip().lower() for v in self.headers.get_all("Transfer-Encoding") or []]
        lengths = {v.strip() for v in self.headers.get_all("Content-Length") or []}
        if transfer:
            if transfer != ["chunked"]:
                raise BadRequest(501, f"unsupported transfer encoding {', '.join(transfer)!r}: use chunked")
            if lengths:  # two framings: which one a proxy in front followed is anyone's guess
                raise BadRequest(400, "Content-Length and Transfer-Encoding: chunked together")
            body = self._read_chunked(deadline)
        else:
            if not lengths:
                raise BadRequest(411, "Content-Length is required (or Transfer-Encoding: chunked)")
            text = lengths.pop()
            if lengths or not (text.isascii() and text.isdigit()):
                raise BadRequest(400, f"Content-Length must be one non-negative number: {text[:40]!r}")
            length = int(text)
            if length > MAX_BODY:
                raise BadRequest(413, f"body over {MAX_BODY} bytes")
            self._take(length)
            body = self._read(length, deadline)
        self._body_read = True
        self.connection.settimeout(self.server.idle_seconds)
        return body

    def _late(self) -> BadRequest:
        return BadRequest(408, f"the body did not arrive within {self.server.body_seconds:g} s")

    def _take(self, n: int) -> None:
        if not self.server.budget.take(n):
            raise BadRequest(503, "too many request bodies at once: retry")
        self._held += n

    def _read(self, n: int, deadline: float) -> bytes:
        """`n` bytes, each read given only the time left until `deadline`."""
        parts, left = [], n
        while left:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._late()
            self.connection.settimeout(min(remaining, self.server.idle_seconds))
            try:
                part = self.rfile.read1(min(left, READ_AT_ONCE))
            except TimeoutError:  # quiet for idle_seconds, or out of time
                raise self._late() from None
            except OSError:
                raise ClientGone from None
            if not part:
                raise ClientGone
            parts.append(part)
            left -= len(part)
        return b"".join(parts)

    def _line(self, deadline: float) -> bytes:
        """One line of a chunked body's framing, without its line end."""
        if time.monotonic() >= deadline:
            raise self._late()
        self.connection.settimeout(min(max(deadline - time.monotonic(), 0.001), self.server.idle_seconds))
        try:
            line = self.rfile.readline(CHUNK_LINE + 1)
        except OSError:  # timeouts too: a line is short, so a client that stalls in one is gone
            raise ClientGone from None
        if not line.endswith(b"\n"):
            if len(line) > CHUNK_LINE:
                raise BadRequest(400, f"a chunked body's line over {CHUNK_LINE} bytes")
            raise ClientGone
        return line.rstrip(b"\r\n")

    def _read_chunked(self, deadline: float) -> bytes:
        """A chunked body, held against the budget and MAX_BODY chunk by chunk as it arrives."""
        parts, total = [], 0
        while True:
            size_text = self._line(deadline).split(b";", 1)[0].strip()
            if not size_text or not HEX.issuperset(size_text):
                raise BadRequest(400, f"bad chunk size {size_text[:40]!r}")
            size = int(size_text, 16)
            if size == 0:
                break
            total += size
            if total > MAX_BODY:
                raise BadRequest(413, f"body over {MAX_BODY} bytes")
            self._take(size)
            parts.append(self._read(size, deadline))
            if self._line(deadline):
                raise BadRequest(400, "a chunk must end with a line end")
        for _ in range(MAX_TRAILERS):
            if not self._line(deadline):
                return b"".join(parts)
        raise BadRequest(400, f"over {MAX_TRAILERS} trailer lines")

    def _gunzip(self, body: bytes) -> bytes:
        """Decompressed against MAX_BODY and the budget as it grows: a small bomb stays small."""
        parts, total = [], 0
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as f:
            while part := f.read(READ_AT_ONCE):
                total += len(part)
                if total > MAX_BODY:
                    raise BadRequest(413, f"body over {MAX_BODY} bytes once decompressed")
                self._take(len(part))
                parts.append(part)
        return b"".join(parts)

    # --- storing and answering -----------------------------------------------------------------

    def _store(self, mapped: list[Mapped]) -> list[str]:
        """Commit the request's events; if what some item holds makes the commit fail, commit halves
        apart (a few commits for a few bad items) and reject the items that fail alone. Returns their
        reasons; raises the store's own trouble (store_unavailable), or an error that even an empty
        commit raises (then no item is to blame)."""
        error = self._commit(mapped)
        if error is None:
            return []
        self.server.store.commit(Batch())
        return self._split(mapped, error)

    def _commit(self, mapped: list[Mapped]) -> Exception | None:
        """Commit these items: None, or the error their content caused (the store's own is raised)."""
        try:
            self.server.store.commit(Batch(otel=mapped))
        except Exception as e:
            if store_unavailable(e):
                raise
            return e
        return None

    def _split(self, mapped: list[Mapped], error: Exception) -> list[str]:
        if len(mapped) == 1:
            return [f"could not be stored: {type(error).__name__}: {error}"]
        half = len(mapped) // 2
        rejected = []
        for part in (mapped[:half], mapped[half:]):
            if (part_error := self._commit(part)) is not None:
                rejected += self._split(part, part_error)
        return rejected

    def _response(self, content_type: str, rejected: list[str], items: int) -> bytes:
        """The export response: an empty one when all was accepted, else OTLP's partial success."""
        route = ROUTES[self.path]
        response = route.response()
        if rejected:
            message = f"{len(rejected)} of {items} {route.items} rejected: {rejected[0]}"[:REASON_CHARS]
            setattr(response.partial_success, route.rejected_field, len(rejected))
            # a reason may quote a client's text; a lone surrogate in it would not serialize
            response.partial_success.error_message = message.encode("utf-8", "backslashreplace").decode()
        if content_type == PROTOBUF:
            return response.SerializeToString()
        if not rejected:
            return b"{}"
        return json_format.MessageToJson(response, indent=None).encode()
