"""MARA API client (httpx): one code path for the official API, any compatible server and
the embedded simulator (an ``httpx.MockTransport``).

About 370 lines: every bound on a call (deadline, size, retries, redaction) is in
this one client, so no endpoint can skip one.

Every call is bounded, whatever the server does:

* **A total deadline** (``deadline`` seconds, default 30) covers the whole call: every
  attempt, every wait between attempts and every byte of every answer. httpx's own
  ``timeout`` bounds each read, so a server dripping one byte at a time would never
  trip it; here each socket read and write is also cut at the deadline
  (:mod:`optera.transport`), and the body loop checks it too. ``timeout`` stays the
  inactivity bound of one read (a dead server is noticed long before the deadline).
* **A size cap** (``max_bytes``, default 16 MB) on the answer both as sent and once
  decompressed. The body is streamed and decompressed a chunk at a time with a bounded
  output, so a small gzip bomb stops at the cap instead of filling memory.
* **Retries** (tenacity): connection failures, timeouts, 429 and 5xx, with exponential
  backoff; a 429's Retry-After is honoured (capped at ``MAX_RETRY_AFTER``). No retry
  starts that could not finish before the deadline. A POST (creating a site is not
  idempotent) is retried only when it surely never reached the server: a refused
  connection or a 429.

Every failure becomes a :class:`SourceError` subclass whose message a user can act on.
Text from the server is redacted before it is cut (``optera.redaction.safe``), so the
key never appears in a message, even when the server echoes it in a body, a header or
a site name. Payloads are validated through :mod:`optera.models`; a bad field becomes a
:class:`BadResponseError` naming it.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import time
import zlib
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import urlsplit

import httpx
import tenacity

from . import redaction
from .clock import utcnow
from .errors import (
    AuthError,
    BadResponseError,
    RateLimitedError,
    RefusedError,
    SourceError,
    UnavailableError,
    ValidationError,
)
from .models import (
    Allocation,
    Inventory,
    PriceList,
    Site,
    SiteStatus,
    format_timestamp,
    parse_price_list,
    parse_timestamp,
)
from .transport import Expired, TooLarge, UnknownEncoding, deadline, make_transport, read_body

__all__ = ["MaraClient", "SourceError", "AuthError", "BadResponseError", "RateLimitedError", "RefusedError",
           "UnavailableError", "DEADLINE", "MAX_BYTES", "MAX_RETRY_AFTER"]

log = logging.getLogger(__name__)

DEADLINE = 30.0  # s per call, all attempts and waits included
MAX_BYTES = 16 * 2**20  # an answer, raw and decompressed: ~150,000 price points (500 days of 5-minute points)
MAX_RETRY_AFTER = 30.0  # s: the longest a 429's Retry-After is honoured
ERROR_BYTES = 64 * 2**10  # an error answer larger than this is not shown (a cut could split a key)
MESSAGE_CHARS = 300  # of server text in a message, after redaction


class _Retryable(Exception):
    """One attempt failed in a way another attempt may fix; ``retry`` says if one is allowed."""

    def __init__(self, kind: str, text: str, retry: bool, retry_after: float | None = None):
        super().__init__(text)
        self.kind, self.text, self.retry, self.retry_after = kind, text, retry, retry_after


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
        seconds = max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _plural(n: int) -> str:
    return f"{n} attempt{'s' if n != 1 else ''}"


class MaraClient:
    """The MARA API, with every call bounded in time and size (see the module docstring).

    ``timeout``: the longest wait for one read or connect (s); ``deadline``: the longest
    one call may take, retries and waits included (s); ``retries``: attempts per call;
    ``backoff``: the first wait between attempts (s, doubling); ``max_bytes``: the
    largest answer accepted, as sent and decompressed; ``sleep``: how to wait between
    attempts (tests pass a recorder); ``clock``: now, for dropping future-dated prices.
    """

    def __init__(self, base_url: str, api_key: str | None = None, *, transport: httpx.BaseTransport | None = None,
                 timeout: float = 10.0, deadline: float = DEADLINE, retries: int = 3, backoff: float = 0.5,
                 max_bytes: int = MAX_BYTES, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], datetime] = utcnow):
        self.base_url = base_url.rstrip("/")
        self._key = api_key or None
        redaction.remember(self._key)
        self.timeout = float(timeout)
        self.deadline = float(deadline)
        self.retries = max(1, int(retries))
        self.backoff = max(0.0, float(backoff))
        self.max_bytes = int(max_bytes)
        self.sleep = sleep
        self.clock = clock
        self._http = httpx.Client(base_url=self.base_url, transport=transport or make_transport(self.base_url),
                                  timeout=self.timeout,
                                  headers={"Accept": "application/json", "Accept-Encoding": "gzip, deflate",
                                           "User-Agent": "optera"})

    def __repr__(self) -> str:
        return f"MaraClient({self.base_url!r}, api_key={'set' if self._key else 'unset'})"

    @property
    def has_key(self) -> bool:
        return bool(self._key)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "MaraClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------
    def redact(self, text: str) -> str:
        """Text with the API key (and anything key-like) masked, safe for messages and logs."""
        return redaction.redact(text, [self._key])

    def _safe(self, text: object, limit: int = MESSAGE_CHARS) -> str:
        return redaction.safe(text, limit, [self._key])

    def _host(self) -> str:
        """Host and port only: a URL's credentials never reach a message."""
        parts = urlsplit(self.base_url)
        return self._safe(f"{parts.hostname}{f':{parts.port}' if parts.port else ''}" if parts.hostname
                          else "the configured URL", 100)

    def _server_message(self, response: httpx.Response, content: bytes | None) -> str:
        """An error answer's message: redacted whole, then cut (None: it was too large to show)."""
        if content is None:
            return f"an answer of more than {ERROR_BYTES // 1024} KB"
        try:
            data = json.loads(content)
        except (ValueError, RecursionError):
            ctype = response.headers.get("content-type", "")
            return "an HTML page" if "html" in ctype or content.lstrip()[:1] == b"<" else \
                self._safe(content.decode("utf-8", "replace"))
        detail = data.get("detail", data) if isinstance(data, dict) else data
        return self._safe(detail if isinstance(detail, str) else json.dumps(detail))

    def _read(self, response: httpx.Response, what: str, end: float) -> bytes | None:
        """The body, streamed: within the deadline, at most ``max_bytes`` raw and decoded.

        An error answer is read up to ``ERROR_BYTES``; a larger one gives None (its message
        is not shown: a key cut at the limit could no longer be redacted).
        """
        error = response.status_code >= 400
        cap = ERROR_BYTES if error else self.max_bytes
        too_large = f"The MARA API's answer to {what} is larger than {self.max_bytes / 2**20:g} MB"
        declared = response.headers.get("content-length", "")
        if not error and declared.isdigit() and int(declared) > cap:
            raise BadResponseError(f"{too_large} ({int(declared):,} bytes announced); refused. "
                                   "A misbehaving server or proxy may be sending it.")
        try:
            return read_body(response, cap, end)
        except TooLarge as e:
            if error:
                return None
            raise BadResponseError(f"{too_large}{' once decompressed' if e.decoded else ''}; refused. "
                                   "A misbehaving server or proxy may be sending it.") from None
        except Expired:
            raise self._past_deadline(what) from None
        except UnknownEncoding:
            encoding = self._safe(response.headers.get("content-encoding", ""), 40)
            raise BadResponseError(f"The MARA API answered {what} compressed as {encoding!r}, which Optera does "
                                   "not accept (gzip or deflate only).") from None
        except zlib.error:
            raise BadResponseError(f"The MARA API's compressed answer to {what} could not be decompressed.") from None

    def _past_deadline(self, what: str) -> UnavailableError:
        return UnavailableError(f"The MARA API at {self._host()} did not complete {what} within the "
                                f"{self.deadline:g} s deadline (the server is stalled or very slow).",
                                unreachable=True)

    def _attempt(self, method: str, path: str, headers: dict, body: Any, what: str, end: float,
                 idempotent: bool) -> Any:
        left = end - time.monotonic()
        if left <= 0:
            raise self._past_deadline(what)
        try:
            with deadline(end):
                request = self._http.build_request(method, path, headers=headers, json=body,
                                                   timeout=min(self.timeout, left))
                response = self._http.send(request, stream=True)
                try:
                    content = self._read(response, what, end)
                finally:
                    response.close()
        except httpx.ConnectError as e:
            raise _Retryable("unreachable", f"cannot connect ({self._safe(e, 120) or 'connection refused'})",
                             True) from None
        except httpx.TimeoutException:
            if time.monotonic() >= end - 0.05:  # the read was cut at the deadline, not by the read timeout
                raise self._past_deadline(what) from None
            raise _Retryable("unreachable", f"no answer within {self.timeout:g} s", idempotent) from None
        except httpx.TransportError as e:
            raise _Retryable("unreachable", f"connection failed ({type(e).__name__})", idempotent) from None
        status = response.status_code
        if status < 400:
            return self._decode(response, content, what)
        server = self._server_message(response, content)
        if status in (401, 403):
            raise AuthError(f"The MARA API rejected the API key ({status}) on {what}: {server}. "
                            "Check MARA_API_KEY (environment or .streamlit/secrets.toml).")
        if status == 429:
            raise _Retryable("rate", f"429 rate limited ({server})", True,
                             _retry_after(response.headers.get("retry-after")))
        if status >= 500:
            raise _Retryable("status", f"{status} {server}", idempotent)
        raise RefusedError(f"The MARA API refused {what} ({status}): {server}", status, server)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception()
        if getattr(error, "retry_after", None) is not None:
            return min(error.retry_after, MAX_RETRY_AFTER)
        return self.backoff * 2 ** (state.attempt_number - 1)

    def _request(self, method: str, path: str, *, auth: bool = False, body: Any = None) -> Any:
        what = f"{method} {path}"
        headers = {}
        if auth:
            if not self._key:
                raise AuthError(f"No MARA API key is set, so {what} cannot be made. Set MARA_API_KEY "
                                "(environment or .streamlit/secrets.toml).")
            headers["X-Api-Key"] = self._key
        start = time.monotonic()
        end = start + self.deadline
        waited = [0.0]
        out_of_time = []

        def sleep(seconds: float) -> None:
            waited[0] += seconds
            self.sleep(seconds)

        def stop(state: tenacity.RetryCallState) -> bool:
            if state.attempt_number >= self.retries:
                return True
            # waits count against the deadline even when the injected sleep does not really wait
            if max(time.monotonic(), start + waited[0]) + state.upcoming_sleep >= end:
                out_of_time.append(state.upcoming_sleep)
                return True
            return False

        retrying = tenacity.Retrying(stop=stop, wait=self._wait, sleep=sleep, reraise=True,
                                     retry=tenacity.retry_if_exception(lambda e: isinstance(e, _Retryable)
                                                                       and e.retry))
        try:
            return retrying(self._attempt, method, path, headers, body, what, end, method != "POST")
        except _Retryable as e:
            attempts = _plural(retrying.statistics.get("attempt_number", 1))
            why = (f" (another attempt would not finish within the {self.deadline:g} s deadline)"
                   if out_of_time else "")
            if e.kind == "rate":
                raise RateLimitedError(f"The MARA API is rate limiting requests after {attempts}{why} ({what}): "
                                       f"{e.text}", e.retry_after) from None
            if e.kind == "unreachable":
                raise UnavailableError(f"The MARA API at {self._host()} could not be reached after {attempts}"
                                       f"{why} ({what}): {e.text}", unreachable=True) from None
            raise UnavailableError(f"The MARA API is unavailable after {attempts}: {e.text}{why} ({what})") from None

    def _decode(self, response: httpx.Response, content: bytes, what: str) -> Any:
        try:
            return json.loads(content)
        except (ValueError, RecursionError):  # RecursionError: thousands of nested brackets
            ctype = self._safe(response.headers.get("content-type", "unknown type"), 60)
            looks = "an HTML page" if ("html" in ctype or content.lstrip()[:1] == b"<") else \
                f"{len(content)} bytes of {ctype}"
            raise BadResponseError(f"The MARA API returned something that is not valid JSON for {what} "
                                   f"({looks}); it may be down or behind a proxy.") from None

    def _validated(self, what: str, parse: Callable[[Any], Any], payload: Any) -> Any:
        try:
            return parse(payload)
        except ValidationError as e:
            # the error's own message names the field and shows the value, redacted then cut
            raise BadResponseError(f"The MARA API returned an invalid response for {what}: field {e.message}") \
                from None

    # -- endpoints ---------------------------------------------------------------------
    def create_site(self, name: str) -> tuple[Site, str]:
        """POST /sites; the client then uses the new site's key."""
        payload = self._request("POST", "/sites", body={"name": name})
        site = self._validated("POST /sites", Site.from_api, payload)
        key = payload.get("api_key")
        if not isinstance(key, str) or not 0 < len(key) <= 256 or not key.isprintable() or " " in key:
            raise BadResponseError("The MARA API returned an invalid response for POST /sites: field api_key: "
                                   "missing, empty or not a usable key")
        self._key = key
        redaction.remember(key)
        return site, key

    def get_site(self) -> Site:
        return self._validated("GET /sites", Site.from_api, self._request("GET", "/sites", auth=True))

    def get_prices(self) -> PriceList:
        """GET /prices, validated, oldest first, duplicate timestamps dropped.

        Points dated more than ``models.FUTURE_TOLERANCE`` after ``clock()`` are dropped,
        logged, and listed in the result's ``dropped`` (its ``note`` says so in one line).
        """
        now = self.clock()
        points = self._validated("GET /prices", lambda p: parse_price_list(p, now=now),
                                 self._request("GET", "/prices"))
        if points.note:
            log.warning("GET /prices: %s", points.note)
        return points

    def get_inventory(self) -> Inventory:
        return self._validated("GET /inventory", Inventory.from_api, self._request("GET", "/inventory"))

    def get_status(self) -> SiteStatus:
        return self._validated("GET /machines", SiteStatus.from_api, self._request("GET", "/machines", auth=True))

    def set_allocation(self, allocation: Allocation) -> dict:
        """PUT /machines; the server's answer, checked: the five counts, ``updated_at`` (or None),
        and ``id``/``site_id`` when they are whole numbers."""
        payload = self._request("PUT", "/machines", auth=True, body=allocation.to_dict())
        return self._validated("PUT /machines", _put_answer, payload)


def _put_answer(payload: Any) -> dict:
    out: dict[str, Any] = Allocation.from_api(payload).to_dict()
    updated = payload.get("updated_at")
    out["updated_at"] = format_timestamp(parse_timestamp(updated, "updated_at")) if updated else None
    for name in ("id", "site_id"):
        if type(payload.get(name)) is int:
            out[name] = payload[name]
    return out
