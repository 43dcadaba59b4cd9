"""Scenario phrases in a question: prices and how they change, the power limit, constraints.

Each reader finds its phrases in normalised text and returns what it read with the text
those phrases are cut from (replaced by `` | ``), so whatever no reader understood is left
over: the parser reports a left-over number instead of guessing what it meant.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from ..vocabulary import INFERENCE_TYPES, MINER_TYPES
from .timerange import CUT, MONTHS, WEEKDAYS

NUM = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
PRICE_NAMES = ("energy_price", "hash_price", "token_price")

# words the readers and intents look for: a close misspelling of one ("enrgy", "yesterdy") is read as it
VOCABULARY = set("""
energy electricity power price prices cost costs hash hashprice hashrate token tokens inference pays
allocation allocations optimal optimum optimise optimize optimised optimized optimising optimizing reoptimising
reoptimizing reoptimize reoptimise optimization optimisation optimizer optimiser recommend recommendation recommended best worst highest lowest cheapest expensive cheaper
doubles double halves halve triples triple percent yesterday today tonight morning weekend
week weeks month months hours minutes profit profits profitable revenue earnings earned income money realized
realised deploy deployed deployment deploys apply backtest replay hindsight holding switching strategy status
compare comparison current currently running explain binding break even reason rationale capture captured
table missed leave leaving left optimal immersion hydro miners asics gpus status overview summary
should would suppose assuming imagine happens scenario between since until through minimum maximum least
exactly without interval every forecast tomorrow weather change changed changes increase decrease higher
lower falls drops rises doubled halved tripled peak bottom market trend prices moved moving getting
deploying making doing using earning losing lowest mining bitcoin
three right worth limit limits budget capacity third quarter fifth
""".split()) | set(MONTHS) | set(WEEKDAYS)
# ordinary words near a keyword, kept as written ("there" is not a misspelt "three")
_COMMON = set("""
there their where which while these those about could thing things think other under
two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty sixty seventy eighty ninety
hundred thousand million
""".split())
_TYPOS = {"wat": "what", "whats": "what is", "what's": "what is", "teh": "the", "hw": "how", "u": "you",
          "rn": "right now", "pls": "please", "plz": "please", "thx": "thanks", "yday": "yesterday",
          "tmrw": "tomorrow", "optimise": "optimize", "optimised": "optimized", "optimising": "optimizing"}


_SUFFIXES = ("", "e", "s", "es", "d", "ed", "ing", "ion", "ions", "ation", "ations", "er", "ers", "ly", "al")


def _inflection(word: str, known: str) -> bool:
    """'happened' next to 'happens', 'switch' next to 'switching': another form of a known word, not a typo."""
    return any(word.endswith(s) and len(word) - len(s) >= 4 and known.startswith(word[:len(word) - len(s)])
               for s in _SUFFIXES)


def normalise(question: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Lowercase, one spelling per word, common shorthand expanded; and the misspellings read
    as a known word (shown to the user so a wrong correction is visible)."""
    s = question.lower().replace("’", "'").replace("×", " x ").replace("–", "-").replace("—", "-")
    s = re.sub(r"\bw/o\b", "without", s)
    s = re.sub(r"\bw/\s*", "with ", s).replace("@", " at ")
    s = re.sub(r"\bp\s*(?:&|and|/)\s*l\b", "pnl", s)
    s = re.sub(r"\bre-(optimi[sz]\w*)", r"re\1", s)
    s = re.sub(r"\b(?:price|cost)\s+of\s+(?:the\s+)?(electricity|energy|power|tokens?|inference|hash(?:rate)?)\b",
               r"\1 price", s)
    fixed: list[tuple[str, str]] = []

    def word(m: re.Match) -> str:
        w = m[0]
        if w in _TYPOS:
            return _TYPOS[w]
        base = w[:-2] if w.endswith("'s") else w
        if len(base) < 5 or base in VOCABULARY or base in _COMMON or "'" in base:
            return base if base != w and base in VOCABULARY else w
        close = [c for c in difflib.get_close_matches(base, VOCABULARY, n=3, cutoff=0.8) if c[0] == base[0]]
        if close and not _inflection(base, close[0]):
            fixed.append((base, close[0]))
            return close[0]
        return w

    s = re.sub(r"[a-z][a-z']*", word, s)
    return " ".join(s.split()), tuple(fixed)


def number(text: str) -> float:
    return float(text.replace(",", "").replace("$", "").replace("+", ""))


def cut(text: str, m: re.Match) -> str:
    return text[:m.start()] + CUT + text[m.end():]


@dataclass(frozen=True)
class Change:
    """One scenario value as said: set to a number, scaled by a factor, or moved by an amount;
    ``value`` is the number it comes to (from the latest value for a relative change)."""

    name: str  # energy_price, hash_price, token_price or power_limit
    op: str  # "set", "scale" or "add"
    amount: float
    value: float | None = None

    def resolve(self, base: float | None) -> "Change":
        if self.op == "set":
            return Change(self.name, self.op, self.amount, self.amount)
        if base is None:
            return self
        value = base * self.amount if self.op == "scale" else base + self.amount
        return Change(self.name, self.op, self.amount, value)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "op": self.op, "amount": self.amount, "value": self.value}


# -- prices ----------------------------------------------------------------------------

_SUBJECT = (r"(?P<energy>electricity|energy|power(?=\s+(?:price|cost|rate|bill)))|(?P<hash>hash\s*price|hashprice|"
            r"hash(?!\s*rate))|(?P<token>tokens?|inference(?=\s+(?:price|pay|revenue)))")
_FILL = (r"(?:\s*(?:=|:)|\s+(?:prices?|costs?|rates?|bill|revenue|value|worth|pays?|paying|paid|is|are|was|were|be|would|"
         r"will|also|then|too|gets?|got|becomes?|"
         r"went|goes|go|moves?|moved|at|of|now)\b)*")
_UP = r"up|rises?|rose|risen|increases?|increased|climbs?|climbed|jumps?|jumped|grows?|grew|higher|more\s+expensive|" \
      r"pricier|dearer|spikes?|spiked|surges?|surged|soars?|soared"
_DOWN = r"down|falls?|fell|fallen|drops?|dropped|decreases?|decreased|declines?|declined|sinks?|sank|lower|cheaper|" \
        r"dips?|dipped|less|plunges?|plunged|crash(?:es|ed)?|tanks?|tanked|slumps?|slumped"
_FRACTIONS = {"half": 0.5, "a half": 0.5, "a third": 1 / 3, "one third": 1 / 3, "a quarter": 0.25,
              "one quarter": 0.25, "a fifth": 0.2}
_WORDS = {"double": 2.0, "doubles": 2.0, "doubled": 2.0, "twice": 2.0, "halve": 0.5, "halves": 0.5, "halved": 0.5,
          "triple": 3.0, "triples": 3.0, "tripled": 3.0, "quadruple": 4.0, "quadruples": 4.0}
_CHANGE = (r"\s*(?:(?:(?:" + _UP + "|" + _DOWN + r")\s+)?(?:from\s+\$?" + NUM + r"\s+)?to\s+\$?(?P<to>" + NUM
           + r")|x\s*(?P<x1>" + NUM + r")|(?P<x2>"
           + NUM + r")\s*x\b|(?:times|multiplied\s+by)\s+(?P<x3>" + NUM + r")|(?P<word>" + "|".join(_WORDS)
           + r")\b|(?:(?P<dir>" + _UP + "|" + _DOWN + r")\s+(?:by\s+)?)?(?:(?P<pct>[+-]?" + NUM
           + r")\s*(?:%|percent\b|pct\b)(?:\s+(?P<pdir>" + _UP + "|" + _DOWN + r"|more))?|(?P<frac>"
           + "|".join(_FRACTIONS) + r")\b|(?P<num>[+-]?\$?" + NUM + r")(?!\s*(?:%|x\b|k\b|m\b))))"
           + r"(?:\s*(?:/|per)\s*(?:w|watt|period|unit|token(?!s?\s*[\d.$=:]))\b)?")
_SUFFIX = re.compile(r"\b(?:" + _SUBJECT + r")\b" + _FILL + _CHANGE)
_PREFIX = [
    re.compile(r"\b(?P<word>double|halve|triple|quadruple|twice)\s+(?:the\s+)?(?:" + _SUBJECT + r")(?:\s+(?:prices?|costs?))?"),
    re.compile(r"(?P<pct>" + NUM + r")\s*(?:%|percent)\s+(?P<pdir>" + _UP + "|" + _DOWN + r"|more)\s+(?:" + _SUBJECT
               + r")(?:\s+(?:prices?|costs?))?"),
    re.compile(r"(?:^|\bat|\bwith|\band|,|\|)\s*\$?(?P<num>" + NUM + r")\s+(?:for\s+)?(?:" + _SUBJECT
               + r")(?:\s+(?:prices?|costs?))?\b"),
]


def _direction(word: str | None) -> int:
    if not word:
        return 0
    return -1 if re.fullmatch(_DOWN, word) else 1


def _read_change(m: re.Match) -> tuple[str, float] | None:
    """(op, amount) of one matched change; None when it has no direction ("energy 10%")."""
    g = m.groupdict()
    if g.get("to"):
        return "set", number(g["to"])
    for key in ("x1", "x2", "x3"):
        if g.get(key):
            return "scale", number(g[key])
    if g.get("word"):
        return "scale", _WORDS[g["word"]]
    sign = _direction(g.get("dir")) or _direction(g.get("pdir"))
    if g.get("pct"):
        pct = g["pct"]
        sign = -1 if pct.startswith("-") else 1 if pct.startswith("+") else sign
        return ("scale", 1 + sign * number(pct.lstrip("+-")) / 100) if sign else None
    if g.get("frac"):
        return ("scale", 1 + sign * _FRACTIONS[g["frac"]]) if sign else None
    num = g["num"]
    if num.startswith(("+", "-")):
        return "add", number(num)
    return ("add", sign * number(num)) if sign else ("set", number(num))


def _subject(m: re.Match) -> str:
    return next(f"{k}_price" for k in ("energy", "hash", "token") if m.group(k))


def read_prices(text: str) -> tuple[dict[str, Change], str, str | None]:
    """Price changes, the text without them, and a problem (a price given twice)."""
    found: dict[str, Change] = {}
    for pattern in [_SUFFIX, *_PREFIX]:
        while m := pattern.search(text):
            change = _read_change(m)
            if change is None:
                break
            name = _subject(m)
            if name in found:
                return found, text, f"the {name.split('_')[0]} price is given twice"
            found[name] = Change(name, *change)
            text = cut(text, m)
    return found, text, None


# -- power ------------------------------------------------------------------------------

_POWER_UNITS = {"w": 1.0, "watt": 1.0, "watts": 1.0, "kw": 1e3, "kilowatt": 1e3, "kilowatts": 1e3,
                "mw": 1e6, "megawatt": 1e6, "megawatts": 1e6, "gw": 1e9, "gigawatt": 1e9, "gigawatts": 1e9}
_POWER = [
    ("unit", re.compile(r"(?P<n>" + NUM + r")\s*(?P<u>" + "|".join(sorted(_POWER_UNITS, key=len, reverse=True))
                        + r")\b(?!\s*/)")),
    ("bare", re.compile(r"\b(?:power\s+)?(?:limit|budget|capacity)\s*(?:of|is|at|to|=|:)?\s*(?P<n>" + NUM
                        + r")\s*(?P<k>k|m)?\b(?!\s*(?:%|\w))")),
    ("pct", re.compile(r"(?P<n>" + NUM + r")\s*%\s*(?P<d>more|less|extra|additional|fewer)\s+(?:power|capacity)"
                       r"(?:\s+limit)?\b")),
    ("word", re.compile(r"\b(?P<w>double|twice|half|halve)\s+(?:the\s+)?(?:power|capacity)(?:\s+limit)?\b")),
]


def read_power(text: str) -> tuple[Change | None, str, str | None]:
    """The power limit as said (W, kW, MW; '20% more power'), the rest, and a problem."""
    found: list[Change] = []
    for kind, pattern in _POWER:
        while m := pattern.search(text):
            if kind == "unit":
                found.append(Change("power_limit", "set", number(m["n"]) * _POWER_UNITS[m["u"]]))
            elif kind == "bare":
                watts = number(m["n"]) * {None: 1.0, "k": 1e3, "m": 1e6}[m["k"]]
                if watts < 1000:  # "limit 1.2" names no unit: not read
                    break
                found.append(Change("power_limit", "set", watts))
            elif kind == "pct":
                sign = -1 if m["d"] in ("less", "fewer") else 1
                found.append(Change("power_limit", "scale", 1 + sign * number(m["n"]) / 100))
            else:
                found.append(Change("power_limit", "scale", 2.0 if m["w"] in ("double", "twice") else 0.5))
            text = cut(text, m)
    if len(found) > 1:
        return None, text, "more than one power limit is given"
    return (found[0] if found else None), text, None


# -- constraints --------------------------------------------------------------------------

_MACHINES = {"air": ("air_miners",), "hydro": ("hydro_miners",), "immersion": ("immersion_miners",),
             "gpu": ("gpu_compute",), "asic": ("asic_compute",), "miner": MINER_TYPES, "mining": MINER_TYPES,
             "bitcoin": MINER_TYPES, "inference": INFERENCE_TYPES, "ai": INFERENCE_TYPES}
MACHINE = (r"(?P<machine>(?:air|hydro|immersion)(?:[\s-]*(?:cooled\s+)?miners?)?|(?:gpu|asic)s?(?:\s+(?:inference|compute|"
           r"units?|machines?))?|miners|inference\s+(?:machines|units|hardware))")
_AT_LEAST = r"(?:at\s+least|min(?:imum)?|no\s+less\s+than|not\s+less\s+than|>=?)"
_AT_MOST_WORDS = r"at\s+most|max(?:imum)?|no\s+more\s+than|not\s+more\s+than|up\s+to|<=?|under|below"
_AT_MOST = "(?:" + _AT_MOST_WORDS + ")"
_SCALE = {None: 1.0, "k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "mn": 1e6}
_QTY = r"(?P<n>" + NUM + r")\s*(?P<k>k|m|mn|thousand|million)?"
_SHARE = r"(?P<n>" + NUM + r")\s*(?:%|percent)"
_INFERENCE = r"(?:of\s+(?:the\s+)?power\s+)?(?:(?:for|to|on|in)\s+)?(?:inference|ai)(?:\s+share)?"
_NONE = r"\b(?:no|without|zero|exclude|excluding|not\s+using|drop)\s+(?:any\s+|the\s+)?"
_CONSTRAINTS = [
    ("min_inference_share", _AT_LEAST + r"\s*" + _SHARE + r"\s*" + _INFERENCE),
    ("min_inference_share", r"(?:inference|ai)(?:\s+share)?\s+(?:of\s+)?" + _AT_LEAST + r"\s*" + _SHARE),
    ("min_inference_share", _AT_LEAST + r"\s+(?:inference|ai)(?:\s+share)?\s+(?:of\s+)?" + _SHARE),
    ("max_inference_share", _AT_MOST + r"\s*" + _SHARE + r"\s*" + _INFERENCE),
    ("max_inference_share", _AT_MOST + r"\s+(?:inference|ai)(?:\s+share)?\s+(?:of\s+)?" + _SHARE),
    ("max_inference_share", r"(?:inference|ai)(?:\s+share)?\s+(?:of\s+)?(?:" + _AT_MOST_WORDS + r"|capped\s+at)\s*"
     + _SHARE),
    ("min_amount", _AT_LEAST + r"\s*" + _QTY + r"\s+(?P<what>tokens?|hash\s*rate|hashrate|hash)\b"),
    ("min_amount", _AT_LEAST + r"\s+(?P<what>tokens?|hash\s*rate|hashrate)\s*(?:of|=|:)?\s*" + _QTY + r"\b"),
    ("locks", r"\b(?:exactly|keep|lock(?:ed)?(?:\s+at)?|fix(?:ed)?(?:\s+at)?)\s+(?P<n>\d+)\s+" + MACHINE),
    ("locks", r"\b(?:lock|fix)\s+(?:the\s+)?" + MACHINE + r"\s+(?:at|to)\s+(?P<n>\d+)\b"),
    ("caps", r"(?:" + _AT_MOST + r"|only|cap(?:ped)?(?:\s+at)?|limit(?:ed)?\s+to)\s*(?P<n>\d+)\s+" + MACHINE),
    ("caps", r"\bcap\s+(?:the\s+)?" + MACHINE + r"\s+(?:at|to)\s+(?P<n>\d+)\b"),
    ("caps", r"\b" + MACHINE + r"\s+(?:capped\s+at|limited\s+to|at\s+most|max(?:imum)?|<=?)\s*(?P<n>\d+)\b"),
    ("none", _NONE + MACHINE + r"(?!\s+(?:caps?|limits?|constraints?)\b)"),
    ("none", _NONE + r"(?P<machine>inference|ai|(?:bitcoin\s+)?mining)\b(?!\s+price)"),
]
_CONSTRAINTS_RE = [(kind, re.compile(p)) for kind, p in _CONSTRAINTS]


def machines(word: str) -> tuple[str, ...]:
    """The machine types a word names: 'hydro miners' -> hydro; 'miners' -> all three miner types."""
    w = word.strip()
    for key, names in _MACHINES.items():
        if w.startswith(key):
            return names
    return ()


def read_constraints(text: str) -> tuple[dict[str, Any], str]:
    """Constraints as the chat tools take them (caps, locks, shares, minimum amounts) and the rest."""
    out: dict[str, Any] = {}
    for kind, pattern in _CONSTRAINTS_RE:
        while m := pattern.search(text):
            if kind in ("min_inference_share", "max_inference_share"):
                out[kind] = number(m["n"]) / 100
            elif kind == "min_amount":
                key = "min_tokens" if m["what"].startswith("token") else "min_hashrate"
                out[key] = number(m["n"]) * _SCALE[m["k"]]
            else:
                table = "locks" if kind == "locks" else "caps"
                count = 0 if kind == "none" else int(m["n"])
                for name in machines(m["machine"]):
                    out.setdefault(table, {})[name] = count
            text = cut(text, m)
    return out, text


_SWITCHING = re.compile(r"\bswitching\s+costs?\s*(?:of|is|=|at|:)?\s*\$?(?P<n>" + NUM + r")(?:\s*(?:per|/|a|each)\s*"
                        r"(?:unit|machine)s?(?:\s+moved)?)?")


def read_switching_cost(text: str) -> tuple[float | None, str]:
    m = _SWITCHING.search(text)
    return (number(m["n"]), cut(text, m)) if m else (None, text)
