"""Time ranges in an analyst's words, as ``[start, end)`` in naive UTC.

Pure: "now" is passed in, so the same words always give the same range in tests.
Calendar words follow the calendar: "yesterday", "last week" (the previous Monday to
Monday), "last month" (the previous calendar month), "this week", "since Monday",
"on 21 June". "Past" or "the last" with a length is a window ending now: "the past
week", "last 3 days", "in the last 6 hours", "24h". No range reaches past now, and a
date without a year is its most recent occurrence, so a range is always history.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

MONTHS = {name: i for i, names in enumerate(
    [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
     ("july", "jul"), ("august", "aug"), ("september", "sept", "sep"), ("october", "oct"),
     ("november", "nov"), ("december", "dec")], start=1) for name in names}
WEEKDAYS = {name: i for i, names in enumerate(
    [("monday", "mon"), ("tuesday", "tue", "tues"), ("wednesday", "wed"), ("thursday", "thu", "thurs"),
     ("friday", "fri"), ("saturday", "sat"), ("sunday", "sun")]) for name in names}
WORD_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fourteen": 14, "thirty": 30}
CUT = " | "

_MONTH = "(?:" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_MONTH_WORD = "(?:" + "|".join(sorted(set(MONTHS) - {"may"}, key=len, reverse=True)) + r")\.?"  # "may" is a verb
_WEEKDAY = "(?:" + "|".join(sorted(WEEKDAYS, key=len, reverse=True)) + ")"
_ORD = r"(?:st|nd|rd|th)?"
# one calendar day, written any of the usual ways; parsed again by _day()
_DAY = (r"(?:\d{4}-\d{2}-\d{2}|\d{1,2}" + _ORD + r"\s+(?:of\s+)?" + _MONTH + r"(?:\s+\d{4})?|" + _MONTH
        + r"\s+\d{1,2}" + _ORD + r"(?:,?\s+\d{4})?|\d{1,2}/\d{1,2}(?:/\d{2,4})?|the\s+\d{1,2}" + _ORD
        + r"|(?:the\s+)?day\s+before\s+yesterday|yesterday|today|" + _WEEKDAY + ")")
_CLOCK = r"(?:\d{1,2}(?::\d{2})?\s*(?:am|pm)|\d{1,2}:\d{2}|noon|midnight)"
_NUMBER = r"(\d+(?:\.\d+)?|" + "|".join(WORD_NUMBERS) + ")"
_UNITS = {"m": 1 / 60, "min": 1 / 60, "h": 1, "hr": 1, "d": 24, "w": 168, "f": 336, "mo": 720}
_UNIT = r"(minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|wks?|w|fortnight|months?)"


@dataclass(frozen=True)
class TimeRange:
    """A half-open range of naive UTC datetimes and the words it was read from."""

    start: datetime
    end: datetime
    label: str

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600

    def describe(self) -> str:
        """'yesterday (23 Jun 00:00 – 24 Jun 00:00 UTC)': the words and the dates they became."""
        return f"{self.label} ({_stamp(self.start)} – {_stamp(self.end)} UTC)"


def _stamp(when: datetime) -> str:
    return f"{when.day} {when:%b %H:%M}"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time())


def _recent(month: int, day: int, today: date, year: int | None = None) -> date | None:
    """The date with that month and day; without a year, its most recent occurrence up to today."""
    try:
        if year is not None:
            return date(year if year > 99 else 2000 + year, month, day)
        found = date(today.year, month, day)
        return found if found <= today else date(today.year - 1, month, day)
    except ValueError:
        return None


def _day(text: str, today: date) -> date | None:
    """One day from any form _DAY matches; None when the numbers are not a real date."""
    t = " ".join(text.replace(".", "").split())
    if t.startswith("the "):
        t = t[4:]
    if t == "today":
        return today
    if t == "yesterday":
        return today - timedelta(days=1)
    if t.endswith("before yesterday"):
        return today - timedelta(days=2)
    if t in WEEKDAYS:
        return today - timedelta(days=(today.weekday() - WEEKDAYS[t]) % 7)
    if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", t):
        return _recent(int(m[2]), int(m[3]), today, int(m[1]))
    if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?", t):
        a, b = int(m[1]), int(m[2])
        day, month = (b, a) if b > 12 >= a else (a, b)  # day first unless only month-first is possible
        return _recent(month, day, today, int(m[3]) if m[3] else None)
    if m := re.fullmatch(r"(\d{1,2})" + _ORD + r"\s+(?:of\s+)?([a-z]+)(?:\s+(\d{4}))?", t):
        return _recent(MONTHS.get(m[2], 0), int(m[1]), today, int(m[3]) if m[3] else None)
    if m := re.fullmatch(r"([a-z]+)\s+(\d{1,2})" + _ORD + r"(?:,?\s+(\d{4}))?", t):
        return _recent(MONTHS.get(m[1], 0), int(m[2]), today, int(m[3]) if m[3] else None)
    if m := re.fullmatch(r"(\d{1,2})" + _ORD, t):
        found = _recent(today.month, int(m[1]), today, today.year)
        if found is None or found > today:  # "the 30th" before the 30th: last month's
            last_month = today.replace(day=1) - timedelta(days=1)
            found = _recent(last_month.month, int(m[1]), today, last_month.year)
        return found
    return None


def _clock(text: str, now: datetime) -> datetime | None:
    """Today at that time of day; yesterday when that time has not come yet today."""
    t = text.replace(" ", "")
    if t in ("noon", "midnight"):
        hour, minute = (12 if t == "noon" else 0), 0
    else:
        m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?(am|pm)?", t)
        hour, minute = int(m[1]), int(m[2] or 0)
        if m[3] == "pm" and hour < 12:
            hour += 12
        elif m[3] == "am" and hour == 12:
            hour = 0
        if hour > 23 or minute > 59:
            return None
    at = _midnight(now.date()).replace(hour=hour, minute=minute)
    return at if at <= now else at - timedelta(days=1)


def _label(text: str) -> str:
    """The words as a label: leading prepositions dropped, day and month names capitalised."""
    t = re.sub(r"^(?:in|over|for|during|within|on|of|from)\s+", "", " ".join(text.split()))
    return re.sub(r"\b(" + "|".join(list(WEEKDAYS) + list(MONTHS)) + r")\b", lambda m: m[1].capitalize(), t)


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _named(word: str, now: datetime) -> tuple[datetime, datetime] | None:
    """'this week', 'last month', 'the weekend', 'today'... as (start, end)."""
    today = now.date()
    week, month = _week_start(today), _month_start(today)
    if word in ("this week", "week to date", "wtd"):
        return _midnight(week), now
    if word in ("this month", "month to date", "mtd"):
        return _midnight(month), now
    if word in ("this year", "year to date", "ytd"):
        return _midnight(today.replace(month=1, day=1)), now
    if word in ("last week", "previous week", "the previous week"):
        return _midnight(week - timedelta(days=7)), _midnight(week)
    if word in ("last month", "previous month", "the previous month"):
        return _midnight(_month_start(month - timedelta(days=1))), _midnight(month)
    if word.endswith("weekend"):
        saturday = today - timedelta(days=(today.weekday() - 5) % 7)
        return _midnight(saturday), _midnight(saturday + timedelta(days=2))
    if word in ("this morning",):
        return _midnight(today), _midnight(today).replace(hour=12)
    return None


def _rolling(number: str | None, unit: str) -> float:
    """Hours in '6 hours', '3 days', '90 min', 'a week'."""
    n = float(WORD_NUMBERS.get(number, number)) if number else 1.0
    key = "mo" if unit.startswith("mo") else "min" if unit.startswith("min") else unit[0]
    return n * _UNITS[key]


def _clip(start: datetime, end: datetime, now: datetime) -> tuple[datetime, datetime]:
    return start, min(end, now) if start < now else end


_PATTERNS: list[tuple[str, str]] = [
    ("between", r"\b(?:between|from)\s+(?:the\s+)?(?P<x>" + _DAY + r"|\d{1,2}" + _ORD + r")\s+(?:and|to|until|till|"
                r"through|thru|-)\s+(?:the\s+)?(?P<y>" + _DAY + r")\b"),
    ("span", r"\b(?:on\s+|for\s+)?(?P<x>\d{1,2})" + _ORD + r"\s*(?:-|to)\s*(?P<y>\d{1,2}" + _ORD + r"\s+" + _MONTH
             + r")(?!\w)"),
    ("since", r"\b(?:since|from)\s+(?:the\s+)?(?P<x>start\s+of\s+(?:the\s+|this\s+)?(?:week|month)|last\s+week|"
              r"last\s+month|this\s+morning|" + _CLOCK + "|" + _DAY + r")(?:\s+(?:until|till|to)\s+now)?(?!\w)"),
    ("rolling", r"\b(?:(?:in|over|for|during|within|from)\s+)?(?P<the>the\s+|a\s+)?(?P<which>last|past|previous|prior)"
                r"\s+(?P<n>" + _NUMBER + r")?\s*(?P<u>" + _UNIT + r")\b"),
    ("ago", r"\b(?P<n>" + _NUMBER + r")\s+days?\s+ago\b"),
    ("length", r"\b(?:(?:over|for|in|during|within)\s+(?:the\s+)?)?(?P<n>\d+(?:\.\d+)?)\s*(?P<u>hours?|hrs?|h|days?|d)\b"),
    ("named", r"\b(?:(?:in|over|for|during|on)\s+)?(?P<w>this\s+week|week\s+to\s+date|wtd|this\s+month|month\s+to\s+"
              r"date|mtd|this\s+year|year\s+to\s+date|ytd|(?:the\s+)?previous\s+(?:week|month)|last\s+week|"
              r"last\s+month|(?:the\s+|this\s+|last\s+)?weekend|this\s+morning)\b"),
    ("today", r"\b(?:so\s+far\s+today|today\s+so\s+far|today)\b"),
    ("day", r"\b(?:(?:on|for|of)\s+)?(?P<x>" + _DAY + r")(?!\w)"),
    ("month", r"\b(?:(?:in|for|during|of|over)\s+(?:the\s+month\s+of\s+)?(?P<m1>" + _MONTH + r")|(?P<m2>"
              + _MONTH_WORD + r"))(?:\s+(?P<y>\d{4}))?(?!\w)"),
]
_COMPILED = [(kind, re.compile(p)) for kind, p in _PATTERNS]


def _read(kind: str, m: re.Match, now: datetime) -> tuple[datetime, datetime] | None:  # noqa: C901 - one branch per kind of time phrase; a table of functions would scatter them
    today = now.date()
    if kind == "between":
        end = _day(m["y"], today)
        x = m["x"]
        start = (_recent(end.month, int(re.sub(r"\D", "", x)), today, end.year) if end and re.fullmatch(
            r"\d{1,2}" + _ORD, x) else _day(x, today))
        if start is None or end is None or start > end:
            return None
        return _midnight(start), _midnight(end + timedelta(days=1))
    if kind == "span":
        end = _day(m["y"], today)
        start = end and _recent(end.month, int(m["x"]), today, end.year)
        if start is None or start > end:
            return None
        return _midnight(start), _midnight(end + timedelta(days=1))
    if kind == "since":
        x = " ".join(m["x"].split())
        if x.startswith("start of"):
            x = "this " + x.split()[-1]
        if x in ("last week", "last month", "this week", "this month", "this morning"):
            start = _named(x, now)[0]
        elif re.fullmatch(_CLOCK, x):
            start = _clock(x, now)
        else:
            day = _day(x, today)
            start = day and _midnight(day)
        return (start, now) if start is not None and start <= now else None
    if kind == "rolling":
        unit, bare = m["u"], not m["n"] and not m["the"] and m["which"] in ("last", "previous")
        if bare and (unit.startswith("week") or unit.startswith("month")):
            return _named("last " + ("week" if unit.startswith("week") else "month"), now)
        return now - timedelta(hours=_rolling(m["n"], unit)), now
    if kind == "length":
        return now - timedelta(hours=_rolling(m["n"], m["u"])), now
    if kind == "ago":
        day = today - timedelta(days=_rolling(m["n"], "d") / 24)
        return _midnight(day), _midnight(day + timedelta(days=1))
    if kind == "named":
        word = " ".join(m["w"].split())
        return _named("weekend" if word.endswith("weekend") else word.removeprefix("the "), now)
    if kind == "today":
        return _midnight(today), now
    if kind == "month":
        month = MONTHS[(m["m1"] or m["m2"]).rstrip(".")]
        first = _recent(month, 1, today, int(m["y"]) if m["y"] else None)
        after = first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)
        return _midnight(first), _midnight(after)
    day = _day(m["x"], today)
    return (_midnight(day), _midnight(day + timedelta(days=1))) if day else None


def _first(text: str, now: datetime) -> tuple[TimeRange | None, str, str | None]:
    for kind, pattern in _COMPILED:
        m = pattern.search(text)
        if not m:
            continue
        read = _read(kind, m, now)
        if read is None:
            return None, text, f"“{m[0].strip()}” is not a range of past dates I can read"
        start, end = _clip(*read, now)
        return TimeRange(start, end, _label(m[0])), text[:m.start()] + CUT + text[m.end():], None
    return None, text, None


def find_range(text: str, now: datetime) -> tuple[TimeRange | None, str, str | None]:
    """The time range in ``text`` (lowercase), the text with its words cut out, and a problem
    when the words name no real date or more than one range (answered one at a time)."""
    found, rest, problem = _first(text, now)
    if found is None or problem:
        return found, rest, problem
    second, _, _ = _first(rest, now)
    if second is not None:
        return None, text, f"two time ranges (“{found.label}” and “{second.label}”); ask about one at a time"
    return found, rest, None
