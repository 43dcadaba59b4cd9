"""Bounded HTTP under httpx: a wall-clock deadline on every socket operation, and a body
read in a stream with a cap on its size both as sent and once decompressed.

httpx's ``timeout`` bounds each read, not a request: a server dripping one byte every few
seconds never trips it. :func:`make_transport` gives httpx's own transport (TLS,
keep-alive, the environment's proxy) whose socket reads, writes and connects are all cut
at the deadline set with :func:`deadline` on the calling thread. :func:`read_body`
decompresses here rather than in httpx (whose decoders have no output bound), a chunk at
a time with a bounded output, so a small gzip bomb stops at the cap.

httpx and httpcore log requests and raw response headers (INFO and DEBUG); a server
echoing the key in a header would put it in those logs, so their records are redacted.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import urllib.request
import zlib
from typing import Any, Iterator
from urllib.parse import urlsplit

import httpcore
import httpx

from .redaction import redact

__all__ = ["make_transport", "deadline", "read_body", "TooLarge", "Expired", "UnknownEncoding"]

_local = threading.local()  # the deadline (time.monotonic) of the request running on this thread
_HTTP_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy",
                 "httpcore.socks")  # a logger's filter does not apply to its children: each is named


class _Redacting(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), ()
        return True


for _name in _HTTP_LOGGERS:
    logging.getLogger(_name).addFilter(_Redacting())


class TooLarge(Exception):
    """The body passed the cap; ``decoded`` if only its decompressed form did."""

    def __init__(self, decoded: bool):
        super().__init__("answer too large")
        self.decoded = decoded


class Expired(Exception):
    """The deadline passed while the body was still arriving."""


class UnknownEncoding(Exception):
    """A Content-Encoding other than identity, gzip or deflate."""


@contextlib.contextmanager
def deadline(end: float) -> Iterator[None]:
    """Every socket operation of this thread, inside the block, ends by ``end`` (time.monotonic)."""
    _local.at = end
    try:
        yield
    finally:
        _local.at = None


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    end = getattr(_local, "at", None)
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise error("the request's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> "_Stream":
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, _bounded(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend):
        self._inner = inner

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None) -> _Stream:
        return _Stream(self._inner.connect_tcp(host, port, _bounded(timeout, httpcore.ConnectTimeout),
                                               local_address, socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None) -> _Stream:
        return _Stream(self._inner.connect_unix_socket(path, _bounded(timeout, httpcore.ConnectTimeout),
                                                       socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def make_transport(base_url: str) -> httpx.HTTPTransport:
    """httpx's transport for ``base_url`` with every socket operation bounded by :func:`deadline`.

    httpx has no option for a network backend, so the pool's is wrapped after
    construction (httpx 0.28 / httpcore 1.0, pinned); the drip tests fail if an upgrade
    moves it. An explicit transport turns off httpx's reading of proxy variables, so the
    environment's proxy (HTTP(S)_PROXY, ALL_PROXY, minus NO_PROXY hosts) is passed here.
    """
    parts = urlsplit(base_url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy and urllib.request.proxy_bypass(parts.hostname or ""):
        proxy = None
    transport = httpx.HTTPTransport(proxy=proxy)
    pool = transport._pool
    pool._network_backend = _Backend(pool._network_backend)
    return transport


class _Body:
    def __init__(self, encoding: str, cap: int):
        encoding = encoding.strip().lower()
        self.cap, self.size, self.parts = cap, 0, []
        if encoding in ("", "identity"):
            self._z = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            self._z = zlib.decompressobj(wbits=zlib.MAX_WBITS | 32)  # gzip or zlib header, detected
        else:
            raise UnknownEncoding(encoding)

    def _add(self, data: bytes) -> None:
        self.size += len(data)
        self.parts.append(data)
        if self.size > self.cap:
            raise TooLarge(self._z is not None)

    def feed(self, chunk: bytes) -> None:
        if self._z is None:
            return self._add(chunk)
        while chunk:
            self._add(self._z.decompress(chunk, self.cap - self.size + 1))
            chunk = self._z.unconsumed_tail

    def result(self) -> bytes:
        if self._z is not None and not self._z.eof:
            self._add(self._z.flush(self.cap - self.size + 1))
        return b"".join(self.parts)


def read_body(response: httpx.Response, cap: int, end: float) -> bytes:
    """The body of a streamed response, decompressed, at most ``cap`` bytes raw and decoded, by ``end``.

    Raises TooLarge, Expired, UnknownEncoding, or
    zlib.error for a body that does not decompress.
    """
    whole = response.is_stream_consumed  # an in-process transport hands over the decoded body at once
    body = _Body("" if whole else response.headers.get("content-encoding", ""), cap)
    raw = 0
    for chunk in [response.content] if whole else response.iter_raw():
        raw += len(chunk)
        body.feed(chunk)
        if raw > cap:
            raise TooLarge(False)
        if time.monotonic() > end:
            raise Expired()
    return body.result()
