"""Plotly figure builders: pure functions of data frames, testable without a browser.

Layout rules every figure follows: the title sits top left and the legend *below* the
plot, so at any width a wrapping legend never covers the title; no plotly template is
applied (Streamlit's theme styles the chart in the browser, and copying a template
cost ~30 ms per figure). Long series are bucketed to at most ``MAX_POINTS`` per trace
before they reach plotly, so a year of 5-minute history stays light in the browser.
"""

from __future__ import annotations

import html
import math
import textwrap

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from .vocabulary import AUTOPILOT_OUTCOMES, LABELS, MACHINE_TYPES, PRICE_COLUMNS, PRICE_LABELS, STRATEGY_LABELS

pio.templates.default = "none"
MAX_POINTS = 2000
# no plotly toolbar: its buttons are a few dozen SVG nodes per chart that every redraw lays out again;
# drag still zooms, a double click resets, and every chart's data has a CSV download beside it
CONFIG = {"displayModeBar": False}
COLORS = {
    "energy_price": "#dc2626", "hash_price": "#d97706", "token_price": "#2563eb",
    "revenue": "#0f766e", "cost": "#dc2626", "profit": "#0f172a", "optimum": "#7c3aed",
    "air_miners": "#f59e0b", "hydro_miners": "#0ea5e9", "immersion_miners": "#6366f1",
    "gpu_compute": "#10b981", "asic_compute": "#ec4899",
    "optimal": "#7c3aed", "schedule": "#7c3aed", "policy": "#0f766e", "hold": "#94a3b8", "hindsight": "#d97706",
    "fixed": "#64748b", "realized": "#0f766e",
}
DASH = {"hydro_miners": "dash", "immersion_miners": "dot"}  # hydro and immersion often tie exactly


def _style(fig: go.Figure, title: str, height: int, yaxis: str | None = None, xaxis: str | None = None,
           legend: bool = True, hover: str | None = "x unified") -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left", y=0.98, yanchor="top", font=dict(size=15)),
        height=height, margin=dict(l=10, r=10, t=44, b=10 if not legend else 30), hovermode=hover, showlegend=legend,
        legend=dict(orientation="h", yref="container", yanchor="bottom", y=0, xanchor="left", x=0),
        yaxis=dict(title=yaxis, automargin=True), xaxis=dict(title=xaxis, automargin=True))
    return fig


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
    from plotly.subplots import make_subplots

    data = downsample(prices)
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                        subplot_titles=[f"{PRICE_LABELS[c]} (per period)" for c in PRICE_COLUMNS])
    for row, col in enumerate(PRICE_COLUMNS, start=1):
        fig.add_trace(go.Scatter(x=data.index, y=data[col], name=PRICE_LABELS[col], mode="lines",
                                 line=dict(color=COLORS[col], width=1.5)), row=row, col=1)
    fig.update_annotations(x=0, xanchor="left", font=dict(size=13))
    fig.update_layout(height=520, showlegend=False, margin=dict(l=10, r=10, t=30, b=10), hovermode="x unified")
    return fig


def economics_figure(econ: pd.DataFrame, title: str, unit: str, recorded: pd.DataFrame | None = None) -> go.Figure:
    """Revenue, cost and profit per period over time (and the optimum when given).

    ``recorded`` holds what the site itself reported at each sync; drawn as markers,
    since it exists only where a sync happened.
    """
    data = downsample(econ)
    fig = go.Figure()
    if recorded is not None and len(recorded):
        rec = downsample(recorded)
        fig.add_trace(go.Scatter(x=rec.index, y=rec["profit"], name="Profit the site reported", mode="markers",
                                 marker=dict(color=COLORS["profit"], size=6, symbol="circle-open")))
    names = {"revenue": "Revenue", "cost": "Energy cost", "profit": "Profit", "optimum": "Optimal profit"}
    for col, name in names.items():
        if col in data:
            fig.add_trace(go.Scatter(x=data.index, y=data[col], name=name, mode="lines",
                                     line=dict(color=COLORS[col], width=1.5, dash="dot" if col == "optimum" else None)))
    return _style(fig, title, 380, f"{unit} per period")


def allocation_figure(rows: list[dict], value: str, title: str) -> go.Figure:
    """Bars per machine type, now against optimal; rows carry 'type', 'current_<value>', 'optimal_<value>'."""
    fig = go.Figure()
    names = [LABELS[r["type"]] for r in rows]
    for col, label, color in ((f"current_{value}", "Now", "#94a3b8"), (f"optimal_{value}", "Optimal", "#0f766e")):
        if rows and col in rows[0]:
            fig.add_trace(go.Bar(x=names, y=[r[col] for r in rows], name=label, marker_color=color))
    fig.update_layout(barmode="group")
    return _style(fig, title, 340, hover="x")


def profit_curve_figure(curve: pd.DataFrame, current_energy: float, current_profit: float | None,
                        unit: str) -> go.Figure:
    """Optimal profit against energy price, with mix changes and the current point marked."""
    fig = go.Figure()
    hover = [", ".join(f"{LABELS[n]} {int(r[n])}" for n in MACHINE_TYPES if r[n]) or "everything off"
             for _, r in curve.iterrows()]
    fig.add_trace(go.Scatter(x=curve["energy_price"], y=curve["profit"], mode="lines", name="Optimal profit",
                             line=dict(color=COLORS["optimum"], width=2), text=hover,
                             hovertemplate="energy %{x:.4f}<br>profit %{y:,.0f}<br>%{text}<extra></extra>"))
    changes = curve[curve["mix_change"]]
    if len(changes):
        fig.add_trace(go.Scatter(x=changes["energy_price"], y=changes["profit"], mode="markers",
                                 name="The optimal mix changes", marker=dict(symbol="diamond", size=9, color="#d97706"),
                                 text=[hover[i] for i in changes.index.map(curve.index.get_loc)],
                                 hovertemplate="mix changes at %{x:.4f}<br>%{text}<extra></extra>"))
    if current_profit is not None:
        fig.add_trace(go.Scatter(x=[current_energy], y=[current_profit], mode="markers", name="At these prices",
                                 marker=dict(size=13, color=COLORS["cost"], line=dict(color="white", width=2))))
    return _style(fig, "Optimal profit as the energy price moves", 340, f"{unit} per period", "energy price",
                  hover="closest")


def strategies_figure(cumulative: pd.DataFrame, title: str, unit: str) -> go.Figure:
    """Cumulative profit of the strategies (top) and how far each trails re-optimising every
    interval (bottom): strategies within a fraction of a percent draw one line on top, the
    bottom panel tells them apart. Columns are strategy keys; "optimal" is the reference."""
    from plotly.subplots import make_subplots

    data = downsample(cumulative)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1, row_heights=[0.6, 0.4],
                        subplot_titles=[f"Cumulative profit ({unit})",
                                        f"Behind re-optimising every interval ({unit})"])
    for col in data.columns:
        style = dict(color=COLORS.get(col), width=1.8, dash="dot" if col in ("optimal", "schedule") else None)
        fig.add_trace(go.Scatter(x=data.index, y=data[col], mode="lines", name=STRATEGY_LABELS.get(col, col),
                                 line=style, legendgroup=col), row=1, col=1)
        if "optimal" in data and col != "optimal":
            fig.add_trace(go.Scatter(x=data.index, y=data["optimal"] - data[col], mode="lines", line=style,
                                     name=STRATEGY_LABELS.get(col, col), legendgroup=col, showlegend=False),
                          row=2, col=1)
    fig.update_annotations(x=0, xanchor="left", font=dict(size=13))
    _style(fig, title, 520)
    fig.update_layout(margin=dict(l=10, r=10, t=60, b=30))
    return fig


def lines_figure(frame: pd.DataFrame, title: str, yaxis: str, labels: dict[str, str] | None = None) -> go.Figure:
    """One line per column (downsampled); hydro and immersion are dashed, since they often tie exactly."""
    data = downsample(frame)
    fig = go.Figure()
    for col in data.columns:
        fig.add_trace(go.Scatter(x=data.index, y=data[col], mode="lines", name=(labels or LABELS).get(col, col),
                                 line=dict(color=COLORS.get(col), width=1.8, dash=DASH.get(col))))
    return _style(fig, title, 360, yaxis)


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
    names = {i: ("nothing pays" if name == "none" else LABELS.get(name, name)) for name, i in codes.items()}
    fig = go.Figure()
    for code, name in names.items():
        part = numeric[numeric["code"] == code]
        if len(part):
            key = "none" if code == 0 else MACHINE_TYPES[code - 1]
            fig.add_trace(go.Scatter(x=part.index, y=[name] * len(part), mode="markers", name=name,
                                     marker=dict(symbol="line-ns-open", size=12, color=COLORS.get(key, "#64748b"))))
    return _style(fig, title, 260, legend=False)


def heatmap_figure(matrix: pd.DataFrame, title: str) -> go.Figure:
    names = {**PRICE_LABELS, "btc_close": "Bitcoin close"}
    labels = [names.get(c, c) for c in matrix.columns]
    fig = go.Figure(go.Heatmap(z=matrix.to_numpy(), x=labels, y=labels, zmin=-1, zmax=1, colorscale="RdBu",
                               text=np.round(matrix.to_numpy(), 2), texttemplate="%{text}"))
    return _style(fig, title, 380, hover="closest", legend=False)


def btc_figure(daily: pd.DataFrame, ma: dict[int, pd.Series] | None = None) -> go.Figure:
    data = downsample(daily[["Close"]])
    fig = go.Figure(go.Scatter(x=data.index, y=data["Close"], name="Daily close", line=dict(color="#f59e0b")))
    for days, series in (ma or {}).items():
        s = downsample(series.to_frame("v"))
        fig.add_trace(go.Scatter(x=s.index, y=s["v"], name=f"{days}-day average", line=dict(width=1, dash="dot")))
    return _style(fig, "Bitcoin price (USD)", 360, "USD")


def forecast_figure(history: pd.Series, forecast: pd.DataFrame, title: str, color: str) -> go.Figure:
    """Recent history with the forecast mean and its prediction interval."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=history.index, y=history.to_numpy(), name="History", line=dict(color=color)))
    fig.add_trace(go.Scatter(x=list(forecast.index) + list(forecast.index[::-1]),
                             y=list(forecast["upper"]) + list(forecast["lower"][::-1]), fill="toself",
                             fillcolor="rgba(124,58,237,0.15)", line=dict(width=0), name="Prediction interval",
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=forecast.index, y=forecast["mean"], name="Forecast",
                             line=dict(color=COLORS["optimum"], dash="dash")))
    return _style(fig, title, 320, "per period")


def pnl_figure(days: pd.DataFrame, deploys: pd.DataFrame, unit: str) -> go.Figure:
    """Daily realized profit against the daily optimum, with the deploys marked.

    ``days``: index = day start, columns realized_profit, optimal_profit.
    ``deploys``: index = time, columns label (what changed).
    """
    fig = go.Figure()
    fig.add_trace(go.Bar(x=days.index, y=days["realized_profit"], name="Realized profit",
                         marker_color=COLORS["realized"]))
    fig.add_trace(go.Scatter(x=days.index, y=days["optimal_profit"], name="Optimal profit", mode="lines+markers",
                             line=dict(color=COLORS["optimum"], dash="dot")))
    if len(deploys):
        top = float(np.nanmax(days[["realized_profit", "optimal_profit"]].to_numpy())) if len(days) else 0.0
        fig.add_trace(go.Scatter(x=deploys.index, y=[top] * len(deploys), mode="markers", name="Deploy",
                                 marker=dict(symbol="triangle-down", size=11, color="#d97706"),
                                 text=deploys["label"], hovertemplate="%{x}<br>%{text}<extra></extra>"))
    return _style(fig, "Realized profit per day against the optimum", 360, f"{unit} per day")


# the autopilot's timeline: one lane per kind of decision, then the deploys of the audit trail
_LANES = (("Held", ("hold",), "#94a3b8"),
          ("Held by a guardrail", ("paused", "sync_failed", "prices_stale", "storage_failed"), "#d97706"),
          ("Would deploy (dry run)", ("dry_run",), "#6366f1"),
          ("Deployed", ("ok",), "#0f766e"))
_STUCK = ("Deploy not completed", "#dc2626")  # every other outcome: refused, mismatch, not sent...


def _hover(text: object, width: int = 70) -> str:
    """Outside text for a plotly hover: escaped (plotly renders a few HTML tags) and wrapped."""
    return "<br>".join(textwrap.wrap(html.escape(str(text or "")), width)[:8])


def decisions_figure(decisions: pd.DataFrame, deploys: pd.DataFrame,
                     title: str = "Autopilot decisions beside deploys") -> go.Figure:
    """The autopilot's decisions on a timeline, one lane per kind, above the deploys of the audit trail.

    ``decisions``: index = price time; columns ``outcome`` (a key of vocabulary.AUTOPILOT_OUTCOMES) and
    ``reason``. ``deploys``: index = time; columns ``ok`` (bool), ``source`` (who, in words) and ``label``
    (what happened, in words).
    """
    decisions = decisions.reindex(columns=["outcome", "reason"])
    deploys = deploys.reindex(columns=["ok", "source", "label"])
    fig = go.Figure()
    outcome = decisions["outcome"]
    known = set()
    for lane, outcomes, color in _LANES:
        known.update(outcomes)
        part = decisions[outcome.isin(outcomes)]
        fig.add_trace(go.Scatter(x=part.index, y=[lane] * len(part), mode="markers", name=lane,
                                 marker=dict(symbol="line-ns-open", size=14, color=color, line=dict(width=2)),
                                 text=[_hover(f"{AUTOPILOT_OUTCOMES.get(o, o)}: {r}")
                                       for o, r in zip(part["outcome"], part["reason"])],
                                 hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>%{text}<extra></extra>"))
    stuck = decisions[~outcome.isin(known)]
    fig.add_trace(go.Scatter(x=stuck.index, y=[_STUCK[0]] * len(stuck), mode="markers", name=_STUCK[0],
                             marker=dict(symbol="x", size=10, color=_STUCK[1]),
                             text=[_hover(f"{AUTOPILOT_OUTCOMES.get(o, o)}: {r}")
                                   for o, r in zip(stuck["outcome"], stuck["reason"])],
                             hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>%{text}<extra></extra>"))
    fig.add_trace(go.Scatter(x=deploys.index, y=["Deploys (audit trail)"] * len(deploys), mode="markers",
                             name="Deploys (audit trail)",
                             marker=dict(symbol="triangle-down", size=11,
                                         color=["#0f766e" if ok is True else "#dc2626" for ok in deploys["ok"]]),
                             text=[_hover(f"{s}: {t}") for s, t in zip(deploys["source"], deploys["label"])],
                             hovertemplate="%{x|%Y-%m-%d %H:%M:%S} UTC<br>%{text}<extra></extra>"))
    lanes = [t.name for t in fig.data if len(t.x)] or ["Held"]  # empty lanes take no room
    fig.update_yaxes(categoryorder="array", categoryarray=lanes[::-1], type="category")
    return _style(fig, title, 110 + 32 * len(lanes), legend=False, hover="closest")  # the lanes name themselves
