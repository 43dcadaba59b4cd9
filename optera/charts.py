"""Plotly figure builders: pure functions of data frames, testable without a browser.

Layout rules every figure follows: the title sits top left and the legend *below* the
plot, so at any width a wrapping legend never covers the title; no plotly template is
applied (Streamlit's theme styles the chart in the browser, and copying a template
cost ~30 ms per figure). Figures are built from plain dicts (:func:`_figure`). Long series
are bucketed to at most ``MAX_POINTS`` per trace before they reach plotly, so a year of
5-minute history stays light in the browser.
"""

from __future__ import annotations

import html
import math
import textwrap

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import get_colorscale

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
_RDBU = [[round(at, 6), color] for at, color in get_colorscale("RdBu")]  # plotly.js reads "RdBu" the other way round
DASH = {"hydro_miners": "dash", "immersion_miners": "dot"}  # hydro and immersion often tie exactly


def _figure(traces: list[dict], layout: dict) -> go.Figure:
    """A figure from plain dicts, not validated property by property: plotly's validation took
    40-200 ms per figure, more than the rest of a page's rerun. The property names and values are
    this module's own; each builder was checked to give the same JSON as the validated figure."""
    return go.Figure(data=traces, layout=layout, _validate=False)


def _layout(title: str, height: int, yaxis: str | None = None, xaxis: str | None = None,
            legend: bool = True, hover: str | None = "x unified", **more) -> dict:
    """The layout rules every figure follows (see the module docstring)."""
    layout = {"height": height, "margin": {"l": 10, "r": 10, "t": 44, "b": 10 if not legend else 30},
              "title": {"text": title, "x": 0, "xanchor": "left", "y": 0.98, "yanchor": "top", "font": {"size": 15}},
              "hovermode": hover, "showlegend": legend,
              "legend": {"orientation": "h", "yref": "container", "yanchor": "bottom", "y": 0, "xanchor": "left",
                         "x": 0},
              "yaxis": {"title": {"text": yaxis} if yaxis else {}, "automargin": True},
              "xaxis": {"title": {"text": xaxis} if xaxis else {}, "automargin": True}}
    return {**layout, **more}


def _stacked(layout: dict, titles: list[str], heights: list[float], spacing: float) -> dict:
    """Panels stacked on one shared time axis (what make_subplots(rows=n, shared_xaxes=True) lays out,
    built directly): axis ``x{i}``/``y{i}`` for panel i, titles as annotations above each panel."""
    n = len(titles)
    sizes = [(1 - spacing * (n - 1)) * h / sum(heights) for h in heights]
    annotations = []
    for i, title in enumerate(titles, start=1):
        bottom = sum(sizes[i:]) + spacing * (n - i)  # summed from the bottom panel up, as make_subplots does
        x, y = ("xaxis", "yaxis") if i == 1 else (f"xaxis{i}", f"yaxis{i}")
        layout[x] = {**layout.get(x, {}), "anchor": f"y{i if i > 1 else ''}", "domain": [0.0, 1.0]}
        if i < n:
            layout[x].update(matches=f"x{n}", showticklabels=False)
        layout[y] = {**layout.get(y, {}), "anchor": f"x{i if i > 1 else ''}", "domain": [bottom, bottom + sizes[i - 1]]}
        annotations.append({"font": {"size": 13}, "showarrow": False, "text": title, "x": 0, "xanchor": "left",
                            "xref": "paper", "y": bottom + sizes[i - 1], "yanchor": "bottom", "yref": "paper"})
    layout["annotations"] = annotations
    return layout


def _axes(panel: int) -> dict:
    return {"xaxis": "x" if panel == 1 else f"x{panel}", "yaxis": "y" if panel == 1 else f"y{panel}"}


def _values(series) -> np.ndarray:
    return np.asarray(series, dtype=float)


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
    traces = [{"type": "scatter", "x": data.index, "y": _values(data[col]), "name": PRICE_LABELS[col], "mode": "lines",
               "line": {"color": COLORS[col], "width": 1.5}, **_axes(panel)}
              for panel, col in enumerate(PRICE_COLUMNS, start=1)]
    layout = {"margin": {"l": 10, "r": 10, "t": 30, "b": 10}, "height": 520, "showlegend": False,
              "hovermode": "x unified"}
    return _figure(traces, _stacked(layout, [f"{PRICE_LABELS[c]} (per period)" for c in PRICE_COLUMNS],
                                    [1, 1, 1], 0.07))


def economics_figure(econ: pd.DataFrame, title: str, unit: str, recorded: pd.DataFrame | None = None) -> go.Figure:
    """Revenue, cost and profit per period over time (and the optimum when given).

    ``recorded`` holds what the site itself reported at each sync; drawn as markers,
    since it exists only where a sync happened.
    """
    data = downsample(econ)
    traces = []
    if recorded is not None and len(recorded):
        rec = downsample(recorded)
        traces.append({"type": "scatter", "x": rec.index, "y": _values(rec["profit"]),
                       "name": "Profit the site reported", "mode": "markers",
                       "marker": {"color": COLORS["profit"], "size": 6, "symbol": "circle-open"}})
    names = {"revenue": "Revenue", "cost": "Energy cost", "profit": "Profit", "optimum": "Optimal profit"}
    for col, name in names.items():
        if col in data:
            line = {"color": COLORS[col], "width": 1.5, **({"dash": "dot"} if col == "optimum" else {})}
            traces.append({"type": "scatter", "x": data.index, "y": _values(data[col]), "name": name, "mode": "lines",
                           "line": line})
    return _figure(traces, _layout(title, 380, f"{unit} per period"))


def allocation_figure(rows: list[dict], value: str, title: str) -> go.Figure:
    """Bars per machine type, now against optimal; rows carry 'type', 'current_<value>', 'optimal_<value>'."""
    names = [LABELS[r["type"]] for r in rows]
    traces = [{"type": "bar", "x": names, "y": [r[col] for r in rows], "name": label, "marker": {"color": color}}
              for col, label, color in ((f"current_{value}", "Now", "#94a3b8"),
                                        (f"optimal_{value}", "Optimal", "#0f766e"))
              if rows and col in rows[0]]
    return _figure(traces, _layout(title, 340, hover="x", barmode="group"))


def profit_curve_figure(curve: pd.DataFrame, current_energy: float, current_profit: float | None,
                        unit: str) -> go.Figure:
    """Optimal profit against energy price, with mix changes and the current point marked."""
    counts = curve[list(MACHINE_TYPES)].to_numpy()
    hover = [", ".join(f"{LABELS[n]} {int(c)}" for n, c in zip(MACHINE_TYPES, row) if c) or "everything off"
             for row in counts]
    traces = [{"type": "scatter", "x": _values(curve["energy_price"]), "y": _values(curve["profit"]), "mode": "lines",
               "name": "Optimal profit", "line": {"color": COLORS["optimum"], "width": 2}, "text": hover,
               "hovertemplate": "energy %{x:.4f}<br>profit %{y:,.0f}<br>%{text}<extra></extra>"}]
    changes = np.flatnonzero(curve["mix_change"].to_numpy())
    if len(changes):
        traces.append({"type": "scatter", "x": _values(curve["energy_price"].iloc[changes]),
                       "y": _values(curve["profit"].iloc[changes]), "mode": "markers",
                       "name": "The optimal mix changes",
                       "marker": {"symbol": "diamond", "size": 9, "color": "#d97706"},
                       "text": [hover[i] for i in changes],
                       "hovertemplate": "mix changes at %{x:.4f}<br>%{text}<extra></extra>"})
    if current_profit is not None:
        traces.append({"type": "scatter", "x": [current_energy], "y": [current_profit], "mode": "markers",
                       "name": "At these prices",
                       "marker": {"size": 13, "color": COLORS["cost"], "line": {"color": "white", "width": 2}}})
    return _figure(traces, _layout("Optimal profit as the energy price moves", 340, f"{unit} per period",
                                   "energy price", hover="closest"))


def strategies_figure(cumulative: pd.DataFrame, title: str, unit: str) -> go.Figure:
    """Cumulative profit of the strategies (top) and how far each trails re-optimising every
    interval (bottom): strategies within a fraction of a percent draw one line on top, the
    bottom panel tells them apart. Columns are strategy keys; "optimal" is the reference."""
    data = downsample(cumulative)
    traces = []
    for col in data.columns:
        style = {"color": COLORS.get(col), "width": 1.8, **({"dash": "dot"} if col in ("optimal", "schedule") else {})}
        traces.append({"type": "scatter", "x": data.index, "y": _values(data[col]), "mode": "lines",
                       "name": STRATEGY_LABELS.get(col, col), "line": style, "legendgroup": col, **_axes(1)})
        if "optimal" in data and col != "optimal":
            traces.append({"type": "scatter", "x": data.index, "y": _values(data["optimal"] - data[col]),
                           "mode": "lines", "line": style, "name": STRATEGY_LABELS.get(col, col), "legendgroup": col,
                           "showlegend": False, **_axes(2)})
    layout = _layout(title, 520)
    layout["margin"] = {"l": 10, "r": 10, "t": 60, "b": 30}
    return _figure(traces, _stacked(layout, [f"Cumulative profit ({unit})",
                                             f"Behind re-optimising every interval ({unit})"], [0.6, 0.4], 0.1))


def lines_figure(frame: pd.DataFrame, title: str, yaxis: str, labels: dict[str, str] | None = None) -> go.Figure:
    """One line per column (downsampled); hydro and immersion are dashed, since they often tie exactly."""
    data = downsample(frame)
    traces = [{"type": "scatter", "x": data.index, "y": _values(data[col]), "mode": "lines",
               "name": (labels or LABELS).get(col, col),
               "line": {"color": COLORS.get(col), "width": 1.8, **({"dash": DASH[col]} if col in DASH else {})}}
              for col in data.columns]
    return _figure(traces, _layout(title, 360, yaxis))


def timeline_figure(best: pd.Series, title: str) -> go.Figure:
    """Which type is best in each interval, as a categorical strip (downsampled by mode)."""
    codes = {name: i for i, name in enumerate(["none", *MACHINE_TYPES])}
    numeric = best.map(codes).astype(float).to_frame("code")
    n = len(numeric)
    if n > MAX_POINTS:
        k = math.ceil(n / MAX_POINTS)
        groups = np.arange(n) // k
        counts = np.zeros((groups[-1] + 1, len(codes)))
        np.add.at(counts, (groups, numeric["code"].to_numpy(dtype=int)), 1)
        mode = counts.argmax(axis=1).astype(float)  # the most frequent code, the lowest on a tie (as Series.mode)
        numeric = pd.DataFrame({"code": mode}, index=numeric.index[::k][: len(mode)])
    names = {i: ("nothing pays" if name == "none" else LABELS.get(name, name)) for name, i in codes.items()}
    traces = []
    for code, name in names.items():
        part = numeric[numeric["code"] == code]
        if len(part):
            key = "none" if code == 0 else MACHINE_TYPES[code - 1]
            traces.append({"type": "scatter", "x": part.index, "y": [name] * len(part), "mode": "markers", "name": name,
                           "marker": {"symbol": "line-ns-open", "size": 12, "color": COLORS.get(key, "#64748b")}})
    return _figure(traces, _layout(title, 260, legend=False))


def heatmap_figure(matrix: pd.DataFrame, title: str) -> go.Figure:
    names = {**PRICE_LABELS, "btc_close": "Bitcoin close"}
    labels = [names.get(c, c) for c in matrix.columns]
    z = matrix.to_numpy(dtype=float)
    return _figure([{"type": "heatmap", "z": z, "x": labels, "y": labels, "zmin": -1, "zmax": 1, "colorscale": _RDBU,
                     "text": np.round(z, 2), "texttemplate": "%{text}"}],
                   _layout(title, 380, hover="closest", legend=False))


def btc_figure(daily: pd.DataFrame, ma: dict[int, pd.Series] | None = None) -> go.Figure:
    data = downsample(daily[["Close"]])
    traces = [{"type": "scatter", "x": data.index, "y": _values(data["Close"]), "name": "Daily close",
               "line": {"color": "#f59e0b"}}]
    for days, series in (ma or {}).items():
        s = downsample(series.to_frame("v"))
        traces.append({"type": "scatter", "x": s.index, "y": _values(s["v"]), "name": f"{days}-day average",
                       "line": {"width": 1, "dash": "dot"}})
    return _figure(traces, _layout("Bitcoin price (USD)", 360, "USD"))


def forecast_figure(history: pd.Series, forecast: pd.DataFrame, title: str, color: str) -> go.Figure:
    """Recent history with the forecast mean and its prediction interval."""
    band_x = list(forecast.index) + list(forecast.index[::-1])
    band_y = list(forecast["upper"]) + list(forecast["lower"][::-1])
    return _figure([
        {"type": "scatter", "x": history.index, "y": _values(history), "name": "History", "line": {"color": color}},
        {"type": "scatter", "x": band_x, "y": band_y, "fill": "toself", "fillcolor": "rgba(124,58,237,0.15)",
         "line": {"width": 0}, "name": "Prediction interval", "hoverinfo": "skip"},
        {"type": "scatter", "x": forecast.index, "y": _values(forecast["mean"]), "name": "Forecast",
         "line": {"color": COLORS["optimum"], "dash": "dash"}},
    ], _layout(title, 320, "per period"))


def pnl_figure(days: pd.DataFrame, deploys: pd.DataFrame, unit: str) -> go.Figure:
    """Daily realized profit against the daily optimum, with the deploys marked.

    ``days``: index = day start, columns realized_profit, optimal_profit.
    ``deploys``: index = time, columns label (what changed).
    """
    day = 86_400_000  # ms: each bar spans its own day, not the midnight between two
    traces = [{"type": "bar", "x": days.index, "y": _values(days["realized_profit"]), "name": "Realized profit",
               "xperiod": day, "xperiodalignment": "middle", "marker": {"color": COLORS["realized"]}},
              {"type": "scatter", "x": days.index, "y": _values(days["optimal_profit"]), "name": "Optimal profit",
               "mode": "lines+markers", "xperiod": day, "xperiodalignment": "middle",
               "line": {"color": COLORS["optimum"], "dash": "dot"}}]
    if len(deploys):
        top = float(np.nanmax(days[["realized_profit", "optimal_profit"]].to_numpy())) if len(days) else 0.0
        traces.append({"type": "scatter", "x": deploys.index, "y": [top] * len(deploys), "mode": "markers",
                       "name": "Deploy", "marker": {"symbol": "triangle-down", "size": 11, "color": "#d97706"},
                       "text": deploys["label"], "hovertemplate": "%{x}<br>%{text}<extra></extra>"})
    return _figure(traces, _layout("Realized profit per day against the optimum", 360, f"{unit} per day"))


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
    outcome = decisions["outcome"]
    traces, known = [], set()
    for lane, outcomes, color in _LANES:
        known.update(outcomes)
        part = decisions[outcome.isin(outcomes)]
        traces.append({"type": "scatter", "x": part.index, "y": [lane] * len(part), "mode": "markers", "name": lane,
                       "marker": {"symbol": "line-ns-open", "size": 14, "color": color, "line": {"width": 2}},
                       "text": [_hover(f"{AUTOPILOT_OUTCOMES.get(o, o)}: {r}")
                                for o, r in zip(part["outcome"], part["reason"])],
                       "hovertemplate": "%{x|%Y-%m-%d %H:%M} UTC<br>%{text}<extra></extra>"})
    stuck = decisions[~outcome.isin(known)]
    traces.append({"type": "scatter", "x": stuck.index, "y": [_STUCK[0]] * len(stuck), "mode": "markers",
                   "name": _STUCK[0], "marker": {"symbol": "x", "size": 10, "color": _STUCK[1]},
                   "text": [_hover(f"{AUTOPILOT_OUTCOMES.get(o, o)}: {r}")
                            for o, r in zip(stuck["outcome"], stuck["reason"])],
                   "hovertemplate": "%{x|%Y-%m-%d %H:%M} UTC<br>%{text}<extra></extra>"})
    traces.append({"type": "scatter", "x": deploys.index, "y": ["Deploys (audit trail)"] * len(deploys),
                   "mode": "markers", "name": "Deploys (audit trail)",
                   "marker": {"symbol": "triangle-down", "size": 11,
                              "color": ["#0f766e" if ok is True else "#dc2626" for ok in deploys["ok"]]},
                   "text": [_hover(f"{s}: {t}") for s, t in zip(deploys["source"], deploys["label"])],
                   "hovertemplate": "%{x|%Y-%m-%d %H:%M:%S} UTC<br>%{text}<extra></extra>"})
    lanes = [t["name"] for t in traces if len(t["x"])] or ["Held"]  # empty lanes take no room
    layout = _layout(title, 110 + 32 * len(lanes), legend=False, hover="closest")  # the lanes name themselves
    layout["yaxis"].update(categoryorder="array", categoryarray=lanes[::-1], type="category")
    return _figure(traces, layout)
