"""The LLM chat agent (OpenAI or any Chat Completions server) over the same tools.

The model may only phrase: numbers come from tool results, and a deploy is only
ever a proposal the user confirms in the app. Every failure (bad key, rate
limit, timeout, no server, a malformed tool call) becomes a plain message in the
stream, so the chat page never shows a traceback and the history stays as it was.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator, Mapping, Sequence

import openai

from ..config import Settings
from ..redaction import redact
from .tools import TOOL_NAMES, TOOL_SPECS, Toolbox, dumps

MAX_TOOL_ROUNDS = 5
TEMPERATURE = 0.2
TIMEOUT_S = 30.0
HISTORY_TURNS = 20

SYSTEM_PROMPT = """You are Optera's analyst for a site that runs bitcoin miners and AI-inference machines \
on one power budget. Answer briefly in Markdown (no HTML). Now is {now} UTC.
Rules:
- Start every answer with one line "Understood: ..." that says what you took the question to ask and your \
assumptions: which prices (the latest, or the ones given, e.g. "energy x2 -> 3.88, hash and token at latest"), \
the power limit, the user's caps and any constraint, and the time range in UTC for a question about history. \
If the question is unclear, say what is unclear instead of guessing.
- Every number you state must come from a tool result in this conversation. Never estimate, invent or \
recompute numbers yourself; if no tool gives it, say you do not have it.
- Prices, revenue, cost and profit from get_status, optimize, what_if and explain_allocation are "per period" \
as the API gives them ({period:g}-minute periods); per-day figures come from the tools and must be labelled as \
such. Money from get_pnl, best_worst_day, left_on_table and backtest is a total over the range.
- Questions about the past (what we made, the best or worst day, money left on the table, when a price was \
highest, how a strategy would have done) are answered from get_pnl, best_worst_day, left_on_table, last_deploy, \
get_prices and backtest with start and end (ISO 8601 UTC); say the ledger's assumptions when it gives any.
- You cannot change the site. To deploy, call propose_deploy: it only prepares a proposal that the user \
must confirm in the app, and none when the site already runs the target. Never claim that anything was deployed.
- If a tool returns an error, explain it plainly and suggest what the user can do."""


_IMAGE = re.compile(r"!\[([^\]]*)\]\s*(\([^)]*\)|\[[^\]]*\])")
_LINK = re.compile(r"\[([^\]]+)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S+.*$", re.MULTILINE)
_HTML = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)([^>]*)>")
_TOOL_NAME = re.compile(r"[^A-Za-z0-9_.-]")
_DEPLOY_CLAIM = re.compile(r"\b(i|i've|i have|we|it('s| is| has been)?|has been|have been|was|were)\s+"
                           r"(now\s+)?(deployed|applied|sent|pushed|rolled out|switched)\b", re.IGNORECASE)


def safe_markdown(text: str, limit: int = 20_000) -> str:
    """A model's (or stored) answer made safe to render: keys masked, no remote images, no
    HTML, and every link shown with its address so the user sees where it goes."""
    text = redact(str(text))[:limit]
    text = _REF_DEF.sub("", text)
    text = _IMAGE.sub(lambda m: f"[image not shown: {m.group(1) or 'no description'}]", text)
    text = _LINK.sub(lambda m: f"{m.group(1)} (`{m.group(2)}`)", text)
    return _HTML.sub(lambda m: f"&lt;{m.group(1)}{m.group(2)}{m.group(3)}&gt;", text)


class LLMAgent:
    """One answer at a time; ``tool_calls`` and ``proposal`` describe the last answer."""

    def __init__(self, settings: Settings, toolbox: Toolbox, client: Any = None, *, timeout: float = TIMEOUT_S):
        self.settings = settings
        self.toolbox = toolbox
        self.model = settings.llm_model
        self._client = client
        self._timeout = timeout
        self.tool_calls: list[dict[str, Any]] = []
        self.proposal: dict[str, Any] | None = None
        self.rounds = 0
        self.error: str | None = None

    @property
    def client(self):
        if self._client is None:
            key = self.settings.openai_api_key.get() if self.settings.openai_api_key else "not-needed"
            self._client = openai.OpenAI(api_key=key, base_url=self.settings.openai_base_url,
                                         timeout=self._timeout, max_retries=1)
        return self._client

    def _secrets(self) -> list[str]:
        return self.settings.secret_values()

    def messages_for(self, history: Sequence[Mapping[str, Any]], question: str) -> list[dict[str, Any]]:
        """System prompt, the last user/assistant turns (text only), then the question."""
        prompt = SYSTEM_PROMPT.format(period=self.settings.period_minutes,
                                      now=self.toolbox.clock.now().strftime("%Y-%m-%d %H:%M"))
        messages: list[dict[str, Any]] = [{"role": "system", "content": prompt}]
        turns = [m for m in history if m.get("role") in ("user", "assistant") and m.get("content")]
        for m in turns[-HISTORY_TURNS:]:
            messages.append({"role": m["role"], "content": str(m["content"])})
        messages.append({"role": "user", "content": question})
        return messages

    def stream(self, history: Sequence[Mapping[str, Any]], question: str) -> Iterator[str]:  # noqa: C901 - the protocol loop: text, tool calls, refusals and errors interleave in one stream
        """Yield the answer as text chunks; tool calls run in between, at most MAX_TOOL_ROUNDS rounds."""
        self.tool_calls, self.proposal, self.rounds, self.error = [], None, 0, None
        messages = self.messages_for(history, question)
        while True:
            try:
                text_parts: list[str] = []
                calls: dict[int, dict[str, str]] = {}
                for chunk in self._request(messages):
                    for kind, value in chunk:
                        if kind == "text":
                            text_parts.append(value)
                            yield value
                        else:
                            index, delta = value
                            slot = calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
                            slot["id"] = delta.get("id") or slot["id"]
                            slot["name"] += delta.get("name") or ""
                            slot["arguments"] += delta.get("arguments") or ""
            except Exception as e:  # every failure becomes a message, never an exception
                self.error = self._describe(e)
                yield ("\n\n" if self.rounds or self.tool_calls else "") + self.error
                return
            if not calls:
                if not text_parts:
                    yield "The model returned an empty answer. Try asking again, or rephrase the question."
                return
            if self.rounds >= MAX_TOOL_ROUNDS:
                self.error = (f"I stopped after {MAX_TOOL_ROUNDS} rounds of tool calls without a final answer. "
                              "Try a more specific question.")
                yield "\n\n" + self.error
                return
            self.rounds += 1
            ordered = [calls[i] for i in sorted(calls)]
            for n, call in enumerate(ordered):
                call["id"] = call["id"] or f"call_{self.rounds}_{n}"
            messages.append({"role": "assistant", "content": "".join(text_parts) or None,
                             "tool_calls": [{"id": c["id"], "type": "function",
                                             "function": {"name": c["name"], "arguments": c["arguments"]}}
                                            for c in ordered]})
            for call in ordered:
                result, note = self._run_tool(call["name"], call["arguments"])
                if note:
                    yield note
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": dumps(result)})
            if text_parts:
                yield "\n\n"

    def _request(self, messages: list[dict[str, Any]]) -> Iterator[list[tuple[str, Any]]]:
        response = self.client.chat.completions.create(
            model=self.model, messages=messages, tools=TOOL_SPECS, temperature=TEMPERATURE, stream=True)
        try:
            for chunk in response:
                out: list[tuple[str, Any]] = []
                for choice in chunk.choices or []:
                    delta = choice.delta
                    if delta is None:
                        continue
                    if delta.content:
                        out.append(("text", delta.content))
                    for tc in delta.tool_calls or []:
                        fn = tc.function
                        out.append(("tool", (tc.index if tc.index is not None else 0,
                                             {"id": tc.id, "name": fn.name if fn else None,
                                              "arguments": fn.arguments if fn else None})))
                if out:
                    yield out
        finally:
            close = getattr(response, "close", None)
            if close:
                close()

    def _run_tool(self, name: str, raw_arguments: str) -> tuple[dict[str, Any], str | None]:
        """Run one tool call; a bad call is answered with an error the model can read."""
        if name not in TOOL_NAMES:
            shown = _TOOL_NAME.sub("?", name)[:40] or "?"
            result = {"error": f"unknown tool {shown!r}; available: {', '.join(TOOL_NAMES)}"}
            self.tool_calls.append({"name": shown, "arguments": raw_arguments[:2000], "result": result})
            return result, f"\n\n_(The model asked for a tool that does not exist, `{shown}`; I told it so.)_\n\n"
        try:
            arguments = json.loads(raw_arguments) if raw_arguments.strip() else {}
            if not isinstance(arguments, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            result = {"error": f"the arguments were not valid JSON ({e}); send a JSON object"}
            self.tool_calls.append({"name": name, "arguments": raw_arguments[:2000], "result": result})
            return result, (f"\n\n_(The model sent malformed arguments for `{name}` (not valid JSON); "
                            "I asked it to try again.)_\n\n")
        result = self.toolbox.call(name, arguments)
        self.tool_calls.append({"name": name, "arguments": arguments, "result": result})
        if name == "propose_deploy" and result.get("kind") == "deploy_proposal":
            self.proposal = result
        return result, None

    @staticmethod
    def claims_deploy(text: str) -> bool:
        """Whether an answer says something was deployed (the model cannot deploy; only the user can)."""
        return bool(_DEPLOY_CLAIM.search(text or ""))


    def _describe(self, e: Exception) -> str:
        where = self.settings.openai_base_url or "api.openai.com"
        if isinstance(e, openai.AuthenticationError):
            text = ("The LLM server rejected the API key (401). Check OPENAI_API_KEY (and OPENAI_BASE_URL), "
                    "or unset them to use the built-in analyst.")
        elif isinstance(e, openai.RateLimitError):
            text = ("The LLM server is rate-limiting requests or the quota is used up (429). Wait a moment and "
                    "ask again, or unset OPENAI_API_KEY to use the built-in analyst.")
        elif isinstance(e, openai.APITimeoutError):
            text = (f"The LLM server at {where} did not answer within {self._timeout:g} s. "
                    "Try again, or use a smaller/faster model.")
        elif isinstance(e, openai.APIConnectionError):
            text = (f"Could not connect to the LLM server at {where}. Is it running? "
                    "Check OPENAI_BASE_URL, or unset it to use the built-in analyst.")
        elif isinstance(e, openai.NotFoundError):
            text = (f"The LLM server does not know the model `{self.model}` or the endpoint (404). "
                    "Check OPTERA_LLM_MODEL and OPENAI_BASE_URL.")
        elif isinstance(e, openai.APIStatusError):
            detail = ""
            try:
                body = e.response.json()
                detail = str((body.get("error") or {}).get("message") or "")[:200] if isinstance(body, dict) else ""
            except (ValueError, AttributeError):  # not JSON, or an "error" that is not an object
                detail = ""
            text = f"The LLM server answered with an error ({e.status_code})" + (f": {detail}" if detail else ".")
        else:
            text = f"The LLM request failed: {type(e).__name__}: {str(e)[:200]}"
        return redact(text, self._secrets())


def no_deploy_note(text: str, proposal: Mapping[str, Any] | None) -> str:
    """What the page adds when a model's answer claims a deploy: none was sent, since only a confirmed card
    sends one; '' when the answer claims nothing."""
    if not LLMAgent.claims_deploy(text):
        return ""
    return ("*No deploy was sent: " + ("it happens only when you confirm the card below.*" if proposal else
                                        "deploys happen only when you confirm a proposal card.*"))


_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _numbers(text: str) -> set[str]:
    """Numbers in canonical form ("1,234.50" -> "1234.5"), to compare two texts."""
    out = set()
    for n in _NUMBER.findall(text):
        n = n.replace(",", "")
        if "." in n:
            n = n.rstrip("0").rstrip(".")
        out.add(n or "0")
    return out


def phrase_brief(settings: Settings, numbers: Mapping[str, Any], draft: str, client: Any = None,
                 timeout: float = TIMEOUT_S) -> str:
    """Ask the LLM to rephrase the draft brief; keep the draft if it adds a number or anything fails."""
    if not draft or (client is None and not settings.llm_configured):
        return draft
    try:
        if client is None:
            key = settings.openai_api_key.get() if settings.openai_api_key else "not-needed"
            client = openai.OpenAI(api_key=key, base_url=settings.openai_base_url, timeout=timeout, max_retries=1)
        response = client.chat.completions.create(
            model=settings.llm_model, temperature=TEMPERATURE, stream=False,
            messages=[{"role": "system", "content": "Rephrase the market brief below into fluent prose of 5-8 "
                       "sentences. Use only the numbers it contains, exactly as written; add no number, "
                       "estimate or fact. Plain Markdown, no HTML."},
                      {"role": "user", "content": f"Numbers (JSON): {dumps(numbers)}\n\nBrief:\n{draft}"}])
        text = (response.choices[0].message.content or "").strip()
    except Exception:  # the rephrasing is optional: any failure of the SDK or server keeps the checked draft
        return draft
    if not text or not _numbers(text) <= _numbers(draft):
        return draft
    return text
