"""Serve a :class:`Simulator` over real HTTP (stdlib ThreadingHTTPServer), on 127.0.0.1 by default."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .api import Simulator

MAX_BODY = 1_000_000


def _handler(sim: Simulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "OpteraSim/1"
        protocol_version = "HTTP/1.1"
        # headers and body go out in separate writes: with Nagle on, each answer on a kept-alive
        # connection waits ~40 ms for the client's delayed ACK
        disable_nagle_algorithm = True

        def log_message(self, *args):  # quiet: the CLI prints its own banner
            pass

        def _serve(self):
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY:
                status, payload = 413, {"detail": "Request body too large or malformed"}
                self.close_connection = True
            else:
                body = self.rfile.read(length) if length else b""
                try:
                    status, payload = sim.handle(self.command, self.path, dict(self.headers.items()), body)
                except Exception as e:  # noqa: BLE001 - a server answers 500, never dies
                    status, payload = 500, {"detail": f"Simulator error: {type(e).__name__}"}
            raw = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    return Handler


def make_server(sim: Simulator, host: str = "127.0.0.1", port: int = 8787) -> ThreadingHTTPServer:
    httpd = ThreadingHTTPServer((host, port), _handler(sim))
    httpd.daemon_threads = True
    return httpd


def serve(sim: Simulator, host: str = "127.0.0.1", port: int = 8787) -> None:
    """Serve until interrupted (blocking)."""
    httpd = make_server(sim, host, port)
    try:
        httpd.serve_forever()
    finally:
        httpd.server_close()


class _Background:
    def __init__(self, httpd: ThreadingHTTPServer):
        self.httpd = httpd
        # a short poll interval makes shutdown() quick (tests start and stop many servers)
        self.thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def shutdown(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def start_background(sim: Simulator, port: int = 0, host: str = "127.0.0.1") -> tuple[_Background, str]:
    """Serve in a daemon thread; returns (server with .shutdown(), base_url)."""
    httpd = make_server(sim, host, port)
    server = _Background(httpd)
    return server, f"http://{host}:{httpd.server_address[1]}"
