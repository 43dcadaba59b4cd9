"""What the chat keeps beside an answer, and reads back when the next question comes.

The store keeps each message's tool calls as a list. Beside the calls the page keeps two
markers: the question as understood (so "and with 800 kW?" or "deploy it" finds it after
a rerun) and the deploy proposal (so its card can be drawn again). A marker has a
``marker`` key, which no recorded tool call has, so a model calling a tool named
``__proposal__`` cannot forge one; and whatever is read back is checked, because stored
history is untrusted: a malformed entry is ignored, never an exception.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..models import Allocation
from .query import INTENTS, Query

QUERY = "__query__"
PROPOSAL = "__proposal__"


def with_markers(calls: Sequence[Mapping[str, Any]], query: Query | None,
                 proposal: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The tools list to store with an answer: its calls, then the markers."""
    out = [dict(c) for c in calls]
    if query is not None:
        out.append({"name": QUERY, "marker": "query", "query": query.to_dict()})
    if proposal is not None:
        out.append({"name": PROPOSAL, "marker": "proposal", "result": dict(proposal)})
    return out


def tool_calls(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The recorded tool calls of a stored message, markers left out."""
    tools = message.get("tools")
    return [c for c in tools if isinstance(c, dict) and "marker" not in c] if isinstance(tools, list) else []


def _marker(message: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    tools = message.get("tools")
    found = [c for c in tools if isinstance(c, dict) and c.get("marker") == kind] if isinstance(tools, list) else []
    return found[-1] if found else None


def query_of(message: Mapping[str, Any]) -> Query | None:
    """The question as understood, stored with an answer; None when absent or malformed."""
    entry = _marker(message, "query")
    data = entry.get("query") if entry else None
    if not isinstance(data, dict) or data.get("intent") not in INTENTS:
        return None
    try:
        query = Query.from_dict(data)
        query.understood_text()
        query.scenario()
    except (TypeError, ValueError, KeyError, AttributeError):
        return None
    return query


def proposal_of(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """The deploy proposal stored with an answer, if well formed and it moves something."""
    entry = _marker(message, "proposal")
    result = entry.get("result") if entry else None
    if not isinstance(result, dict) or result.get("kind") != "deploy_proposal":
        return None
    try:
        target = Allocation.from_counts(result.get("target"))
        current = Allocation.from_counts(result["current"]) if result.get("current") is not None else None
    except (TypeError, ValueError, AttributeError):
        return None
    if target == (current or Allocation()):
        return None
    issues = result.get("issues")
    return {**result, "target": target.to_dict(), "current": current.to_dict() if current else None,
            "valid": result.get("valid") is True,
            "issues": [str(i) for i in issues] if isinstance(issues, list) else []}


def previous_query(history: Sequence[Mapping[str, Any]]) -> Query | None:
    """What the last answer understood, for a follow-up; None when the last answer kept none."""
    for message in reversed(history):
        if isinstance(message, Mapping) and message.get("role") == "assistant":
            return query_of(message)
    return None
