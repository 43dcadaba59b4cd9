"""The written market brief: a few sentences built only from computed numbers, each dated.

Every input says how old it is: site prices up to their last point, bitcoin as of
its last bar (and in the past tense when that bar is not today's). An LLM may
rephrase the brief (:func:`optera.chat.llm.phrase_brief`) but a rewrite that adds a
number is rejected, so every figure in the brief was computed here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from ..chat.tools import Toolbox
from ..clock import utcnow
from ..units import Money, machines, pct, price
from ..vocabulary import LABELS, LOWER, MACHINE_TYPES, PRICE_COLUMNS, PRICE_SHORT

BTC_SOURCES = {"live": "live from Yahoo Finance", "cache": "cached Yahoo Finance data",
               "shipped": "the history shipped with Optera", "none": "no data"}


def _site_prices(toolbox: Toolbox) -> str:
    pr = toolbox.call("get_prices", {"hours": 24})
    if "error" in pr:
        return "No site prices are stored yet, so there is no price picture."
    parts = [f"{PRICE_SHORT[n]} {price(pr[n]['last'])}"
             + (f" ({pct(pr[n]['change_pct'] / 100, signed=True)})" if pr[n]["change_pct"] is not None else "")
             for n in PRICE_COLUMNS]
    end = str(pr["end"]).replace("T", " ")[:16]
    return f"Site prices over the {pr['hours']:g} h to {end} UTC, per period: " + ", ".join(parts) + "."


def _optimum(toolbox: Toolbox, money: Money) -> list[str]:
    opt = toolbox.call("optimize", {})
    if "error" in opt or not opt.get("allocation"):
        return []
    alloc = opt["allocation"]
    inv = toolbox.inventory
    power_by = {n: alloc[n] * inv[n].power for n in MACHINE_TYPES}
    lead = max(power_by, key=power_by.get)
    share = power_by[lead] / opt["power_used"] if opt["power_used"] else 0.0
    caps = toolbox.service.caps_text()
    out = [f"At the latest prices the best allocation ({machines(alloc)}) earns {money.period(opt['profit'])} "
           f"({money.day(opt['profit'])}), with {LOWER[lead]} taking {pct(share, 0)} of the power used"
           + (f", under your caps ({caps})." if caps else ".")]
    e = toolbox.call("explain_allocation", {"allocation": alloc})
    if "by_type" in e:
        be = e["by_type"][lead]["break_even_energy_price"]
        out.append(f"{LABELS[lead]} breaks even at an energy price of {price(be)}, against "
                   f"{price(opt['prices']['energy_price'])} now.")
        idle = [LOWER[n] for n in MACHINE_TYPES if not e["by_type"][n]["worth_running"]]
        if idle:
            out.append("Not worth running at these prices: " + ", ".join(idle) + ".")
    wi = toolbox.call("what_if", {})
    if "error" not in wi and wi.get("current", {}).get("allocation") and wi.get("profit_delta") is not None:
        if wi["profit_delta"] > 1e-9:
            out.append(f"The site's current allocation leaves {money.day(wi['profit_delta'])} on the table "
                       "against that optimum.")
        else:
            out.append("The site's current allocation is already the optimum at these prices.")
    return out


def _bitcoin(btc: Mapping[str, Any], now: datetime) -> str:
    if btc.get("price") is None:
        return ""
    when = btc.get("price_time") or btc.get("as_of")
    source = BTC_SOURCES.get(str(btc.get("source")), str(btc.get("source")))
    age_days = (now - when).days if isinstance(when, datetime) else None
    if age_days is not None and age_days >= 2:
        text = (f"Bitcoin last closed at {btc['price']:,.0f} USD on {when:%Y-%m-%d}, {age_days:,} days ago "
                f"({source}; no newer data is available here)")
    else:
        text = f"Bitcoin is at {btc['price']:,.0f} USD as of {when:%Y-%m-%d %H:%M} UTC ({source})"
        if btc.get("change_24h") is not None:
            text += f", {pct(btc['change_24h'], signed=True)} in 24 h"
    extra = []
    if btc.get("drawdown") is not None:
        extra.append(f"{pct(abs(btc['drawdown']))} below its peak")
    if btc.get("volatility_30d") is not None:
        extra.append(f"30-day realised volatility {pct(btc['volatility_30d'], 0)}")
    if extra:
        text += "; at that point " + " and ".join(extra)
    return text + "."


def _window(summary: Mapping[str, Any]) -> list[str]:
    out = []
    span = summary.get("window")
    where = f"From {span[0]:%Y-%m-%d} to {span[1]:%Y-%m-%d}" if span else "In the selected window"
    share = summary.get("share_worth_running") or {}
    if share:
        best = max(share, key=lambda k: share[k] or 0)
        worst = min(share, key=lambda k: share[k] or 0)
        out.append(f"{where}, {LOWER.get(best, best)} earned more than their power cost in "
                   f"{pct(share[best] or 0)} of intervals, {LOWER.get(worst, worst)} in {pct(share[worst] or 0)}.")
    counts = summary.get("best_type_counts") or {}
    total = sum(counts.values())
    if counts and total:
        top = max(counts, key=counts.get)
        name = "no type" if top == "none" else LOWER.get(top, top)
        out.append(f"The best use of a kW was {name} in {pct(counts[top] / total, 0)} of intervals.")
    return out


def market_brief(toolbox: Toolbox, btc_metrics: Mapping[str, Any] | None = None,
                 intel_summary: Mapping[str, Any] | None = None, now: datetime | None = None) -> str:
    """A short written summary of the market from computed numbers only, each with its date."""
    money = toolbox.settings.money
    sentences = [_site_prices(toolbox), *_optimum(toolbox, money)]
    if btc_metrics:
        text = _bitcoin(btc_metrics, now or utcnow())
        if text:
            sentences.append(text)
    if intel_summary:
        sentences += _window(intel_summary)
    return " ".join(sentences[:9])
