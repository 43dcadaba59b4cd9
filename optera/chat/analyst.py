"""The built-in analyst: an analyst's question answered from the tools, no LLM.

The question is read by :func:`~optera.chat.parser.parse` into a ``Query``; every answer
starts with the parser's "Understood: …" line, so a misreading is visible at once, and a
question that was not understood gets that said plainly with the closest questions it can
answer, never an answer to another question. Each intent maps to tools; the words come
from :mod:`.answers`. The previous answer's ``Query`` (kept beside it in the chat history,
see :mod:`.stored`) lets a follow-up ("and with 800 kW?", "why?", "deploy it") change it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..ledger import iso
from ..vocabulary import PRICE_COLUMNS
from . import answers
from .parser import Context, Query, parse
from .tools import Toolbox

WHAT = {"status": "read the status", "prices": "read prices", "price_extreme": "read prices",
        "optimize": "find the optimum", "what_if": "run the what-if", "compare": "compare with what runs now",
        "why": "explain the optimum", "deploy": "prepare a deploy", "backtest": "run the backtest",
        "pnl": "read the ledger", "left_on_table": "read the ledger", "best_worst_day": "rank the days",
        "last_deploy": "read the last deploy"}


@dataclass
class Answer:
    """An answer's text, the tool calls behind it, a deploy proposal (only when it moves
    something) and the question as understood (kept for follow-ups)."""

    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    proposal: dict[str, Any] | None = None
    query: Query | None = None


class _Failed(Exception):
    """A tool answered with an error; the answer says so."""

    def __init__(self, intent: str, error: str):
        super().__init__(error)
        self.text = f"I could not {WHAT.get(intent, 'answer')}: {error}"


class BuiltinAnalyst:
    def __init__(self, toolbox: Toolbox):
        self.toolbox = toolbox
        self.money = toolbox.settings.money

    def context(self, previous: Query | None = None) -> Context:
        """What a question may refer to: the latest prices, the site's limit, the previous question, now."""
        latest = self.toolbox.latest_prices()
        return Context(prices={n: getattr(latest, n) for n in PRICE_COLUMNS} if latest else None,
                       power_limit=self.toolbox.power_limit(), previous=previous, now=self.toolbox.clock.now())

    def answer(self, question: str, previous: Query | None = None) -> Answer:
        """Parse, call the tools the intent needs, and say what was understood first."""
        try:
            query = parse(question, self.context(previous))
        except (TypeError, ValueError, KeyError, AttributeError):  # a stored previous question that is corrupt
            query = parse(question, self.context(None))
        calls: list[dict[str, Any]] = []
        proposal = None
        try:
            body, proposal = getattr(self, f"_{query.intent}")(query, calls)
        except _Failed as e:
            body = e.text
        return Answer(query.understood_text() + "\n\n" + body, calls, proposal, query)

    def _call(self, calls: list, q: Query, name: str, **arguments: Any) -> dict[str, Any]:
        result = self.toolbox.call(name, arguments)
        calls.append({"name": name, "arguments": arguments, "result": result})
        if "error" in result:
            raise _Failed(q.intent, result["error"])
        return result

    @staticmethod
    def _range(q: Query) -> dict[str, Any]:
        """A stated range as ISO times; the default one as hours, so the tool anchors it."""
        if q.range_stated:
            return {"start": iso(q.start), "end": iso(q.end)}
        return {"hours": q.hours} if q.hours else {}

    # -- intents --------------------------------------------------------------------------
    def _help(self, q, calls):
        return answers.HELP_TEXT, None

    def _unknown(self, q, calls):
        return "Ask *help* to see everything I can answer.", None

    def _status(self, q, calls):
        return answers.status(self._call(calls, q, "get_status"), self.money), None

    def _prices(self, q, calls):
        return answers.prices(self._call(calls, q, "get_prices", **self._range(q))), None

    def _price_extreme(self, q, calls):
        return answers.price_extreme(self._call(calls, q, "get_prices", **self._range(q)), q), None

    def _optimize(self, q, calls):
        return answers.optimum(self._call(calls, q, "optimize", **q.scenario()), self.money), None

    def _what_if(self, q, calls):
        return answers.what_if(self._call(calls, q, "what_if", **q.scenario()), self.money), None

    _compare = _what_if

    def _why(self, q, calls):
        r = self._call(calls, q, "optimize", **q.scenario())
        if r["allocation"] is None:
            return answers.why(r, {}, self.money, q.subject), None
        e = self._call(calls, q, "explain_allocation", allocation=r["allocation"], **q.prices)
        return answers.why(r, e, self.money, q.subject), None

    def _deploy(self, q, calls):
        best = self._call(calls, q, "optimize", **q.scenario())
        if best["allocation"] is None:
            return answers.optimum(best, self.money), None
        r = self._call(calls, q, "propose_deploy", allocation=best["allocation"])
        if r["kind"] != "deploy_proposal":
            return answers.no_change(r), None
        return answers.proposal(r, self.money), r

    def _backtest(self, q, calls):
        args = {**self._range(q), "strategy": q.strategy or "optimal"}
        if q.switching_cost is not None:
            args["switching_cost"] = q.switching_cost
        r = self._call(calls, q, "backtest", **args)
        held = None
        if q.strategy is None and self.toolbox.current_allocation() is not None:
            held = self._call(calls, q, "backtest", **{**args, "strategy": "hold"})
        return answers.backtest(r, self.money, held), None

    def _pnl(self, q, calls):
        return answers.pnl(self._call(calls, q, "get_pnl", **self._range(q), by="day"), self.money), None

    def _left_on_table(self, q, calls):
        return answers.left_on_table(self._call(calls, q, "left_on_table", **self._range(q)), self.money), None

    def _best_worst_day(self, q, calls):
        r = self._call(calls, q, "best_worst_day", **self._range(q))
        return answers.best_worst(r, self.money, q.extreme), None

    def _last_deploy(self, q, calls):
        return answers.last_deploy(self._call(calls, q, "last_deploy"), self.money), None
