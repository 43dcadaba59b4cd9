"""Baseline Intel: two metrics and a small table."""

import pandas as pd
import streamlit as st

st.title("Intel")
left, right = st.columns(2)
left.metric("Mean energy price", "0.6500")
right.metric("Best type", "ASIC compute")
st.dataframe(pd.DataFrame({"Price": ["Energy", "Hash", "Token"], "Mean": [0.65, 2.1, 3.4]}), hide_index=True)
