"""MARA API client (httpx): one code path for the official API, any compatible server and
the embedded simulator (an ``httpx.MockTransport``).

Connection errors, timeouts, 429 and 5xx are retried with exponential backoff
(429 waits for Retry-After, capped). Every failure becomes a :class:`SourceError`
subclass whose message a user can act on and which never contains the API key,
not even when the server echoes it. Payloads are validated through
:mod:`optera.models`; a bad field becomes a :class:`BadResponseError` naming it.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable
from urllib.parse import urlsplit

import httpx

from .errors import (AuthError, BadResponseError, RateLimitedError, RefusedError, SourceError, UnavailableError,
                     ValidationError)
from .models import Allocation, Inventory, Prices, Site, SiteStatus, parse_price_list

MAX_RETRY_AFTER = 30.0
REDACTED = "********"




def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class MaraClient:
    def __init__(self, base_url: str, api_key: str | None = None, *, transport: httpx.BaseTransport | None = None,
                 timeout: float = 10.0, retries: int = 3, backoff: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep):
        self.base_url = base_url.rstrip("/")
        self._key = api_key or None
        self.retries = max(1, int(retries))
        self.backoff = max(0.0, float(backoff))
        self.sleep = sleep
        self.timeout = timeout
        self._http = httpx.Client(base_url=self.base_url, transport=transport, timeout=timeout,
                                  headers={"Accept": "application/json", "User-Agent": "optera"})

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
        """Text with the API key replaced, safe for messages and logs."""
        if self._key and text:
            text = text.replace(self._key, REDACTED)
        return text

    def _server_message(self, response: httpx.Response) -> str:
        ctype = response.headers.get("content-type", "")
        text = ""
        try:
            data = json.loads(response.content)
            if isinstance(data, dict) and "detail" in data:
                detail = data["detail"]
                text = detail if isinstance(detail, str) else json.dumps(detail)[:300]
            else:
                text = json.dumps(data)[:300]
        except (ValueError, UnicodeDecodeError):
            if "html" in ctype or response.content.lstrip()[:1] == b"<":
                text = "an HTML page"
            else:
                text = response.content[:200].decode("utf-8", "replace").strip()
        return self.redact(" ".join(text.split()))

    def _request(self, method: str, path: str, *, auth: bool = False, body: Any = None) -> Any:
        what = f"{method} {path}"
        headers = {}
        if auth:
            if not self._key:
                raise AuthError(f"No MARA API key is set, so {what} cannot be made. Set MARA_API_KEY "
                                "(environment or .streamlit/secrets.toml).")
            headers["X-Api-Key"] = self._key
        # creating a site is not idempotent: only retry what surely never reached the server
        safe_retry = method != "POST"
        last: str = ""
        unreachable = False
        rate_limited: float | None = None
        status = 0
        for attempt in range(1, self.retries + 1):
            wait = self.backoff * 2 ** (attempt - 1)
            try:
                response = self._http.request(method, path, headers=headers,
                                              json=body)
            except httpx.ConnectError as e:
                last, unreachable, status = f"cannot connect ({self.redact(str(e)) or 'connection refused'})", True, 0
            except httpx.TimeoutException:
                last, unreachable, status = f"no answer within {self.timeout:g} s", True, 0
                if not safe_retry:
                    break
            except httpx.TransportError as e:
                last, unreachable, status = f"connection failed ({type(e).__name__})", True, 0
                if not safe_retry:
                    break
            else:
                status = response.status_code
                unreachable = False
                if status < 400:
                    return self._decode(response, what)
                server = self._server_message(response)
                if status in (401, 403):
                    raise AuthError(f"The MARA API rejected the API key ({status}) on {what}: {server}. "
                                    "Check MARA_API_KEY (environment or .streamlit/secrets.toml).")
                if status == 429:
                    rate_limited = _retry_after(response.headers.get("Retry-After"))
                    last = f"429 rate limited ({server})"
                    if rate_limited is not None:
                        wait = min(rate_limited, MAX_RETRY_AFTER)
                elif status >= 500:
                    last = f"{status} {server}"
                    if not safe_retry:
                        break
                else:
                    raise RefusedError(f"The MARA API refused {what} ({status}): {server}", status, server)
            if attempt < self.retries:
                self.sleep(wait)
        attempts = f"{self.retries} attempt{'s' if self.retries != 1 else ''}"
        if status == 429:
            raise RateLimitedError(f"The MARA API is rate limiting requests after {attempts} ({what}): {last}",
                                   rate_limited)
        if unreachable:
            raise UnavailableError(f"The MARA API at {self._host()} could not be reached after {attempts} "
                                   f"({what}): {last}", unreachable=True)
        raise UnavailableError(f"The MARA API is unavailable after {attempts}: {last} ({what})")

    def _host(self) -> str:
        parts = urlsplit(self.base_url)
        return parts.netloc or self.base_url

    def _decode(self, response: httpx.Response, what: str) -> Any:
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            ctype = response.headers.get("content-type", "unknown type")
            looks = "an HTML page" if ("html" in ctype or response.content.lstrip()[:1] == b"<") else \
                f"{len(response.content)} bytes of {ctype}"
            raise BadResponseError(f"The MARA API returned something that is not valid JSON for {what} "
                                   f"({looks}); it may be down or behind a proxy.") from None

    def _validated(self, what: str, parse: Callable[[Any], Any], payload: Any) -> Any:
        try:
            return parse(payload)
        except ValidationError as e:
            value = self.redact(repr(e.value))
            if len(value) > 60:
                value = value[:57] + "..."
            raise BadResponseError(f"The MARA API returned an invalid response for {what}: field {e.field}: "
                                   f"{e.reason} (got {value})") from None

    # -- endpoints ---------------------------------------------------------------------
    def create_site(self, name: str) -> tuple[Site, str]:
        """POST /sites; the client then uses the new site's key."""
        payload = self._request("POST", "/sites", body={"name": name})
        site = self._validated("POST /sites", Site.from_api, payload)
        key = payload.get("api_key")
        if not isinstance(key, str) or not key:
            raise BadResponseError("The MARA API returned an invalid response for POST /sites: field api_key: "
                                   "missing or empty")
        self._key = key
        return site, key

    def get_site(self) -> Site:
        return self._validated("GET /sites", Site.from_api, self._request("GET", "/sites", auth=True))

    def get_prices(self) -> list[Prices]:
        """GET /prices, validated, oldest first, duplicate timestamps dropped."""
        return self._validated("GET /prices", parse_price_list, self._request("GET", "/prices"))

    def get_inventory(self) -> Inventory:
        return self._validated("GET /inventory", Inventory.from_api, self._request("GET", "/inventory"))

    def get_status(self) -> SiteStatus:
        return self._validated("GET /machines", SiteStatus.from_api, self._request("GET", "/machines", auth=True))

    def set_allocation(self, allocation: Allocation) -> dict:
        """PUT /machines; returns the server's answer (the counts with id, site_id, updated_at)."""
        payload = self._request("PUT", "/machines", auth=True, body=allocation.to_dict())
        if not isinstance(payload, dict):
            raise BadResponseError("The MARA API returned an invalid response for PUT /machines: "
                                   "expected a JSON object")
        return payload
