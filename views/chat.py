"""Chat: questions in plain language, answered from the site's own numbers."""

import streamlit as st

from optera.chat import stored
from optera.chat.analyst import BuiltinAnalyst
from optera.chat.llm import LLMAgent, no_deploy_note, safe_markdown
from optera.chat.tools import Toolbox
from optera.models import Allocation
from optera.redaction import plain
from optera.units import machines
from ui import deploy as deploy_ui
from ui.common import caps_notice, sidebar

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


def show_proposal(proposal: dict, key: str) -> None:
    """The card of the last answer's proposal; none once the site runs its target."""
    target = Allocation.from_counts(proposal["target"])
    if svc.status() is not None and svc.current_allocation() == target:
        st.info(f"The site already runs this allocation ({machines(target)}): there is nothing to deploy.")
        return
    current = Allocation.from_counts(proposal.get("current") or {})
    with st.container(border=True):
        st.markdown("**Deploy proposal**: nothing is sent until you confirm.")
        st.dataframe(deploy_ui.diff_frame(svc, current, target), hide_index=True, width="stretch")
        if not proposal["valid"]:
            st.warning("Cannot be deployed: " + plain("; ".join(proposal["issues"]), 500))
            return
        if st.button("Review and deploy…", key=key, type="primary", icon=":material/rocket_launch:"):
            deploy_ui.confirm(svc, target, action="deploy", source="chat", prices=svc.latest_prices(),
                              what="the latest prices")


history = svc.chat_history()
if st.button("Clear history", icon=":material/delete:", disabled=not history):
    svc.clear_chat()
    st.rerun()
if not history:
    st.markdown("Try: *how are we doing?* · *what if energy price doubles?* · *how much did we make yesterday?* · "
                "*how much did we leave on the table last week?* · *what should we run with 800 kW?* · "
                "*when was energy cheapest yesterday?* · *why this allocation?* · *deploy it* · *help*")

for i, message in enumerate(history):
    role = message.get("role") if message.get("role") in ("user", "assistant") else "assistant"
    with st.chat_message(role):
        st.markdown(safe_markdown(message.get("content") or ""))
        show_tools(stored.tool_calls(message))
        proposal = stored.proposal_of(message)
        if proposal and i == len(history) - 1:
            show_proposal(proposal, key=f"proposal_{message.get('id', i)}")

question = st.chat_input("Ask about profit, prices, the best allocation, a what-if, a backtest…")
if question:
    previous = stored.previous_query(history)
    svc.add_chat("user", question)
    with st.chat_message("user"):
        st.markdown(plain(question, 2000))
    with st.chat_message("assistant"):
        query = None
        if svc.settings.llm_configured:
            agent = LLMAgent(svc.settings, toolbox)
            shown, text = st.empty(), ""
            for chunk in agent.stream(history, question):
                text += chunk
                shown.markdown(safe_markdown(text))
            calls, proposal = list(agent.tool_calls), agent.proposal
            note = no_deploy_note(text, proposal)
            if note:
                text += "\n\n" + note
                st.markdown(note)
        else:
            answer = BuiltinAnalyst(toolbox).answer(question, previous)
            st.markdown(safe_markdown(answer.text))
            text, calls, proposal, query = answer.text, answer.tool_calls, answer.proposal, answer.query
        show_tools(calls)
    svc.add_chat("assistant", text, stored.with_markers(calls, query, proposal))
    st.rerun()
