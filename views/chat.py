"""Chat: questions in plain language, answered from the site's own numbers."""

import pandas as pd
import streamlit as st

from optera.chat.analyst import BuiltinAnalyst
from optera.deploy import deploy, diff
from optera.chat.llm import LLMAgent
from optera.models import LABELS, Allocation
from optera.chat.tools import Toolbox
from ui.common import get_service, sidebar

sidebar()
st.title("Chat")
svc = get_service()
toolbox = Toolbox(svc)

if svc.settings.llm_configured:
    st.caption(f"Answers by the LLM `{svc.settings.llm_model}`"
               f"{' at ' + svc.settings.openai_base_url if svc.settings.openai_base_url else ''}, "
               "with tools over Optera's own numbers.")
else:
    st.caption("Answers by the built-in analyst (no LLM configured). Set OPENAI_API_KEY, or OPENAI_BASE_URL and "
               "OPTERA_LLM_MODEL for a local server, to use an LLM.")

if "chat_notice" in st.session_state:
    ok, text = st.session_state.pop("chat_notice")
    (st.success if ok else st.error)(text)


def show_tools(calls: list[dict]) -> None:
    if not calls:
        return
    with st.expander(f"Tools used ({len(calls)})"):
        for call in calls:
            st.markdown(f"**{call.get('name', '?')}**")
            st.json({"arguments": call.get("arguments", {}), "result": call.get("result")}, expanded=False)


@st.dialog("Confirm deploy", width="large")
def confirm_proposal(proposal: dict) -> None:
    st.markdown(f"Send this allocation to **{svc.settings.source_label}**?")
    st.dataframe(_diff_frame(proposal), hide_index=True, width="stretch",
                 column_config={"Power change (W)": st.column_config.NumberColumn(format="localized")})
    _summary(proposal)
    left, right = st.columns([1, 5])
    if left.button("Deploy", type="primary", key="chat_confirm_deploy"):
        deploy_proposal(proposal)
        st.rerun()
    if right.button("Cancel", key="chat_cancel_deploy"):
        st.rerun()


def _summary(proposal: dict) -> None:
    parts = []
    if proposal.get("power") is not None and proposal.get("power_limit") is not None:
        parts.append(f"Power after deploy: **{proposal['power']:,.0f} W** of {proposal['power_limit']:,.0f} W.")
    if proposal.get("profit") is not None and proposal.get("current_profit") is not None:
        parts.append(f"Profit at the latest prices: {proposal['current_profit']:,.2f} → "
                     f"**{proposal['profit']:,.2f}** per period.")
    if parts:
        st.markdown(" ".join(parts))


def deploy_proposal(proposal: dict) -> None:
    current = proposal.get("current")
    result = deploy(svc.client, svc.store, Allocation.from_counts(proposal["target"]),
                    power_limit=svc.power_limit(), caps=svc.caps() or None, source="chat",
                    inventory=svc.inventory(),
                    expected_current=Allocation.from_counts(current) if current else None)
    st.session_state["chat_notice"] = (result.ok, result.message)
    svc.store.add_chat("assistant", result.message)


def _diff_frame(proposal: dict) -> pd.DataFrame:
    current = Allocation.from_counts(proposal.get("current") or {})
    rows = diff(current, Allocation.from_counts(proposal["target"]), svc.inventory())
    return pd.DataFrame([{"Machine type": LABELS[r["type"]], "Current": r["current"], "Proposed": r["target"],
                          "Change": r["change"], "Power change (W)": r["power_change"]} for r in rows])


def show_proposal(proposal: dict, key: str) -> None:
    with st.container(border=True):
        st.markdown("**Deploy proposal** — nothing is sent until you confirm.")
        st.dataframe(_diff_frame(proposal), hide_index=True, width="stretch",
                     column_config={"Power change (W)": st.column_config.NumberColumn(format="localized")})
        _summary(proposal)
        if proposal.get("valid", True):
            if st.button("Review and deploy…", key=key, type="primary", icon=":material/rocket_launch:"):
                confirm_proposal(proposal)
        else:
            st.warning("Cannot be deployed: " + "; ".join(proposal.get("issues", [])))


history = svc.store.chat_history()
top = st.columns([4, 1])
if top[1].button("Clear history", icon=":material/delete:", disabled=not history):
    svc.store.clear_chat()
    st.rerun()
if not history:
    st.markdown("Try: *status* · *what are prices doing?* · *best allocation* · *what if energy is 2.1 with 800 kW* · "
                "*compare with current* · *backtest the last 24 hours* · *why this allocation?* · *deploy it*")

for i, message in enumerate(history):
    with st.chat_message(message["role"]):
        st.markdown(message["content"])
        calls = [c for c in message["tools"] if c.get("name") != "__proposal__"]
        show_tools(calls)
        proposals = [c["result"] for c in message["tools"] if c.get("name") == "__proposal__"]
        if proposals and i == len(history) - 1:
            show_proposal(proposals[0], key=f"proposal_{message['id']}")

question = st.chat_input("Ask about prices, the best allocation, a what-if, a backtest…")
if question:
    svc.store.add_chat("user", question)
    with st.chat_message("user"):
        st.markdown(question)
    with st.chat_message("assistant"):
        if svc.settings.llm_configured:
            agent = LLMAgent(svc.settings, toolbox)
            text = st.write_stream(agent.stream(history, question))
            text = text if isinstance(text, str) else "".join(map(str, text))
            calls = list(agent.tool_calls)
            proposal = agent.proposal
        else:
            answer = BuiltinAnalyst(toolbox).answer(question)
            st.markdown(answer.text)
            text, calls, proposal = answer.text, answer.tool_calls, answer.proposal
        show_tools(calls)
    stored = list(calls) + ([{"name": "__proposal__", "arguments": {}, "result": proposal}] if proposal else [])
    svc.store.add_chat("assistant", text, stored)
    st.rerun()
