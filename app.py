"""Optera: entry point. Page config and navigation; each page first calls ui.common.sidebar()."""

import streamlit as st

st.set_page_config(page_title="Optera", page_icon=":material/bolt:", layout="wide")

pages = [
    st.Page("views/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("views/optimizer.py", title="Optimizer", icon=":material/tune:"),
    st.Page("views/intel.py", title="Intel", icon=":material/insights:"),
    st.Page("views/chat.py", title="Chat", icon=":material/chat:"),
]
st.navigation(pages).run()
