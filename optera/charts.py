"""Plotly figure builders: pure functions of data frames, testable without a browser.

Long series are bucketed to at most ``MAX_POINTS`` per trace before they reach
plotly, so a year of 5-minute history stays light in the browser.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .models import LABELS, MACHINE_TYPES

MAX_POINTS = 2000
COLORS = {
    "energy_price": "#dc2626",
    "hash_price": "#d97706",
    "token_price": "#2563eb",
    "revenue": "#0f766e",
    "cost": "#dc2626",
    "profit": "#0f172a",
    "optimum": "#7c3aed",
    "air_miners": "#f59e0b",
    "hydro_miners": "#0ea5e9",
    "immersion_miners": "#6366f1",
    "gpu_compute": "#10b981",
    "asic_compute": "#ec4899",
}
PRICE_LABELS = {"energy_price": "Energy price", "hash_price": "Hash price", "token_price": "Token price"}
_LAYOUT = dict(margin=dict(l=10, r=10, t=80, b=10), hovermode="x unified", template="plotly_white",
               legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0))


def downsample(frame: pd.DataFrame, max_points: int = MAX_POINTS) -> pd.DataFrame:
    """Bucket means over consecutive rows; each bucket keeps its first timestamp."""
    n = len(frame)
    if n <= max_points:
        return frame
    k = math.ceil(n / max_points)
    groups = np.arange(n) // k
    out = frame.groupby(groups).mean(numeric_only=True)
    out.index = frame.index[::k][: len(out)]
    out.index.name = frame.index.name
    return out


def price_history_figure(prices: pd.DataFrame) -> go.Figure:
    """The three prices, one panel each (their scales differ)."""
    data = downsample(prices)
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        subplot_titles=[PRICE_LABELS[c] for c in PRICE_LABELS])
    for row, col in enumerate(PRICE_LABELS, start=1):
        fig.add_trace(go.Scatter(x=data.index, y=data[col], name=PRICE_LABELS[col], mode="lines",
                                 line=dict(color=COLORS[col], width=1.5)), row=row, col=1)
    fig.update_layout(height=520, showlegend=False, **{k: v for k, v in _LAYOUT.items() if k != "legend"})
    return fig


def economics_figure(econ: pd.DataFrame, title: str, recorded: pd.DataFrame | None = None) -> go.Figure:
    """Revenue, cost and profit per period over time (and the optimum when given).

    `recorded` holds what the site itself reported at each sync; drawn as markers,
    since it exists only where a sync happened.
    """
    data = downsample(econ)
    fig = go.Figure()
    if recorded is not None and len(recorded):
        rec = downsample(recorded)
        fig.add_trace(go.Scatter(x=rec.index, y=rec["profit"], name="Reported profit", mode="markers",
                                 marker=dict(color=COLORS["profit"], size=6, symbol="circle-open")))
    for col in ("revenue", "cost", "profit", "optimum"):
        if col in data:
            fig.add_trace(go.Scatter(x=data.index, y=data[col], name=col.capitalize() if col != "optimum"
                                     else "Optimal profit", mode="lines",
                                     line=dict(color=COLORS[col], width=1.5, dash="dot" if col == "optimum" else None)))
    fig.update_layout(title=title, height=360, yaxis_title="per period", **_LAYOUT)
    return fig


def allocation_figure(rows: list[dict], value: str, title: str) -> go.Figure:
    """Bars per machine type; rows carry 'type' plus the named value columns."""
    fig = go.Figure()
    names = [LABELS[r["type"]] for r in rows]
    for col, label, color in ((f"current_{value}", "Current", "#94a3b8"), (f"optimal_{value}", "Optimal", "#0f766e"),
                              (value, label_of(value), "#0f766e")):
        if rows and col in rows[0]:
            fig.add_trace(go.Bar(x=names, y=[r[col] for r in rows], name=label, marker_color=color))
    fig.update_layout(title=title, height=320, barmode="group", **_LAYOUT)
    return fig


def label_of(value: str) -> str:
    return value.replace("_", " ").capitalize()


def profit_curve_figure(curve: pd.DataFrame, current_energy: float, current_profit: float | None) -> go.Figure:
    """Optimal profit against energy price, with mix changes and the current point marked."""
    fig = go.Figure()
    hover = [", ".join(f"{LABELS[n]} {int(r[n])}" for n in MACHINE_TYPES if r[n]) or "everything off"
             for _, r in curve.iterrows()]
    fig.add_trace(go.Scatter(x=curve["energy_price"], y=curve["profit"], mode="lines", name="Optimal profit",
                             line=dict(color=COLORS["optimum"], width=2), text=hover,
                             hovertemplate="energy %{x:.4f}<br>profit %{y:,.2f}<br>%{text}<extra></extra>"))
    changes = curve[curve["mix_change"]]
    if len(changes):
        fig.add_trace(go.Scatter(x=changes["energy_price"], y=changes["profit"], mode="markers",
                                 name="Optimal mix changes", marker=dict(symbol="diamond", size=9, color="#d97706"),
                                 text=[hover[i] for i in changes.index.map(curve.index.get_loc)],
                                 hovertemplate="mix changes at %{x:.4f}<br>%{text}<extra></extra>"))
    if current_profit is not None:
        fig.add_trace(go.Scatter(x=[current_energy], y=[current_profit], mode="markers", name="Now",
                                 marker=dict(size=13, color=COLORS["cost"], line=dict(color="white", width=2))))
    fig.update_layout(title="Optimal profit per period vs energy price", xaxis_title="energy price",
                      yaxis_title="profit per period", height=380, **_LAYOUT)
    return fig


def cumulative_figure(series: pd.DataFrame, title: str) -> go.Figure:
    data = downsample(series[[c for c in ("cum_profit", "cum_optimum") if c in series]])
    fig = go.Figure()
    if "cum_optimum" in data:
        fig.add_trace(go.Scatter(x=data.index, y=data["cum_optimum"], name="Per-interval optimum",
                                 line=dict(color=COLORS["optimum"], dash="dot")))
    fig.add_trace(go.Scatter(x=data.index, y=data["cum_profit"], name="Strategy", line=dict(color=COLORS["profit"])))
    fig.update_layout(title=title, yaxis_title="cumulative profit", height=340, **_LAYOUT)
    return fig


def lines_figure(frame: pd.DataFrame, title: str, yaxis: str, labels: dict[str, str] | None = None) -> go.Figure:
    """One line per column (downsampled)."""
    data = downsample(frame)
    fig = go.Figure()
    for col in data.columns:
        fig.add_trace(go.Scatter(x=data.index, y=data[col], mode="lines", name=(labels or LABELS).get(col, col),
                                 line=dict(color=COLORS.get(col), width=1.5)))
    fig.update_layout(title=title, yaxis_title=yaxis, height=340, **_LAYOUT)
    return fig


def timeline_figure(best: pd.Series, title: str) -> go.Figure:
    """Which type is best in each interval, as a categorical strip (downsampled by mode)."""
    codes = {name: i for i, name in enumerate(["none", *MACHINE_TYPES])}
    numeric = best.map(codes).astype(float).to_frame("code")
    n = len(numeric)
    if n > MAX_POINTS:
        k = math.ceil(n / MAX_POINTS)
        groups = np.arange(n) // k
        mode = numeric.groupby(groups)["code"].agg(lambda s: s.mode().iloc[0])
        numeric = pd.DataFrame({"code": mode.to_numpy()}, index=numeric.index[::k][: len(mode)])
    names = {i: ("nothing pays" if name == "none" else LABELS[name]) for name, i in codes.items()}
    fig = go.Figure()
    for code, name in names.items():
        part = numeric[numeric["code"] == code]
        if len(part):
            key = "none" if code == 0 else MACHINE_TYPES[code - 1]
            fig.add_trace(go.Scatter(x=part.index, y=[name] * len(part), mode="markers", name=name,
                                     marker=dict(symbol="line-ns-open", size=12, color=COLORS.get(key, "#64748b"))))
    fig.update_layout(title=title, height=260, showlegend=False, **{k: v for k, v in _LAYOUT.items() if k != "legend"})
    return fig


def heatmap_figure(matrix: pd.DataFrame, title: str) -> go.Figure:
    fig = go.Figure(go.Heatmap(z=matrix.to_numpy(), x=list(matrix.columns), y=list(matrix.index),
                               zmin=-1, zmax=1, colorscale="RdBu", text=np.round(matrix.to_numpy(), 2),
                               texttemplate="%{text}"))
    fig.update_layout(title=title, height=360, **{k: v for k, v in _LAYOUT.items() if k != "hovermode"})
    return fig


def btc_figure(daily: pd.DataFrame, ma: dict[int, pd.Series] | None = None) -> go.Figure:
    data = downsample(daily[["Close"]])
    fig = go.Figure(go.Scatter(x=data.index, y=data["Close"], name="BTC-USD close", line=dict(color="#f59e0b")))
    for days, series in (ma or {}).items():
        s = downsample(series.to_frame("v"))
        fig.add_trace(go.Scatter(x=s.index, y=s["v"], name=f"{days}-day average", line=dict(width=1, dash="dot")))
    fig.update_layout(title="Bitcoin (USD)", yaxis_title="USD", height=360, **_LAYOUT)
    return fig


def forecast_figure(history: pd.Series, forecast: pd.DataFrame, title: str, color: str) -> go.Figure:
    """Recent history with the forecast mean and its prediction interval."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=history.index, y=history.to_numpy(), name="history", line=dict(color=color)))
    fig.add_trace(go.Scatter(x=list(forecast.index) + list(forecast.index[::-1]),
                             y=list(forecast["upper"]) + list(forecast["lower"][::-1]), fill="toself",
                             fillcolor="rgba(124,58,237,0.15)", line=dict(width=0), name="prediction interval",
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=forecast.index, y=forecast["mean"], name="forecast",
                             line=dict(color=COLORS["optimum"], dash="dash")))
    fig.update_layout(title=title, height=300, **_LAYOUT)
    return fig
