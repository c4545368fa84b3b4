"""A stand-in for the Anthropic Messages API, on loopback, for running the real Claude Code in a test: every
conversation offered the Bash tool is answered with one Bash call of `command`, then, once its result comes
back, with a short text. Every answer reports the same usage, so the expected figures are known."""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USAGE = {"input_tokens": 1200, "output_tokens": 80, "cache_read_input_tokens": 3000, "cache_creation_input_tokens": 500}


class FakeAnthropic(ThreadingHTTPServer):
    def __init__(self, command: str):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.command = command
        self.requests = 0  # Bash calls asked for
        self.messages = 0  # replies sent: each has its own message and request id, as the real API's
        self.prefix = secrets.token_hex(6)  # ids unique across stand-ins too
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def answer(self, request: dict) -> tuple[list[dict], str]:
        """The content blocks and stop reason of the reply."""
        content = (request.get("messages") or [{}])[-1].get("content")
        answered = isinstance(content, list) and any(c.get("type") == "tool_result" for c in content)
        if any(t.get("name") == "Bash" for t in request.get("tools") or []) and not answered:
            self.requests += 1
            call = {"type": "tool_use", "id": f"toolu_{self.requests:04d}", "name": "Bash"}
            return [{**call, "input": {"command": self.command, "description": "as asked"}}], "tool_use"
        return [{"type": "text", "text": "done"}], "end_turn"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeAnthropic

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if "count_tokens" in self.path:
            return self._send("application/json", json.dumps({"input_tokens": 100}).encode())
        blocks, stop = self.server.answer(request)
        self.server.messages += 1
        n = self.server.messages
        message = {
            "id": f"msg_{self.server.prefix}{n:04d}",
            "type": "message",
            "role": "assistant",
            "model": request.get("model"),
            "content": blocks,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": USAGE,
        }
        if not request.get("stream"):
            return self._send("application/json", json.dumps(message).encode(), n)
        events = [("message_start", {"message": {**message, "content": [], "stop_reason": None}})]
        for i, block in enumerate(blocks):
            if block["type"] == "text":
                start, delta = {**block, "text": ""}, {"type": "text_delta", "text": block["text"]}
            else:
                start, delta = (
                    {**block, "input": {}},
                    {"type": "input_json_delta", "partial_json": json.dumps(block["input"])},
                )
            events += [
                ("content_block_start", {"index": i, "content_block": start}),
                ("content_block_delta", {"index": i, "delta": delta}),
                ("content_block_stop", {"index": i}),
            ]
        events += [
            ("message_delta", {"delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 80}}),
            ("message_stop", {}),
        ]
        body = "".join(f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n" for name, data in events)
        self._send("text/event-stream", body.encode(), n)

    def _send(self, content_type: str, body: bytes, n: int = 0) -> None:
        self.send_response(200)
        if n:
            self.send_header("request-id", f"req_{self.server.prefix}{n:04d}")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass
