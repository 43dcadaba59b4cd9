"""Property-based tests (hypothesis) of the parsing boundaries: whatever arrives, the library
answers with a valid object or one of its own errors (optera.errors), never anything else.

Generated inputs are mostly near-valid (the right shape with hostile values: NaN, huge,
negative, tiny, strings, nested junk, keys, dates in year 9999), so the checks run deep
rather than stopping at the first type test. Each test keeps to 50 examples (about a
second); the ``slow`` ones run thousands.
"""

from __future__ import annotations

import io
import math
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optera import redaction
from optera.errors import OpteraError
from optera.models import (
    DEFAULT_INVENTORY,
    FUTURE_TOLERANCE,
    MACHINE_TYPES,
    MAX_NAME,
    MIN_POWER,
    Allocation,
    Inventory,
    Prices,
    Site,
    SiteStatus,
    parse_price_list,
)
from optera.numbers import MAX_COUNT, MAX_VALUE
from optera.pricefile import read_prices_csv

# no example database on disk; 50 examples per property keeps each test about a second
settings.register_profile("optera", database=None, max_examples=50, deadline=None)
settings.load_profile("optera")

NOW = datetime(2025, 6, 21, 21, 7)
KEY = "prop-secret-key-42424242"
FIELDS = ("energy_price", "hash_price", "token_price")

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(min_value=0, max_value=1e4),
    st.sampled_from([0, 1, 3500, 1e-300, 5e-324, 1e12, 1e12 + 1, 1e308, -0.0, 2**53 + 1]),
    st.text(max_size=30), st.sampled_from(["1.5", "NaN", "", KEY, "1e400"]),
)
json_like = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
numbers = st.one_of(st.floats(min_value=0, max_value=1e6), scalars)
stamps = st.one_of(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(9999, 12, 31)).map(datetime.isoformat),
    st.sampled_from(["2025-06-21T13:00:00", "2025-06-21T13:00:00Z", "3000-01-01T00:00:00",
                     "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "21/06/2025", ""]),
    scalars,
)
point = st.fixed_dictionaries({"timestamp": stamps, **{f: numbers for f in FIELDS}})


def _only_our_errors(parse, payload):
    """parse(payload), or None when it raised one of the library's errors (anything else fails)."""
    try:
        return parse(payload)
    except OpteraError:
        return None


def _in_range(value, lo=0.0, hi=MAX_VALUE) -> bool:
    return isinstance(value, float) and math.isfinite(value) and lo <= value <= hi


@given(st.one_of(st.lists(point, max_size=6), json_like))
def test_price_payloads(payload):
    got = _only_our_errors(lambda p: parse_price_list(p, now=NOW), payload)
    if got is None:
        return
    assert all(isinstance(p, Prices) for p in got)
    assert all(_in_range(getattr(p, f)) for p in got for f in FIELDS)
    assert all(p.timestamp <= NOW + FUTURE_TOLERANCE for p in got)
    assert all(p.timestamp > NOW + FUTURE_TOLERANCE for p in got.dropped)
    assert [p.timestamp for p in got] == sorted({p.timestamp for p in got})


spec = st.fixed_dictionaries({"power": numbers, "hashrate": numbers, "tokens": numbers})


@given(st.one_of(
    st.fixed_dictionaries({"miners": st.fixed_dictionaries({k: spec for k in ("air", "hydro", "immersion")}),
                           "inference": st.fixed_dictionaries({k: spec for k in ("gpu", "asic")})}),
    json_like))
def test_inventory_payloads(payload):
    got = _only_our_errors(Inventory.from_api, payload)
    if got is None:
        return
    for name in MACHINE_TYPES:
        s = got[name]
        assert _in_range(s.power, MIN_POWER) and _in_range(s.hashrate) and _in_range(s.tokens)


counts = st.one_of(st.integers(min_value=0, max_value=MAX_COUNT), scalars)


@given(st.one_of(
    st.fixed_dictionaries({**{n: counts for n in MACHINE_TYPES},
                           "power": st.dictionaries(st.sampled_from(MACHINE_TYPES), numbers),
                           "revenue": st.dictionaries(st.sampled_from(MACHINE_TYPES), numbers),
                           "total_power_used": numbers, "total_power_cost": numbers, "total_revenue": numbers,
                           "updated_at": stamps}),
    json_like))
def test_machine_status_payloads(payload):
    got = _only_our_errors(SiteStatus.from_api, payload)
    if got is None:
        return
    assert all(type(c) is int and 0 <= c <= MAX_COUNT for c in got.allocation.as_list())
    assert all(_in_range(v) for block in (got.power, got.revenue) for v in block.values())
    assert all(_in_range(v) for v in (got.total_power_used, got.total_power_cost, got.total_revenue))


@given(st.one_of(st.dictionaries(st.sampled_from(MACHINE_TYPES + ("laser",)), counts), json_like))
def test_allocation_counts(payload):
    got = _only_our_errors(Allocation.from_counts, payload) if isinstance(payload, dict) else \
        _only_our_errors(Allocation.from_api, payload)
    if got is not None:
        assert all(type(c) is int and 0 <= c <= MAX_COUNT for c in got.as_list())


@given(st.one_of(st.fixed_dictionaries({"name": st.one_of(st.text(max_size=300), st.just(KEY),
                                                          st.text(max_size=200).map(lambda t: t + KEY + t)),
                                        "power": numbers}), json_like))
def test_site_payloads(payload):
    redaction.remember(KEY)
    got = _only_our_errors(Site.from_api, payload)
    if got is None:
        return
    assert got.name and len(got.name) <= MAX_NAME and KEY not in got.name and KEY[:12] not in got.name
    assert _in_range(got.power, MIN_POWER)


cell = st.one_of(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
                 st.floats(allow_nan=True, allow_infinity=True).map(repr),
                 st.sampled_from(["2025-06-21T13:00:00", "2025-06-21 13:05", "9999-12-31T23:59:59-01:00", "1e400",
                                  "-1", "0.73", "", "\"", "a,b", "1e308"]))


@given(st.lists(st.lists(cell, min_size=1, max_size=5), max_size=6),
       st.sampled_from(["timestamp,energy_price,hash_price,token_price", "timestamp,energy_price", "", "x"]))
def test_price_csv_rows(rows, header):
    text = "\n".join([header] + [",".join(r) for r in rows])
    frame = _only_our_errors(read_prices_csv, io.StringIO(text))
    if frame is not None:
        values = frame.to_numpy()
        assert ((values >= 0) & (values <= MAX_VALUE)).all()


@pytest.mark.slow
@settings(max_examples=1000)
@given(st.binary(max_size=200))
def test_price_csv_bytes(raw):
    _only_our_errors(read_prices_csv, raw)


@pytest.mark.slow
@settings(max_examples=3000)
@given(st.lists(point, max_size=6))
def test_price_payloads_at_length(payload):
    test_price_payloads.hypothesis.inner_test(payload)


max_arg = st.one_of(
    st.text(max_size=40),
    st.builds(lambda n, v: f"{n}={v}", st.sampled_from(MACHINE_TYPES + ("laser", "", " gpu_compute ")),
              st.one_of(st.integers(min_value=-5, max_value=10**30).map(str), st.text(max_size=8),
                        st.sampled_from(["1e3", "1.5", "9" * 400, "0x10", "٣", " 7 ", ""]))),
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(max_arg)
def test_cli_allocation_arguments(capsys, text):
    from optera.cli import main

    code = main(["optimize", "--max", text, "--energy-price", "1", "--hash-price", "1", "--token-price", "1",
                 "--power-limit", "1000", "--json"])
    out, err = capsys.readouterr()
    assert code in (0, 2), (text, code, err)
    assert "Traceback" not in err
    if code == 2:
        assert len(err.strip().splitlines()) == 1 and err.startswith("optera: "), err
        assert not out
    else:
        assert not err.strip()


def test_csv_prices_beyond_the_bound_are_refused():
    """1e308 is finite, but a backtest over it printed "revenue": Infinity in its JSON."""
    text = "timestamp,energy_price,hash_price,token_price\n2025-06-21T12:00:00,0.7,1e308,1\n"
    with pytest.raises(OpteraError, match="row 1 .*hash_price: is too large"):
        read_prices_csv(io.StringIO(text))


def test_property_inputs_reach_deep():
    """The near-valid strategies really produce valid objects too (else the properties test nothing)."""
    good = {"timestamp": "2025-06-21T13:00:00", "energy_price": 0.7, "hash_price": 1.5, "token_price": 0.85}
    assert parse_price_list([good], now=NOW)[0].energy_price == 0.7
    assert Inventory.from_api(DEFAULT_INVENTORY.to_api()) == DEFAULT_INVENTORY
    assert parse_price_list([{**good, "timestamp": (NOW + timedelta(hours=1)).isoformat()}], now=NOW).dropped
