"""Optera: entry point. Page config and navigation over views/; no business logic.

The pages live in views/, not pages/: a pages/ folder beside app.py puts Streamlit 1.67 into
its legacy multipage mode on a fresh server's first run, which breaks deep links. Each page
draws the shared sidebar itself (ui.common.sidebar()): AppTest does not deliver clicks to
widgets drawn here, in the navigation's entry file, so a sidebar drawn once here could not be
tested. After each run, objects from new imports are frozen out of the garbage collector's
walks (ui.common.settle_heap).
"""

import streamlit as st

from ui.common import settle_heap

st.set_page_config(page_title="Optera", page_icon=":material/bolt:", layout="wide")

pages = [
    st.Page("views/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("views/optimizer.py", title="Optimizer", icon=":material/tune:"),
    st.Page("views/intel.py", title="Intel", icon=":material/insights:"),
    st.Page("views/chat.py", title="Chat", icon=":material/chat:"),
]
try:
    st.navigation(pages).run()
finally:
    settle_heap()
