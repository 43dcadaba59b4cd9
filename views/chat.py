"""Chat: questions in plain language, answered from the site's own numbers."""

import streamlit as st

from optera.chat.analyst import BuiltinAnalyst
from optera.chat.llm import LLMAgent, safe_markdown
from optera.chat.tools import Toolbox
from optera.models import Allocation
from optera.redaction import plain
from ui import deploy as deploy_ui
from ui.common import caps_notice, sidebar

PROPOSAL = "__proposal__"

svc = sidebar()
st.title("Chat")
toolbox = Toolbox(svc)

if svc.settings.llm_configured:
    st.caption(f"Answers by the LLM `{plain(svc.settings.llm_model, 80)}`"
               f"{' at ' + plain(svc.settings.openai_base_url, 120) if svc.settings.openai_base_url else ''}, "
               "with tools over Optera's own numbers.")
else:
    st.caption("Answers by the built-in analyst (no LLM configured). Set OPENAI_API_KEY, or OPENAI_BASE_URL and "
               "OPTERA_LLM_MODEL for a local server, to use an LLM.")
caps_notice(svc, "the answers")
deploy_ui.show_message()


def show_tools(calls: list[dict]) -> None:
    if not calls:
        return
    with st.expander(f"Tools used ({len(calls)})"):
        for call in calls:
            st.markdown(f"**{plain(call.get('name', '?'), 80)}**")
            st.json({"arguments": call.get("arguments", {}), "result": call.get("result")}, expanded=False)


def proposal_of(message: dict) -> dict | None:
    """The deploy proposal stored with a message, if it is well formed (stored history is untrusted)."""
    for call in message.get("tools") or []:
        result = call.get("result") if call.get("name") == PROPOSAL else None
        if isinstance(result, dict) and isinstance(result.get("target"), dict):
            try:
                Allocation.from_counts(result["target"])
            except ValueError:
                return None
            return result
    return None


def show_proposal(proposal: dict, key: str) -> None:
    target = Allocation.from_counts(proposal["target"])
    current = Allocation.from_counts(proposal.get("current") or {})
    with st.container(border=True):
        st.markdown("**Deploy proposal**: nothing is sent until you confirm.")
        st.dataframe(deploy_ui.diff_frame(svc, current, target), hide_index=True, width="stretch")
        if not proposal.get("valid", True):
            st.warning("Cannot be deployed: " + plain("; ".join(map(str, proposal.get("issues", []))), 500))
            return
        if st.button("Review and deploy…", key=key, type="primary", icon=":material/rocket_launch:"):
            latest = svc.latest_prices()
            deploy_ui.confirm(svc, target, action="deploy", source="chat", prices=latest, what="the latest prices")


history = svc.chat_history()
top = st.columns([4, 1])
if top[1].button("Clear history", icon=":material/delete:", disabled=not history):
    svc.clear_chat()
    st.rerun()
if not history:
    st.markdown("Try: *status* · *what are prices doing?* · *best allocation* · *what if energy doubles?* · "
                "*how much did we make yesterday?* · *how much did we leave on the table last week?* · "
                "*backtest the last 24 hours* · *why this allocation?* · *deploy it*")

for i, message in enumerate(history):
    role = message["role"] if message.get("role") in ("user", "assistant") else "assistant"
    with st.chat_message(role):
        st.markdown(safe_markdown(message.get("content") or ""))
        show_tools([c for c in message.get("tools") or [] if isinstance(c, dict) and c.get("name") != PROPOSAL])
        proposal = proposal_of(message)
        if proposal and i == len(history) - 1:
            show_proposal(proposal, key=f"proposal_{message['id']}")

question = st.chat_input("Ask about prices, profit, the best allocation, a what-if, a backtest…")
if question:
    svc.add_chat("user", question)
    with st.chat_message("user"):
        st.markdown(plain(question, 2000))
    with st.chat_message("assistant"):
        if svc.settings.llm_configured:
            agent = LLMAgent(svc.settings, toolbox)
            text = st.write_stream(agent.stream(history, question))
            text = text if isinstance(text, str) else "".join(map(str, text))
            calls, proposal = list(agent.tool_calls), agent.proposal
            if agent.claims_deploy(text) and proposal is None:
                text += "\n\n*No deploy was sent: deploys happen only when you confirm a proposal card.*"
        else:
            answer = BuiltinAnalyst(toolbox).answer(question)
            st.markdown(answer.text)
            text, calls, proposal = answer.text, answer.tool_calls, answer.proposal
        show_tools(calls)
    stored = list(calls) + ([{"name": PROPOSAL, "arguments": {}, "result": proposal}] if proposal else [])
    svc.add_chat("assistant", text, stored)
    st.rerun()
