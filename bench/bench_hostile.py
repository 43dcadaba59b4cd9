"""Hostile-server probes against the MARA client: time, peak memory and outcome of each.

The server is the test suite's fake MARA server (``tests/faultserver.py``) on 127.0.0.1.
Run it on older code too (``PYTHONPATH=<old checkout> python -m bench bench_hostile``):
options an older client lacks are left out, and a probe still running after
``WALL`` seconds is reported as such instead of waited for.
"""

from __future__ import annotations

import inspect
import logging
import sys
import threading
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from optera.mara import MaraClient  # noqa: E402
from optera.models import Allocation  # noqa: E402

from faultserver import FaultServer, gzip_bomb  # noqa: E402

KEY = "bench-hostile-key-0123456789"
WALL = 60.0
MB = 2**20


def _waits(call) -> str:
    """call(sleep): its outcome and the waits between attempts it asked for (recorded, not slept)."""
    waits: list[float] = []
    try:
        out = _outcome(call(lambda s: waits.append(round(float(s), 2))))
    except Exception as e:  # noqa: BLE001 - reported, not raised
        out = _outcome(e)
    return f"{_cut(out)}; waits {waits} (sum {sum(waits):g} s)"


def _client(url: str, **kw) -> MaraClient:
    accepted = inspect.signature(MaraClient.__init__).parameters
    return MaraClient(url, KEY, **{k: v for k, v in kw.items() if k in accepted})


def _first(field, value):
    return lambda points: [{**points[0], field: value}] + points[1:]


def _cut(text: str, n: int = 150) -> str:
    return text[:n] + ("…" if len(text) > n else "")


def _outcome(value) -> str:
    """The whole outcome as text (cut only when printed, so the key check sees all of it)."""
    if isinstance(value, str):
        return value.replace("|", "/")
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}".replace("|", "/")
    if isinstance(value, list):
        dropped = len(getattr(value, "dropped", []))
        latest = value[-1].timestamp.isoformat() if value else "none"
        return f"{len(value)} points, latest {latest}" + (f", {dropped} dropped" if dropped else "")
    return repr(value).replace("|", "/")


def _run(call) -> tuple[str, float, float]:
    """(outcome, seconds, peak MB) of call(), waiting at most WALL seconds."""
    box: dict = {}

    def target():
        try:
            box["value"] = call()
        except BaseException as e:  # noqa: BLE001 - reported, not raised
            box["value"] = e

    tracemalloc.start()
    start = time.monotonic()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(WALL)
    seconds = time.monotonic() - start
    peak = tracemalloc.get_traced_memory()[1] / MB
    tracemalloc.stop()
    if thread.is_alive():
        return f"still running after {WALL:g} s", seconds, peak
    return _outcome(box["value"]), seconds, peak


def _key_shown(call, server: FaultServer) -> str:
    """Whether the key shows in what the call raised or returned, or in the HTTP debug log."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    handler = Keep(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        out, _, _ = _run(call)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    where = [name for name, text in (("message", out), ("debug log", "\n".join(records)))
             if KEY[:12] in text]
    return f"key shown in {' and '.join(where)}: {_cut(out, 100)}" if where else f"key hidden: {_cut(out, 100)}"


def probes(server: FaultServer):
    """(name, set-up, call) for each probe; set-up gets the server, call gets a fresh client."""
    url = server.url
    return [
        ("drip: GET /inventory one byte per 50 ms (~330 bytes), deadline 5 s",
         lambda s: s.set("/inventory", drip=0.05), lambda: _client(url, deadline=5).get_inventory()),
        ("drip the status line and headers too, deadline 5 s",
         lambda s: s.set("/inventory", drip=0.05, drip_head=True), lambda: _client(url, deadline=5).get_inventory()),
        ("200 MB answer, Content-Length announced",
         lambda s: s.set("/prices", huge=200 * MB), lambda: _client(url).get_prices()),
        ("200 MB answer, no Content-Length",
         lambda s: s.set("/prices", huge=200 * MB, no_length=True), lambda: _client(url).get_prices()),
        ("gzip bomb: 100 KB inflating to 100 MB",
         lambda s: s.set("/prices", gzip_bomb=100 * MB), lambda: _client(url).get_prices()),
        ("200,000 nested brackets", lambda s: s.set("/prices", body=b"[" * 200_000 + b"]" * 200_000),
         lambda: _client(url).get_prices()),
        ("503 for ever, 10 attempts, backoff 0.4 s, deadline 5 s",
         lambda s: s.set("/machines", status=503),
         lambda: _waits(lambda sl: _client(url, retries=10, backoff=0.4, deadline=5, sleep=sl).get_status())),
        ("429 with Retry-After: 3600",
         lambda s: s.set("/prices", status=429, retry_after=3600),
         lambda: _waits(lambda sl: _client(url, sleep=sl).get_prices())),
        ("429 with Retry-After as an HTTP date 8 s ahead, then OK",
         lambda s: s.set("/inventory", status=429, fail_times=1, retry_after=format_datetime(
             datetime.now(timezone.utc) + timedelta(seconds=8), usegmt=True)),
         lambda: _waits(lambda sl: _client(url, sleep=sl).get_inventory() and "OK")),
        ("a price point dated 3000-01-01",
         lambda s: s.set("/prices", edit=lambda p: [{**p[0], "timestamp": "3000-01-01T00:00:00"}] + p),
         lambda: _client(url).get_prices()),
        ("energy price 1e300", lambda s: s.set("/prices", edit=_first("energy_price", 1e300)),
         lambda: _client(url).get_prices()[-1].energy_price),
        ("air miner of 1e-300 W",
         lambda s: s.set("/inventory", edit=lambda i: {**i, "miners": {**i["miners"], "air": {"power": 1e-300,
                                                                                          "hashrate": 1000}}}),
         lambda: _client(url).get_inventory()["air_miners"].power),
        ("status with 10^30 air miners",
         lambda s: s.set("/machines", "GET", edit=lambda m: {**m, "air_miners": 10**30}),
         lambda: _client(url).get_status().allocation.air_miners),
        ("PUT answer with 10^18 GPUs", lambda s: s.set("/machines", "PUT", edit=lambda a: {**a, "gpu_compute": 10**18}),
         lambda: _client(url).set_allocation(Allocation(gpu_compute=1))["gpu_compute"]),
        ("site power 1e300", lambda s: s.set("/sites", "GET", edit=lambda x: {**x, "power": 1e300}),
         lambda: _client(url).get_site().power),
    ], [
        ("key across the 300-character cut of an error body",
         lambda s: s.set("/machines", status=500, body={"error": {"message": "x" * 256 + " " + KEY}}),
         lambda: _client(url, retries=1).get_status()),
        ("key in the Content-Type of a non-JSON answer",
         lambda s: s.set("/machines", body=b"not json", echo_key=True), lambda: _client(url).get_status()),
        ("key as the site name", lambda s: s.set("/sites", "GET", echo_key=True), lambda: _client(url).get_site().name),
        ("key in response headers (HTTP debug log)", lambda s: s.set("/machines", echo_key=True),
         lambda: _client(url).get_status().total_power_used),
    ]


def main() -> None:
    server = FaultServer(key=KEY)
    gzip_bomb(100 * MB)  # built before any memory is measured (the server runs in this process)
    timed, secret = probes(server)
    print("| probe | outcome | time | peak memory |")
    print("|---|---|---:|---:|")
    for name, setup, call in timed:
        server.reset()
        setup(server)
        out, seconds, peak = _run(call)
        print(f"| {name} | {_cut(out)} | {seconds:.2f} s | {peak:.1f} MB |", flush=True)
    print("\n| key probe | result |")
    print("|---|---|")
    for name, setup, call in secret:
        server.reset()
        setup(server)
        print(f"| {name} | {_key_shown(call, server)} |", flush=True)
    raw = __import__("httpx").get(server.url + "/sites", headers={"X-Api-Key": KEY}).text
    print(f"\nGET /sites from the simulator: `{raw}`")
    server.stop()


if __name__ == "__main__":
    main()
