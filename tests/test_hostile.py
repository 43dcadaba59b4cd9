"""The MARA client against a hostile server: every call ends in time, within its size cap,
with values in range and the key out of every message.

Each test names the attack it replays (issue 9, items 4, 5, 6 and 11). The server is the
suite's fake MARA server (``faultserver.py``) on 127.0.0.1; a client's retry waits are
recorded, not waited, except where the deadline itself is under test.
"""

from __future__ import annotations

import json
import logging
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from optera.errors import BadResponseError, RateLimitedError, SourceError, UnavailableError
from optera.mara import ERROR_BYTES, MaraClient
from optera.models import Allocation
from optera.sim.api import DEMO_KEY

from faultserver import gzip_bomb

SECRET = "hostile-secret-key-0123456789"
BOMB = 100 * 2**20


def _timed(call):
    start = time.monotonic()
    try:
        call()
    except SourceError as e:
        return time.monotonic() - start, e
    raise AssertionError("the call succeeded against a hostile server")


def _peak(call) -> tuple[int, BaseException | None]:
    """Peak Python memory (bytes) a call allocates, and what it raised."""
    tracemalloc.start()
    try:
        call()
        error = None
    except Exception as e:  # noqa: BLE001 - the test asserts on it
        error = e
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, error


# -- item 4: a total deadline --------------------------------------------------------------

@pytest.mark.parametrize("head", [False, True], ids=["body", "status-line-and-headers"])
def test_a_dripping_server_is_cut_at_the_deadline(fault_server, make_client, head):
    """One byte every 50 ms: each read is quick, so only a total deadline ends it (the GET
    /prices answer is ~100 KB: more than an hour at this pace)."""
    fault_server.set("/prices", drip=0.05, drip_head=head)
    c, _ = make_client(timeout=2.0, deadline=1.0)
    elapsed, error = _timed(c.get_prices)
    assert isinstance(error, UnavailableError) and error.unreachable
    assert "did not complete GET /prices within the 1 s deadline" in error.message
    assert elapsed < 1.8, elapsed
    assert fault_server.count("/prices") == 1  # no retry can finish in the time left


def test_the_deadline_covers_every_retry_and_wait(fault_server, make_client):
    fault_server.set("/machines", status=503)
    c, sleeps = make_client(retries=10, backoff=0.4, deadline=1.0)
    with pytest.raises(UnavailableError) as info:
        c.get_status()
    # waits count against the deadline (recorded here, not slept): 0.4 s fits in the second,
    # 0.4 + 0.8 would not, so the third attempt is never made
    assert sleeps == [0.4] and fault_server.count("/machines") == 2
    assert "another attempt would not finish within the 1 s deadline" in info.value.message


def test_a_retry_after_beyond_the_deadline_gives_up_at_once(fault_server, make_client):
    fault_server.set("/prices", status=429, retry_after=20)
    c, sleeps = make_client(deadline=10)
    with pytest.raises(RateLimitedError) as info:
        c.get_prices()
    assert sleeps == [] and info.value.retry_after == 20
    assert "10 s deadline" in info.value.message


def test_retry_after_as_an_http_date(fault_server, make_client):
    when = datetime.now(timezone.utc) + timedelta(seconds=8)
    fault_server.set("/inventory", status=429, retry_after=format_datetime(when, usegmt=True), fail_times=1)
    c, sleeps = make_client()
    c.get_inventory()
    assert len(sleeps) == 1 and 5 <= sleeps[0] <= 8


def test_a_post_that_may_have_reached_the_server_is_not_retried(fault_server, make_client):
    fault_server.set("/sites", "POST", delay=0.6)
    c, _ = make_client(timeout=0.2)
    with pytest.raises(UnavailableError):
        c.create_site("north")
    assert fault_server.count("/sites", "POST") == 1
    fault_server.reset()
    fault_server.set("/sites", "POST", status=429, retry_after=0, fail_times=1)  # refused unread: safe to repeat
    site, key = c.create_site("north")
    assert site.name == "north" and fault_server.count("/sites", "POST") == 2


# -- item 4: size caps -----------------------------------------------------------------------

def test_an_announced_huge_answer_is_refused_unread(fault_server, make_client):
    fault_server.set("/prices", huge=200 * 2**20)
    c, _ = make_client()
    elapsed, error = _timed(c.get_prices)
    assert isinstance(error, BadResponseError)
    assert "larger than 16 MB (209,715,200 bytes announced)" in error.message


def test_an_unannounced_huge_answer_stops_at_the_cap(fault_server, make_client):
    fault_server.set("/prices", huge=60 * 2**20, no_length=True)
    c, _ = make_client(max_bytes=2 * 2**20)
    peak, error = _peak(c.get_prices)
    assert isinstance(error, BadResponseError) and "larger than 2 MB; refused" in error.message
    assert peak < 4 * 2**20, peak  # the cap and a block, not the 60 MB


def test_a_gzip_bomb_stops_at_the_decompressed_cap(fault_server, make_client):
    """100 KB on the wire, 100 MB inflated: the process would grow by hundreds of MB."""
    gzip_bomb(BOMB)  # built before memory is traced: the server runs in this process
    fault_server.set("/prices", gzip_bomb=BOMB)
    c, _ = make_client(max_bytes=4 * 2**20)
    peak, error = _peak(c.get_prices)
    assert isinstance(error, BadResponseError), error
    assert "larger than 4 MB once decompressed" in error.message
    assert peak < 12 * 2**20, peak  # about twice the cap, not the 100 MB


def test_gzip_answers_within_the_cap_are_read(fault_server, make_client):
    fault_server.set("/prices", gzip_bomb=1000)  # a small gzip answer: "[ ... ]", an empty list
    c, _ = make_client()
    assert c.get_prices() == []


def test_thousands_of_nested_brackets_are_a_bad_response(fault_server, make_client):
    fault_server.set("/prices", body=b"[" * 200_000 + b"]" * 200_000)
    c, _ = make_client()
    with pytest.raises(BadResponseError, match="not valid JSON"):
        c.get_prices()


def test_an_unknown_compression_is_refused(fault_server, make_client):
    fault_server.set("/inventory", headers={"Content-Encoding": "zz"})
    c, _ = make_client()
    with pytest.raises(BadResponseError, match="compressed as 'zz'"):
        c.get_inventory()


# -- item 5: values in range at the model boundary ----------------------------------------------

def _first_price(field, value):
    return lambda points: [{**points[0], field: value}] + points[1:]


@pytest.mark.parametrize("path,edit,needle", [
    ("/prices", _first_price("energy_price", 1e300), "energy_price: is too large"),
    ("/prices", _first_price("hash_price", -1e-9), "hash_price: must not be negative"),
    ("/inventory", lambda inv: {**inv, "miners": {**inv["miners"], "air": {"power": 1e-300, "hashrate": 1000}}},
     "inventory.miners.air.power: must be at least 1"),
    ("/machines", lambda s: {**s, "air_miners": 10**30}, "air_miners: is too large"),
    ("/machines", lambda s: {**s, "total_power_used": float("inf")}, "total_power_used: must be a finite number"),
    ("/sites", lambda s: {**s, "power": 1e300}, "power: is too large"),
])
def test_values_out_of_range_are_refused(fault_server, make_client, path, edit, needle):
    fault_server.set(path, "GET", edit=edit)
    c, _ = make_client()
    call = {"/prices": c.get_prices, "/inventory": c.get_inventory, "/machines": c.get_status,
            "/sites": c.get_site}[path]
    with pytest.raises(BadResponseError) as info:
        call()
    assert needle in info.value.message


def test_a_put_answer_with_absurd_counts_is_refused(fault_server, make_client):
    fault_server.set("/machines", "PUT", edit=lambda a: {**a, "gpu_compute": 10**18})
    c, _ = make_client()
    with pytest.raises(BadResponseError, match="PUT /machines: field gpu_compute: is too large"):
        c.set_allocation(Allocation(gpu_compute=2))


def test_a_point_dated_in_the_future_is_dropped_not_kept(fault_server, make_client, caplog):
    fault_server.set("/prices", edit=lambda points: [{**points[0], "timestamp": "3000-01-01T00:00:00"}] + points)
    c, _ = make_client(clock=lambda: datetime(2025, 6, 21, 21, 7))
    got = c.get_prices()
    assert got[-1].timestamp == datetime(2025, 6, 21, 21, 5)
    assert [p.timestamp.year for p in got.dropped] == [3000]
    assert "3000-01-01" in got.note and "3000-01-01" in caplog.text


# -- item 6: the key never reaches a message ------------------------------------------------------

def test_a_key_echoed_across_the_cut_is_redacted_before_cutting(fault_server, make_client):
    """An error body whose 300-character cut splits the key: cutting first would leak most of it."""
    fault_server.set("/machines", status=500, body={"error": {"message": "x" * 256 + " " + SECRET}})
    c, _ = make_client(key=SECRET, retries=1)
    with pytest.raises(UnavailableError) as info:
        c.get_status()
    assert "hostile-sec" not in info.value.message and "********" in info.value.message


def test_an_error_page_too_large_to_show_is_not_cut_into(fault_server, make_client):
    """The key straddling the 64 KB read limit, after a page of spaces: any cut there would show its start."""
    fault_server.set("/machines", status=500, body=b" " * (ERROR_BYTES - 10) + SECRET.encode())
    c, _ = make_client(key=SECRET, retries=1)
    with pytest.raises(UnavailableError) as info:
        c.get_status()
    assert "hostile" not in info.value.message and "an answer of more than 64 KB" in info.value.message


def test_a_key_echoed_in_headers_and_bodies_stays_out(fault_server, make_client):
    fault_server.set("/machines", status=200, body=b"not json at all", echo_key=True)  # Content-Type carries the key
    fault_server.set("/sites", "GET", status=403, echo_key=True)
    c, _ = make_client(key=SECRET, retries=1)
    for call in (c.get_status, c.get_site):
        with pytest.raises(SourceError) as info:
            call()
        assert SECRET not in info.value.message and "********" in info.value.message


def test_a_key_echoed_in_headers_stays_out_of_the_http_debug_logs(fault_server, make_client, caplog):
    """httpx and httpcore log raw response headers at DEBUG: an echoed key would be written there."""
    fault_server.key = SECRET
    fault_server.set("/machines", echo_key=True)
    caplog.set_level(logging.DEBUG)
    c, _ = make_client(key=SECRET)
    c.get_status()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "receive_response_headers" in logged and "X-Debug-Key" in logged  # the headers were logged
    assert SECRET not in logged


def test_a_site_named_after_the_key_is_stored_redacted(fault_server, make_client):
    fault_server.key = SECRET
    fault_server.set("/sites", "GET", echo_key=True)
    c, _ = make_client(key=SECRET)
    site = c.get_site()
    assert SECRET not in site.name and site.name == "********"


def test_credentials_in_the_url_stay_out_of_messages():
    c = MaraClient("http://user:pa55word@127.0.0.1:9", retries=1)
    with pytest.raises(UnavailableError) as info:
        c.get_prices()
    assert "pa55word" not in info.value.message and "127.0.0.1:9" in info.value.message


# -- item 11: the simulator answers the documented types ------------------------------------------

def test_the_simulator_writes_watts_as_integers(fault_server):
    raw = httpx.get(fault_server.url + "/sites", headers={"X-Api-Key": DEMO_KEY}).text
    assert '"power": 1000000,' in raw or raw.rstrip("}").endswith('"power": 1000000')
    site = json.loads(raw)
    assert type(site["power"]) is int
    inventory = httpx.get(fault_server.url + "/inventory").json()
    assert all(type(spec["power"]) is int for group in inventory.values() for spec in group.values())
    status = httpx.get(fault_server.url + "/machines", headers={"X-Api-Key": DEMO_KEY}).json()
    assert all(type(v) is int for v in status["power"].values()) and type(status["total_power_used"]) is int
