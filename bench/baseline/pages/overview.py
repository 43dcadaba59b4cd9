"""Baseline Overview: three metrics and a caption."""

import streamlit as st

st.title("Overview")
st.caption("Fixed prices, no history")
for col, label, value in zip(st.columns(3), ("Energy price", "Hash price", "Token price"), (0.65, 2.1, 3.4)):
    col.metric(label, f"{value:.4f}", "+0.0100")
