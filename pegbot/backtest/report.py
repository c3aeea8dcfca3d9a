"""``pegbot report RESULTS``: one self-contained HTML file with inline SVG plots.

For a backtest's results directory (:func:`pegbot.backtest.results.save`): price with fair
and our quotes, inventory, PnL, markouts, and the summary table. For a sweep's directory
(``sweep.parquet``): the table of runs and a heatmap of the objective over the first two
swept parameters. No plotting library: the SVG is written here (a few polylines, rects and
labels), so the file opens anywhere without network access.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pegbot.backtest import results

_W, _H, _PAD = 900, 260, 48
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd")
_MAX_POINTS = 2000
_HEAT_CELLS = 8  # per axis: more distinct values than this are binned


def _thin(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> tuple[Any, Any]:
    ok = np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) > _MAX_POINTS:
        idx = np.linspace(0, len(x) - 1, _MAX_POINTS).astype(int)
        x, y = x[idx], y[idx]
    return x, y


def line_chart(title: str, series: Sequence[tuple[str, Any, Any]], step: bool = False) -> str:
    """An SVG line chart of ``(label, x, y)`` series sharing axes (x in ns, shown in hours)."""
    thinned = [(label, *_thin(np.asarray(x, "float64"), np.asarray(y, "float64")))
               for label, x, y in series]  # fmt: skip
    xs = [s[1] for s in thinned if len(s[1])]
    ys = [s[2] for s in thinned if len(s[2])]
    out = [f'<svg viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" class="chart">',
           f'<text x="{_PAD}" y="16" class="t">{html.escape(title)}</text>']  # fmt: skip
    if not xs:
        out.append(f'<text x="{_W / 2}" y="{_H / 2}">no data</text></svg>')
        return "".join(out)
    x0, x1 = min(float(a.min()) for a in xs), max(float(a.max()) for a in xs)
    y0, y1 = min(float(a.min()) for a in ys), max(float(a.max()) for a in ys)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1

    def px(x: Any) -> Any:
        return _PAD + (x - x0) / (x1 - x0) * (_W - 2 * _PAD)

    def py(y: Any) -> Any:
        return _H - _PAD + (y - y0) / (y1 - y0) * (2 * _PAD - _H + 20)

    out.append(f'<rect x="{_PAD}" y="24" width="{_W - 2 * _PAD}" height="{_H - _PAD - 24}" '
               'fill="none" stroke="#ccc"/>')  # fmt: skip
    for v in (y0, (y0 + y1) / 2, y1):
        out.append(f'<text x="2" y="{py(v) + 4:.1f}" class="a">{v:.6g}</text>')
    hours = (x1 - x0) / 3.6e12
    out.append(f'<text x="{_W - _PAD}" y="{_H - 8}" class="a" text-anchor="end">'
               f"{hours:.3g} h</text>")  # fmt: skip
    for i, (label, x, y) in enumerate(thinned):
        if not len(x):
            continue
        color = _COLORS[i % len(_COLORS)]
        xp, yp = px(x), py(y)
        if step:  # hold each value until the next point
            xp = np.repeat(xp, 2)[1:]
            yp = np.repeat(yp, 2)[:-1]
        pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xp, yp, strict=True))
        out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1"/>')
        out.append(f'<text x="{_PAD + 10 + 150 * i}" y="{_H - 8}" fill="{color}" class="a">'
                   f"{html.escape(label)}</text>")  # fmt: skip
    out.append("</svg>")
    return "".join(out)


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float | None]) -> str:
    """An SVG bar chart (None bars are left empty)."""
    vals = [0.0 if v is None else float(v) for v in values]
    top = max([abs(v) for v in vals] + [1e-12])
    w = (_W - 2 * _PAD) / max(1, len(vals))
    mid = _H / 2
    out = [f'<svg viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" class="chart">',
           f'<text x="{_PAD}" y="16" class="t">{html.escape(title)}</text>',
           f'<line x1="{_PAD}" x2="{_W - _PAD}" y1="{mid}" y2="{mid}" stroke="#999"/>']  # fmt: skip
    for i, (label, v) in enumerate(zip(labels, vals, strict=True)):
        h = v / top * (mid - 30)
        y = mid - max(h, 0)
        color = _COLORS[0] if v >= 0 else _COLORS[1]
        x = _PAD + i * w + w * 0.2
        out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w * 0.6:.1f}" height="{abs(h):.1f}" '
                   f'fill="{color}"/>')  # fmt: skip
        out.append(f'<text x="{x:.1f}" y="{_H - 8}" class="a">{html.escape(label)}: {v:.4g}</text>')
    out.append("</svg>")
    return "".join(out)


def heatmap(title: str, df: pd.DataFrame, xcol: str, ycol: str, zcol: str) -> str:
    """An SVG heatmap of ``zcol`` over the grid of ``xcol`` × ``ycol`` (mean per cell)."""
    piv = df.pivot_table(index=ycol, columns=xcol, values=zcol, aggfunc="mean")
    z = piv.to_numpy(dtype="float64")
    rows, cols = z.shape
    out = [f'<svg viewBox="0 0 {_W} {_H + 80}" width="{_W}" height="{_H + 80}" class="chart">',
           f'<text x="{_PAD}" y="16" class="t">{html.escape(title)}</text>']  # fmt: skip
    if z.size == 0 or not np.isfinite(z).any():
        out.append("<text x='100' y='100'>no data</text></svg>")
        return "".join(out)
    lo, hi = np.nanmin(z), np.nanmax(z)
    cw, ch = (_W - 2 * _PAD - 60) / cols, (_H - 20) / rows
    for r in range(rows):
        for c in range(cols):
            v = z[r, c]
            f = 0.5 if hi == lo or not np.isfinite(v) else (v - lo) / (hi - lo)
            color = (
                f"rgb({int(255 * f)},{int(90 + 80 * (1 - abs(f - 0.5) * 2))},{int(255 * (1 - f))})"
            )
            x, y = _PAD + 60 + c * cw, 28 + r * ch
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{cw:.1f}" height="{ch:.1f}" '
                       f'fill="{color}"><title>{v:.6g}</title></rect>')  # fmt: skip
            out.append(f'<text x="{x + 4:.1f}" y="{y + ch / 2:.1f}" class="a">{v:.4g}</text>')
        out.append(
            f'<text x="2" y="{28 + (r + 0.5) * ch:.1f}" class="a">{ycol}={piv.index[r]}</text>'
        )
    for c in range(cols):
        out.append(f'<text x="{_PAD + 60 + (c + 0.3) * cw:.1f}" y="{_H + 24}" class="a">'
                   f"{xcol}={piv.columns[c]}</text>")  # fmt: skip
    out.append("</svg>")
    return "".join(out)


_BAND_KEYS = ("mid_near_fair", "mid_near_fair_note", "our_depth_near_fair")


def _table(summary: dict[str, Any]) -> str:
    rows = []
    for key, value in summary.items():
        if key in _BAND_KEYS:
            continue  # in the bands table
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
        rows.append(f"<tr><th>{html.escape(key)}</th><td>{html.escape(_fmt(value))}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def bands_table(summary: dict[str, Any]) -> str:
    """The figures around fair: mid time within ±N bps, and our resting size within ±N bps."""
    near = summary.get("mid_near_fair") or {}
    depth = summary.get("our_depth_near_fair") or {}
    bands = list(near) or sorted({k.split("_")[0] for k in depth}, key=lambda b: int(b[:-3]))
    head = (
        "<tr><th>band (of fair)</th><th>time the mid spent within</th>"
        "<th>our bids within (base, time-weighted)</th><th>our asks within</th>"
        "<th>ours, both sides</th></tr>"
    )
    rows = []
    for b in bands:
        share = near.get(b)
        cells = ["n/a" if share is None else f"{share * 100:.2f} %"]
        for side in ("_bid_base", "_ask_base", "_base"):
            v = depth.get(b + side)
            cells.append("n/a" if v is None else _fmt(float(v)))
        label = "±" + b.replace("bps", " bps")
        rows.append(
            f"<tr><th>{html.escape(label)}</th>"
            + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
            + "</tr>"
        )
    note = summary.get("mid_near_fair_note")
    tail = f"<p>Mid time: {html.escape(str(note))}</p>" if note else ""
    return "<table>" + head + "".join(rows) + "</table>" + tail


def _fmt(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


_CSS = ("body{font-family:sans-serif;margin:24px;max-width:960px}"
        "table{border-collapse:collapse}th,td{border:1px solid #ddd;padding:3px 8px;"
        "text-align:left;font-size:13px}.t{font-size:14px;font-weight:bold}"
        ".a{font-size:11px}.chart{display:block;margin:12px 0}")  # fmt: skip


def _page(title: str, body: list[str]) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            + "".join(body) + "</body></html>")  # fmt: skip


def backtest_html(t: dict[str, pd.DataFrame], summary: dict[str, Any], title: str) -> str:
    """The report of one backtest."""
    bbo, quotes, eq = t.get("bbo"), t.get("quotes"), t.get("equity")
    body = ["<h2>Summary</h2>", _table(summary), "<h2>Around fair</h2>", bands_table(summary)]
    tick = None
    if quotes is not None and bbo is not None and len(bbo):
        valid = bbo["mid"].notna()
        ratio = bbo["mid"][valid] / ((bbo["best_bid"] + bbo["best_ask"])[valid] / 2)
        tick = float(ratio.iloc[0]) if len(ratio) else None
    series: list[tuple[str, Any, Any]] = []
    if bbo is not None and len(bbo):
        series.append(("mid", bbo["ts_ns"], bbo["mid"]))
    if eq is not None and len(eq) and summary.get("mark") in ("fixed fair", "series fair"):
        series.append(("fair", eq["ts_ns"], eq["mark"]))
    if quotes is not None and len(quotes) and tick is not None:
        qb = quotes["own_bid"].where(quotes["own_bid"] > 0) * tick
        qa = quotes["own_ask"].where(quotes["own_ask"] > 0) * tick
        series += [("our bid", quotes["ts_ns"], qb), ("our ask", quotes["ts_ns"], qa)]
    body.append(line_chart("Price: mid, fair and our quotes", series, step=True))
    if eq is not None and len(eq):
        inv = [("inventory", eq["ts_ns"], eq["inventory"])]
        body.append(line_chart("Inventory (base, from target)", inv, step=True))
        body.append(line_chart("PnL (quote, marked)", [("pnl", eq["ts_ns"], eq["pnl"])]))
    mk = summary.get("markouts", {})
    labels = [k for k in mk if k.endswith("_bps")]
    body.append(bar_chart("Markouts (bps, volume-weighted)", labels, [mk[k] for k in labels]))
    return _page(title, body)


def sweep_html(df: pd.DataFrame, params: list[str], objective: str, title: str) -> str:
    """The report of a sweep: the heatmap and the table of runs."""
    body = []
    if len(params) >= 2:
        # optuna samples continuous values: bin them so the heatmap is a readable grid.
        cells = df[[params[0], params[1], objective]].copy()
        for p in params[:2]:
            if cells[p].nunique() > _HEAT_CELLS and pd.api.types.is_numeric_dtype(cells[p]):
                cells[p] = pd.cut(cells[p], _HEAT_CELLS).astype(str)
        body.append(heatmap(f"{objective} by {params[0]} x {params[1]}", cells, params[0],
                            params[1], objective))  # fmt: skip
    elif len(params) == 1:
        d = df.sort_values(params[0])
        body.append(line_chart(f"{objective} by {params[0]}",
                               [(objective, d[params[0]], d[objective])]))  # fmt: skip
    body.append("<h2>Runs</h2>" + df.to_html(index=False, float_format=lambda v: f"{v:.6g}"))
    return _page(title, body)


def write_report(results_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.html`` for a results or sweep directory; returns its path."""
    d = Path(results_dir)
    dest = Path(out) if out is not None else d / "report.html"
    if (d / "sweep.parquet").exists():
        df = pd.read_parquet(d / "sweep.parquet")
        meta = json.loads((d / "sweep.json").read_text())
        text = sweep_html(df, meta["params"], meta["objective"], f"Sweep {d.name}")
    else:
        t, summary = results.load(d)
        text = backtest_html(t, summary, f"Backtest {summary.get('scenario', d.name)}")
    dest.write_text(text)
    return dest
