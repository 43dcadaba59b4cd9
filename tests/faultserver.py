"""The suite's one fake MARA server: the real simulator over HTTP on 127.0.0.1, with faults.

Every route is answered by a :class:`Simulator` (fixed clock by default, movable through
``server.now``) unless told to misbehave with ``set(path, method=None, **fault)``; the
path ``"*"`` means every route. Faults (fields of :class:`Fault`, combinable):

* ``delay`` seconds before answering; ``status`` (with ``retry_after``) instead of the real one;
* ``html`` page, ``truncated`` JSON, an arbitrary ``body`` (bytes or a JSON value), or
  ``edit``: a function of the simulator's payload (NaN, negative, huge or future-dated values);
* ``fail_times``: the fault only for the first N requests of that route;
* ``drip``: seconds between bytes, one byte at a time (``drip_head`` also drips the
  status line and headers); ``huge``: a valid JSON body of that many bytes;
  ``no_length``: no Content-Length (the end is the closed connection);
* ``gzip_bomb``: a gzip body that inflates to that many bytes (valid JSON if inflated);
* ``echo_key``: the key the request carried, back in a header, the Content-Type, the error
  detail and the site name, as careless servers do; ``headers``: extra response headers.

The server accepts ``key`` as its demo site's key (any other is refused with 401), so a
test can use a secret of its own; ``count()``, ``requests`` and ``puts`` say what was asked.
"""

from __future__ import annotations

import functools
import json
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from optera.sim.api import DEMO_KEY, Simulator

FIXED_NOW = datetime(2025, 6, 21, 21, 7)  # just after the last real point
_UNSET = object()
HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


@dataclass
class Fault:
    delay: float = 0.0
    status: int | None = None
    retry_after: str | None = None
    html: bool = False
    truncated: bool = False
    body: Any = _UNSET
    edit: Callable[[Any], Any] | None = None
    fail_times: int | None = None
    drip: float = 0.0
    drip_head: bool = False
    huge: int = 0
    no_length: bool = False
    gzip_bomb: int = 0
    echo_key: bool = False
    headers: dict | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """A client hanging up mid-answer is what the cap and deadline tests do: not an error."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Padded:
    """``[`` + spaces + ``]`` of a given size, written a block at a time (never held whole)."""

    BLOCK = b" " * 2**16

    def __init__(self, size: int):
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        yield b"["
        left = self.size - 2
        while left > 0:
            yield self.BLOCK[:left]
            left -= len(self.BLOCK)
        yield b"]"


@functools.lru_cache(maxsize=4)
def gzip_bomb(size: int) -> bytes:
    """gzip of a JSON list padded with ``size`` spaces (a few hundred KB for hundreds of MB)."""
    z = zlib.compressobj(1, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = b" " * 2**20
    out = [z.compress(b"[")]
    for _ in range(size // len(block)):
        out.append(z.compress(block))
    out.append(z.compress(b" " * (size % len(block)) + b"]"))
    out.append(z.flush())
    return b"".join(out)


class FaultServer:
    def __init__(self, *, key: str = DEMO_KEY, now: datetime = FIXED_NOW, history_days: float = 1,
                 sim: Simulator | None = None):
        self.key = key
        self.now = now
        self.sim = sim or Simulator(state_path=None, now=lambda: self.now, history_days=history_days)
        self.faults: dict[tuple[str, str], Fault] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in separate writes: with Nagle on, each answer on a kept-alive
            # connection waits ~40 ms for the client's delayed ACK
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def _serve(self):
                try:
                    outer._handle(self)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (a deadline or cap test)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)
        self._thread.start()

    # -- control ---------------------------------------------------------------------------
    def set(self, path: str, method: str | None = None, **fault) -> None:
        """Make ``path`` ("*": every path), for ``method`` or all, misbehave as ``fault`` says."""
        if fault.get("retry_after") is not None:
            fault["retry_after"] = str(fault["retry_after"])
        self.faults[(method or "*", path)] = Fault(**fault)

    def reset(self) -> None:
        self.faults.clear()
        with self._lock:
            self.requests.clear()

    def count(self, path: str | None = None, method: str | None = None) -> int:
        with self._lock:
            return sum(1 for m, p, _ in self.requests
                       if (path is None or p == path) and (method is None or m == method))

    @property
    def puts(self) -> list[tuple[str, str, dict[str, str]]]:
        with self._lock:
            return [r for r in self.requests if r[0] == "PUT"]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- serving -------------------------------------------------------------------------------
    def _fault(self, method: str, path: str, n: int) -> Fault | None:
        for key in ((method, path), ("*", path), (method, "*"), ("*", "*")):
            fault = self.faults.get(key)
            if fault is not None:
                return None if fault.fail_times is not None and n > fault.fail_times else fault
        return None

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?")[0].rstrip("/") or "/"
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        headers = dict(h.headers.items())
        with self._lock:
            self.requests.append((h.command, path, headers))
            n = sum(1 for m, p, _ in self.requests if p == path and m == h.command)
        given = next((v for k, v in headers.items() if k.lower() == "x-api-key"), "")
        sim_headers = {"X-Api-Key": DEMO_KEY if given == self.key else f"refused-{given}" if given else ""}
        status, payload = self.sim.handle(h.command, path, sim_headers, body)
        f = self._fault(h.command, path, n)
        if f is None:
            return self._send(h, status, json.dumps(payload).encode(), Fault())
        if f.delay:
            time.sleep(f.delay)
        if f.edit is not None:
            payload = f.edit(payload)
        status = f.status if f.status is not None else status
        extra = {"Retry-After": f.retry_after} if f.retry_after is not None else {}
        extra.update(f.headers or {})
        ctype = "application/json"
        if f.echo_key:
            extra["X-Debug-Key"] = given
            ctype += f"; site-key={given}"
            if isinstance(payload, dict) and "name" in payload:
                payload = {**payload, "name": given}
        if f.html:
            raw, ctype = HTML, "text/html"
        elif f.body is not _UNSET:
            raw = f.body if isinstance(f.body, bytes) else json.dumps(f.body).encode()
        elif status >= 400 and (f.status is not None or f.echo_key):
            detail = f"injected {status}" + (f" while serving the site with key {given}" if f.echo_key else "")
            raw = json.dumps({"detail": detail}).encode()
        else:
            raw = json.dumps(payload).encode()
        if f.truncated:
            raw = raw[: max(1, len(raw) // 2)]
        if f.huge:
            raw = _Padded(f.huge)
        if f.gzip_bomb:
            raw = gzip_bomb(f.gzip_bomb)
            extra["Content-Encoding"] = "gzip"
        self._send(h, status, raw, f, ctype, extra)

    @staticmethod
    def _send(h, status: int, raw: bytes, f: Fault, ctype: str = "application/json", extra=None) -> None:
        head = [f"HTTP/1.1 {status} {h.responses.get(status, ('Status',))[0]}", f"Content-Type: {ctype}"]
        if f.no_length:
            head.append("Connection: close")
            h.close_connection = True
        else:
            head.append(f"Content-Length: {len(raw)}")
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        head_bytes = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if f.drip:
            for i in range(len(head_bytes) if f.drip_head else 0):
                h.wfile.write(head_bytes[i:i + 1])
                h.wfile.flush()
                time.sleep(f.drip)
            if not f.drip_head:
                h.wfile.write(head_bytes)
            for i in range(len(raw)):
                h.wfile.write(raw[i:i + 1])
                h.wfile.flush()
                time.sleep(f.drip)
            return
        h.wfile.write(head_bytes)
        for block in raw if isinstance(raw, _Padded) else [raw]:
            h.wfile.write(block)
        h.wfile.flush()
