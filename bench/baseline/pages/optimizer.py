"""Baseline Optimizer: four sliders feed three metrics, a five-row table and one plotly chart."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

# per machine type: units, kW per unit, hashes or tokens per unit and period
TYPES = {"Hydro miners": (40, 5.0, 5.0, 0.0), "Immersion miners": (20, 10.0, 10.0, 0.0),
         "Air miners": (30, 3.5, 2.0, 0.0), "GPU compute": (30, 5.0, 0.0, 3.0), "ASIC compute": (10, 15.0, 0.0, 9.0)}

st.title("Optimizer")
with st.container(border=True):
    cols = st.columns(4)
    energy = cols[0].slider("Energy price", 0.0, 3.0, 0.65, step=0.01, format="%.2f")
    hash_price = cols[1].slider("Hash price", 0.0, 9.0, 2.1, step=0.01, format="%.2f")
    token_price = cols[2].slider("Token price", 0.0, 9.0, 3.4, step=0.01, format="%.2f")
    power_kw = cols[3].slider("Power limit (kW)", 0, 2000, 1000, step=5)



def unit_profit(spec: tuple) -> float:
    _units, kw, hashes, tokens = spec
    return hashes * hash_price + tokens * token_price - kw * energy


rows, left = [], float(power_kw)
for name, spec in sorted(TYPES.items(), key=lambda item: -unit_profit(item[1]) / item[1][1]):  # by profit per kW
    units, kw = spec[0], spec[1]
    profit = unit_profit(spec)
    best = min(units, int(left // kw)) if profit > 0 else 0
    left -= best * kw
    rows.append({"Machine type": name, "Units": units, "Power (kW)": units * kw, "Profit per unit": profit,
                 "Optimal units": best, "Optimal profit": best * profit})
table = pd.DataFrame(rows)
used = power_kw - left

m1, m2, m3 = st.columns(3)
m1.metric("Optimal profit per period", f"{table['Optimal profit'].sum():,.2f}")
m2.metric("Current profit per period", f"{(table['Units'] * table['Profit per unit']).sum():,.2f}")
m3.metric("Power used", f"{used:,.0f} kW", f"of {power_kw:,} kW", delta_color="off")
st.dataframe(table, hide_index=True, width="stretch")
figure = go.Figure(go.Bar(x=table["Machine type"], y=table["Optimal profit"]))
figure.update_layout(title="Profit by type (per period)", height=320)
st.plotly_chart(figure, width="stretch")
