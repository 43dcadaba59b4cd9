"""The written market brief: a few sentences built only from computed numbers.

An LLM may rephrase it (:func:`optera.chat.llm.phrase_brief`) but a rewrite that
adds a number is rejected, so every figure in the brief was computed here.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..chat.tools import Toolbox
from ..vocabulary import LABELS, MACHINE_TYPES
from ..chat.analyst import money, pct, price

def market_brief(toolbox: Toolbox, btc_metrics: Mapping[str, Any] | None = None,
                 intel_summary: Mapping[str, Any] | None = None) -> str:
    """A short written summary of the market from computed numbers only."""
    sentences: list[str] = []
    pr = toolbox.call("get_prices", {"hours": 24})
    if "error" not in pr:
        parts = []
        for key, label in (("energy_price", "energy"), ("hash_price", "hash"), ("token_price", "token")):
            s = pr[key]
            parts.append(f"{label} {price(s['last'])} ({pct(s['change_pct'])})")
        sentences.append(f"Over the last {pr['hours']:g} h of site prices (to {pr['end']} UTC), per period: "
                         + ", ".join(parts) + ".")
    else:
        sentences.append("No site prices are stored yet, so there is no price picture.")
    opt = toolbox.call("optimize", {})
    if "error" not in opt and opt.get("allocation"):
        alloc = opt["allocation"]
        inv = toolbox.inventory
        power_by = {n: alloc[n] * inv[n].power for n in MACHINE_TYPES}
        lead = max(power_by, key=power_by.get)
        share = power_by[lead] / opt["power_used"] * 100 if opt["power_used"] else 0.0
        sentences.append(f"At the latest prices the best allocation earns {money(opt['profit'])} per period "
                         f"({money(opt['profit_per_day'])} per day), with {LABELS[lead].lower()} taking "
                         f"{share:.0f}% of the power used.")
        e = toolbox.call("explain_allocation", {"allocation": alloc})
        if "by_type" in e:
            be = e["by_type"][lead]["break_even_energy_price"]
            energy = opt["prices"]["energy_price"]
            sentences.append(f"The break-even energy price for {LABELS[lead].lower()} is {price(be)}, against "
                             f"{price(energy)} now.")
            idle = [LABELS[n].lower() for n in MACHINE_TYPES if not e["by_type"][n]["worth_running"]]
            if idle:
                sentences.append("Not worth running at these prices: " + ", ".join(idle) + ".")
    wi = toolbox.call("what_if", {})
    if "error" not in wi and wi.get("current", {}).get("allocation") and wi.get("profit_delta_per_day") is not None:
        delta = wi["profit_delta_per_day"]
        if delta > 1e-9:
            sentences.append(f"The site's current allocation leaves {money(delta)} per day on the table "
                             f"versus the optimum.")
        else:
            sentences.append("The site's current allocation is already optimal at these prices.")
    if btc_metrics and btc_metrics.get("price") is not None:
        text = f"Bitcoin is at {btc_metrics['price']:,.0f} USD"
        if btc_metrics.get("change_24h") is not None:
            text += f" ({btc_metrics['change_24h'] * 100:+.1f}% in 24 h)"
        if btc_metrics.get("drawdown") is not None:
            text += f", {abs(btc_metrics['drawdown']) * 100:.1f}% below its peak"
        vol = btc_metrics.get("volatility_30d", btc_metrics.get("vol_30d"))
        if vol is not None:
            text += f", with 30-day realised volatility of {vol * 100:.0f}%"
        sentences.append(text + (f" (source: {btc_metrics['source']})." if btc_metrics.get("source") else "."))
    if intel_summary:
        share = intel_summary.get("share_worth_running") or {}
        if share:
            best = max(share, key=lambda k: share[k] or 0)
            worst = min(share, key=lambda k: share[k] or 0)
            sentences.append(f"In the selected window, {LABELS.get(best, best)} earned more than their power cost "
                             f"in {(share[best] or 0) * 100:.1f}% of intervals, "
                             f"{LABELS.get(worst, worst)} in {(share[worst] or 0) * 100:.1f}%.")
        counts = intel_summary.get("best_type_counts") or {}
        total = sum(counts.values())
        if counts and total:
            top = max(counts, key=counts.get)
            sentences.append(f"The best type per kW was {LABELS.get(top, top).lower()} in "
                             f"{counts[top] / total * 100:.0f}% of intervals.")
    return " ".join(sentences[:8])
