"""The built-in analyst's answers in words: tool results to Markdown.

Every number is formatted from a tool result with :mod:`optera.units` (money with its
unit and period or as a total over a range, power in kW/MW, percentages) and every name
from :mod:`optera.vocabulary`; no API field name reaches the user. Each function
returns the answer's body, which the analyst puts under the "Understood: …" line.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from ..units import Money, count, machines, pct, power, price
from ..vocabulary import LABELS, MACHINE_TYPES, PRICE_COLUMNS, PRICE_LABELS, PRICE_SHORT, STRATEGY_LABELS
from .query import Query

MAX_ASSUMPTIONS = 4
MAX_TABLE_ROWS = 31
LLM_HOWTO = ("To use an LLM instead, set `OPENAI_API_KEY` (OpenAI), or `OPENAI_BASE_URL` and `OPTERA_LLM_MODEL` "
             "for a compatible local server (Ollama, vLLM, LM Studio), then restart the app.")
HELP_TEXT = (
    "I am the built-in analyst: I answer from Optera's own numbers, no LLM, and every answer starts with what "
    "I understood. I can answer:\n\n"
    "- **status**: *how are we doing?*, *what are we running?*\n"
    "- **prices**: *what are prices doing over the last 6 hours?*, *when was energy cheapest yesterday?*\n"
    "- **best allocation**: *what should we run with 800 kW?*, *best mix with max 10 ASIC and no GPUs*\n"
    "- **what if**: *what if energy price doubles?*, *if energy costs 0.9 and tokens pay 0.4, what should I run?*\n"
    "- **profit history**: *how much did we make yesterday?*, *how much did we leave on the table last week?*, "
    "*what was our best day this month?*, *what did the last deploy change?*\n"
    "- **backtest**: *how would holding have done last week?*, *backtest since Monday*\n"
    "- **why**: *why this allocation?*, *why no GPUs?*\n"
    "- **deploy it**: prepares a deploy proposal of the optimum just shown; nothing is sent until you confirm\n\n"
    "Follow-ups change the previous question: *and with 800 kW?*, *what about tokens at 1.5?*, *and the worst?*\n\n"
    + LLM_HOWTO)


def when(text: Any) -> str:
    """An ISO time from a tool as '2025-06-23 14:05 UTC'."""
    try:
        return datetime.fromisoformat(str(text).replace("Z", "")).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return "an unknown time"


def day(text: Any) -> str:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "")).strftime("%a %d %b %Y")
    except ValueError:
        return "an unknown day"


def _table(head: list[str], rows: list[list[str]], right_from: int = 1) -> str:
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join("---" if i < right_from else "---:" for i in range(len(head))) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def allocation_table(target: Mapping[str, int], current: Mapping[str, int] | None = None,
                     current_label: str = "Now") -> str:
    head = ["Machine type", "Units"] + ([current_label, "Change"] if current is not None else [])
    rows = []
    for n in MACHINE_TYPES:
        row = [LABELS[n], count(target[n])]
        if current is not None:
            row += [count(current.get(n, 0)), f"{target[n] - current.get(n, 0):+,}"]
        rows.append(row)
    return _table(head, rows)


def assumptions(items: list[str]) -> list[str]:
    if not items:
        return []
    out = ["", "Assumptions:"] + [f"- {a}" for a in items[:MAX_ASSUMPTIONS]]
    if len(items) > MAX_ASSUMPTIONS:
        out.append(f"- …and {len(items) - MAX_ASSUMPTIONS} more (`optera pnl` lists them all)")
    return out


# -- now -------------------------------------------------------------------------------------------


def status(r: dict, money: Money) -> str:
    p = r.get("prices") or {}
    lines = []
    if r.get("allocation") is None:
        lines.append("No site status is stored yet (sync with the site first).")
    else:
        lines += [f"**Site status** ({r['source']}, read {when(r['fetched_at'])}): {machines(r['allocation'])}.", "",
                  f"- Power used **{power(r['power_used'])}** of {power(r['power_limit'])} "
                  f"({pct(r['power_share'])}), {power(r['power_free'])} free",
                  f"- Revenue {money.period(r['revenue'])}, energy cost {money.period(r['cost'])}, profit "
                  f"**{money.period(r['profit'])}** ({money.day(r['profit'])})"]
    if p:
        lines.append(f"- Latest prices ({when(p['timestamp'])}): " + ", ".join(
            f"{PRICE_SHORT[n]} {price(p[n])}" for n in PRICE_COLUMNS) + " per period")
    return "\n".join(lines)


def prices(r: dict) -> str:
    rows = [[PRICE_LABELS[n], price(s["last"]), price(s["first"]), price(s["min"]), price(s["max"]),
             price(s["mean"]), pct(None if s["change_pct"] is None else s["change_pct"] / 100, signed=True)]
            for n, s in ((n, r[n]) for n in PRICE_COLUMNS)]
    trends = [f"{PRICE_SHORT[n]} is {'up' if r[n]['change'] > 0 else 'down' if r[n]['change'] < 0 else 'flat'}"
              for n in PRICE_COLUMNS]
    return "\n".join([f"**Prices** from {when(r['first_at'])} to {when(r['last_at'])} ({count(r['points'])} "
                      "points), per period:", "",
                      _table(["Price", "Latest", "First", "Lowest", "Highest", "Mean", "Change"], rows), "",
                      "Over the window " + ", ".join(trends) + "."])


def price_extreme(r: dict, q: Query) -> str:
    key, word = ("max", "highest") if q.extreme == "max" else ("min", "lowest")
    names = [q.price] if q.price else list(PRICE_COLUMNS)
    lines = [f"- The **{PRICE_SHORT[n]} price** was {word} at **{price(r[n][key])}** per period on "
             f"{when(r[n][key + '_at'])} (mean {price(r[n]['mean'])})" for n in names]
    return "\n".join([f"From {when(r['first_at'])} to {when(r['last_at'])} ({count(r['points'])} prices):"] + lines)


def _scenario_head(r: dict, title: str) -> list[str]:
    p = r["prices"]
    line = (f"**{title}** at " + ", ".join(f"{PRICE_SHORT[n]} {price(p[n])}" for n in PRICE_COLUMNS)
            + f" with a power limit of {power(r['power_limit'])}")
    if r.get("allocation") is None:
        return [line + ":", "", f"No allocation meets every constraint: {r.get('message') or 'infeasible'}."]
    return [line + ":", ""]


def _binding(r: dict, money: Money) -> list[str]:
    out = [f"- Binding: {'; '.join(map(str, r['binding']))}"] if r.get("binding") else []
    if r.get("value_per_kw") is not None:
        out.append(f"- One more kW would add {money.period(r['value_per_kw'])}")
    return out


def optimum(r: dict, money: Money) -> str:
    lines = _scenario_head(r, "Best allocation")
    if r.get("allocation") is None:
        return "\n".join(lines)
    lines += [allocation_table(r["allocation"]), "",
              f"- Profit **{money.period(r['profit'])}** ({money.day(r['profit'])}); revenue "
              f"{money.period(r['revenue'])}, energy cost {money.period(r['cost'])}",
              f"- Power used {power(r['power_used'])} of {power(r['power_limit'])}", *_binding(r, money),
              "", "Say *deploy it* to prepare a deploy proposal, or *why?* for the reasoning."]
    return "\n".join(lines)


def what_if(r: dict, money: Money) -> str:
    lines = _scenario_head(r, "The optimum")
    if r.get("allocation") is None:
        return "\n".join(lines)
    cur = r["current"]
    lines += [allocation_table(r["allocation"], cur["allocation"] or {}), "",
              f"- Optimum: profit **{money.period(r['profit'])}** ({money.day(r['profit'])}), power "
              f"{power(r['power_used'])}"]
    if cur["allocation"] is None:
        lines.append("- No current allocation is stored (sync first): compared with running nothing")
    lines += [f"- What runs now, at the same prices: profit {money.period(cur['profit'])} "
              f"({money.day(cur['profit'])}), power {power(cur['power_used'])}"
              + ("" if cur["fits_power_limit"] else ", **over this power limit**"),
              f"- Difference: **{money.period(r['profit_delta'], signed=True)}** "
              f"({money.day(r['profit_delta'], signed=True)}), {count(r['units_moved'])} units moved",
              *_binding(r, money)]
    return "\n".join(lines)


def why(r: dict, e: dict, money: Money, subject: str | None) -> str:
    lines = _scenario_head(r, "Why this allocation")
    if r.get("allocation") is None:
        return "\n".join(lines)
    names = [subject] if subject else list(MACHINE_TYPES)
    rows = [[LABELS[n], count(t["units"]), money.period(t["unit_profit"]), money.period(t["profit_per_kw"]),
             price(t["break_even_energy_price"]), "yes" if t["worth_running"] else "no"]
            for n, t in ((n, e["by_type"][n]) for n in names)]
    lines += [_table(["Machine type", "Units", "Profit per unit", "Profit per kW", "Break-even energy",
                      "Worth running"], rows), ""]
    if subject:
        t = e["by_type"][subject]
        lines.append(f"{LABELS[subject]} {'earn' if t['worth_running'] else 'lose'} "
                     f"{money.period(abs(t['unit_profit']))} per unit at these prices; they break even at an energy "
                     f"price of {price(t['break_even_energy_price'])}. The optimum runs {count(t['units'])}.")
    lines.append(str(r.get("rationale") or f"Profit {money.period(r['profit'])}, power {power(r['power_used'])} of "
                                          f"{power(r['power_limit'])}."))
    return "\n".join(lines)


def proposal(r: dict, money: Money) -> str:
    lines = ["**Deploy proposal** (nothing is sent until you confirm the card below):", "",
             allocation_table(r["target"], r.get("current") or {}), "",
             f"- Power after deploy: {power(r['power'])} of {power(r['power_limit'])}",
             f"- Units moved: {count(r['units_moved'])}"]
    if r.get("profit") is not None:
        delta = r["profit"] - r["current_profit"]
        lines.append(f"- Profit at the latest prices: {money.period(r['profit'])} against "
                     f"{money.period(r['current_profit'])} now ({money.period(delta, signed=True)}, "
                     f"{money.day(delta, signed=True)})")
    if not r["valid"]:
        lines.append("- **Cannot be deployed:** " + "; ".join(r["issues"]))
    return "\n".join(lines)


def no_change(r: dict) -> str:
    if r.get("current") is None:
        return "There is nothing to deploy: the optimum runs no machines, and the site's allocation is unknown."
    return f"The site already runs this allocation ({machines(r['target'])}): there is nothing to deploy."


# -- history ---------------------------------------------------------------------------------------


def _range(r: dict) -> str:
    return f"from {when(r['start'])} to {when(r['end'])}"


def pnl(r: dict, money: Money) -> str:
    t = r["total"]
    if not t["intervals"]:
        return "\n".join([f"No running allocation is known for any interval {_range(r)}, so there is no realized "
                          "profit to report: the ledger counts what the status reads and deploys stored by each sync "
                          "say was running.", *assumptions(r["assumptions"])])
    lines = [f"**Realized profit** {_range(r)}: **{money.total(t['realized_profit'])}** over "
             f"{count(t['intervals'])} intervals (revenue {money.total(t['revenue'])}, energy cost "
             f"{money.total(t['cost'])}).", "",
             f"- The per-interval optimum would have made {money.total(t['optimal_profit'])}: "
             f"{pct(t['capture'])} captured, **{money.total(t['left_on_table'])} left on the table**"]
    if t["intervals_unknown"]:
        lines.append(f"- {count(t['intervals_unknown'])} intervals with no known allocation are left out")
    rows = r["rows"]
    if 1 < len(rows) <= MAX_TABLE_ROWS:
        lines += ["", _table([r["by"].capitalize(), "Realized", "Optimum", "Left on the table", "Captured"],
                             [[day(w["start"]), money.total(w["realized_profit"]), money.total(w["optimal_profit"]),
                               money.total(w["left_on_table"]), pct(w["capture"])] for w in rows])]
    return "\n".join(lines + assumptions(r["assumptions"]))


def left_on_table(r: dict, money: Money) -> str:
    t = r["total"]
    if not t["intervals"]:
        return pnl({**r, "rows": []}, money)
    lines = [f"**Left on the table** {_range(r)}: **{money.total(t['left_on_table'])}**: the site made "
             f"{money.total(t['realized_profit'])} of the {money.total(t['optimal_profit'])} the per-interval "
             f"optimum would have made ({pct(t['capture'])} captured, {count(t['intervals'])} intervals)."]
    if r["worst_hours"]:
        lines += ["", "Where most was left:", ""]
        lines += [f"- {when(h['start'])}: {money.total(h['left_on_table'])} "
                  f"({money.total(h['realized_profit'])} made of {money.total(h['optimal_profit'])})"
                  for h in r["worst_hours"]]
    if r["ran_most"] and r["optimum_most"]:
        ran, best = r["ran_most"], r["optimum_most"]
        lines += ["", f"Most of the time the site ran {machines(ran['allocation'])} ({count(ran['intervals'])} "
                      f"intervals); the optimum most often ran {machines(best['allocation'])} "
                      f"({count(best['intervals'])} intervals)."]
    return "\n".join(lines + assumptions(r["assumptions"]))


def best_worst(r: dict, money: Money, extreme: str | None) -> str:
    if r["best"] is None:
        return "\n".join([f"I cannot rank days {_range(r)}: {r['note']}.", *assumptions(r["assumptions"])])
    lines = [f"Of {count(r['days_ranked'])} days {_range(r)} with a known allocation:", ""]
    for key in ("best", "worst"):
        if extreme in (None, key):
            d = r[key]
            lines.append(f"- The **{key} day** was {day(d['start'])}: **{money.total(d['realized_profit'])}** "
                         f"realized against {money.total(d['optimal_profit'])} possible ({pct(d['capture'])} "
                         "captured)")
    if r.get("days_skipped"):
        lines.append(f"- {count(r['days_skipped'])} days with less than 90% of their intervals known are not ranked")
    return "\n".join(lines + assumptions(r["assumptions"]))


def last_deploy(r: dict, money: Money) -> str:
    if "deploy" in r:
        return "No deploy has reached the site yet, so there is nothing to compare."
    lines = [f"**The last deploy** ({r['action']}, from the {r['source'] or 'app'}, result “{r['result']}”) was at "
             f"{when(r['at'])}.", ""]
    if r["previous"] is not None:
        lines.append(f"- Before: {machines(r['previous'])}, {power(r['power_before'])}")
    lines.append(f"- After: {machines(r['running'])}, {power(r['power_after'])}"
                 + (f" ({count(r['moved'])} units moved)" if r["moved"] is not None else ""))
    if r["running"] != r["requested"]:
        lines.append(f"- It asked for {machines(r['requested'])}; the site reported the allocation above")
    if r.get("profit_before") is not None:
        lines.append(f"- At the prices then ({when(r['prices']['timestamp'])}) profit went from "
                     f"{money.period(r['profit_before'])} to {money.period(r['profit_after'])}: "
                     f"**{money.period(r['profit_change'], signed=True)}** "
                     f"({money.day(r['profit_change'], signed=True)})")
    return "\n".join(lines)


def backtest(r: dict, money: Money, held: dict | None) -> str:
    label = STRATEGY_LABELS[r["strategy"]].lower()
    lines = [f"**Backtest**: {label}, {_range({'start': r['first_at'], 'end': r['last_at']})} "
             f"({count(r['intervals'])} intervals), power limit {power(r['power_limit'])}:", "",
             f"- Profit **{money.total(r['profit'])}** (revenue {money.total(r['revenue'])}, energy cost "
             f"{money.total(r['cost'])})",
             f"- The per-interval optimum over the same prices: {money.total(r['optimum_profit'])}"
             + (f", {pct(r['capture'])} captured" if r.get("capture") is not None else "")]
    if r.get("allocation"):
        lines.append(f"- Held: {machines(r['allocation'])}")
    paid = r.get("switching_cost_paid")
    lines.append(f"- Switches: {count(r['switches'])}"
                 + (f", switching cost paid {money.total(paid)}" if paid else ""))
    if held and held.get("capture") is not None:
        lines.append(f"- Holding what runs now ({machines(held['allocation'])}) would have made "
                     f"{money.total(held['profit'])}, {pct(held['capture'])} of the optimum: re-optimising was worth "
                     f"{money.total(r['profit'] - held['profit'])} over the window")
    return "\n".join(lines)
