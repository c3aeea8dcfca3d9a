"""The report's charts: plotly figures from a backtest's tables or a sweep's table.

Contract: each function takes what :mod:`pegbot.backtest.results` saved (or a sweep's table)
and returns a :class:`plotly.graph_objects.Figure`, or None when there is nothing to draw, so
the page (:mod:`pegbot.backtest.report`) shows only charts with data. No HTML here.

Why it is shaped so:

* Time axes are real times: tape nanoseconds become UTC datetimes (naive, since plotly has no
  time zones; every time axis is titled "UTC"), never hours from an unlabelled start.
* A day of book updates is millions of rows; a browser draws a few thousand points per line
  well. :func:`thin` keeps each time bucket's lowest and highest point, so a spike in the mid
  or the PnL survives the thinning where every n-th row would drop it.
* Long series get a range slider; markers for fills are capped (every n-th, said in the
  legend) for the same reason as the lines. SVG traces only: WebGL needs a GPU the desk's
  laptops or a headless browser may not have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from pegbot.backtest.results import MARKOUTS_S

#: Points per line after :func:`thin` (two per bucket).
MAX_POINTS = 4000
#: Fill markers drawn at most (every n-th beyond that).
MAX_FILL_MARKERS = 3000
#: Cells per heatmap axis: more distinct values of a swept parameter are binned.
HEAT_CELLS = 8

BID, ASK, MID, FAIR, OURS = "#1f77b4", "#d62728", "#555555", "#2ca02c", "#9467bd"
_LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "height": 400,
    "margin": {"l": 70, "r": 20, "t": 80, "b": 40},
    "hovermode": "x unified",
    "title": {"y": 0.97, "yanchor": "top"},
    "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0},
}


def utc(ts_ns: Any) -> pd.DatetimeIndex:
    """Nanoseconds since the epoch as naive UTC datetimes (what plotly draws as given)."""
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(ts_ns, dtype="int64"), unit="ns"))


def thin(
    ts_ns: Any, y: Any, max_points: int = MAX_POINTS, *, keep_gaps: bool = False
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """At most about ``max_points`` of a time series: each bucket's lowest and highest point.

    Buckets are equal spans of time and the points keep their order, so a step line drawn
    through them is the envelope of the original. Non-finite values are dropped, unless
    ``keep_gaps``: then each bucket also keeps its first NaN, so a line still breaks where
    the series had no value (a side with no order).
    """
    t = np.asarray(ts_ns, dtype="int64")
    v = np.asarray(y, dtype="float64")
    finite = np.isfinite(v)
    if not keep_gaps:
        t, v, finite = t[finite], v[finite], finite[finite]
    if len(t) <= max_points:
        return t, v
    buckets = max(1, max_points // 2)
    span = max(1, int(t[-1]) - int(t[0]))
    b = ((t - t[0]).astype("float64") * (buckets / span)).astype("int64").clip(0, buckets - 1)
    rows = np.flatnonzero(finite)
    by_bucket = pd.Series(v[rows], index=rows).groupby(b[rows])
    keep = [by_bucket.idxmin().to_numpy(), by_bucket.idxmax().to_numpy()]
    if keep_gaps:
        gaps = np.flatnonzero(~finite)
        keep.append(pd.Series(gaps).groupby(b[gaps]).first().to_numpy())
    idx = np.unique(np.concatenate(keep).astype("int64"))
    return t[idx], v[idx]


def _line(
    name: str, ts_ns: Any, y: Any, color: str, *, step: bool, dash: str | None = None
) -> go.Scatter:
    t, v = thin(ts_ns, y)
    return go.Scatter(
        x=utc(t),
        y=v,
        name=name,
        mode="lines",
        line={"color": color, "width": 1.3, "shape": "hv" if step else "linear", "dash": dash},
    )


def _time_figure(title: str, yaxis: str, traces: Sequence[go.Scatter]) -> go.Figure:
    fig = go.Figure(list(traces))
    fig.update_layout(**_LAYOUT)
    fig.update_layout(title_text=title, yaxis_title=yaxis)
    fig.update_xaxes(
        title="time (UTC)", type="date", rangeslider={"visible": True, "thickness": 0.08}
    )
    return fig


def tick_size(t: Mapping[str, pd.DataFrame]) -> float | None:
    """The price of one tick, read back from the tables (fills, else the book's mid)."""
    fills = t.get("fills")
    if fills is not None and len(fills) and (fills["price_ticks"] != 0).any():
        f = fills[fills["price_ticks"] != 0].iloc[0]
        return float(f["price"]) / float(f["price_ticks"])
    bbo = t.get("bbo")
    if bbo is not None and len(bbo):
        ok = bbo["mid"].notna()
        if ok.any():
            row = bbo[ok].iloc[0]
            return float(row["mid"]) / ((float(row["best_bid"]) + float(row["best_ask"])) / 2)
    return None


def price_figure(t: Mapping[str, pd.DataFrame], summary: Mapping[str, Any]) -> go.Figure | None:
    """Market mid, fair, our best bid and ask over time, and our fills as markers."""
    bbo, quotes, eq, fills = t.get("bbo"), t.get("quotes"), t.get("equity"), t.get("fills")
    traces: list[go.Scatter] = []
    if bbo is not None and len(bbo):
        traces.append(_line("market mid", bbo["ts_ns"], bbo["mid"], MID, step=True))
    if eq is not None and len(eq) and summary.get("mark") in ("fixed fair", "series fair"):
        traces.append(_line("fair", eq["ts_ns"], eq["mark"], FAIR, step=True, dash="dash"))
    tick = tick_size(t)
    if quotes is not None and len(quotes) and tick is not None:
        for col, name, color in (
            ("own_bid", "our best bid", BID),
            ("own_ask", "our best ask", ASK),
        ):
            # 0 ticks: no order on that side; a gap in the line, not a drop to zero.
            price = quotes[col].where(quotes[col] > 0) * tick
            t_ns, v = thin(quotes["ts_ns"], price, keep_gaps=True)
            traces.append(
                go.Scatter(
                    x=utc(t_ns),
                    y=v,
                    name=name,
                    mode="lines",
                    connectgaps=False,
                    line={"color": color, "width": 1, "shape": "hv"},
                    opacity=0.8,
                )
            )
    if fills is not None and len(fills):
        traces += _fill_markers(fills)
    if not traces:
        return None
    return _time_figure("Price: market mid, fair, our best quotes and fills", "price", traces)


def _fill_markers(fills: pd.DataFrame) -> list[go.Scatter]:
    step = max(1, -(-len(fills) // MAX_FILL_MARKERS))
    shown = fills.iloc[::step]
    out = []
    for sign, name, symbol, color in (
        (1, "our buys", "triangle-up", BID),
        (-1, "our sells", "triangle-down", ASK),
    ):
        f = shown[np.sign(shown["side"]) == sign]
        if not len(f):
            continue
        liquidity = np.where(f["maker"].astype(bool), "maker", "taker")
        out.append(
            go.Scatter(
                x=utc(f["ts_ns"]),
                y=f["price"],
                name=name if step == 1 else f"{name} (every {step}th)",
                mode="markers",
                marker={
                    "symbol": symbol,
                    "size": 7,
                    "color": color,
                    "opacity": 0.6,
                    "line": {"width": 0.5, "color": "white"},
                },
                customdata=np.column_stack([f["qty"], liquidity]),
                hovertemplate="%{y} × %{customdata[0]} (%{customdata[1]})",
            )
        )
    return out


def inventory_figure(t: Mapping[str, pd.DataFrame]) -> go.Figure | None:
    """Inventory (base, from target) over time."""
    eq = t.get("equity")
    if eq is None or not len(eq):
        return None
    line = _line("inventory", eq["ts_ns"], eq["inventory"], OURS, step=True)
    return _time_figure("Inventory (base, from target)", "base", [line])


def pnl_figure(t: Mapping[str, pd.DataFrame]) -> go.Figure | None:
    """PnL marked at fair (or the mid), and the fees paid, over time."""
    eq = t.get("equity")
    if eq is None or not len(eq):
        return None
    traces = [_line("PnL (marked)", eq["ts_ns"], eq["pnl"], OURS, step=False)]
    if "fees" in eq and eq["fees"].abs().sum() > 0:
        traces.append(_line("fees paid", eq["ts_ns"], eq["fees"], ASK, step=True, dash="dot"))
    return _time_figure("PnL (quote currency)", "quote", traces)


def markouts_figure(summary: Mapping[str, Any]) -> go.Figure | None:
    """Volume-weighted markouts of our fills at each horizon, in bps."""
    mk = summary.get("markouts") or {}
    horizons = [h for h in MARKOUTS_S if mk.get(f"{h}s_bps") is not None]
    if not horizons:
        return None
    bps = [float(mk[f"{h}s_bps"]) for h in horizons]
    quote = [mk.get(f"{h}s_quote") for h in horizons]
    fig = go.Figure(
        go.Bar(
            x=[f"{h} s" for h in horizons],
            y=bps,
            marker_color=[FAIR if v >= 0 else ASK for v in bps],
            customdata=quote,
            hovertemplate="%{x}: %{y:.3f} bps (%{customdata:.4g} quote)<extra></extra>",
            text=[f"{v:.2f}" for v in bps],
            textposition="outside",
        )
    )
    fig.update_layout(**{**_LAYOUT, "height": 340})
    fig.update_layout(
        title_text="Markouts after our fills (bps, volume-weighted; > 0 is good)",
        xaxis_title="horizon",
        yaxis_title="bps",
    )
    return fig


def sweep_figure(df: pd.DataFrame, params: Sequence[str], objective: str) -> go.Figure | None:
    """The objective over the first two swept parameters (heatmap), or over the only one."""
    ok = df[df[objective].notna()] if objective in df else df.iloc[0:0]
    if not len(ok) or not params:
        return None
    if len(params) == 1:
        d = ok.sort_values(params[0])
        fig = go.Figure(go.Scatter(x=d[params[0]], y=d[objective], mode="lines+markers"))
        fig.update_layout(**_LAYOUT)
        fig.update_layout(
            title_text=f"{objective} by {params[0]}", xaxis_title=params[0], yaxis_title=objective
        )
        return fig
    x, y = params[0], params[1]
    cells = ok[[x, y, objective]].copy()
    for p in (x, y):
        # optuna samples continuous values: bin them so the heatmap is a readable grid.
        if cells[p].nunique() > HEAT_CELLS and pd.api.types.is_numeric_dtype(cells[p]):
            cells[p] = pd.cut(cells[p], HEAT_CELLS).astype(str)
    grid = cells.pivot_table(index=y, columns=x, values=objective, aggfunc="mean")
    runs = cells.pivot_table(index=y, columns=x, values=objective, aggfunc="count")
    z = grid.to_numpy(dtype="float64")
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[str(c) for c in grid.columns],
            y=[str(r) for r in grid.index],
            colorscale="RdYlGn",
            colorbar={"title": objective},
            customdata=runs.reindex_like(grid).to_numpy(),
            text=[["" if not np.isfinite(v) else f"{v:.4g}" for v in row] for row in z],
            texttemplate="%{text}",
            hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>{objective}=%{{z:.6g}}"
            "<br>runs: %{customdata}<extra></extra>",
        )
    )
    fig.update_layout(**{**_LAYOUT, "height": 480, "hovermode": "closest"})
    fig.update_layout(
        title_text=f"{objective} by {x} × {y} (mean per cell)", xaxis_title=x, yaxis_title=y
    )
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category")
    return fig
