"""Bare Streamlit of Optera's shape: the floor that bench/bench_browser.py measures the app against.

Navigation over four pages with the same titles; the Optimizer page has four sliders feeding
a few metrics, a small table and one plotly chart; the other pages are simple. No Optera
code, no caching, no data: what is left is what Streamlit itself costs.
Run: .venv/bin/streamlit run bench/baseline/app.py
"""

import streamlit as st

st.set_page_config(page_title="Baseline", page_icon=":material/bolt:", layout="wide")

pages = [
    st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("pages/optimizer.py", title="Optimizer", icon=":material/tune:"),
    st.Page("pages/intel.py", title="Intel", icon=":material/insights:"),
    st.Page("pages/chat.py", title="Chat", icon=":material/chat:"),
]
with st.sidebar:
    st.markdown("**Data source**")
    st.caption("none: fixed numbers")
st.navigation(pages).run()
