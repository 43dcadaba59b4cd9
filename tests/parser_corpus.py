"""The chat question corpus: loading, the context each question is asked in, and grading.

A question is graded "right" when the parse has the expected intent and every parameter the
line names, and no scenario parameter it does not name (a price, power limit or constraint
the question never gave is a misreading, as is a stated time range that was not asked for).
A miss that says "unknown" is "honest"; anything else is "wrong" (confidently wrong).
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

from optera.chat.parser import Context, Query, parse

DATA = Path(__file__).parent / "data"
DEV = DATA / "chat_questions_dev.jsonl"
HELDOUT = DATA / "chat_questions_heldout.jsonl"
# the context every corpus question is asked in unless its line overrides it
LATEST = {"energy_price": 1.94, "hash_price": 2.75, "token_price": 2.02}
POWER_LIMIT = 1_000_000.0
NOW = datetime(2025, 6, 24, 15, 30)  # a Tuesday


def load(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), f"duplicate ids in {path.name}"
    return rows


def parse_row(row: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> Query:
    """Parse a corpus question in its context: a follow-up's previous question is parsed first."""
    ctx = row.get("context") or {}
    previous = parse_row(by_id[ctx["previous"]], by_id) if ctx.get("previous") else None
    return parse(row["question"], Context(prices=ctx.get("prices", LATEST),
                                          power_limit=ctx.get("power_limit", POWER_LIMIT),
                                          previous=previous,
                                          now=datetime.fromisoformat(ctx["now"]) if ctx.get("now") else NOW))


def _close(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def mismatches(query: Query, expect: dict[str, Any]) -> list[str]:
    """What differs between a parse and the expectation; empty when right."""
    out = []
    if query.intent != expect["intent"]:
        return [f"intent {query.intent} != {expect['intent']}"]
    if expect["intent"] == "unknown":
        return []
    want_prices = expect.get("prices", {})
    got_prices = query.prices
    if set(got_prices) != set(want_prices) or not all(_close(got_prices[k], v) for k, v in want_prices.items()):
        out.append(f"prices {got_prices} != {want_prices}")
    if not (query.power_limit is None and expect.get("power_limit") is None
            or _close(query.power_limit, expect.get("power_limit"))):
        out.append(f"power_limit {query.power_limit} != {expect.get('power_limit')}")
    if _normal(query.constraints) != _normal(expect.get("constraints", {})):
        out.append(f"constraints {dict(query.constraints)} != {expect.get('constraints', {})}")
    if "start" in expect:
        got = (query.start and query.start.isoformat(), query.end and query.end.isoformat())
        if not query.range_stated or got != (expect["start"], expect["end"]):
            out.append(f"range {got} != {(expect['start'], expect['end'])}")
    elif query.range_stated:
        out.append(f"range {query.range_label!r} was not asked for")
    for key in ("strategy", "price", "extreme", "switching_cost"):
        if expect.get(key) != getattr(query, key) and not (
                key == "switching_cost" and _close(expect.get(key), query.switching_cost)):
            out.append(f"{key} {getattr(query, key)!r} != {expect.get(key)!r}")
    return out


def _normal(constraints: dict[str, Any]) -> dict[str, Any]:
    return {k: ({m: int(c) for m, c in v.items()} if isinstance(v, dict) else round(float(v), 9))
            for k, v in dict(constraints).items()}


def grade(rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], Query, str, list[str]]]:
    """Each row with its parse and 'right', 'honest' (a miss said unknown) or 'wrong'."""
    by_id = {r["id"]: r for r in rows}
    out = []
    for row in rows:
        query = parse_row(row, by_id)
        diff = mismatches(query, row["expect"])
        out.append((row, query, "right" if not diff else "honest" if not query.understood else "wrong", diff))
    return out
