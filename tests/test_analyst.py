"""The built-in analyst and the tools: plain-English questions, numbers checked independently.

Expected numbers come from optera.optimize.solve called here, or from the API's
revenue formula written out by hand; never from the analyst's own output.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from optera.optimize import Constraints, solve
from optera.chat.analyst import (HELP_TEXT, LLM_HOWTO, BuiltinAnalyst, intent_of, money, parse_constraints,
                            parse_hours, parse_power, parse_prices, price, signed)
from optera.config import Settings
from optera.mara import MaraClient
from optera.units import Money
from optera.models import MACHINE_TYPES, Allocation, Prices
from optera.sim.api import DEMO_KEY, Simulator
from optera.store import Store
from optera.sync import sync
from optera.service import Service
from optera.chat.tools import TOOL_NAMES, TOOL_SPECS, Toolbox
from optera.intel.brief import market_brief

NOW = datetime(2025, 6, 22, 12, 0)
CURRENT = Allocation(air_miners=20, hydro_miners=10, gpu_compute=4)
SPEC = {  # power W, hashrate, tokens — the published inventory, written out by hand
    "air_miners": (3500, 1000, 0), "hydro_miners": (5000, 5000, 0), "immersion_miners": (10000, 10000, 0),
    "gpu_compute": (5000, 0, 1000), "asic_compute": (15000, 0, 50000)}


def hand_profit(counts: dict, p: Prices) -> float:
    return sum(counts.get(n, 0) * (h * p.hash_price + t * p.token_price - w * p.energy_price)
               for n, (w, h, t) in SPEC.items())


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("analyst")
    sim = Simulator(now=lambda: NOW, history_days=1)
    client = MaraClient("http://simulator.local", DEMO_KEY, transport=sim.transport())
    store = Store(tmp / "a.db")
    client.set_allocation(CURRENT)
    assert sync(client, store).ok
    settings = Settings(db_path=tmp / "a.db")
    toolbox = Toolbox(Service(settings, client=client, store=store))
    return store, toolbox, BuiltinAnalyst(toolbox)


@pytest.fixture(scope="module")
def latest(site) -> Prices:
    return site[0].latest_prices(1)[0]


def ask(site, question: str):
    answer = site[2].answer(question)
    assert not re.search(r"<[a-zA-Z/!]", answer.text)  # markdown, never HTML
    return answer


def tools_used(answer) -> list[str]:
    return [c["name"] for c in answer.tool_calls]


# -- parsing ------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("what if energy is 2.1", {"energy_price": 2.1}),
    ("energy at $0.5", {"energy_price": 0.5}),
    ("hash price 3 and tokens at 1.5", {"hash_price": 3.0, "token_price": 1.5}),
    ("what if the energy price drops to 0.25?", {"energy_price": 0.25}),
    ("token price = 4", {"token_price": 4.0}),
    ("electricity costs 1.25", {"energy_price": 1.25}),
    ("what are energy prices doing over the last 6 hours", {}),
])
def test_parse_prices(text, expected):
    assert parse_prices(text) == pytest.approx(expected)


def test_parse_relative_prices():
    latest = {"energy_price": 2.0, "hash_price": 4.0, "token_price": 1.0}
    assert parse_prices("energy up 20%", latest) == pytest.approx({"energy_price": 2.4})
    assert parse_prices("what if energy drops 50%", latest) == pytest.approx({"energy_price": 1.0})
    assert parse_prices("if hash doubles", latest) == pytest.approx({"hash_price": 8.0})
    assert parse_prices("energy up 20%") == {}  # no base price, no guess


@pytest.mark.parametrize("text, watts_", [
    ("with 800 kW", 800_000), ("800kW", 800_000), ("1.2 MW", 1_200_000), ("limit 500,000 W", 500_000),
    ("power limit 250000", 250_000), ("2 megawatts", 2_000_000), ("best allocation", None)])
def test_parse_power(text, watts_):
    assert parse_power(text) == watts_


@pytest.mark.parametrize("text, hours", [
    ("last 6 hours", 6), ("past day", 24), ("24h", 24), ("over the last 2 days", 48), ("past 90 minutes", 1.5),
    ("last week", 168), ("backtest the previous 12 hrs", 12), ("status", None)])
def test_parse_hours(text, hours):
    assert parse_hours(text) == hours


def test_parse_constraints():
    assert parse_constraints("at least 30% inference and max 10 asic, no gpu") == {
        "min_inference_share": 0.3, "caps": {"asic_compute": 10, "gpu_compute": 0}}
    assert parse_constraints("at most 40% inference") == {"max_inference_share": 0.4}
    assert parse_constraints("at least 500k tokens and minimum 2m hashrate") == {
        "min_tokens": 500_000, "min_hashrate": 2_000_000}
    assert parse_constraints("minimum hashrate 1000000") == {"min_hashrate": 1_000_000}
    assert parse_prices("minimum hashrate 1000000") == {}


@pytest.mark.parametrize("question, intent", [
    ("status", "status"), ("How are we doing?", "status"), ("what is the site running now", "status"),
    ("what are prices doing?", "prices"), ("is energy getting cheaper", "prices"),
    ("what is the best allocation?", "optimize"), ("what should I run?", "optimize"), ("optimise it", "optimize"),
    ("what if energy is 2.1", "compare"), ("compare with current", "compare"),
    ("how much better is the optimum than what we run", "compare"),
    ("backtest the last 6 hours", "backtest"), ("how would holding have done over the past day?", "backtest"),
    ("why this allocation?", "why"), ("what are the break-even prices", "why"),
    ("deploy it", "deploy"), ("apply the optimal allocation", "deploy"),
    ("help", "help"), ("hello", "help"), ("what can you do?", "help"),
    ("tell me a joke", "unknown"), ("what's the weather in Paris?", "unknown")])
def test_intents(question, intent):
    assert intent_of(question) == intent


# -- answers ------------------------------------------------------------------------


@pytest.mark.parametrize("question", ["status", "How are we doing?", "what's the site running right now?"])
def test_status(site, latest, question):
    answer = ask(site, question)
    assert tools_used(answer) == ["get_status"]
    profit = hand_profit(CURRENT.to_dict(), latest)
    power = 20 * 3500 + 10 * 5000 + 4 * 5000
    assert money(profit) in answer.text
    assert money(profit * 288) in answer.text  # 5-minute periods -> 288 per day
    assert f"{power:,.0f} W" in answer.text and "1,000,000 W" in answer.text
    assert f"{power / 1e6 * 100:.1f}%" in answer.text
    assert price(latest.energy_price) in answer.text


@pytest.mark.parametrize("question, hours", [
    ("what are prices doing?", 24), ("price trend over the last 6 hours", 6), ("prices for the past 2h", 2),
    ("how did token prices move in the last 90 minutes", 1.5)])
def test_prices(site, latest, question, hours):
    store = site[0]
    answer = ask(site, question)
    assert tools_used(answer) == ["get_prices"]
    frame = store.price_history(latest.timestamp - timedelta(hours=hours), latest.timestamp)
    assert f"({len(frame):,} points" in answer.text
    assert len(frame) == int(hours * 12) + 1  # one point every 5 minutes, both ends included
    for col in ("energy_price", "hash_price", "token_price"):
        s = frame[col]
        assert price(s.iloc[-1]) in answer.text and price(s.max()) in answer.text and price(s.min()) in answer.text
        change = (s.iloc[-1] / s.iloc[0] - 1) * 100
        assert f"{change:+.1f}%" in answer.text


def _check_solution(answer, p: Prices, limit: float, constraints: Constraints | None = None):
    solution = solve(p, limit, constraints)
    assert solution.feasible
    text = answer.text
    assert money(solution.profit) in text
    assert money(hand_profit(solution.allocation.to_dict(), p)) in text
    assert f"{limit:,.0f} W" in text
    for name in MACHINE_TYPES:
        assert f"| {solution.allocation[name]:,} |" in text
    return solution


@pytest.mark.parametrize("question, limit, constraints", [
    ("what is the best allocation?", 1e6, None),
    ("what should we run?", 1e6, None),
    ("optimal mix with 800 kW", 8e5, None),
    ("best allocation with 1.2 MW and at least 30% inference", 1.2e6, Constraints(min_inference_share=0.3)),
    ("best allocation with max 10 asic", 1e6, Constraints(caps={"asic_compute": 10})),
    ("optimise with no asic and at most 40% inference", 1e6,
     Constraints(caps={"asic_compute": 0}, max_inference_share=0.4)),
])
def test_best_allocation(site, latest, question, limit, constraints):
    answer = ask(site, question)
    assert tools_used(answer) == ["optimize"]
    _check_solution(answer, latest, limit, constraints)


@pytest.mark.parametrize("question, overrides, limit", [
    ("what if energy is 2.1?", {"energy": 2.1}, 1e6),
    ("what if energy at $0.5 and tokens at 1.5", {"energy": 0.5, "token": 1.5}, 1e6),
    ("what if hash price 3 with 800kW", {"hash_": 3.0}, 8e5),
    ("energy is 2.1 with 1.2 MW", {"energy": 2.1}, 1.2e6),
    ("what happens if tokens drop to 0.2?", {"token": 0.2}, 1e6),
    ("compare with current", {}, 1e6),
    ("how much better is the optimum than what we run now?", {}, 1e6),
])
def test_what_if_vs_current(site, latest, question, overrides, limit):
    answer = ask(site, question)
    assert tools_used(answer) == ["what_if"]
    p = latest.with_overrides(**overrides)
    solution = _check_solution(answer, p, limit)
    current = hand_profit(CURRENT.to_dict(), p)
    assert money(current) in answer.text
    assert signed(solution.profit - current) in answer.text
    assert signed((solution.profit - current) * 288) in answer.text
    if overrides.get("energy") is not None:
        assert price(overrides["energy"]) in answer.text


def test_relative_what_if(site, latest):
    answer = ask(site, "what if energy goes up 50%?")
    p = latest.with_overrides(energy=latest.energy_price * 1.5)
    _check_solution(answer, p, 1e6)
    assert price(latest.energy_price * 1.5) in answer.text


def test_backtest_optimal_matches_per_interval_optimum(site, latest):
    store = site[0]
    answer = ask(site, "backtest the last 2 hours")
    assert tools_used(answer) == ["backtest", "backtest"]  # optimal, then holding the current allocation
    frame = store.price_history(latest.timestamp - timedelta(hours=2), latest.timestamp)
    assert len(frame) == 25 and "(25 intervals" in answer.text
    expected = held = 0.0
    for ts, row in frame.iterrows():
        p = Prices(ts.to_pydatetime(), row.energy_price, row.hash_price, row.token_price)
        expected += solve(p, 1e6).profit
        held += hand_profit(CURRENT.to_dict(), p)
    assert money(expected) in answer.text
    assert "100.0% of the optimum" in answer.text
    assert money(held) in answer.text and money(expected - held) in answer.text


@pytest.mark.parametrize("question, hours", [
    ("how would holding the current allocation have done over the past 3 hours?", 3),
    ("backtest 1h keeping the current allocation", 1)])
def test_backtest_hold_is_current_allocation_profit(site, latest, question, hours):
    store = site[0]
    answer = ask(site, question)
    assert answer.tool_calls[0]["arguments"]["strategy"] == "hold"
    frame = store.price_history(latest.timestamp - timedelta(hours=hours), latest.timestamp)
    expected = sum(hand_profit(CURRENT.to_dict(), Prices(ts, r.energy_price, r.hash_price, r.token_price))
                   for ts, r in frame.iterrows())
    assert money(expected) in answer.text
    assert f"({len(frame):,} intervals" in answer.text


@pytest.mark.parametrize("question", ["why this allocation?", "explain the optimum", "break-even prices?"])
def test_why(site, latest, question):
    answer = ask(site, question)
    assert tools_used(answer) == ["optimize", "explain_allocation"]
    p = latest
    for name, (w, h, t) in SPEC.items():
        unit_revenue = h * p.hash_price + t * p.token_price
        assert price(unit_revenue / w) in answer.text  # break-even energy price by hand
        assert money(unit_revenue - w * p.energy_price) in answer.text
    assert Money().period(solve(p, 1e6).profit) in answer.text


@pytest.mark.parametrize("question", ["help", "hello", "what can you do?"])
def test_help(site, question):
    answer = ask(site, question)
    assert answer.text == HELP_TEXT and answer.tool_calls == [] and answer.proposal is None


@pytest.mark.parametrize("question", ["tell me a joke", "what's the weather in Paris?", "asdf qwerty"])
def test_unknown_questions_get_the_help_text(site, question):
    answer = ask(site, question)
    assert answer.text.startswith("I cannot answer that")
    assert HELP_TEXT in answer.text and LLM_HOWTO in answer.text
    assert "OPENAI_API_KEY" in answer.text and "OPTERA_LLM_MODEL" in answer.text


def test_bad_numbers_give_a_plain_error(site):
    answer = ask(site, "what if energy is -3?")
    assert "could not" in answer.text and "energy_price must be zero or more" in answer.text
    answer = ask(site, "best allocation with 0 kW")
    assert "power_limit must be positive" in answer.text


def test_impossible_constraints_are_named(site):
    # without ASICs, 1 MW of GPUs gives at most 200 x 1,000 tokens
    answer = ask(site, "best allocation with at least 300k tokens and no asic")
    assert "No feasible allocation" in answer.text
    assert solve(site[0].latest_prices(1)[0], 1e6, Constraints(
        caps={"asic_compute": 0}, min_tokens=300_000)).feasible is False
    answer = ask(site, "best allocation with at least 200k tokens and no asic")
    assert "| 200 |" in answer.text  # exactly enough: 200 GPUs fill the power limit


def test_empty_store_says_sync_first(tmp_path):
    store = Store(tmp_path / "empty.db")
    analyst = BuiltinAnalyst(Toolbox(Service(Settings(db_path=tmp_path / "empty.db"), store=store)))
    for q in ("status", "best allocation", "prices", "backtest 6h", "deploy it"):
        assert "sync" in analyst.answer(q).text.lower()


# -- tools directly ---------------------------------------------------------------


def test_tool_specs_match_the_toolbox(site):
    toolbox = site[1]
    assert set(TOOL_NAMES) == {"get_status", "get_prices", "optimize", "what_if", "backtest",
                               "explain_allocation", "propose_deploy"}
    for spec in TOOL_SPECS:
        assert spec["type"] == "function" and spec["function"]["parameters"]["type"] == "object"
        assert callable(getattr(toolbox, spec["function"]["name"]))


@pytest.mark.parametrize("name, args, message", [
    ("nope", {}, "unknown tool"),
    ("get_prices", {"hours": "lots"}, "hours must be a number"),
    ("get_prices", {"hours": 0}, "hours must be positive"),
    ("get_prices", {"days": 2}, "does not take days"),
    ("optimize", {"caps": {"quantum": 3}}, "unknown machine type"),
    ("optimize", {"min_inference_share": 700}, "share of power"),
    ("backtest", {"strategy": "yolo"}, "unknown strategy"),
    ("explain_allocation", {"allocation": {"air_miners": 1.5}}, "whole number"),
    ("propose_deploy", {"allocation": "everything"}, "optimal"),
])
def test_bad_tool_arguments_return_errors(site, name, args, message):
    result = site[1].call(name, args)
    assert set(result) == {"error"} and message in result["error"]


def test_what_if_numbers(site, latest):
    r = site[1].what_if(energy_price=1.0, power_limit=500_000)
    p = latest.with_overrides(energy=1.0)
    solution = solve(p, 500_000)
    assert r["allocation"] == solution.allocation.to_dict()
    assert r["profit"] == pytest.approx(hand_profit(solution.allocation.to_dict(), p))
    assert r["current"]["profit"] == pytest.approx(hand_profit(CURRENT.to_dict(), p))
    assert r["profit_delta_per_day"] == pytest.approx(288 * (r["profit"] - r["current"]["profit"]))
    assert r["diff"] == {n: solution.allocation[n] - CURRENT[n] for n in MACHINE_TYPES}


def test_market_brief_states_each_input_and_its_date(site, latest):
    from datetime import datetime, timedelta

    now = datetime(2026, 11, 28, 10, 0)
    fresh = {"price": 104_250.0, "price_time": now - timedelta(minutes=5), "change_24h": -0.021, "drawdown": -0.07,
             "volatility_30d": 0.38, "source": "live"}
    window = {"share_worth_running": {"air_miners": 0.25, "asic_compute": 0.95},
              "best_type_counts": {"asic_compute": 270, "immersion_miners": 19},
              "window": (datetime(2025, 6, 21, 12, 0), datetime(2025, 6, 22, 12, 0))}
    brief = market_brief(site[1], fresh, window, now=now)
    sentences = [s for s in brief.split(". ") if s.strip()]
    assert 5 <= len(sentences) <= 10
    assert price(latest.energy_price) in brief
    assert Money().period(solve(latest, 1e6).profit) in brief
    assert "Bitcoin is at 104,250 USD as of 2026-11-28 09:55 UTC" in brief and "-2.1% in 24 h" in brief
    assert "7.0% below its peak" in brief and "volatility 38%" in brief
    assert "From 2025-06-21 to 2025-06-22" in brief and "95.0%" in brief and "25.0%" in brief
    assert f"{270 / 289 * 100:.0f}%" in brief
    assert "<" not in brief
    # a year-old bar is reported in the past tense, with its date and age, and no 24 h change
    old = {**fresh, "price_time": datetime(2025, 11, 29), "source": "shipped"}
    stale = market_brief(site[1], old, None, now=now)
    assert "Bitcoin last closed at 104,250 USD on 2025-11-29, 364 days ago" in stale
    assert "in 24 h" not in stale and "Bitcoin is at" not in stale
    empty = market_brief(Toolbox(Service(Settings(), store=Store(site[0].path.with_name("none.db")))), None, None)
    assert "No site prices" in empty


# -- deploy proposals (over real HTTP to the simulator) -------------------------------


def test_deploy_it_proposes_the_optimum_and_changes_nothing(sim_server, client, store, tmp_path):
    client.set_allocation(Allocation(hydro_miners=3, gpu_compute=2))
    assert sync(client, store).ok
    before = client.get_status().allocation
    analyst = BuiltinAnalyst(Toolbox(Service(Settings(db_path=tmp_path / "store.db"), client=client, store=store)))
    for question in ("deploy it", "apply the optimal allocation"):
        answer = analyst.answer(question)
        proposal = answer.proposal
        expected = solve(store.latest_prices(1)[0], 1_000_000).allocation
        assert proposal["kind"] == "deploy_proposal" and proposal["valid"] and proposal["issues"] == []
        assert proposal["target"] == expected.to_dict()
        assert proposal["current"] == before.to_dict() == {**Allocation().to_dict(), "hydro_miners": 3,
                                                           "gpu_compute": 2}
        assert proposal["diff"] == {n: expected[n] - before[n] for n in MACHINE_TYPES}
        assert proposal["power"] == sum(expected[n] * SPEC[n][0] for n in MACHINE_TYPES)
        assert "nothing is sent until you confirm" in answer.text
        assert client.get_status().allocation == before  # the site is untouched
    assert store.deployments() == []


def test_deploy_of_a_what_if_is_declined(site):
    answer = ask(site, "deploy it with energy at 0.1")
    assert answer.proposal is None and "not of a what-if" in answer.text


def test_propose_deploy_flags_an_allocation_over_the_limit(site):
    result = site[1].propose_deploy({"immersion_miners": 150})
    assert result["kind"] == "deploy_proposal" and result["valid"] is False
    assert result["power"] == 1_500_000 and result["issues"]
    ok = site[1].propose_deploy({"immersion_miners": 100})
    assert ok["valid"] is True and ok["power"] == 1_000_000


def test_stored_availability_caps_apply_to_every_answer(site, latest):
    store = site[0]
    store.set_meta("caps", {"asic_compute": 5})
    try:
        answer = ask(site, "best allocation with no immersion")
        _check_solution(answer, latest, 1e6, Constraints(caps={"asic_compute": 5, "immersion_miners": 0}))
        assert "| 5 |" in answer.text
        proposal = ask(site, "deploy it").proposal
        assert proposal["target"] == solve(latest, 1e6, Constraints(caps={"asic_compute": 5})).allocation.to_dict()
    finally:
        store.set_meta("caps", {})


def test_deploy_it_after_a_constrained_answer_proposes_that_optimum(tmp_path, sim_server):
    """'best allocation with no asic' then 'deploy it' must propose the no-ASIC optimum just shown."""
    from optera.chat.analyst import BuiltinAnalyst
    from optera.config import load_settings
    from optera.mara import MaraClient
    from optera.store import Store
    from optera.sync import sync
    from optera.chat.tools import Toolbox

    store = Store(tmp_path / "chat.db")
    sync(MaraClient(sim_server.url, sim_server.key), store)
    analyst = BuiltinAnalyst(Toolbox(Service(load_settings(), store=store)))
    first = analyst.answer("best allocation with no asic")
    assert first.tool_calls and first.tool_calls[-1]["result"]["allocation"]["asic_compute"] == 0
    store.add_chat("user", "best allocation with no asic")
    store.add_chat("assistant", first.text, first.tool_calls)
    store.add_chat("user", "deploy it")
    second = analyst.answer("deploy it")
    assert second.proposal is not None
    assert second.proposal["target"] == first.tool_calls[-1]["result"]["allocation"]
    assert "previous answer" in second.text
