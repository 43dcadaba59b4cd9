"""The built-in analyst's question parser: an analyst's question -> a ``Query``.

Pure (no I/O): the latest prices, the site's power limit, the previous question and "now"
come in a ``Context``. The parser reads what it can and says so in one line
(``Query.understood_text()``); when something in the question is not understood the
whole question is "unknown" with the reason and the closest questions it can answer,
so a misreading is never answered as if it were the question. This module is longer
than most because the intent rules and the follow-up rules only make sense together.

Rules worth knowing (the corpus in tests/data holds the examples):

- Any price change makes a what-if (the optimum at those prices against what runs now);
  so does "what if / suppose / assuming" with a power limit or a constraint. A power
  limit or constraint alone belongs to an optimize question.
- Relative changes apply to the latest price ("energy doubles" is 2 x the latest energy
  price), in follow-ups too; "power costs" is the energy price, never a power limit.
- A follow-up starts "and / what about / how about / same but / now" or ends "too /
  instead", or is only numbers ("800 kW?", "tokens at .8?"): it keeps the previous
  question and changes what it says. "why?" and "deploy it" always refer to the previous
  optimum; a deploy keeps its constraints, never its what-if prices or power limit.
- A number nothing understood, two ranges, two power limits, a price given twice, or a
  what-if price on a history question makes the question unknown: never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

from ..clock import utcnow
from ..vocabulary import PRICE_COLUMNS, PRICE_SHORT
from .phrases import (
    MACHINE,
    Change,
    machines,
    normalise,
    read_constraints,
    read_power,
    read_prices,
    read_switching_cost,
)
from .query import HISTORY, INTENTS, OPTIMUM, Context, Query, intent_words
from .timerange import MONTHS, WEEKDAYS, TimeRange, find_range

__all__ = ["Context", "Query", "INTENTS", "parse", "suggest"]

DEFAULT_HOURS = {"pnl": 24, "left_on_table": 24, "backtest": 24, "prices": 24, "price_extreme": 24,
                 "best_worst_day": 30 * 24}
EXAMPLES = {
    "status": "how are we doing?",
    "prices": "what are prices doing over the last 6 hours?",
    "optimize": "what is the best allocation with 800 kW?",
    "what_if": "what if energy price doubles?",
    "compare": "how much better is the optimum than what we run?",
    "backtest": "how would holding have done yesterday?",
    "why": "why this allocation?",
    "deploy": "deploy it",
    "pnl": "how much did we make yesterday?",
    "best_worst_day": "what was our best day this month?",
    "left_on_table": "how much did we leave on the table last week?",
    "last_deploy": "what did the last deploy change?",
    "price_extreme": "when was energy cheapest yesterday?",
}


def _any(*patterns: str) -> re.Pattern:
    return re.compile("|".join(patterns))


_OUT_OF_SCOPE = [
    (_any(r"\b(?:weather|jokes?|poem|story|song|recipe|news|stocks?)\b"), "that is not about this site's numbers"),
    (_any(r"\b(?:forecast\w*|predict\w*|tomorrow|next\s+(?:week|month|year|hour|day))\b",
          r"\bwill\s+(?:the\s+)?(?:energy|electricity|power|hash\w*|tokens?|prices?|it)\b"),
     "I answer from stored history and the optimiser and do not forecast (the Intel page has the forecast)"),
    (_any(r"\b(?:bitcoin|btc)\b(?!\s+min)"), "I do not answer about the bitcoin market here (the Intel page does)"),
    (_any(r"^(?:please\s+)?(?:set|change|increase|raise|lower|reduce|update|add|remove|turn|shut|restart|stop)\b",
          r"\b(?:buy|sell|purchase|install)\b"),
     "I read the site's numbers and prepare deploys; I do not change the site's setup or equipment"),
]
_FOLLOW = re.compile(r"^(?:and|what\s+about|how\s+about|same|now|then|also|but|plus|instead|ok(?:ay)?\s+(?:and|now|"
                     r"what\s+about))\b|\b(?:too|also|as\s+well|instead)\W*$")
_RULES: list[tuple[str, re.Pattern]] = [
    ("help", _any(r"^(?:help|hi|hello|hey|hiya|menu|commands|\?)\W*$", r"^help\b",
                  r"\bwhat\s+(?:can|could)\s+(?:you|i|this(?:\s+thing)?|it)\s+(?:do|ask|answer)", r"\bwhat\s+questions\b",
                  r"\bhow\s+(?:do|can|should)\s+i\s+use\b", r"\bwhat\s+do\s+you\s+(?:do|know)\b")),
    ("last_deploy", _any(r"\b(?:last|latest|previous|recent)\s+deploy\w*", r"\bdeploy\w*\s+(?:history|log)\b",
                         r"\b(?:did|have)\s+(?:we|i|you)\s+(?:last\s+)?deploy\w*", r"\bdeploy\w*\s+last\b",
                         r"\bwhen\s+(?:did|was)\s+(?:we|the)\s+(?:last\s+)?deploy")),
    ("deploy", _any(r"\bdeploy\w*", r"\bapply\b", r"^(?:ok(?:ay)?\s+|yes\s+)?(?:do\s+it|go\s+ahead|ship\s+it|confirm)\W*$", r"\broll\s+(?:it\s+|this\s+|that\s+)?out\b",
                    r"\bpush\s+(?:it|this|that)\b", r"\bmake\s+it\s+so\b", r"\bsend\s+(?:it|this|that)\b",
                    r"\bgo\s+live\b")),
    ("why", _any(r"\bwhy\b", r"\bexplain\w*", r"\brationale\b", r"\breason\w*", r"\bbreak[\s-]?even\b",
                 r"\bbinding\b", r"\bworth\s+running\b", r"\bwhat\s+limits\b", r"\bbottleneck")),
    ("left_on_table", _any(r"\bhow\s+much\s+(?:better|more)\s+(?:could|would)\s+(?:we|i)\s+have\b",
                           r"\bcould\s+have\s+(?:made|earned|done)\s+(?:better|more)\b")),
    ("backtest", _any(r"\bback\s*-?\s*test\w*", r"\breplay\w*", r"\b(?:would|could)\b.*\bhave\b", r"\b(?:would|could)'ve\b",
                      r"\bif\s+we\s+had\s+(?:held|kept|stayed|optimi[sz]ed|reoptimi[sz]ed|re-?optimi[sz]ed)\b",
                      r"\bhad\s+we\b", r"\bhindsight\b", r"\bsimulate\b")),
    ("best_worst_day", _any(r"\b(?:best|worst|most\s+profitable|least\s+profitable|top|weakest|strongest|biggest|"
                            r"largest|highest|lowest)(?:\s+(?:profit|loss|losing|earning|revenue|pnl))?\s+(?:and\s+(?:the\s+)?"
                            r"(?:best|worst)\s+)?days?\b",
                            r"\b(?:which|what)\s+day\b")),
    ("left_on_table", _any(r"\bon\s+(?:the\s+)?table\b", r"\bmiss(?:ed)?\b", r"\bregret\b", r"\bcapture\w*",
                           r"\blos[et]\b.*(?:optim|by\s+not)", r"\blosing\b.*optim",
                           r"\bhow\s+far\s+(?:from|off|below)\s+(?:the\s+)?optim", r"\bshort\s+of\s+(?:the\s+)?optim",
                           r"\bgap\s+to\s+(?:the\s+)?optim", r"\b(?:vs|versus|against)\.?\s+(?:the\s+)?optim")),
    ("compare", _any(r"\bcompar\w*", r"\b(?:vs|versus)\.?\s+(?:the\s+)?(?:optim|current|what\s+we|now|running)",
                     r"\bhow\s+much\s+better\b", r"\bdifference\b", r"\bgain\b", r"\bmove\s+to\s+(?:the\s+)?optim", r"\b(?:is|are)\s+(?:we|our|the\s+site|it|the\s+current)\b.*\boptim",
                     r"\bbetter\s+than\s+(?:what\s+we|current|now)")),
    ("optimize", _any(r"\bbest\b", r"\b(?:re)?optim\w*", r"\brecommend\w*", r"\bre-?(?:compute|calculate|run)\b",
                      r"\bsolve\b", r"\bshould\s+(?:i|we)\b",
                      r"\bwhat\s+(?:do|would|can|could)\s+(?:we|i)\s+run\b", r"\bwhat\s+to\s+run\b", r"\bideal\b",
                      r"\bmix\b", r"\bset\s*up\b", r"\bmaximi[sz]\w*", r"\bbetter\s+to\s+run\b")),
]
_EXTREME = re.compile(r"\b(?P<max>highest|most\s+(?:expensive|valuable)|peak\w*|max(?:imum)?|top|high\s+point|"
                      r"(?:its|the|a)\s+high)\b|\b(?P<min>lowest|cheapest|least\s+(?:expensive|valuable)|bottom\w*|"
                      r"min(?:imum)?|low\s+point|(?:its|the|a)\s+low)\b")
_PRICE_WORD = re.compile(r"\b(?:(?P<energy_price>energy|electricity|power\s+(?:price|cost))|(?P<hash_price>hash\w*)|"
                         r"(?P<token_price>tokens?|inference\s+price))\b|\bprices?\b")
_HYPOTHETICAL = _any(r"\bwhat\s+if\b", r"\bif\b", r"\bsuppos\w*", r"\bassum\w*", r"\bimagine\b",
                     r"\bwhat\s+happens\b", r"\bscenario\b", r"\bhypothetical\w*", r"\bwere\s+to\b")
_MONEY = _any(r"\bpnl\b", r"\bprofit\w*", r"\bearn\w*", r"\bmade\b", r"\bmake\b", r"\brevenue\b", r"\bincome\b",
              r"\bmoney\b", r"\bnet\b", r"\breali[sz]ed\b", r"\bloss(?:es)?\b", r"\blos[et]\b", r"\bledger\b",
              r"\bhow\s+did\s+(?:we|the\s+site)\s+do\b")
_PAST = _any(r"\b(?:did|was|were|had|made|earned|so\s+far)\b", r"\bhave\s+we\b", r"\bpnl\b", r"\breali[sz]ed\b",
             r"\bledger\b")
# words that say something this parser cannot read: a number in words, a part of a day, a period it has no rule for
_UNREAD = re.compile(r"\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|sixty|"
                     r"seventy|eighty|ninety|hundred|thousand|million|half|morning|afternoon|evening|night|tonight|am|pm|"
                     r"noon|midnight|quarter|q[1-4]|fortnight|" + "|".join(n for n in list(MONTHS) + list(WEEKDAYS) if len(n) > 3)
                     + r")\b")
_NEGATED = re.compile(r"\b(?:don't|dont|do\s+not|never|not|no\s+need\s+to|cancel)\s+(?:\w+\s+)?(?:deploy|apply)")
_NOW = _any(r"\bnow\b", r"\bcurrently\b", r"\bare\s+we\b", r"\bat\s+the\s+moment\b", r"\bthese\s+days\b")
_PRICES = _any(r"\bprices?\b", r"\btrend\w*", r"\bmarket\b", r"\benergy\b", r"\belectricity\b", r"\bhash\w*",
               r"\btokens?\b", r"\bcheaper\b", r"\bexpensive\b", r"\bgoing\s+(?:up|down)\b", r"\bmov(?:e|ed|ing)\b")
_STATUS = _any(r"\bstatus\b", r"\bhow\s+are\s+we\s+doing\b", r"\bhow\s+is\s+(?:it|the\s+site)\s+(?:going|doing)\b",
               r"\brunning\b", r"\bcurrent\w*", r"\boverview\b", r"\bsummary\b", r"\bpower\b", r"\busing\b",
               r"\busage\b", r"\bmaking\b", r"\bprofit\w*", r"\bright\s+now\b", r"\bsite\b", r"\ballocation\b",
               r"\bhow\s+many\b")
_STRATEGIES = [("hindsight", _any(r"\bhindsight\b", r"\bbest\s+(?:single|fixed|static)\s+allocation\b")),
               ("fixed", _any(r"\bfixed\b", r"\bstatic\b")),
               ("hold", _any(r"\bhold\w*", r"\bheld\b", r"\bkept\b", r"\bkeep\w*", r"\bstay\w*", r"\bdid\s+nothing\b",
                             r"\bcurrent\s+allocation\b", r"\bunchanged\b", r"\bas\s+is\b")),
               ("optimal", _any(r"\breoptimi\w*", r"\boptim\w*", r"\b(?:every|each)\s+interval\b"))]
_BEST_WORST = re.compile(r"\b(?P<worst>worst|least\s+profitable|weakest|lowest|(?:biggest|largest)\s+(?:loss|losing))\b|"
                         r"\b(?P<best>best|most\s+profitable|top|strongest|biggest|largest|highest)\b")
_WHY_SUBJECT = re.compile(r"\bwhy\b(?:\s+(?:are|is|do|does|did|aren't|isn't|don't)\s+(?:there|we|you|it))?(?:\s+(?:have|"
                          r"running|run|using|use))?\s+(?:no|not|zero|without)\s+(?:any\s+)?(?P<machine>(?:air|hydro|"
                          r"immersion)(?:\s+miners?)?|(?:gpu|asic)s?(?:\s+inference)?|miners|inference)")
_CLEAR = re.compile(r"\b(?:without|no|drop|remove|ignore|lift|forget)\s+(?:the\s+|any\s+|my\s+|those\s+|that\s+)?(?:"
                    + MACHINE + r"\s+)?(?:caps?|constraints?|limits?)\b")
_BEFORE = re.compile(r"\bthe\s+(?:day|week|month|period|hour)\s+before\b|\bthe\s+previous\s+(?:day|period)\b")
_MACHINE_WORD = re.compile(r"\b(?:air|hydro|immersion|gpus?|asics?|miners?)\b")


# -- parsing -----------------------------------------------------------------------------------


def suggest(question: str, n: int = 3) -> tuple[str, ...]:
    """The example questions sharing most words with ``question`` (stable order on ties)."""
    words = set(re.findall(r"[a-z]{3,}", normalise(question)[0]))
    scored = sorted(EXAMPLES.items(), key=lambda kv: -len(words & set(re.findall(r"[a-z]{3,}", kv[1]))))
    if not words & set(re.findall(r"[a-z]{3,}", " ".join(EXAMPLES.values()))):
        scored = [(k, EXAMPLES[k]) for k in ("status", "optimize", "pnl")]
    return tuple(text for _, text in scored[:n])


def _unknown(question: str, problem: str | None, corrections=()) -> Query:
    return Query("unknown", question, problem=problem, confidence=0.0, suggestions=suggest(question),
                 corrections=tuple(corrections))


@dataclass
class _Read:
    """Everything read from one question before the intent is settled."""

    rest: str
    changes: dict[str, Change]
    constraints: dict[str, Any]
    time: TimeRange | None
    switching_cost: float | None
    subject: str | None
    clear: tuple[str, ...] | None  # machine types whose chat-given caps are dropped; () drops every constraint


def _read(text: str, now: datetime) -> tuple[_Read | None, str | None]:
    subject = None
    if m := _WHY_SUBJECT.search(text):
        subject = machines(m["machine"])
        subject = subject[0] if len(subject) == 1 else None
        text = text[:m.start("machine")] + text[m.end("machine"):] if subject else text
    clear = None
    if m := _CLEAR.search(text):
        clear = machines(m["machine"]) if m["machine"] else ()
        text = _CLEAR.sub(" | ", text, count=1)
    time, text, problem = find_range(text, now)
    if problem:
        return None, problem
    switching, text = read_switching_cost(text)
    constraints, text = read_constraints(text)
    power, text, problem = read_power(text)
    if problem:
        return None, problem
    changes, text, problem = read_prices(text)
    if problem:
        return None, problem
    if power is not None:
        changes["power_limit"] = power
    if m := re.search(r"[^\s|]*\d[^\s|]*", text) or _UNREAD.search(text):
        return None, f"I did not understand “{m[0]}” in your question"
    return _Read(text, changes, constraints, time, switching, subject, clear), None


def _intent(r: _Read) -> tuple[str | None, bool, str | None]:  # noqa: C901 - one branch per way a question names its intent, in priority order
    """(intent, strong, problem): strong when the question's own words name it, not just its numbers."""
    rest = r.rest
    for name, pattern in _RULES:
        if not pattern.search(rest) or (name == "help" and (r.changes or r.constraints or r.time)):
            continue
        if name == "left_on_table" and not r.time and _NOW.search(rest):
            name = "compare"  # "how much are we leaving on the table right now?"
        if name == "compare" and r.time and any(p.search(rest) for _, p in _STRATEGIES):
            name = "backtest"  # "how did holding compare with re-optimising last week?"
        if (name == "compare" and r.changes) or (name == "optimize" and any(n != "power_limit" for n in r.changes)):
            name = "what_if"
        elif name == "optimize" and _price_extreme(rest):
            name = "price_extreme"
        return name, True, None
    if _price_extreme(rest):
        return "price_extreme", True, None
    if any(n != "power_limit" for n in r.changes):
        return "what_if", bool(_HYPOTHETICAL.search(rest)), None
    if _HYPOTHETICAL.search(rest):
        if r.changes or r.constraints:
            return "what_if", True, None
        return None, False, "I could not tell what changes in this what-if: give a number, e.g. “what if energy doubles?”"
    if _MONEY.search(rest) and (_PAST.search(rest) or r.time):
        return "pnl", True, None
    if r.changes or r.constraints:
        return "optimize", False, None
    if _MONEY.search(rest):
        return "status", False, None
    if _PRICES.search(rest):
        return "prices", False, None
    if _STATUS.search(rest):
        return ("pnl", True, None) if r.time else ("status", False, None)
    return None, False, None


def _price_extreme(rest: str) -> bool:
    return bool(_EXTREME.search(rest) and _PRICE_WORD.search(rest))


def _price_name(rest: str) -> str | None:
    m = _PRICE_WORD.search(rest)
    return next((k for k in PRICE_COLUMNS if m and m.group(k)), None)


def _extreme(intent: str, rest: str) -> str | None:
    if intent == "price_extreme":
        m = _EXTREME.search(rest)
        return (m and ("max" if m.group("max") else "min")) or None
    if intent == "best_worst_day":
        found = {k for m in _BEST_WORST.finditer(rest) for k in ("best", "worst") if m.group(k)}
        if re.search(r"\bwhich\s+day\b|\bwhat\s+day\b", rest) and not found:
            found = {"best"} if re.search(r"\bmost\b", rest) else {"worst"} if re.search(r"\bleast\b", rest) else set()
        return found.pop() if len(found) == 1 else None
    return None


def _strategy(rest: str) -> str | None:
    """The backtest strategy named; None (the default, which the analyst compares with holding) for
    "holding against re-optimising"."""
    named = [name for name, pattern in _STRATEGIES if pattern.search(rest)]
    return None if {"hold", "optimal"} <= set(named) else next(iter(named), None)


def _merge_scenario(previous: Query, r: _Read) -> tuple[dict[str, Change], dict[str, Any]]:
    changes = {**previous.changes, **r.changes}
    constraints: dict[str, Any] = {} if r.clear == () else {k: (dict(v) if isinstance(v, Mapping) else v)
                                                             for k, v in previous.constraints.items()}
    for machine in r.clear or ():
        constraints.get("caps", {}).pop(machine, None)
        constraints.get("locks", {}).pop(machine, None)
    constraints = {k: v for k, v in constraints.items() if v != {}}
    for key, value in r.constraints.items():
        if isinstance(value, Mapping):
            constraints[key] = {**constraints.get(key, {}), **value}
        else:
            constraints[key] = value
    return changes, constraints


def _followup(previous: Query, r: _Read, intent: str | None, strong: bool, marked: bool) -> dict[str, Any] | None:
    """The fields of a follow-up built on ``previous``, or None when it does not follow on."""
    prev = previous.intent
    if strong and intent in ("why", "deploy") and prev in OPTIMUM:
        changes, constraints = _merge_scenario(previous, r)
        if intent == "deploy":
            return dict(intent=intent, changes=dict(r.changes), constraints=constraints,
                        from_what_if=bool(previous.changes))
        return dict(intent=intent, changes=changes, constraints=constraints, subject=r.subject)
    if not marked and strong:
        return None
    if prev == "status" and r.time and not strong:
        return dict(intent="pnl", time=r.time)
    if prev in OPTIMUM and (not strong or intent in ("optimize", "what_if", "compare")):
        if not (r.changes or r.constraints or r.clear is not None) and not strong:
            return None
        changes, constraints = _merge_scenario(previous, r)
        new = intent if strong else prev
        if new in ("optimize", "compare") and any(n != "power_limit" for n in changes):
            new = "what_if"
        return dict(intent=new, changes=changes, constraints=constraints, subject=previous.subject)
    if prev in HISTORY and (strong and intent in HISTORY or not strong and (marked or intent in (None, prev))):
        new = intent if strong else prev
        same = new == prev
        time = r.time or (_before(previous) if _BEFORE.search(r.rest) else None)
        fields = dict(intent=new, time=time or (_as_range(previous) if previous.range_stated else None),
                      strategy=_strategy(r.rest) or (previous.strategy if same else None),
                      switching_cost=r.switching_cost if r.switching_cost is not None else
                      (previous.switching_cost if same else None),
                      price=_price_name(r.rest) or (previous.price if same else None),
                      extreme=_extreme(new, r.rest) or _followup_extreme(new, r.rest) or
                      (previous.extreme if same else None))
        changed = (time, _strategy(r.rest), r.switching_cost, _price_name(r.rest),
                   _followup_extreme(new, r.rest), strong)
        return fields if any(x for x in changed) else None
    return None


def _followup_extreme(intent: str, rest: str) -> str | None:
    """'and the worst?', 'and highest?': an extreme word on its own, after a question that has one."""
    if intent == "best_worst_day":
        m = _BEST_WORST.search(rest)
        return m and ("best" if m.group("best") else "worst")
    if intent == "price_extreme":
        m = _EXTREME.search(rest) or re.search(r"\b(?P<max>high|most)\b|\b(?P<min>low|least)\b", rest)
        return m and ("max" if m.group("max") else "min")
    return None


def _before(q: Query) -> TimeRange | None:
    """'what about the day before?': the range of the same length just before the previous one."""
    if not (q.range_stated and q.start and q.end):
        return None
    length = q.end - q.start
    return TimeRange(q.start - length, q.start, "the period before")


def _as_range(q: Query) -> TimeRange | None:
    return TimeRange(q.start, q.end, q.range_label or "") if q.start and q.end else None


def parse(question: str, context: Context | None = None) -> Query:
    """Read one question; never raises on any text."""
    context = context or Context()
    now = context.now or utcnow()
    original = " ".join(str(question or "").split())[:500]
    text, corrections = normalise(original)
    if not text:
        return Query("help", original)
    if _NEGATED.search(text):
        return _unknown(original, "there is nothing to do when nothing is to be deployed", corrections)
    for pattern, problem in _OUT_OF_SCOPE:
        if pattern.search(text):
            return _unknown(original, problem, corrections)
    r, problem = _read(text, now)
    if r is None:
        return _unknown(original, problem, corrections)
    intent, strong, problem = _intent(r)
    marked = bool(_FOLLOW.search(text)) or r.clear is not None
    previous = context.previous if context.previous is not None and context.previous.understood else None
    if context.previous is not None and previous is None and (marked or (strong and intent == "deploy")):
        return _unknown(original, "your previous question was not understood, so I cannot tell what this one "
                        "changes; ask it in full", corrections)
    fields = _followup(previous, r, intent, strong, marked) if previous else None
    followup = fields is not None
    if fields is None:
        if intent is None or (marked and not strong and not (r.changes or r.constraints)):
            if marked and not problem:
                problem = (f"I could not tell how this changes your previous question ({intent_words(previous)})"
                           if previous else "a follow-up needs a previous question to change")
            return _unknown(original, problem, corrections)
        if r.clear is not None:
            return _unknown(original, "only caps given earlier in this chat can be dropped; the site's own caps "
                            "are settings", corrections)
        fields = dict(intent=intent, changes=r.changes, constraints=r.constraints, time=r.time,
                      switching_cost=r.switching_cost, subject=r.subject)
        if intent in HISTORY:
            fields.update(strategy=_strategy(r.rest) if intent == "backtest" else None,
                          price=_price_name(r.rest) if intent == "price_extreme" else None,
                          extreme=_extreme(intent, r.rest))
    return _finish(original, fields, r, context, now, followup, corrections)


def _finish(original: str, fields: dict[str, Any], r: _Read, context: Context, now: datetime, followup: bool,  # noqa: C901 - one check per field an intent needs
            corrections) -> Query:
    """Check what was read fits the intent, resolve relative changes, apply the default range."""
    intent = fields["intent"]
    time: TimeRange | None = fields.pop("time", None) if "time" in fields else r.time
    changes = fields.get("changes") or {}
    if intent not in OPTIMUM and intent != "deploy" and (changes or fields.get("constraints")):
        return _unknown(original, "a what-if price, power limit or constraint does not apply to "
                        + intent_words(Query(intent, extreme=fields.get("extreme"), price=fields.get("price"),
                                      strategy=fields.get("strategy"), subject=fields.get("subject"))), corrections)
    if intent == "deploy" and changes:
        return _unknown(original, "I only prepare deploys of the optimum at the latest real prices and the site's own "
                        "power limit, not of a what-if", corrections)
    if intent in ("pnl", "left_on_table", "best_worst_day") and _MACHINE_WORD.search(r.rest):
        return _unknown(original, "profit history is for the whole site, not per machine type", corrections)
    if time is not None and intent not in HISTORY:
        return _unknown(original, f"“{time.label}” does not apply to {intent_words(Query(intent))}, which is about now",
                        corrections)
    if fields.get("switching_cost") is not None and intent != "backtest":
        return _unknown(original, "a switching cost only applies to a backtest here", corrections)
    resolved = {}
    for name, change in changes.items():
        base = context.power_limit if name == "power_limit" else (context.prices or {}).get(name)
        done = change.resolve(base)
        label = "power limit" if name == "power_limit" else f"{PRICE_SHORT[name]} price"
        if done.value is None:
            return _unknown(original, f"there is no latest {label} to apply the change to (sync first)", corrections)
        if done.value < 0 or (name == "power_limit" and done.value <= 0):
            return _unknown(original, f"that would make the {label} {done.value:g}", corrections)
        resolved[name] = done
    for key in ("min_inference_share", "max_inference_share"):
        share = (fields.get("constraints") or {}).get(key)
        if share is not None and not 0 <= share <= 1:
            return _unknown(original, "an inference share is between 0% and 100% of power", corrections)
    if intent == "price_extreme" and not fields.get("extreme"):
        return _unknown(original, "I could not tell whether you mean the highest or the lowest price", corrections)
    stated = time is not None
    if time is None and intent in HISTORY:
        hours = DEFAULT_HOURS[intent]
        time = TimeRange(now - timedelta(hours=hours), now,
                         "the last 30 days" if hours == 720 else f"the last {hours} hours")
    fields = {k: v for k, v in fields.items() if k in Query.__dataclass_fields__}
    fields["changes"] = resolved
    return Query(question=original, start=time.start if time else None, end=time.end if time else None,
                 range_label=time.label if time else None, range_stated=stated, followup=followup,
                 latest=dict(context.prices) if context.prices else None, site_power_limit=context.power_limit,
                 corrections=tuple(corrections), confidence=1.0 - 0.1 * followup - 0.1 * bool(corrections), **fields)
