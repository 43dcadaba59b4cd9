"""A misbehaving MARA-compatible HTTP server on 127.0.0.1 for client tests.

By default every path is answered by an in-memory :class:`Simulator` (key DEMO_KEY,
fixed clock). ``set(path, ...)`` makes one path misbehave: a delay, a status code
(with Retry-After), an HTML page, truncated JSON, an arbitrary JSON body, or a fault
for only the first N requests. ``count(path)`` says how many requests it received.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from optera.sim.api import DEMO_KEY, Simulator

FIXED_NOW = datetime(2025, 6, 21, 21, 7)  # just after the last real point
_UNSET = object()


def send(h, status: int, raw: bytes, ctype: str = "application/json", headers=None) -> None:
    """Write one HTTP answer; a client that already hung up (a timeout test) is not an error."""
    try:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(raw)
    except (BrokenPipeError, ConnectionResetError):
        pass


@dataclass
class Behaviour:
    delay: float = 0.0
    status: int | None = None
    retry_after: str | None = None
    html: bool = False
    truncated: bool = False
    body: Any = _UNSET
    fail_times: int | None = None  # fault only for the first N requests, then normal answers


class FaultServer:
    key = DEMO_KEY

    def __init__(self, now: datetime = FIXED_NOW):
        self.sim = Simulator(state_path=None, now=lambda: now, history_days=1)
        self.behaviours: dict[str, Behaviour] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self):
                outer._handle(self)

            do_GET = do_POST = do_PUT = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def set(self, path: str, *, delay: float = 0.0, status: int | None = None, retry_after: str | float | None = None,
            html: bool = False, truncated: bool = False, body: Any = _UNSET, fail_times: int | None = None) -> None:
        self.behaviours[path] = Behaviour(delay, status, None if retry_after is None else str(retry_after), html,
                                          truncated, body, fail_times)

    def reset(self) -> None:
        self.behaviours.clear()
        with self._lock:
            self.requests.clear()

    def count(self, path: str | None = None, method: str | None = None) -> int:
        with self._lock:
            return sum(1 for m, p, _ in self.requests if (path is None or p == path) and (method is None or m == method))

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _send(self, h, status: int, raw: bytes, ctype: str = "application/json", headers=None) -> None:
        send(h, status, raw, ctype, headers)

    def _handle(self, h) -> None:
        path = h.path.split("?")[0].rstrip("/") or "/"
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        with self._lock:
            self.requests.append((h.command, path, dict(h.headers.items())))
            n = sum(1 for _, p, _ in self.requests if p == path)
        b = self.behaviours.get(path)
        if b is not None and b.fail_times is not None and n > b.fail_times:
            b = None  # the fault is over: answer normally
        if b is not None and b.delay:
            time.sleep(b.delay)
        status, payload = self.sim.handle(h.command, path, dict(h.headers.items()), body)
        if b is None:
            return self._send(h, status, json.dumps(payload).encode())
        if b.status is not None:
            status = b.status
        headers = {"Retry-After": b.retry_after} if b.retry_after is not None else None
        if b.html:
            return self._send(h, status, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html",
                              headers)
        if b.body is not _UNSET:
            raw = b.body if isinstance(b.body, bytes) else json.dumps(b.body).encode()
        elif b.status is not None and b.status >= 400:
            raw = json.dumps({"detail": f"injected {b.status}"}).encode()
        else:
            raw = json.dumps(payload).encode()
        if b.truncated:
            raw = raw[: max(1, len(raw) // 2)]
        return self._send(h, status, raw, headers=headers)
