"""The built-in analyst: plain-English questions answered from the tools, no LLM.

Parsing is deliberately simple (keywords and regular expressions) so it is
predictable: it recognises what it can and says plainly what it cannot. Every
number in an answer is formatted from a tool result, never typed in here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..models import LABELS, MACHINE_TYPES
from .tools import Toolbox

NUM = r"(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
_LINK = r"(?:\s*(?:prices?|costs?|is|are|was|were|be|at|of|to|=|:|becomes?|go(?:es)?|went|drops?|dropped|" \
        r"falls?|fell|rises?|rose|jumps?|hits?|moves?|changes?|up|down|by|per\s+period))*\s*\$?\s*"
_PRICE_WORDS = {
    "energy_price": r"\b(?:energy|electricity)",
    "hash_price": r"\bhash(?:\s*rate)?",
    "token_price": r"\btokens?",
}
_UNIT_W = {"w": 1.0, "watt": 1.0, "watts": 1.0, "kw": 1e3, "kilowatt": 1e3, "kilowatts": 1e3,
           "mw": 1e6, "megawatt": 1e6, "megawatts": 1e6}
_KIND = {"air": "air_miners", "hydro": "hydro_miners", "immersion": "immersion_miners", "gpu": "gpu_compute",
         "gpus": "gpu_compute", "asic": "asic_compute", "asics": "asic_compute"}

LLM_HOWTO = ("To use an LLM instead, set `OPENAI_API_KEY` (OpenAI), or `OPENAI_BASE_URL` and `OPTERA_LLM_MODEL` "
             "for a compatible local server (Ollama, vLLM, LM Studio), then restart the app.")
HELP_TEXT = (
    "I am the built-in analyst: I answer from Optera's own numbers, no LLM. I can answer:\n\n"
    "- **status** — what the site runs now, power used vs the limit, profit\n"
    "- **prices** — *what are prices doing?*, *prices over the last 6 hours*\n"
    "- **best allocation** — *what is the optimal allocation?*, *best mix with 800 kW*\n"
    "- **what if** — *what if energy is 2.1?*, *energy at $0.5 and tokens at 1.5 with 1.2 MW*\n"
    "- **compare with current** — *how much better is the optimum than what we run?*\n"
    "- **backtest** — *backtest the last 24h*, *how would holding have done over the past day?*\n"
    "- **why** — *why this allocation?*, *break-even prices*\n"
    "- **deploy it** — prepares a deploy proposal; nothing is sent until you confirm it\n\n"
    "Constraints I understand: *at least 30% inference*, *at most 40% inference*, *max 10 asic*, *no gpu*, "
    "*at least 500k tokens*, *at least 2m hashrate*.\n\n"
    + LLM_HOWTO)


@dataclass
class Answer:
    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    proposal: dict[str, Any] | None = None


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def money(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.2f}"


def price(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.4f}"


def watts(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f} W"


def signed(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+,.2f}"


def pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x:+.{digits}f}%"


# -- parsing ---------------------------------------------------------------------


def parse_hours(text: str) -> float | None:
    """'last 6 hours', 'past day', '24h', 'last 2 days', 'past 90 minutes', 'last week'."""
    t = text.lower()
    m = re.search(r"(?:last|past|previous|over|for)\s+(?:the\s+)?" + NUM +
                  r"\s*(h|hrs?|hours?|d|days?|w|wks?|weeks?|m|mins?|minutes?)\b", t)
    if not m:
        m = re.search(NUM + r"\s*(h|hrs?|hours?|days?|weeks?|mins?|minutes?)\b", t)
    if m:
        value, unit = _number(m.group(1)), m.group(2)
        if unit.startswith("d"):
            return value * 24
        if unit.startswith("w"):
            return value * 168
        if unit.startswith("m"):
            return value / 60
        return value
    m = re.search(r"(?:last|past|previous)\s+(?:the\s+)?(hour|day|week|month)\b", t)
    if m:
        return {"hour": 1, "day": 24, "week": 168, "month": 720}[m.group(1)]
    if re.search(r"\btoday\b|\b24 ?hours\b", t):
        return 24
    return None


def parse_power(text: str) -> float | None:
    """'with 800 kW', '800kW', '1.2 MW', 'power limit 500000' -> watts."""
    t = text.lower()
    m = re.search(NUM + r"\s*(megawatts?|mw|kilowatts?|kw|watts?|w)\b", t)
    if m:
        return _number(m.group(1)) * _UNIT_W[m.group(2)]
    m = re.search(r"power(?:\s+limit|\s+budget|\s+cap)?\s*(?:of|is|at|to|=|:)?\s*" + NUM + r"(?!\s*%)", t)
    if m and re.search(r"power\s+(?:limit|budget|cap)", t):
        return _number(m.group(1))
    return None


def parse_prices(text: str, latest: Mapping[str, float] | None = None) -> dict[str, float]:
    """'energy is 2.1', 'energy at $0.5', 'hash price 3', 'tokens at 1.5', 'energy up 20%', 'energy doubles'."""
    t = text.lower()
    out: dict[str, float] = {}
    for name, word in _PRICE_WORDS.items():
        m = re.search(word + r"\s+(doubles|halves|triples)", t)
        if m and latest and latest.get(name) is not None:
            out[name] = latest[name] * {"doubles": 2, "halves": 0.5, "triples": 3}[m.group(1)]
            continue
        m = re.search(word + r"(" + _LINK + r")" + r"([+-]?)" + NUM + r"\s*(%?)", t)
        if not m or t[:m.start()].rstrip().endswith(("min", "minimum", "least")):
            continue
        link, sign, value, percent = m.group(1), m.group(2), _number(m.group(3)), m.group(4)
        if percent:
            if not latest or latest.get(name) is None:
                continue
            down = sign == "-" or re.search(r"\b(down|drops?|dropped|falls?|fell|lower)\b", link)
            out[name] = latest[name] * (1 - value / 100 if down else 1 + value / 100)
        else:
            out[name] = -value if sign == "-" else value
    return out


def parse_constraints(text: str) -> dict[str, Any]:
    t = text.lower()
    out: dict[str, Any] = {}
    m = re.search(r"(?:at least|min(?:imum)?|no less than|>=?)\s*" + NUM + r"\s*%\s*(?:of\s+(?:the\s+)?power\s+"
                  r"(?:for|to|on)\s+)?inference", t)
    if m:
        out["min_inference_share"] = _number(m.group(1)) / 100
    m = re.search(r"(?:at most|max(?:imum)?|no more than|up to|<=?)\s*" + NUM + r"\s*%\s*(?:of\s+(?:the\s+)?power\s+"
                  r"(?:for|to|on)\s+)?inference", t)
    if m:
        out["max_inference_share"] = _number(m.group(1)) / 100
    for m in re.finditer(r"(?:at least|min(?:imum)?|no less than)\s+" + NUM + r"\s*(k|m)?\s+(tokens?|hash(?:rate)?)\b", t):
        value = _number(m.group(1)) * {None: 1, "k": 1e3, "m": 1e6}[m.group(2)]
        out["min_tokens" if m.group(3).startswith("token") else "min_hashrate"] = value
    for m in re.finditer(r"(?:at least|min(?:imum)?)\s+(tokens?|hash(?:rate)?)\s*(?:of|=|:)?\s*" + NUM
                         + r"\s*(k|m)?\b", t):
        value = _number(m.group(2)) * {None: 1, "k": 1e3, "m": 1e6}[m.group(3)]
        out["min_tokens" if m.group(1).startswith("token") else "min_hashrate"] = value
    caps: dict[str, int] = {}
    for m in re.finditer(r"(?:at most|max(?:imum)?|no more than|up to|only)\s+" + NUM +
                         r"\s+(air|hydro|immersion|gpus?|asics?)\b", t):
        caps[_KIND[m.group(2)]] = int(_number(m.group(1)))
    for m in re.finditer(r"\b(?:no|without|zero)\s+(air|hydro|immersion|gpus?|asics?)\b", t):
        caps[_KIND[m.group(1)]] = 0
    if caps:
        out["caps"] = caps
    return out


# -- intents -----------------------------------------------------------------------

_INTENTS = [
    ("help", r"^\s*(?:help|\?|hi|hello|hey)\b|what can you (?:do|answer)|\bcommands\b|how do i use"),
    ("deploy", r"\b(?:deploy|apply|roll\s*out|push (?:it|this)|make it so|switch (?:to )?(?:it|this|the optim\w*)|send (?:it|this))\b"),
    ("backtest", r"back-?test|\breplay\b|\bhave (?:made|earned|done|performed)\b|hindsight|"
                 r"how did .* (?:do|perform)"),
    ("why", r"\bwhy\b|\bexplain|rationale|\breason|break[- ]?even|\bbinding\b|worth running"),
    ("compare", r"\bcompare|\bcomparison\b|\bvs\.?\b|\bversus\b|\bwhat if\b|\bwhat happens\b|"
                r"(?:better|improve|gain|more|lose|difference).*\b(?:current|now|running|we run)\b|\bif\b"),
    ("optimize", r"\bbest\b|\boptim|\brecommend|\bshould (?:i|we)\b|\bswitch\b|\ballocat|\bmaximi|\bideal\b|\bmix\b"),
    ("prices", r"\bprices?\b|\btrend|\bmarket\b|\benergy\b|\bhash\b|\btokens?\b|\bcheap|\bexpensive|"
               r"going up|going down"),
    ("status", r"\bstatus\b|how are we doing|\bprofit|\bpower\b|\bcurrent(?:ly)?\b|\brunning\b|\bsite\b|"
               r"\bsummary\b|\boverview\b|\bnow\b|how much"),
]


def intent_of(question: str) -> str:
    q = question.lower()
    for name, pattern in _INTENTS:
        if re.search(pattern, q):
            return name
    return "unknown"


def _alloc_table(rows: list[tuple[str, int, int | None]], cur_label: str = "Current") -> str:
    with_current = any(r[2] is not None for r in rows)
    head = "| Machine type | Units |" + (f" {cur_label} | Change |" if with_current else "")
    sep = "|---|---:|" + ("---:|---:|" if with_current else "")
    lines = [head, sep]
    for name, units, cur in rows:
        line = f"| {LABELS[name]} | {units:,} |"
        if with_current:
            cur = cur or 0
            line += f" {cur:,} | {units - cur:+,} |"
        lines.append(line)
    return "\n".join(lines)


def _constraint_text(cons: Mapping[str, Any]) -> list[str]:
    out = []
    for name, value in cons.items():
        if name in ("caps", "locks") and isinstance(value, Mapping):
            word = "at most" if name == "caps" else "exactly"
            out += [f"{word} {v:,} {LABELS.get(k, k).lower()}" for k, v in value.items()]
        elif name == "min_inference_share":
            out.append(f"inference at least {value * 100:g}% of power")
        elif name == "max_inference_share":
            out.append(f"inference at most {value * 100:g}% of power")
        elif name == "min_tokens":
            out.append(f"at least {value:,.0f} tokens")
        elif name == "min_hashrate":
            out.append(f"at least {value:,.0f} hashrate")
        else:
            out.append(f"{name} {value}")
    return out


WHAT_IF_KEYS = ("energy_price", "hash_price", "token_price", "power_limit")


class BuiltinAnalyst:
    def __init__(self, toolbox: Toolbox):
        self.toolbox = toolbox

    def _call(self, calls: list[dict], name: str, **arguments: Any) -> dict[str, Any]:
        result = self.toolbox.call(name, arguments)
        calls.append({"name": name, "arguments": arguments, "result": result})
        return result

    def answer(self, question: str) -> Answer:
        question = (question or "").strip()
        calls: list[dict[str, Any]] = []
        if not question:
            return Answer(HELP_TEXT)
        latest = self.toolbox.latest_prices()
        scenario: dict[str, Any] = parse_prices(question, latest.to_dict() if latest else None)
        power = parse_power(question)
        if power is not None:
            scenario["power_limit"] = power
        scenario.update(parse_constraints(question))
        intent = intent_of(question)
        if intent in ("prices", "status", "unknown") and scenario:
            intent = "compare"
        try:
            handler = getattr(self, f"_{intent}")
            return handler(question, scenario, calls)
        except Exception as e:  # the chat must always answer
            return Answer(f"Something went wrong while answering: {type(e).__name__}: {e}", calls)

    # -- handlers -------------------------------------------------------------------
    def _help(self, question, scenario, calls) -> Answer:
        return Answer(HELP_TEXT, calls)

    def _unknown(self, question, scenario, calls) -> Answer:
        return Answer("I cannot answer that one: I only understand a fixed set of questions about this site's "
                      "numbers.\n\n" + HELP_TEXT, calls)

    def _error(self, result: dict, calls: list, what: str) -> Answer:
        return Answer(f"I could not {what}: {result['error']}", calls)

    def _status(self, question, scenario, calls) -> Answer:
        r = self._call(calls, "get_status")
        if "error" in r:
            return self._error(r, calls, "read the status")
        p = r.get("prices") or {}
        lines = []
        if r.get("allocation") is None:
            lines.append("No site status is stored yet (sync with the site first).")
        else:
            share = r.get("power_share")
            lines.append(f"**Site status** ({r['source']}, read {r['fetched_at']} UTC):")
            lines.append("")
            lines.append(_alloc_table([(n, r["allocation"][n], None) for n in MACHINE_TYPES]))
            lines.append("")
            lines.append(f"- Power used: **{watts(r['power_used'])}** of {watts(r['power_limit'])}"
                         + (f" ({share * 100:.1f}%)" if share is not None else "")
                         + f", {watts(r['power_free'])} free")
            lines.append(f"- Revenue {money(r['revenue'])}, energy cost {money(r['cost'])}, "
                         f"profit **{money(r['profit'])} per period** "
                         f"({money(r['profit_per_day'])} per day at {r['period_minutes']:g}-minute periods)")
        if p:
            lines.append(f"- Latest prices ({p['timestamp']}): energy {price(p['energy_price'])}, "
                         f"hash {price(p['hash_price'])}, token {price(p['token_price'])} per period")
        return Answer("\n".join(lines), calls)

    def _prices(self, question, scenario, calls) -> Answer:
        hours = parse_hours(question) or 24
        r = self._call(calls, "get_prices", hours=hours)
        if "error" in r:
            return self._error(r, calls, "read prices")
        lines = [f"**Prices** over the last {r['hours']:g} h ({r['points']:,} points, {r['start']} to "
                 f"{r['end']} UTC), per period:", "",
                 "| Price | Now | First | Min | Max | Mean | Change |", "|---|---:|---:|---:|---:|---:|---:|"]
        names = {"energy_price": "Energy", "hash_price": "Hash", "token_price": "Token"}
        trends = []
        for key, label in names.items():
            s = r[key]
            lines.append(f"| {label} | {price(s['last'])} | {price(s['first'])} | {price(s['min'])} | "
                         f"{price(s['max'])} | {price(s['mean'])} | {pct(s['change_pct'])} |")
            if s["change_pct"] is not None:
                word = "up" if s["change"] > 0 else "down" if s["change"] < 0 else "flat"
                trends.append(f"{label.lower()} is {word} ({pct(s['change_pct'])})")
        if trends:
            lines += ["", "Over the window " + ", ".join(trends) + "."]
        return Answer("\n".join(lines), calls)

    def _solution_text(self, r: dict, title: str) -> list[str]:
        p = r["prices"]
        lines = [f"**{title}** at energy {price(p['energy_price'])}, hash {price(p['hash_price'])}, "
                 f"token {price(p['token_price'])} with a power limit of {watts(r['power_limit'])}:"]
        cons = _constraint_text(r.get("constraints") or {})
        if cons:
            lines.append("Constraints: " + "; ".join(cons) + ".")
        return lines

    def _optimum(self, scenario, calls, title: str, what: str) -> tuple[dict, list[str], Answer | None]:
        """The optimum for a scenario and its text; an Answer instead when there is none."""
        r = self._call(calls, "optimize", **scenario)
        if "error" in r:
            return r, [], self._error(r, calls, what)
        lines = self._solution_text(r, title)
        if r.get("allocation") is None:
            lines.append(f"No feasible allocation. {r.get('message', '')}")
            return r, lines, Answer("\n".join(lines), calls)
        return r, lines, None

    def _optimize(self, question, scenario, calls) -> Answer:
        r, lines, done = self._optimum(scenario, calls, "Best allocation", "optimise")
        if done:
            return done
        lines += ["", _alloc_table([(n, r["allocation"][n], None) for n in MACHINE_TYPES]), "",
                  f"- Profit **{money(r['profit'])} per period** ({money(r['profit_per_day'])} per day at "
                  f"{r['period_minutes']:g}-minute periods); revenue {money(r['revenue'])}, "
                  f"energy cost {money(r['cost'])}",
                  f"- Power used {watts(r['power_used'])} of {watts(r['power_limit'])}"]
        if r.get("binding"):
            lines.append("- Binding: " + "; ".join(map(str, r["binding"])))
        if r.get("value_per_kw") is not None:
            lines.append(f"- One more kW would add {money(r['value_per_kw'])} profit per period")
        lines += ["", "Say *deploy it* to prepare a deploy proposal, or *why* for the reasoning."]
        return Answer("\n".join(lines), calls)

    def _compare(self, question, scenario, calls) -> Answer:
        r = self._call(calls, "what_if", **scenario)
        if "error" in r:
            return self._error(r, calls, "run the what-if")
        title = "What-if optimum" if scenario else "Optimum vs current"
        lines = self._solution_text(r, title)
        if r.get("allocation") is None:
            lines.append(f"No feasible allocation. {r.get('message', '')}")
            return Answer("\n".join(lines), calls)
        cur = r["current"]
        cur_alloc = cur["allocation"] or {}
        lines += ["", _alloc_table([(n, r["allocation"][n], cur_alloc.get(n, 0)) for n in MACHINE_TYPES]), ""]
        lines.append(f"- Optimum: profit **{money(r['profit'])} per period** ({money(r['profit_per_day'])} per day), "
                     f"power {watts(r['power_used'])}")
        if cur["allocation"] is None:
            lines.append("- No current allocation is stored (sync first); compared with running nothing")
        lines.append(f"- Current allocation at the same prices: profit {money(cur['profit'])} per period "
                     f"({money(cur['profit_per_day'])} per day), power {watts(cur['power_used'])}"
                     + ("" if cur["fits_power_limit"] else " — **over this power limit**"))
        lines.append(f"- Difference: **{signed(r['profit_delta'])} per period** "
                     f"({signed(r['profit_delta_per_day'])} per day), {r['units_moved']:,} units moved")
        if r.get("binding"):
            lines.append("- Binding: " + "; ".join(map(str, r["binding"])))
        return Answer("\n".join(lines), calls)

    def _backtest(self, question, scenario, calls) -> Answer:
        hours = parse_hours(question) or 24
        q = question.lower()
        strategy = ("hindsight" if "hindsight" in q else
                    "hold" if re.search(r"\bhold|\bkeep|\bcurrent|did nothing|stayed", q) else "optimal")
        args: dict[str, Any] = {"hours": hours, "strategy": strategy}
        m = re.search(r"switching\s+cost\s*(?:of|is|=|at)?\s*\$?" + NUM, q)
        if m:
            args["switching_cost"] = _number(m.group(1))
        r = self._call(calls, "backtest", **args)
        if "error" in r:
            return self._error(r, calls, "run the backtest")
        label = {"optimal": "re-optimising every interval", "hold": "holding the current allocation",
                 "hindsight": "the best single allocation in hindsight", "fixed": "a fixed allocation"}[strategy]
        lines = [f"**Backtest** of {label} over the last {r['hours']:g} h ({r['intervals']:,} intervals, "
                 f"{r['start']} to {r['end']} UTC), power limit {watts(r['power_limit'])}:", "",
                 f"- Profit **{money(r['profit'])}** (revenue {money(r['revenue'])}, energy cost {money(r['cost'])})",
                 f"- Per-interval optimum over the same window: {money(r['optimum_profit'])}"]
        if r.get("capture") is not None:
            lines.append(f"- Capture: {r['capture'] * 100:.1f}% of the optimum")
        lines.append(f"- Switches: {r['switches']:,}"
                     + (f", switching cost paid {money(r['switching_cost_paid'])}"
                        if r.get("switching_cost_paid") else ""))
        if r.get("profit_per_day") is not None:
            lines.append(f"- Average {money(r['profit_per_day'])} per day")
        if strategy == "optimal":
            held = self._call(calls, "backtest", **{**args, "strategy": "hold"})
            if "error" not in held and held.get("capture") is not None:
                lines.append(f"- Holding the current allocation instead would have made {money(held['profit'])}, "
                             f"{held['capture'] * 100:.1f}% of the optimum: re-optimising was worth "
                             f"{money(r['profit'] - held['profit'])} over the window")
        return Answer("\n".join(lines), calls)

    def _why(self, question, scenario, calls) -> Answer:
        r, lines, done = self._optimum(scenario, calls, "Why this allocation", "explain")
        if done:
            return done
        e = self._call(calls, "explain_allocation", allocation=r["allocation"])
        lines += ["", "| Machine type | Units | Profit per unit | Profit per kW | Break-even energy | Worth running |",
                  "|---|---:|---:|---:|---:|---|"]
        for n in MACHINE_TYPES:
            t = e["by_type"][n] if "by_type" in e else None
            if t is None:
                continue
            lines.append(f"| {LABELS[n]} | {t['units']:,} | {money(t['unit_profit'])} | {money(t['profit_per_kw'])} | "
                         f"{price(t['break_even_energy_price'])} | {'yes' if t['worth_running'] else 'no'} |")
        lines.append("")
        if r.get("rationale"):
            lines.append(str(r["rationale"]))
        else:
            lines.append(f"Profit {money(r['profit'])} per period, power {watts(r['power_used'])} of "
                         f"{watts(r['power_limit'])}.")
        return Answer("\n".join(lines), calls)

    def _deploy(self, question, scenario, calls) -> Answer:
        if any(k in scenario for k in WHAT_IF_KEYS):
            return Answer("I only prepare deploys of the optimum at the latest real prices and the site's own "
                          "power limit, not of a what-if. Ask *deploy it* without prices or limits; use the "
                          "Optimizer page to deploy a hand-made allocation.", calls)
        constraints, was_what_if = (scenario, False) if scenario else self._previous_constraints()
        if constraints:
            best = self._call(calls, "optimize", **constraints)
            if "error" in best:
                return self._error(best, calls, "find the optimum to deploy")
            r = self._call(calls, "propose_deploy", allocation=best["allocation"])
        else:
            r = self._call(calls, "propose_deploy", allocation="optimal")
        if "error" in r:
            return self._error(r, calls, "prepare a deploy")
        cur = r.get("current") or {}
        lines = ["**Deploy proposal** (nothing is sent until you confirm the card below):", "",
                 _alloc_table([(n, r["target"][n], cur.get(n, 0)) for n in MACHINE_TYPES]), "",
                 f"- Power after deploy: {watts(r['power'])} of {watts(r['power_limit'])}",
                 f"- Units moved: {r['units_moved']:,}"]
        if r.get("profit") is not None:
            lines.append(f"- Profit at the latest prices: {money(r['profit'])} per period vs "
                         f"{money(r['current_profit'])} now ({signed(r['profit_delta_per_day'])} per day)")
        if constraints:
            lines.append("- With the constraints " + ", ".join(f"{k}={v}" for k, v in constraints.items())
                         + (" from my previous answer" if not scenario else ""))
        if was_what_if:
            lines.append("- My previous answer was a what-if at other prices or power; this proposal is the optimum "
                         "at the latest real prices and the site's own power limit")
        if not r["valid"]:
            lines.append("- **Cannot be deployed:** " + "; ".join(r["issues"]))
        return Answer("\n".join(lines), calls, proposal=r)

    def _previous_constraints(self) -> tuple[dict[str, Any], bool]:
        """The constraints of the last optimum shown (so "deploy it" means that optimum), and
        whether it was a what-if at other prices or power, which is never deployed."""
        for message in reversed(self.toolbox.service.chat_history(20)):
            if message["role"] != "assistant":
                continue
            for call in message["tools"]:
                if call.get("name") in ("optimize", "what_if"):
                    args = call.get("arguments") or {}
                    return ({k: v for k, v in args.items() if k not in WHAT_IF_KEYS},
                            any(k in args for k in WHAT_IF_KEYS))
            return {}, False
        return {}, False


