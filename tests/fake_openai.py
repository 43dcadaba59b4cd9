"""A scripted Chat Completions server on 127.0.0.1, so the real openai client runs offline.

Each request pops the next scripted response (a dict):
  {"text": "...", "chunks": 3}                 streamed (or whole) assistant text
  {"tool_calls": [{"name": ..., "arguments": "<raw JSON string>"}], "text": optional}
                                               tool calls, arguments split over several chunks
  {"status": 401 | 429 | 500, "message": ...}  an error body in OpenAI's shape
  {"delay": seconds, ...}                      sleep first (a slow server / timeout)
Requests are recorded (path, headers, parsed body) in ``server.requests``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _split(text: str, parts: int) -> list[str]:
    parts = max(1, min(parts, len(text) or 1))
    size = -(-len(text) // parts) if text else 1
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


class FakeOpenAI:
    def __init__(self):  # noqa: C901 - the fake server's request handler is one closure over the scripted replies
        self.script: deque[dict[str, Any]] = deque()
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                return

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                with fake._lock:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    fake.requests.append({"path": self.path, "headers": headers, "body": body})
                    step = fake.script.popleft() if fake.script else {"status": 500,
                                                                       "message": "no scripted response"}
                if step.get("delay"):
                    time.sleep(step["delay"])
                if not self.path.endswith("/chat/completions"):
                    return self._error(404, f"unknown path {self.path}")
                if step.get("status"):
                    return self._error(step["status"], step.get("message", "scripted error"))
                if body.get("stream"):
                    return self._stream(step, body)
                return self._whole(step, body)

            def _send(self, status: int, payload: bytes, ctype: str, extra: dict | None = None):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            def _error(self, status: int, message: str):
                kind = {401: "invalid_request_error", 429: "rate_limit_exceeded"}.get(status, "server_error")
                payload = json.dumps({"error": {"message": message, "type": kind, "code": kind}}).encode()
                extra = {"retry-after": "0", "x-should-retry": "false"} if status in (429, 500) else None
                self._send(status, payload, "application/json", extra)

            def _whole(self, step: dict, body: dict):
                message: dict[str, Any] = {"role": "assistant", "content": step.get("text")}
                if step.get("tool_calls"):
                    message["tool_calls"] = [
                        {"id": f"call_{i}", "type": "function",
                         "function": {"name": c["name"], "arguments": c["arguments"]}}
                        for i, c in enumerate(step["tool_calls"])]
                payload = {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                           "model": body.get("model", "fake"),
                           "choices": [{"index": 0, "message": message,
                                        "finish_reason": "tool_calls" if step.get("tool_calls") else "stop"}],
                           "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
                self._send(200, json.dumps(payload).encode(), "application/json")

            def _stream(self, step: dict, body: dict):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                        "model": body.get("model", "fake")}

                def emit(delta: dict, finish: str | None = None):
                    chunk = dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": finish}])
                    self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                    self.wfile.flush()

                emit({"role": "assistant", "content": ""})
                if step.get("text"):
                    for part in _split(step["text"], step.get("chunks", 3)):
                        emit({"content": part})
                for i, call in enumerate(step.get("tool_calls") or []):
                    emit({"tool_calls": [{"index": i, "id": f"call_{len(fake.requests)}_{i}", "type": "function",
                                          "function": {"name": call["name"], "arguments": ""}}]})
                    for part in _split(call["arguments"], step.get("chunks", 3)):
                        emit({"tool_calls": [{"index": i, "function": {"arguments": part}}]})
                emit({}, "tool_calls" if step.get("tool_calls") else "stop")
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def start(self) -> "FakeOpenAI":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def push(self, *steps: dict[str, Any]) -> None:
        with self._lock:
            self.script.extend(steps)

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:
    """Serve a fake that always answers "Hello from the fake server." (manual checks)."""
    fake = FakeOpenAI()
    print(fake.base_url)

    class Forever(deque):
        def popleft(self):
            return {"text": "Hello from the fake server."}

        def __bool__(self):
            return True

    fake.script = Forever()
    fake.server.serve_forever()


if __name__ == "__main__":
    main()
