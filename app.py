"""Optera: entry point. Page config and navigation; each page first calls ui.common.sidebar()."""

import streamlit as st

st.set_page_config(page_title="Optera", page_icon=":material/bolt:", layout="wide")

pages = [
    st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("pages/optimizer.py", title="Optimizer", icon=":material/tune:"),
    st.Page("pages/intel.py", title="Intel", icon=":material/insights:"),
    st.Page("pages/chat.py", title="Chat", icon=":material/chat:"),
]
st.navigation(pages).run()
