"""The chat question parser: the corpus (both halves) and the questions issue 11 names."""

from __future__ import annotations

import random
import string
from datetime import datetime, timedelta

import pytest

from optera.chat.parser import INTENTS, Context, Query, parse
from optera.chat.timerange import find_range
from tests.parser_corpus import DEV, HELDOUT, LATEST, NOW, POWER_LIMIT, grade, load

CTX = Context(prices=LATEST, power_limit=POWER_LIMIT, now=NOW)
DEV_ROWS = load(DEV)
HELDOUT_ROWS = load(HELDOUT)


def ask(question: str, previous: Query | None = None, **kw) -> Query:
    return parse(question, Context(prices=kw.get("prices", LATEST), power_limit=kw.get("power_limit", POWER_LIMIT),
                                   previous=previous, now=kw.get("now", NOW)))


# -- the corpus -------------------------------------------------------------------------------


def test_corpus_has_two_halves_of_at_least_150_questions_in_all():
    assert len(DEV_ROWS) + len(HELDOUT_ROWS) >= 150 and min(len(DEV_ROWS), len(HELDOUT_ROWS)) >= 75
    shared = {r["question"].lower() for r in DEV_ROWS} & {r["question"].lower() for r in HELDOUT_ROWS}
    assert all(len(q.split()) <= 4 for q in shared), shared  # only short commands ("deploy it") recur
    for row in DEV_ROWS + HELDOUT_ROWS:
        assert row["expect"]["intent"] in INTENTS, row["id"]
    for intent in set(INTENTS) - {"unknown"}:
        assert any(r["expect"]["intent"] == intent for r in DEV_ROWS), intent


@pytest.mark.parametrize("row, query, verdict, diff", grade(DEV_ROWS), ids=[r["id"] for r in DEV_ROWS])
def test_development_half_is_understood_exactly(row, query, verdict, diff):
    assert verdict == "right", f"{row['question']!r}: {diff} ({query.understood_text()})"


def test_heldout_half_is_95_percent_right_and_never_confidently_wrong():
    graded = grade(HELDOUT_ROWS)
    wrong = [(r["id"], r["question"], d) for r, _, v, d in graded if v == "wrong"]
    right = sum(v == "right" for _, _, v, _ in graded)
    assert wrong == []
    assert right / len(graded) >= 0.95, [(r["id"], r["question"], d) for r, _, v, d in graded if v != "right"]


# -- the four questions of issue 11 ------------------------------------------------------------


def test_what_if_energy_price_doubles_is_twice_the_latest_energy_price():
    q = ask("what if energy price doubles?")
    assert q.intent == "what_if" and q.understood
    assert q.scenario() == {"energy_price": pytest.approx(2 * 1.94)}
    assert q.understood_text().startswith("Understood: ")
    assert "energy ×2 → 3.88" in q.understood_text() and "hash and token at latest" in q.understood_text()


def test_every_price_and_the_power_limit_of_the_long_question_are_read():
    q = ask("If energy costs 0.9, hash price is 2.2 and tokens pay 0.4, what should I run with 200 kW?")
    assert q.intent == "what_if"
    assert q.scenario() == {"energy_price": 0.9, "hash_price": 2.2, "token_price": 0.4, "power_limit": 200_000.0}
    text = q.understood_text()
    assert "energy 0.90" in text and "hash 2.20" in text and "token 0.40" in text and "200 kW" in text


def test_how_much_did_we_make_yesterday_is_profit_over_yesterday_not_status():
    now = datetime(2025, 6, 24, 15, 30)
    q = ask("how much did we make yesterday?", now=now)
    midnight = datetime(now.year, now.month, now.day)
    assert q.intent == "pnl" and q.range_stated
    assert (q.start, q.end) == (midnight - timedelta(days=1), midnight)
    assert "yesterday (23 Jun 00:00 – 24 Jun 00:00 UTC)" in q.understood_text()


def test_deploy_it_refers_to_the_previous_optimum_and_never_to_its_what_if_prices():
    best = ask("best allocation with max 10 asic and no gpu")
    q = ask("deploy it", previous=best)
    assert q.intent == "deploy" and q.scenario() == {"caps": {"asic_compute": 10, "gpu_compute": 0}}
    assert not q.from_what_if
    what_if = ask("what if energy doubles with 800 kW", previous=best)
    q = ask("deploy it", previous=what_if)
    assert q.intent == "deploy" and q.scenario() == {} and q.from_what_if
    assert "not the previous what-if's prices or power limit" in q.understood_text()


# -- traps and guarantees -----------------------------------------------------------------------


def test_power_costs_is_the_energy_price_and_a_share_of_inference_is_a_constraint():
    q = ask("what happens if power costs 0.9 and at least 30% inference")
    assert q.prices == {"energy_price": 0.9} and q.power_limit is None
    assert q.constraints == {"min_inference_share": 0.3}


@pytest.mark.parametrize("question, watts", [("with 200 kW", 200_000), ("1.2MW", 1_200_000), ("800kw", 800_000),
                                             ("500,000 W", 500_000), ("power limit 750k", 750_000)])
def test_power_limits_in_w_kw_and_mw(question, watts):
    assert ask(f"best allocation {question}").power_limit == watts


@pytest.mark.parametrize("question, energy", [
    ("energy doubles", 3.88), ("energy halves", 0.97), ("energy +25%", 2.425), ("energy up 0.3", 2.24),
    ("energy falls to 1.2", 1.2), ("energy 10% cheaper", 1.746), ("energy drops by a third", 1.94 * 2 / 3),
    ("electricity at 0.5", 0.5), ("power costs 0.9", 0.9)])
def test_relative_and_absolute_price_changes(question, energy):
    q = ask(question)
    assert q.intent == "what_if" and q.prices == {"energy_price": pytest.approx(energy)}


def test_a_relative_change_without_a_latest_price_is_not_guessed():
    q = parse("what if energy doubles", Context(now=NOW))
    assert q.intent == "unknown" and "no latest energy price" in q.problem


@pytest.mark.parametrize("question, problem", [
    ("what if energy is 1.2 and something else is 7", "“7”"),
    ("how much did we make yesterday with 800 kW", "does not apply"),
    ("what if energy spikes?", "give a number"),
    ("profit yesterday and last week", "two time ranges"),
    ("energy at 1 and energy at 2", "given twice"),
    ("will energy be cheaper tomorrow?", "do not forecast")])
def test_what_is_not_understood_says_why_and_suggests_questions(question, problem):
    q = ask(question)
    assert q.intent == "unknown" and not q.understood and problem in q.problem
    assert len(q.suggestions) == 3 and q.understood_text().startswith("Not understood: ")
    assert all(s in q.understood_text() for s in q.suggestions)


def test_a_follow_up_chain_keeps_and_changes_the_scenario():
    first = ask("what's optimal with energy at 2.4?")
    second = ask("and with 800 kW?", previous=first)
    third = ask("same but tokens at 2", previous=second)
    fourth = ask("why?", previous=third)
    assert second.scenario() == {"energy_price": 2.4, "power_limit": 800_000.0} and second.followup
    assert third.scenario() == {"energy_price": 2.4, "token_price": 2.0, "power_limit": 800_000.0}
    assert fourth.intent == "why" and fourth.scenario() == third.scenario()


def test_a_query_survives_the_round_trip_through_the_stored_chat():
    q = ask("and with 800 kW?", previous=ask("what if energy doubles and max 5 hydro"))
    back = Query.from_dict(q.to_dict())
    assert back == q and ask("deploy it", previous=back).scenario() == {"caps": {"hydro_miners": 5}}
    pnl = ask("how much did we make since monday")
    assert Query.from_dict(pnl.to_dict()).start == datetime(2025, 6, 23)


def test_any_text_gives_a_query_and_never_raises():
    rng = random.Random(11)
    alphabet = string.ascii_letters + string.digits + string.punctuation + " €×–"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        q = ask(text)
        assert q.intent in INTENTS and isinstance(q.understood_text(), str)
    assert ask("").intent == "help" and ask("x" * 10_000).intent == "unknown"


@pytest.mark.parametrize("words, start, end", [
    ("last week", datetime(2025, 6, 16), datetime(2025, 6, 23)),  # the previous calendar week
    ("the past week", NOW - timedelta(days=7), NOW),  # a rolling window
    ("since monday", datetime(2025, 6, 23), NOW),
    ("on 30 december", datetime(2024, 12, 30), datetime(2024, 12, 31)),  # a date is its most recent occurrence
    ("the 28th", datetime(2025, 5, 28), datetime(2025, 5, 29)),
    ("this month", datetime(2025, 6, 1), NOW), ("in may", datetime(2025, 5, 1), datetime(2025, 6, 1))])
def test_time_ranges_are_half_open_and_in_the_past(words, start, end):
    found, _, problem = find_range(words, NOW)
    assert problem is None and (found.start, found.end) == (start, end)


def test_since_monday_on_a_monday_starts_that_morning():
    monday = datetime(2025, 6, 23, 9, 0)
    found, _, _ = find_range("since monday", monday)
    assert (found.start, found.end) == (datetime(2025, 6, 23), monday)
